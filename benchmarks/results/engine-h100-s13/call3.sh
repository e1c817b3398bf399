#!/usr/bin/env bash
# Session 13, call 3 (one H100, ~3 minutes): the final defaults (PDL on, 0.6B's qkv and
# gate_up on the skinny GEMM) against AIOS_PDL=0, one process a row, `nano` and `table`
# twice each; the PDL and skinny GEMM tests on the GPU.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
RES=/tmp/res; mkdir -p $RES
nvidia-smi --query-gpu=name,driver_version --format=csv > $RES/gpu.txt
row() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$RES/$name.log" 2>&1
  echo "$name rc=$? $((SECONDS-t0))s $(grep -E '^aios |passed|failed' "$RES/$name.log" | tail -1)" | tee -a $RES/summary.txt
  tar czf "$OUT/results.tgz" -C $RES .
}
B="python3 benchmark.py --model random:Qwen3-0.6B"
for wl in nano table; do
  row $wl-default1 60 $B --workload $wl --json $RES/$wl-default1.json
  row $wl-pdl0     60 env AIOS_PDL=0 $B --workload $wl --json $RES/$wl-pdl0.json
  row $wl-default2 60 $B --workload $wl --json $RES/$wl-default2.json
done
row gpu-tests 120 python3 -m pytest -q tests/test_pdl.py tests/test_kernels.py -k "skinny or pdl"
