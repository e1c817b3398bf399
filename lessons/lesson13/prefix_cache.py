"""Lesson 13: prefix caching. Your exercise.

Requests that start alike (a system prompt, a few-shot preamble, a chat's
history) need not prefill their common start again: the blocks that hold its
KV are already in the cache. Name every full block by a hash of its tokens
chained with the hash of the block before, and a new sequence whose leading
blocks hash alike shares them. README.md ("The exercise") walks through the
four pieces. While your code runs they replace the engine's own
(aios/engine/block_manager.py); `self` is the engine's BlockManager:

    self.blocks[i]           Block: block_id, ref_count, hash (-1 = none)
    self.free_block_ids      deque of free block ids, handed out from the left
    self.hash_to_block_id    {hash: block id} of every hashed block, free ones too
    self.block_size, self.enable_prefix_caching
    self._register(block, h)        block.hash = h; hash_to_block_id[h] = its id
    self.num_prefix_hit_tokens, self.num_prefill_tokens   counters
    seq.num_blocks, seq.block_tokens(i), seq.block_table, seq.num_cached_tokens

Lesson 6's can_allocate, deallocate and can_append stay the engine's.

Check:  python -m pytest lessons/lesson13
Run:    python lessons/lesson13/run_lesson13.py
"""
import numpy as np  # noqa: F401
import xxhash  # noqa: F401

from aios.engine.block_manager import Block
from aios.engine.sequence import Sequence


def block_hash(token_ids: list[int], prefix_hash: int) -> int:
    """Step 1. A 64-bit hash of one full block's tokens, chained to the previous block's.

    xxhash.xxh64(): update with prefix_hash as 8 little-endian bytes (skip it
    when it is -1: the first block), then with the tokens as int64 bytes
    (np.asarray(token_ids, dtype=np.int64).tobytes()). -> .intdigest().
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 13, step 1: block_hash() is yours to write "
                              "— see lessons/lesson13/README.md, or run with --solution")


def take_free_block(self) -> Block:
    """Step 2. Hand out the leftmost free block, forgetting what it held.

    Pop its id from the left of self.free_block_ids. If self.hash_to_block_id
    still maps the block's hash to this block, delete that entry (its contents
    are about to be overwritten). block.reset() (ref_count 1, hash -1). -> the block.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 13, step 2: take_free_block() is yours to write "
                              "— see lessons/lesson13/README.md, or run with --solution")


def allocate(self, seq: Sequence) -> None:
    """Step 3. Give a waiting sequence blocks for all its tokens, reusing cached ones.

    For block i of the sequence, with h the hash of its tokens chained to
    block i-1's (-1 when the block is not full or caching is off):
    reuse the cached block hash_to_block_id[h] when the block is full, is not
    the one holding the sequence's last token ((i + 1) * block_size < len(seq):
    that token must be computed, its logits pick the next one), no earlier
    block missed, and the cached block's hash is still h. Reusing: count
    block_size cached tokens (seq.num_cached_tokens), take it off the free list
    if its ref_count is 0, ref_count += 1. Otherwise (a miss, and every block
    after it): self._take_free_block(). Register every full block's hash
    (self._register); append the block's id to seq.block_table.
    Then add seq.num_cached_tokens to self.num_prefix_hit_tokens and len(seq)
    to self.num_prefill_tokens.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 13, step 3: allocate() is yours to write "
                              "— see lessons/lesson13/README.md, or run with --solution")


def may_append(self, seq: Sequence) -> None:
    """Step 4. Before a decode step: a new block when the newest token opens one.

    Nothing to do while len(seq.block_table) == seq.num_blocks. Else the last
    block of the table just became full: with caching on, register it under
    block_hash(its tokens, the hash of the block before it, or -1), so later
    requests can find it. Then append self._take_free_block()'s id.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 13, step 4: may_append() is yours to write "
                              "— see lessons/lesson13/README.md, or run with --solution")
