"""Lesson 11. CUDA graphs: your bucketing and decode inputs, and the engine that replays them.

    python lessons/lesson11/run_lesson11.py              # your lessons/lesson11/cuda_graphs.py
    python lessons/lesson11/run_lesson11.py --solution   # the reference: solutions/lesson11/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: first the batch sizes your capture_batch_sizes picks and the
padding your padded_batch_size gives every batch size, with the share of
replayed rows that are padding. Then the course workload in lesson 11's
engine (on a GPU: one CUDA graph per captured size, replayed at every decode
step, your pieces choosing the graph and filling its inputs) and in lesson
10's (eager), printing both output tokens/s and their ratio. On a CPU there
are no graphs: both engines run eagerly and the ratio is noise.

A TODO still in your file stops the run with its one line (exit code 1).
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=11))
