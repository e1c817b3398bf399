"""Lesson 13. Prefix caching: your prefix cache inside the engine, on a shared-prefix workload.

    python lessons/lesson13/run_lesson13.py              # your lessons/lesson13/prefix_cache.py
    python lessons/lesson13/run_lesson13.py --solution   # the reference: solutions/lesson13/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: a workload whose prompts all start with the same tokens (a
system prompt: 1,024 tokens on a GPU, 96 on a CPU, 32 with --tiny), as many
requests as seats (so that none waits for one), in lesson
13's engine (prefix caching on, your pieces plugged in) and in lesson 12's
(off). It prints output tokens/s, the prefill tokens found in the cache
instead of computed (BlockManager.num_prefix_hit_tokens), and the time to
first token (Sequence.first_token_time - arrival_time) of both.

A TODO still in your file stops the run with its one line (exit code 1).
"""
import sys

from aios.course import measure

if __name__ == "__main__":
    sys.exit(measure.main(lesson=13))
