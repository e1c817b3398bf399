#!/usr/bin/env bash
# The next H100 call for issue 19 (~5 minutes on a fresh machine): what session 12
# left unmeasured, A/B in one call, one process a row, everything tarred into
# $OUT/results.tgz after each row (the device tool brings back at most 8 files).
#   1. 128-token decode splits at small batches (the default since session 12)
#      against 256 (AIOS_DECODE_SMALL_BATCH_SPLIT=256), on `table` and `nano`;
#   2. the split merge inside the decode kernel (AIOS_DECODE_FUSED_MERGE=1) on top;
#   3. the q/k-norm kernel test rewritten in session 12, on the GPU;
#   4. random:Qwen3-8B `nano` on one H100.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
RES=/tmp/res; mkdir -p $RES
nvidia-smi --query-gpu=name,driver_version --format=csv > $RES/gpu.txt
row() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  timeout "$limit" "$@" > "$RES/$name.log" 2>&1
  echo "$name rc=$? $(grep -E '^aios |passed|failed' "$RES/$name.log" | tail -1)" | tee -a $RES/summary.txt
  tar czf "$OUT/results.tgz" -C $RES .
}
B="python3 benchmark.py --model random:Qwen3-0.6B"
for wl in table nano; do
  row $wl-split128     90 $B --workload $wl --json $RES/$wl-split128.json
  row $wl-split256     90 env AIOS_DECODE_SMALL_BATCH_SPLIT=256 $B --workload $wl --json $RES/$wl-split256.json
  row $wl-fused-merge  90 env AIOS_DECODE_FUSED_MERGE=1 $B --workload $wl --json $RES/$wl-fused-merge.json
done
row kernel-tests 120 python3 -m pytest -q tests/test_kernels.py -k "qk_norm or decode"
row 8b-nano     150 python3 benchmark.py --model random:Qwen3-8B --workload nano --json $RES/8b-nano.json
