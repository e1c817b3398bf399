#!/usr/bin/env bash
# Session 13, call 3 cut down to the device time left (~80 s of rows): `nano` at the final
# defaults and with AIOS_PDL=0, `table` at the final defaults; one process a row.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
RES=/tmp/res; mkdir -p $RES
nvidia-smi --query-gpu=name,driver_version --format=csv > $RES/gpu.txt
row() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$RES/$name.log" 2>&1
  echo "$name rc=$? $((SECONDS-t0))s $(grep -E '^aios ' "$RES/$name.log" | tail -1)" | tee -a $RES/summary.txt
  tar czf "$OUT/results.tgz" -C $RES .
}
B="python3 benchmark.py --model random:Qwen3-0.6B"
row nano-default 45 $B --workload nano --json $RES/nano-default.json
row nano-pdl0    45 env AIOS_PDL=0 $B --workload nano --json $RES/nano-pdl0.json
row table-default 40 $B --workload table --json $RES/table-default.json
