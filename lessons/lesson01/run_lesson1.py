"""Lesson 1. LLM basics: your RMSNorm, RoPE, causal mask and attention inside the engine.

    python lessons/lesson01/run_lesson1.py              # your lessons/lesson01/layers.py
    python lessons/lesson01/run_lesson1.py --solution   # the reference: solutions/lesson01/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: lesson 3's engine (no KV cache yet) on the default model, with
your four functions plugged in, then with the engine's own. It prints the
largest difference between the two next-token logits after a prompt, and
whether a short greedy continuation is the same.

A TODO still in your file stops the run with its one line (exit code 1).
The shared machinery is aios/course/measure.py; the engine options of each
lesson are in aios/course/stages.py.
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=1))
