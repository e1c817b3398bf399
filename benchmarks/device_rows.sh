# Sourced by a device call's script (benchmarks/results/*/call*.sh): one row per command,
# its output in $RES/NAME.log, a summary line in $RES/summary.txt, and everything tarred
# into $OUT/results.tgz after each row. The device tool brings back at most 8 files, and
# only what is already under $OUT when a call is cut off at its limit.
#   source benchmarks/device_rows.sh
#   row NAME SECONDS COMMAND...
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
RES=/tmp/res; mkdir -p $RES
nvidia-smi --query-gpu=name,driver_version --format=csv > $RES/gpu.txt
row() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$RES/$name.log" 2>&1
  echo "$name rc=$? $((SECONDS-t0))s $(grep -E '^aios |passed|failed|differ|same' "$RES/$name.log" | tail -1)" | tee -a $RES/summary.txt
  tar czf "$OUT/results.tgz" -C $RES .
}
