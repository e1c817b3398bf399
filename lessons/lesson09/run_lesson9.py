"""Lesson 9. FlashAttention: your kernel against the reference, then the engine that uses it.

    python lessons/lesson09/run_lesson9.py              # your lessons/lesson09/flash_attention.py
    python lessons/lesson09/run_lesson9.py --solution   # the reference: solutions/lesson09/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: first your prefill_attention against prefill_attention_ref on
small random tensors (packed, and paged with a cached prefix), printing the
largest difference; without a GPU the kernel runs in Triton's CPU
interpreter. Then the course workload in lesson 9's engine (on a GPU: the
Triton attention backend, with your kernel plugged in for every prefill) and
in lesson 8's, printing both output tokens/s and their ratio. On a CPU
lesson 9's engine keeps the PyTorch backend (the interpreter is far too slow
for a whole model), so the two engines run the same attention there.

A TODO still in your file stops the run with its one line (exit code 1).
"""
import os
import sys

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")   # before triton is imported

from aios.course import measure  # noqa: E402

if __name__ == "__main__":
    sys.exit(measure.main(lesson=9))
