"""Lesson 6. Paged KV cache: your block manager inside the engine, and what it saves.

    python lessons/lesson06/run_lesson6.py              # your lessons/lesson06/block_manager.py
    python lessons/lesson06/run_lesson6.py --solution   # the reference: solutions/lesson06/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: the course workload in lesson 6's engine (16-token blocks handed
out as a request grows) with your BlockManager methods plugged in, then in
lesson 5's engine (a whole-context buffer per request) with the engine's own.
It prints both output tokens/s and their ratio, and the KV-cache memory the
requests held, read from the block manager: whole-context buffers against the
blocks actually used.

A TODO still in your file stops the run with its one line (exit code 1).
The shared machinery is aios/course/measure.py; the engine options of each
lesson are in aios/course/stages.py.
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=6))
