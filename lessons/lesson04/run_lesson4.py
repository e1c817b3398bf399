"""Lesson 4. KV cache: your cache writes and reads inside the engine, and what they buy.

    python lessons/lesson04/run_lesson4.py              # your lessons/lesson04/kv_cache.py
    python lessons/lesson04/run_lesson4.py --solution   # the reference: solutions/lesson04/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: the course workload in lesson 4's engine (a KV cache grown one
token-sized block at a time, one request at a time) with your three functions
plugged in, then in lesson 3's engine (no cache) with the engine's own. It
prints both output tokens/s, their ratio, and whether the tokens are the same.

A TODO still in your file stops the run with its one line (exit code 1).
The shared machinery is aios/course/measure.py; the engine options of each
lesson are in aios/course/stages.py.
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=4))
