"""Lesson 3. Baseline generation: your token-by-token loop, without a KV cache.

    python lessons/lesson03/run_lesson3.py              # your lessons/lesson03/loop.py
    python lessons/lesson03/run_lesson3.py --solution   # the reference: solutions/lesson03/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: the course workload in lesson 3's engine (no KV cache, one
request at a time: every step runs the model over the whole sequence again)
with your finish_reason() and postprocess() plugged in. It prints the output
tokens/s beside the course's promise; this is the baseline the next lessons
divide by.

A TODO still in your file stops the run with its one line (exit code 1).
The shared machinery is aios/course/measure.py; the engine options of each
lesson are in aios/course/stages.py.
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=3))
