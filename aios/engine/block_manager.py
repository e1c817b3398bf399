"""The paged KV cache's bookkeeping: which physical block holds what.

The cache is a pool of fixed-size blocks (block_size tokens each). A sequence
owns a block table, the list of its blocks in order, so its KV need not be
contiguous and memory is handed out a block at a time: no sequence reserves
room for a length it may never reach.

Prefix caching: a full block is named by a hash of its tokens chained with the
previous block's hash, so equal hashes mean equal whole prefixes. A new
sequence whose leading blocks hash to blocks already in the cache shares them
(reference counts) and skips their prefill. A freed block keeps its hash until
it is handed out again, so a later request can still find it.
"""
from collections import OrderedDict

import numpy as np
import xxhash

from aios.engine.sequence import Sequence


class Block:
    def __init__(self, block_id: int):
        self.block_id = block_id
        self.ref_count = 0
        self.hash = -1             # -1 = not a full, hashed block

    def reset(self):
        self.ref_count = 1
        self.hash = -1


def block_hash(token_ids: list[int], prefix_hash: int) -> int:
    h = xxhash.xxh64()
    if prefix_hash != -1:
        h.update(prefix_hash.to_bytes(8, "little"))
    h.update(np.asarray(token_ids, dtype=np.int64).tobytes())
    return h.intdigest()


class FreeBlockIds:
    """The free block ids, in the order they are handed out: a queue with O(1)
    removal from the middle.

    Blocks are handed out from the left and freed to the right, so the block
    freed longest ago is reused first and a freed block keeps its cached
    contents as long as possible. A prefix-cache hit takes a freed block back
    from wherever it sits. In a deque that removal scans the queue, O(n): with
    ~40k free blocks, rerunning 256 prompts whose ~9k blocks are all cached
    cost ~2 s of CPU on every rerun. An OrderedDict (a linked hash table)
    removes any key in O(1) and keeps the order.

    It answers what the engine (and the lessons' code) asks of a deque:
    popleft, append, remove, len, iteration, `in`.
    """

    def __init__(self, block_ids=()):
        self._ids: OrderedDict[int, None] = OrderedDict.fromkeys(block_ids)

    def popleft(self) -> int:
        if not self._ids:
            raise IndexError("no free block: check num_free_blocks before taking one")
        return self._ids.popitem(last=False)[0]

    def append(self, block_id: int) -> None:
        assert block_id not in self._ids, f"block {block_id} freed twice"
        self._ids[block_id] = None

    def remove(self, block_id: int) -> None:
        del self._ids[block_id]

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self):
        return iter(self._ids)

    def __contains__(self, block_id) -> bool:
        return block_id in self._ids

    def __repr__(self) -> str:
        return f"FreeBlockIds({list(self._ids)})"


class BlockManager:
    def __init__(self, num_blocks: int, block_size: int, enable_prefix_caching: bool = True):
        self.block_size = block_size
        self.enable_prefix_caching = enable_prefix_caching
        self.blocks = [Block(i) for i in range(num_blocks)]
        self.free_block_ids = FreeBlockIds(range(num_blocks))
        self.hash_to_block_id: dict[int, int] = {}
        self.num_prefix_hit_tokens = 0   # counters, for tests and benchmarks
        self.num_prefill_tokens = 0

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def num_free_blocks(self) -> int:
        return len(self.free_block_ids)

    # ----------------------------------------------------------- prefill ---
    def can_allocate(self, seq: Sequence) -> bool:
        # Conservative: as if no block were found in the prefix cache.
        return self.num_free_blocks >= seq.num_blocks

    def allocate(self, seq: Sequence) -> None:
        """Give a waiting sequence blocks for all its tokens, reusing cached ones."""
        assert not seq.block_table
        prefix_hash, missed = -1, not self.enable_prefix_caching
        for i in range(seq.num_blocks):
            tokens = seq.block_tokens(i)
            full = len(tokens) == self.block_size
            h = block_hash(tokens, prefix_hash) if full and self.enable_prefix_caching else -1
            # The last token is always computed: its logits pick the next one.
            reusable = full and (i + 1) * self.block_size < len(seq)
            block_id = self.hash_to_block_id.get(h, -1) if reusable and not missed else -1
            if block_id == -1 or self.blocks[block_id].hash != h:
                missed = True
                block = self._take_free_block()
            else:
                block = self.blocks[block_id]
                seq.num_cached_tokens += self.block_size
                if block.ref_count == 0:      # freed earlier, contents still valid
                    self.free_block_ids.remove(block_id)   # O(1): FreeBlockIds
                block.ref_count += 1
            if full:
                self._register(block, h)
            seq.block_table.append(block.block_id)
            prefix_hash = h
        self.num_prefix_hit_tokens += seq.num_cached_tokens
        self.num_prefill_tokens += len(seq)

    def deallocate(self, seq: Sequence) -> None:
        for block_id in reversed(seq.block_table):
            block = self.blocks[block_id]
            block.ref_count -= 1
            if block.ref_count == 0:
                self.free_block_ids.append(block_id)
        seq.block_table.clear()
        seq.num_cached_tokens = 0

    # ------------------------------------------------------------ decode ---
    def can_append(self, seq: Sequence) -> bool:
        needs_block = len(seq.block_table) < seq.num_blocks
        return self.num_free_blocks >= int(needs_block)

    def may_append(self, seq: Sequence) -> None:
        """Before a decode step: make room for the newest token's KV.

        The newest token (not yet in the cache) is at position len(seq) - 1.
        If it opens a new block, the previous block just became full:
        hash it so later requests can reuse it.
        """
        if len(seq.block_table) == seq.num_blocks:
            return
        last = len(seq.block_table) - 1
        if last >= 0 and self.enable_prefix_caching:
            prev_hash = self.blocks[seq.block_table[last - 1]].hash if last > 0 else -1
            self._register(self.blocks[seq.block_table[last]], block_hash(seq.block_tokens(last), prev_hash))
        seq.block_table.append(self._take_free_block().block_id)

    # ----------------------------------------------------------- helpers ---
    def _take_free_block(self) -> Block:
        block = self.blocks[self.free_block_ids.popleft()]
        if self.hash_to_block_id.get(block.hash) == block.block_id:
            del self.hash_to_block_id[block.hash]   # its old contents are gone
        block.reset()
        return block

    def _register(self, block: Block, h: int) -> None:
        if self.enable_prefix_caching:
            block.hash = h
            self.hash_to_block_id[h] = block.block_id
