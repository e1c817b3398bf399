"""Lesson 8. Continuous batching: your scheduler inside the engine, and what it buys.

    python lessons/lesson08/run_lesson8.py              # your lessons/lesson08/scheduler.py
    python lessons/lesson08/run_lesson8.py --solution   # the reference: solutions/lesson08/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: the course workload in lesson 8's engine (requests join and
leave the batch at every step) with your Scheduler methods plugged in, then in
lesson 7's engine (static batches) with the engine's own. It prints both
output tokens/s and their ratio.

A TODO still in your file stops the run with its one line (exit code 1).
The shared machinery is aios/course/measure.py; the engine options of each
lesson are in aios/course/stages.py.
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=8))
