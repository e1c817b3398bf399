"""Lesson 13 checks: block hashes, reuse with reference counts, and the engine on shared prefixes.

    python -m pytest lessons/lesson13            # your lessons/lesson13/prefix_cache.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson13
"""
import pytest

from aios import SamplingParams
from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, random_prompts
from aios.course.plugin import pieces, plugged
from aios.engine import block_manager as engine_blocks
from aios.engine.block_manager import BlockManager
from aios.engine.sequence import Sequence

prefix = load_exercise(13, "prefix_cache")
BLOCK = 16


@pytest.fixture
def manager():
    """A BlockManager running your pieces: manager(num_blocks)."""
    with plugged(pieces(13, prefix)):
        yield lambda num_blocks: BlockManager(num_blocks, BLOCK, enable_prefix_caching=True)


def _seq(tokens: list[int]) -> Sequence:
    return Sequence(list(tokens), SamplingParams(max_tokens=100), BLOCK, max_len=512)


SHARED = list(range(100, 132))                 # two full blocks


# ------------------------------------------------------------- step 1 ---
def test_block_hash_is_chained_and_matches_the_spec():
    tokens = list(range(BLOCK))
    first = prefix.block_hash(tokens, -1)
    assert first == prefix.block_hash(list(tokens), -1) and isinstance(first, int)
    assert first == engine_blocks.block_hash(tokens, -1), "xxh64 of the int64 tokens, as the docstring says"
    second = prefix.block_hash(tokens, first)
    assert second != first, "the same tokens after a different prefix must hash differently"
    assert second == engine_blocks.block_hash(tokens, first)


# ------------------------------------------------------------- step 2 ---
def test_a_block_handed_out_again_forgets_its_hash(manager):
    bm = manager(2)
    block = bm.blocks[0]
    bm._register(block, 1234)
    block.ref_count = 0
    taken = bm._take_free_block()
    assert taken is block and taken.ref_count == 1 and taken.hash == -1
    assert 1234 not in bm.hash_to_block_id and list(bm.free_block_ids) == [1]


# ------------------------------------------------------------- step 3 ---
def test_a_shared_prefix_is_reused_with_reference_counts(manager):
    bm = manager(10)
    a, b = _seq(SHARED + [1, 2, 3]), _seq(SHARED + [7, 8])
    bm.allocate(a)
    bm.allocate(b)
    assert (a.num_cached_tokens, b.num_cached_tokens) == (0, 32)
    assert b.block_table[:2] == a.block_table[:2] and b.block_table[2] != a.block_table[2]
    assert [bm.blocks[i].ref_count for i in a.block_table] == [2, 2, 1]
    assert bm.num_free_blocks == 6 and bm.num_prefix_hit_tokens == 32 and bm.num_prefill_tokens == 35 + 34


def test_the_block_of_the_last_token_is_always_computed(manager):
    bm = manager(10)
    a, b = _seq(SHARED + [1]), _seq(SHARED)
    bm.allocate(a)
    bm.allocate(b)
    assert b.num_cached_tokens == BLOCK, "b's last token is in its 2nd block: computed, not reused"
    assert b.block_table[0] == a.block_table[0] and b.block_table[1] != a.block_table[1]


def test_a_miss_ends_the_reuse(manager):
    bm = manager(10)
    bm.allocate(_seq(SHARED + [1]))
    c = _seq([5] * BLOCK + SHARED[BLOCK:] + [1])           # block 1 equal, block 0 not
    bm.allocate(c)
    assert c.num_cached_tokens == 0, "a block is only reused when every block before it was"


def test_freed_blocks_keep_their_contents_for_later_requests(manager):
    bm = manager(6)
    a = _seq(SHARED + [1])
    bm.allocate(a)
    bm.deallocate(a)
    assert bm.num_free_blocks == 6
    b = _seq(SHARED + [2, 3])
    bm.allocate(b)
    assert b.num_cached_tokens == 32 and bm.num_free_blocks == 3
    assert all(bm.blocks[i].ref_count == 1 for i in b.block_table)


# ------------------------------------------------------------- step 4 ---
def test_a_block_filled_by_decoding_is_registered(manager):
    bm = manager(6)
    a = _seq(list(range(200, 215)))                        # 15 tokens: one block, not full
    bm.allocate(a)
    a.append_token(999)                                    # 16: the block fills
    bm.may_append(a)
    assert len(a.block_table) == 1, "no new block until a token opens one"
    a.append_token(998)
    bm.may_append(a)
    assert len(a.block_table) == 2
    h = engine_blocks.block_hash(list(range(200, 215)) + [999], -1)
    assert bm.blocks[a.block_table[0]].hash == h and bm.hash_to_block_id[h] == a.block_table[0]
    b = _seq(list(range(200, 215)) + [999, 5])
    bm.allocate(b)
    assert b.num_cached_tokens == BLOCK, "what decoding wrote is found by the next request"


# ------------------------------------------------------------ together ---
def test_the_engine_reuses_prefixes_with_your_pieces(tiny_qwen3):
    shared = random_prompts([40], seed=3)[0]
    prompts = [shared + tail for tail in random_prompts([3, 9, 1, 20], seed=4)]
    llm = assert_same_tokens_as_engine(tiny_qwen3, 13, pieces(13, prefix), prompts, 8)
    assert llm.scheduler.block_manager.num_prefix_hit_tokens >= 3 * 32
