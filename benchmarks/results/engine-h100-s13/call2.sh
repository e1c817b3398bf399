#!/usr/bin/env bash
# Session 13, call 2 (one H100, ~8 minutes): after call 1 (PDL on: +5.8% table),
# A/B of what could go with it, each `table` variant twice, interleaved, one process a row:
#   A call 1's default: PDL on, cuBLAS for 0.6B's qkv and gate_up, SiLU-and-mul a kernel of its own
#   B A + the skinny GEMM for qkv and gate_up too (skinny_all_06b.json)
#   C B + SiLU-and-mul inside the down GEMM (AIOS_GATED_GEMM=1, the new default)
#   D C + GEMMs prefetch their weights into L2 before they wait (AIOS_GEMM_PREFETCH=1)
#   E C + 256-token splits at small batches (AIOS_DECODE_SMALL_BATCH_SPLIT=256)
# then `nano` for A, C, D; the PDL tests and kernel tests on the GPU; greedy tokens of C against B
# and D against C (neither should change a bit); a kernel profile of 30 decode steps at 32 sequences (C's options).
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
RES=/tmp/res; mkdir -p $RES
nvidia-smi --query-gpu=name,driver_version --format=csv > $RES/gpu.txt
row() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$RES/$name.log" 2>&1
  echo "$name rc=$? $((SECONDS-t0))s $(grep -E '^aios |passed|failed|differ|same' "$RES/$name.log" | tail -1)" | tee -a $RES/summary.txt
  tar czf "$OUT/results.tgz" -C $RES .
}
SK=AIOS_SKINNY_GEMM_CONFIGS=benchmarks/results/engine-h100-s13/skinny_all_06b.json
declare -A V=([A]="AIOS_GATED_GEMM=0" [B]="AIOS_GATED_GEMM=0 $SK" [C]="$SK"
              [D]="$SK AIOS_GEMM_PREFETCH=1" [E]="$SK AIOS_DECODE_SMALL_BATCH_SPLIT=256")
B="python3 benchmark.py --model random:Qwen3-0.6B"
row pdl-tests 120 python3 -m pytest -q tests/test_pdl.py
for run in 1 2; do
  for v in A B C D E; do
    row table-$v$run 60 env ${V[$v]} $B --workload table --json $RES/table-$v$run.json
  done
done
for v in A C D; do
  row nano-$v 60 env ${V[$v]} $B --workload nano --json $RES/nano-$v.json
done
G="python3 benchmarks/greedy_tokens.py"
row greedy-B 90 env ${V[B]} $G --out $RES/greedy-B.json
row greedy-C 90 env ${V[C]} $G --out $RES/greedy-C.json --compare $RES/greedy-B.json
row greedy-D 90 env ${V[D]} $G --out $RES/greedy-D.json --compare $RES/greedy-C.json
row kernel-tests 120 env AIOS_GEMM_PREFETCH=1 python3 -m pytest -q -x tests/test_kernels.py -k "skinny or decode or rms or silu"
row profile-b32 90 env ${V[C]} python3 benchmarks/profile_step.py --batch 32
