#!/usr/bin/env bash
# The course table on a 2-GPU machine, in one device call per invocation (see BENCHMARKS.md,
# "The course on GPUs"). Two streams of lessons, one per GPU, each pinned to its own half of
# the CPU cores: eager lessons are bound by the host, and beside an unpinned stream on the
# other GPU the same lessons measured up to 25% slower from one call to the next (whether
# the neighbour's model builds and Triton compiles were the cause is not measured yet).
#
#   A="1 2 3 4 5 6" B="7 8 9 10 11 12 13 engine" bash benchmarks/course_suite.sh
#   TP=1 A="" B="15" bash benchmarks/course_suite.sh      # lesson 14 on both GPUs first, then B
#   A="5" B="5" FLAGS_B=--previous-first bash ...         # both orders side by side (the order effect)
#
# On a one-GPU machine the two streams run one after the other (A, then B) and lesson 14 is
# skipped: ~24 minutes for the whole course, so split it over calls with A and B.
#
# Results (JSON and the sweep PNG, in $RES/a, $RES/b and $RES/l14 by stream) go into
# $OUT/course.tgz after each lesson, logs to $OUT/{a,b,l14}.log; copy the JSON into
# lessons/results/ and run lessons/make_table.py.
set -u
OUT=${OUT:-/tmp/aios-course-out}
RES=${RES:-/tmp/aios-course}
mkdir -p "$OUT" "$RES"
if ls .whl/serve/*.whl >/dev/null 2>&1; then   # lesson 15's server (fastapi, uvicorn, ...)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/serve/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
nvidia-smi --query-gpu=name,memory.total --format=csv > "$RES/gpu.txt"
cores=$(nproc); half=$(( cores / 2 ))
pack() { tar czf "$OUT/course.tgz.tmp" -C "$RES" . && mv "$OUT/course.tgz.tmp" "$OUT/course.tgz"; }
one() {   # one GPU index (or "all"), log name, lesson, flags for the run scripts
  local gpu=$1 log=$2 n=$3 flags=${4:-} cpus
  cpus=$([ "$gpu" = 1 ] && echo "$half-$(( cores - 1 ))" || echo "0-$(( half - 1 ))")
  [ "$gpu" = all ] && cpus="0-$(( cores - 1 ))"
  ( [ "$gpu" != all ] && export CUDA_VISIBLE_DEVICES=$gpu
    RESULTS=$RES/$log LESSONS="$n" taskset -c "$cpus" bash lessons/run_all.sh cuda $flags ) 2>&1 \
    | grep --line-buffered -v "^Generating" >> "$OUT/$log.log"
  pack
}
gpus=$(nvidia-smi -L | wc -l)
[ "${TP:-0}" = 1 ] && { [ "$gpus" -ge 2 ] && one all l14 14 || echo "TP=1: lesson 14 needs 2 GPUs, this machine has $gpus"; }
if [ "$gpus" -ge 2 ]; then
  ( for n in ${A-1 2 3 4 5 6}; do one 0 a "$n" "${FLAGS_A:-}"; done ) &
  ( for n in ${B-7 8 9 10 11 12 13 engine 15}; do one 1 b "$n" "${FLAGS_B:-}"; done ) &
  wait
else   # one GPU: stream A, then stream B, on it and every core
  for n in ${A-1 2 3 4 5 6}; do one all a "$n" "${FLAGS_A:-}"; done
  for n in ${B-7 8 9 10 11 12 13 engine 15}; do one all b "$n" "${FLAGS_B:-}"; done
fi
