"""Lesson 7. Static batching: your padded, masked attention inside the engine, and what batching buys.

    python lessons/lesson07/run_lesson7.py              # your lessons/lesson07/batching.py
    python lessons/lesson07/run_lesson7.py --solution   # the reference: solutions/lesson07/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: the course workload in lesson 7's engine (many requests per
step; a batch runs to its end before the next is admitted) with your
pad_packed() and prefill_attention() plugged in, then in lesson 6's engine (one
request at a time) with the engine's own. It prints both output tokens/s and
their ratio.

A TODO still in your file stops the run with its one line (exit code 1).
The shared machinery is aios/course/measure.py; the engine options of each
lesson are in aios/course/stages.py.
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=7))
