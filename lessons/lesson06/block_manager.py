"""Lesson 06: the paged KV cache's bookkeeping. Your exercise.

The cache is a pool of small blocks (16 tokens in this lesson's engine). A
sequence holds a block table, the list of its blocks in order, and gets a new
block only when its last one is full; when it finishes, its blocks go back to
the pool. Write the five BlockManager methods below; README.md ("The
exercise") walks through them. While your code runs they replace the
engine's own (aios/engine/block_manager.py), so `self` is the engine's
BlockManager:

    self.block_size          tokens per block
    self.blocks[i]           Block i: .block_id, .ref_count (sequences using it)
    self.free_block_ids      a deque of free block ids; hand out from the left
    self.num_free_blocks     len(self.free_block_ids)
    self._take_free_block()  pops the leftmost free block, sets its ref_count
                             to 1 and returns it (it also forgets what the
                             block held before: prefix caching, lesson 13)

Prefix caching (lesson 13) is off here: ignore self.enable_prefix_caching
and the hashes, and every new block is a fresh one.

    seq.block_table    the sequence's block ids, in order
    seq.num_blocks     blocks needed to hold all len(seq) tokens

Check:  python -m pytest lessons/lesson06
Run:    python lessons/lesson06/run_lesson6.py
"""
from aios.engine.sequence import Sequence


def can_allocate(self, seq: Sequence) -> bool:
    """Step 1. Are there enough free blocks for all of a waiting sequence's tokens?"""
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 06, step 1: can_allocate() is yours to write "
                              "— see lessons/lesson06/README.md, or run with --solution")


def allocate(self, seq: Sequence) -> None:
    """Step 2. Before its prefill: give the sequence one free block per seq.num_blocks.

    Append each block's id to seq.block_table, in order (its table is empty before).
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 06, step 2: allocate() is yours to write "
                              "— see lessons/lesson06/README.md, or run with --solution")


def deallocate(self, seq: Sequence) -> None:
    """Step 3. The sequence is done (or preempted): give its blocks back.

    Walk its table from the LAST block to the first: lower each block's
    ref_count, and a block nobody uses any more (ref_count 0) goes to the
    right end of self.free_block_ids. Then empty seq.block_table and set
    seq.num_cached_tokens = 0.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 06, step 3: deallocate() is yours to write "
                              "— see lessons/lesson06/README.md, or run with --solution")


def can_append(self, seq: Sequence) -> bool:
    """Step 4. Can the sequence's newest token be stored?

    It needs a new block when its table is shorter than seq.num_blocks;
    then one free block must exist. Otherwise it fits in its last block.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 06, step 4: can_append() is yours to write "
                              "— see lessons/lesson06/README.md, or run with --solution")


def may_append(self, seq: Sequence) -> None:
    """Step 5. Before a decode step: if the newest token opens a new block, append one."""
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 06, step 5: may_append() is yours to write "
                              "— see lessons/lesson06/README.md, or run with --solution")
