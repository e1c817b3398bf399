#!/usr/bin/env bash
# Session 13, call 1 (one H100, ~9 minutes): programmatic dependent launch (PDL,
# aios/kernels/pdl.py) off / on / early, A/B in one call, one process a row;
# then what session 12 left unmeasured. Everything is tarred into
# $OUT/results.tgz after each row (the device tool brings back at most 8 files).
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
RES=/tmp/res; mkdir -p $RES
nvidia-smi --query-gpu=name,driver_version --format=csv > $RES/gpu.txt
git log -1 --format=%H > $RES/commit.txt 2>/dev/null
row() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$RES/$name.log" 2>&1
  echo "$name rc=$? $((SECONDS-t0))s $(grep -E '^aios |passed|failed|differ|same' "$RES/$name.log" | tail -1)" | tee -a $RES/summary.txt
  tar czf "$OUT/results.tgz" -C $RES .
}
G="python3 benchmarks/greedy_tokens.py"
row greedy-pdl0   90 env AIOS_PDL=0 $G --out $RES/greedy-pdl0.json
row greedy-pdl1   90 env AIOS_PDL=1 $G --out $RES/greedy-pdl1.json --compare $RES/greedy-pdl0.json
row greedy-early  90 env AIOS_PDL=early $G --out $RES/greedy-early.json --compare $RES/greedy-pdl0.json
B="python3 benchmark.py --model random:Qwen3-0.6B"
for wl in table nano; do
  for m in 0 1 early; do
    row $wl-pdl$m 60 env AIOS_PDL=$m $B --workload $wl --json $RES/$wl-pdl$m.json
  done
done
row kernel-tests 150 python3 -m pytest -q -x tests/test_kernels.py -k "qk_norm or decode or skinny or rms or silu or sampl or store or rotary or top or prefill"
SK=benchmarks/results/engine-h100-s13/skinny_all_06b.json
row table-skinny-all 60 env AIOS_SKINNY_GEMM_CONFIGS=$SK $B --workload table --json $RES/table-skinny-all.json
row table-split256   60 env AIOS_DECODE_SMALL_BATCH_SPLIT=256 $B --workload table --json $RES/table-split256.json
row table-fused-merge 60 env AIOS_DECODE_FUSED_MERGE=1 $B --workload table --json $RES/table-fused-merge.json
row nano-skinny-all  60 env AIOS_SKINNY_GEMM_CONFIGS=$SK $B --workload nano --json $RES/nano-skinny-all.json
row nano-fused-merge 60 env AIOS_DECODE_FUSED_MERGE=1 $B --workload nano --json $RES/nano-fused-merge.json
row 8b-nano 150 python3 benchmark.py --model random:Qwen3-8B --workload nano --json $RES/8b-nano.json
