#!/usr/bin/env bash
# Session 12, one H100 call: issue 19's rows at HEAD (0.6B `table` and `nano`,
# default options, then with the split merge inside the decode kernel), the
# one-GPU rows of random:Qwen3-8B, `table` with chat sampling, then the GPU
# kernel tests. Each result lands in $OUT as soon as it exists.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$OUT/gpu.txt"
git log -1 --format=%H >> "$OUT/gpu.txt" 2>/dev/null
row() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "$name rc=$? wall=$(( $(date +%s) - t0 ))s" >> "$OUT/summary.txt"
  grep -E "output tok/s|tok/s" "$OUT/$name.log" | tail -2 >> "$OUT/summary.txt"
}
B="python3 benchmark.py"
row table        100 $B --model random:Qwen3-0.6B --workload table --json "$OUT/table.json"
row nano         100 $B --model random:Qwen3-0.6B --workload nano  --json "$OUT/nano.json"
row table-fm     100 env AIOS_DECODE_FUSED_MERGE=1 $B --model random:Qwen3-0.6B --workload table --json "$OUT/table-fm.json"
row nano-fm      100 env AIOS_DECODE_FUSED_MERGE=1 $B --model random:Qwen3-0.6B --workload nano  --json "$OUT/nano-fm.json"
row 8b-table     120 $B --model random:Qwen3-8B --workload table --json "$OUT/8b-table.json"
row 8b-nano      120 $B --model random:Qwen3-8B --workload nano  --json "$OUT/8b-nano.json"
row table-chat   100 $B --model random:Qwen3-0.6B --workload table --top-p 0.95 --top-k 20 --json "$OUT/table-chat.json"
row kernel-tests 150 python3 -m pytest -q -x tests/test_kernels.py
