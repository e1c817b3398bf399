#!/usr/bin/env bash
# Session 12, one H100 call (issue 19): k and v stored by the q/k-norm + RoPE
# kernel (the default now) against their own store kernel
# (AIOS_QK_NORM_STORE_KV=0, the code before), on `table` and `nano` with the
# default options, A/B interleaved; the GPU kernel tests of the pieces; the
# same greedy tokens both ways; then, time permitting, the split merge inside
# the decode kernel and the one-GPU rows of random:Qwen3-8B. Each result lands
# in $OUT as soon as it exists.
#
# As run, this lost most of its rows: the device tool brings back at most 8
# files of $OUT (what came back is in call1/). gpu_suite.sh tars its results
# for that reason; call2.sh re-measured the A/B rows on the same warm machine.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$OUT/gpu.txt"
row() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "$name rc=$? wall=$(( $(date +%s) - t0 ))s" >> "$OUT/summary.txt"
  grep -E "tok/s|passed|failed|greedy" "$OUT/$name.log" | tail -3 >> "$OUT/summary.txt"
}
B="python3 benchmark.py --model random:Qwen3-0.6B"
OFF="env AIOS_QK_NORM_STORE_KV=0"
row table-store     90 $B --workload table --json "$OUT/table-store.json"
row table-nostore   90 $OFF $B --workload table --json "$OUT/table-nostore.json"
row nano-store      90 $B --workload nano --json "$OUT/nano-store.json"
row nano-nostore    90 $OFF $B --workload nano --json "$OUT/nano-nostore.json"
row kernel-tests    90 python3 -m pytest -q tests/test_kernels.py -k "qk_norm or store_kvcache or rotary or decode"
row greedy-nostore  60 $OFF python3 benchmarks/greedy_tokens.py --out "$OUT/greedy-nostore.json"
row greedy-store    60 python3 benchmarks/greedy_tokens.py --out "$OUT/greedy-store.json" --compare "$OUT/greedy-nostore.json"
row table-store-fm  90 env AIOS_DECODE_FUSED_MERGE=1 $B --workload table --json "$OUT/table-store-fm.json"
row 8b-table       120 python3 benchmark.py --model random:Qwen3-8B --workload table --json "$OUT/8b-table.json"
