"""Lesson 05: a pre-allocated cache and its write positions. Your exercise.

The engine allocates the whole KV cache once, at start-up (ModelRunner.
_allocate_kv_cache), and never grows it. In this lesson's engine a block is
as long as a whole context (block_size = max_model_len), so a sequence owns
exactly one block: a fixed buffer, reserved from its first token to its last.
What is left is to say where each token's K/V goes: its slot.

    prefill_slots()   prefill_slots   aios/engine/paging.py
    decode_slot()     decode_slot     aios/engine/paging.py

Slot of the token at position p (see aios/engine/paging.py's docstring):
    seq.block_table[p // block_size] * block_size + p % block_size
With one buffer per sequence that is: buffer * max_model_len + p. Write the
general form all the same: lesson 6 gives a sequence many blocks.

Check:  python -m pytest lessons/lesson05
Run:    python lessons/lesson05/run_lesson5.py
"""
from aios.engine.sequence import Sequence


def prefill_slots(seq: Sequence, block_size: int) -> list[int]:
    """Step 1. The slots of the tokens a prefill computes, in order.

    Those are the positions seq.num_cached_tokens .. len(seq) - 1 (the cached
    prefix, if any, is already in the cache: 0 until lesson 13).
    seq.block_table: the sequence's blocks, in order.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 05, step 1: prefill_slots() is yours to write "
                              "— see lessons/lesson05/README.md, or run with --solution")


def decode_slot(seq: Sequence, block_size: int) -> int:
    """Step 2. The slot of the newest token, at position len(seq) - 1.

    It is the one token of a decode step: its K/V is computed now and written here.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 05, step 2: decode_slot() is yours to write "
                              "— see lessons/lesson05/README.md, or run with --solution")
