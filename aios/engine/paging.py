"""Where a token's K/V lives in the paged cache: its slot.

The cache is a pool of num_blocks x block_size slots. The token at position p
of a sequence lives in block seq.block_table[p // block_size], at offset
p % block_size, that is in the flat slot
    seq.block_table[p // block_size] * block_size + p % block_size.
The model runner turns each step's sequences into these slots (the slot
mapping); the attention backend writes each new token's K/V there.
"""
from aios.engine.sequence import Sequence


def prefill_slots(seq: Sequence, block_size: int) -> list[int]:
    """The slots of the tokens a prefill computes: positions num_cached_tokens..len(seq)-1.

    A cached prefix is made of whole blocks, so the computed tokens start at a
    block's first slot and fill each block in order.
    """
    slots = []
    for pos in range(seq.num_cached_tokens, len(seq), block_size):
        first = seq.block_table[pos // block_size] * block_size
        n = min(block_size, len(seq) - pos)
        slots += range(first, first + n)
    return slots


def decode_slot(seq: Sequence, block_size: int) -> int:
    """The slot of the newest token (position len(seq) - 1), in the sequence's last block."""
    return seq.block_table[-1] * block_size + (len(seq) - 1) % block_size
