#!/usr/bin/env bash
# Measure every lesson (lesson 1 on), the engine as shipped, and rebuild the course table.
#
#   lessons/run_all.sh cuda                   # GPUs: random:Qwen3-8B (see README, "The course")
#   lessons/run_all.sh cpu                    # a CPU: SmolLM2-135M
#   lessons/run_all.sh cuda --model /path     # further flags go to every run script
#   LESSONS="3 4 5" lessons/run_all.sh cuda   # only these (the table keeps the others);
#                                             # "engine" names the last row: LESSONS="13 engine"
#   RESULTS=/some/dir lessons/run_all.sh cuda  # write the results there (default lessons/results)
#
# Each lesson runs with the reference pieces (--solution) and writes
# lessons/results/lessonNN.json (lessons 1 and 2: one forward pass checked
# against the engine's; lesson 3 on: output tokens/s; lesson 4 also
# lessons/results/lesson04_context.png); lessons/run_engine.py writes
# lessons/results/engine.json; then lessons/make_table.py rewrites the table in
# README.md and lessons/results/progress.png. Lesson 14 needs two GPUs: with
# fewer it is skipped here, its row kept as it was (measure it on a 2-GPU machine:
# LESSONS=14 lessons/run_all.sh cuda). One lesson alone:
#   python lessons/lesson06/run_lesson6.py --solution --device cuda --json lessons/results/lesson06.json
set -euo pipefail
cd "$(dirname "$0")/.."
device="${1:?usage: lessons/run_all.sh cpu|cuda [flags for run_lessonN.py]}"
shift
export PYTHONUNBUFFERED=1
results="${RESULTS:-lessons/results}"
mkdir -p "$results"
wanted() { [[ -z "${LESSONS:-}" || " $LESSONS " == *" $1 "* ]]; }
gpus=0
[[ "$device" == cuda ]] && gpus=$(python -c "import torch; print(torch.cuda.device_count())")
for script in lessons/lesson[0-9][0-9]/run_lesson*.py; do
    n=$(basename "$script" .py)
    n=${n#run_lesson}
    (( n >= 1 )) || continue   # lesson 0 measures nothing
    wanted "$n" || continue
    if [[ "$device" == cuda && $n == 14 && $gpus -lt 2 ]]; then
        echo "== lesson 14: skipped, it needs 2 GPUs and this machine has $gpus (its row is kept as it was)"
        continue
    fi
    json=$(printf "%s/lesson%02d.json" "$results" "$n")
    echo "== lesson $n: $script -> $json ($(date +%T))"
    python "$script" --solution --device "$device" --json "$json" "$@"
done
if wanted engine; then
    echo "== the engine as shipped: lessons/run_engine.py -> $results/engine.json ($(date +%T))"
    python lessons/run_engine.py --device "$device" --json "$results/engine.json" "$@"
fi
python lessons/make_table.py --results "$results"
