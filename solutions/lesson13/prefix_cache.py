"""Lesson 13, solved: the engine's own prefix cache (aios/engine/block_manager.py).

    block_hash        the chained hash of a full block, called by allocate and may_append
    take_free_block   BlockManager._take_free_block
    allocate          BlockManager.allocate, called by the scheduler's prefill (lesson 8)
    may_append        BlockManager.may_append, called by the scheduler's decode
"""
from aios.engine.block_manager import BlockManager, block_hash

take_free_block = BlockManager._take_free_block
allocate = BlockManager.allocate
may_append = BlockManager.may_append

__all__ = ["block_hash", "take_free_block", "allocate", "may_append"]
