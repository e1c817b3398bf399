"""Lesson 06 checks: handing out blocks, taking them back, and the engine on them.

    python -m pytest lessons/lesson06            # your lessons/lesson06/block_manager.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson06
"""
import pytest

from aios import SamplingParams
from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, random_prompts
from aios.course.plugin import pieces, plugged
from aios.engine.block_manager import BlockManager
from aios.engine.sequence import Sequence

bm_exercise = load_exercise(6, "block_manager")
BLOCK = 4


@pytest.fixture
def blocks():
    """A pool of 8 blocks of 4 tokens, running your methods."""
    with plugged(pieces(6, bm_exercise)):
        yield BlockManager(8, BLOCK, enable_prefix_caching=False)


def _seq(num_tokens: int) -> Sequence:
    return Sequence(list(range(num_tokens)), SamplingParams(), BLOCK, max_len=64)


def _free(blocks) -> list[int]:
    return list(blocks.free_block_ids)


# ------------------------------------------------------- steps 1 and 2 ---
def test_allocate_gives_one_block_per_block_of_tokens(blocks):
    a, b = _seq(10), _seq(4)
    blocks.allocate(a)
    blocks.allocate(b)
    assert a.block_table == [0, 1, 2] and b.block_table == [3]   # from the left of the free list
    assert _free(blocks) == [4, 5, 6, 7]
    assert all(blocks.blocks[i].ref_count == 1 for i in range(4))


def test_can_allocate_counts_the_blocks_a_prompt_needs(blocks):
    blocks.allocate(_seq(20))                      # 5 of 8 blocks
    assert blocks.can_allocate(_seq(12))           # needs 3
    assert not blocks.can_allocate(_seq(13))       # needs 4


# ------------------------------------------------------------- step 3 ---
def test_deallocate_returns_the_blocks_last_first(blocks):
    a, b = _seq(10), _seq(6)
    blocks.allocate(a)
    blocks.allocate(b)
    blocks.deallocate(a)
    assert a.block_table == [] and a.num_cached_tokens == 0
    assert _free(blocks) == [5, 6, 7, 2, 1, 0]
    assert [blocks.blocks[i].ref_count for i in range(5)] == [0, 0, 0, 1, 1]
    blocks.deallocate(b)
    assert blocks.num_free_blocks == 8


# ------------------------------------------------------- steps 4 and 5 ---
def test_a_new_block_only_when_the_last_one_is_full(blocks):
    seq = _seq(8)
    blocks.allocate(seq)                           # 2 full blocks
    seq.append_token(8)                            # position 8 opens block 3
    assert blocks.can_append(seq)
    blocks.may_append(seq)
    assert seq.block_table == [0, 1, 2]
    for t in (9, 10, 11):                          # positions 9 to 11: same block
        seq.append_token(t)
        blocks.may_append(seq)
    assert seq.block_table == [0, 1, 2] and blocks.num_free_blocks == 5


def test_can_append_when_the_pool_is_empty(blocks):
    seq = _seq(30)
    blocks.allocate(seq)                           # 8 blocks: all of them, 2 slots left
    seq.append_token(30)
    assert blocks.can_append(seq), "the token fits in the last block"
    blocks.may_append(seq)
    seq.append_token(31)
    seq.append_token(32)
    assert not blocks.can_append(seq), "it needs a 9th block"


# ------------------------------------------------------------ together ---
def test_the_engine_runs_on_your_blocks(tiny_qwen3):
    llm = assert_same_tokens_as_engine(tiny_qwen3, 6, pieces(6, bm_exercise),
                                       random_prompts([5, 16, 17, 60]), 20)
    assert llm.scheduler.block_manager.num_free_blocks == llm.num_kv_blocks, "every block came back"
