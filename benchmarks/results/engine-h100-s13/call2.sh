#!/usr/bin/env bash
# Session 13, call 2 (one H100, ~7 minutes): after call 1 (PDL on: +5.8% table),
# A/B of what could go with it, each `table` variant twice, interleaved, one process a row:
#   A default (PDL on, cuBLAS for 0.6B's qkv and gate_up, 128-token small-batch splits)
#   B + skinny GEMM for qkv and gate_up too (skinny_all_06b.json)
#   C + B, and GEMMs prefetch their weights into L2 before they wait (AIOS_GEMM_PREFETCH=1)
#   D + B, 256-token splits at small batches (AIOS_DECODE_SMALL_BATCH_SPLIT=256)
#   E + C + D
# then `nano` for A, B, C, E; the PDL tests and kernel tests on the GPU; greedy tokens of C and E
# against A; a kernel profile of 30 decode steps at 32 sequences (default options).
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
declare -A V=([A]="" [B]="$SK" [C]="$SK AIOS_GEMM_PREFETCH=1" [D]="$SK AIOS_DECODE_SMALL_BATCH_SPLIT=256"
              [E]="$SK AIOS_GEMM_PREFETCH=1 AIOS_DECODE_SMALL_BATCH_SPLIT=256")
B="python3 benchmark.py --model random:Qwen3-0.6B"
row pdl-tests 120 python3 -m pytest -q tests/test_pdl.py
for run in 1 2; do
  for v in A B C D E; do
    row table-$v$run 60 env ${V[$v]} $B --workload table --json $RES/table-$v$run.json
  done
done
for v in A B C E; do
  row nano-$v 60 env ${V[$v]} $B --workload nano --json $RES/nano-$v.json
done
G="python3 benchmarks/greedy_tokens.py"
row greedy-A 90 $G --out $RES/greedy-A.json
row greedy-C 90 env ${V[C]} $G --out $RES/greedy-C.json --compare $RES/greedy-A.json
row greedy-E 90 env ${V[E]} $G --out $RES/greedy-E.json --compare $RES/greedy-A.json
row kernel-tests 120 env AIOS_GEMM_PREFETCH=1 python3 -m pytest -q -x tests/test_kernels.py -k "skinny or decode or rms or silu"
row profile-b32 90 python3 benchmarks/profile_step.py --batch 32
