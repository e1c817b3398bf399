"""Lesson 5. Pre-allocated KV cache: your write positions inside the engine, and what they buy.

    python lessons/lesson05/run_lesson5.py              # your lessons/lesson05/kv_slots.py
    python lessons/lesson05/run_lesson5.py --solution   # the reference: solutions/lesson05/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: the course workload in lesson 5's engine (one whole-context
buffer per request, allocated up front) with your slot functions plugged in,
then in lesson 4's engine (one block per token) with the engine's own. It
prints both output tokens/s, their ratio, and the KV memory each held.

A TODO still in your file stops the run with its one line (exit code 1).
The shared machinery is aios/course/measure.py; the engine options of each
lesson are in aios/course/stages.py.
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=5))
