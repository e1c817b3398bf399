"""Lesson 2. Run Qwen3 from scratch: your weight loading and decoder layer inside the engine.

    python lessons/lesson02/run_lesson2.py              # your lessons/lesson02/decoder.py
    python lessons/lesson02/run_lesson2.py --solution   # the reference: solutions/lesson02/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: it loads the model with your target_name() and builds it on
your attention and decoder-layer forward(), then runs one forward pass and a
short greedy continuation; then the same with the engine's own. It prints the
largest logit difference and whether the continuations are the same.

A TODO still in your file stops the run with its one line (exit code 1).
The shared machinery is aios/course/measure.py; the engine options of each
lesson are in aios/course/stages.py.
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=2))
