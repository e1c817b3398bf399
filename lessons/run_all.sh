#!/usr/bin/env bash
# Measure every lesson (lesson 1 on) and rebuild the course table.
#
#   lessons/run_all.sh cuda                   # one GPU: random:Qwen3-0.6B (minutes per lesson)
#   lessons/run_all.sh cpu                    # a CPU: SmolLM2-135M
#   lessons/run_all.sh cuda --model /path     # further flags go to every run_lessonN.py
#   LESSONS="3 4 5" lessons/run_all.sh cuda   # only these lessons (the table keeps the others)
#
# Each lesson runs with the reference pieces (--solution) and writes
# lessons/results/lessonNN.json (lessons 1 and 2: one forward pass checked
# against the engine's; lesson 3 on: output tokens/s); then lessons/make_table.py rewrites the
# table in README.md and lessons/results/progress.png. One lesson alone:
#   python lessons/lesson06/run_lesson6.py --solution --device cuda --json lessons/results/lesson06.json
set -euo pipefail
cd "$(dirname "$0")/.."
device="${1:?usage: lessons/run_all.sh cpu|cuda [flags for run_lessonN.py]}"
shift
mkdir -p lessons/results
for script in lessons/lesson[0-9][0-9]/run_lesson*.py; do
    n=$(basename "$script" .py)
    n=${n#run_lesson}
    (( n >= 1 )) || continue   # lesson 0 measures nothing
    [[ -z "${LESSONS:-}" || " $LESSONS " == *" $n "* ]] || continue
    json=$(printf "lessons/results/lesson%02d.json" "$n")
    echo "== lesson $n: $script -> $json"
    python "$script" --solution --device "$device" --json "$json" "$@"
done
python lessons/make_table.py
