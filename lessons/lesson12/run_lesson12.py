"""Lesson 12. Sampling: your sampler inside the engine, on a sampled workload.

    python lessons/lesson12/run_lesson12.py              # your lessons/lesson12/sampling.py
    python lessons/lesson12/run_lesson12.py --solution   # the reference: solutions/lesson12/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: the course workload, now sampled (temperature 0.8, top-p 0.95,
top-k 50, one seed per request), in lesson 12's engine with your top-k/top-p
masks and sampler plugged in, then the greedy workload in lesson 11's engine.
It prints both output tokens/s and their ratio: the price of sampling. (On a
GPU the engine draws with its Triton kernel; your masks still run there.)

A TODO still in your file stops the run with its one line (exit code 1).
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=12))
