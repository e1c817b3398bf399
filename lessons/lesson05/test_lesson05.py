"""Lesson 05 checks: where each token's K/V is written.

    python -m pytest lessons/lesson05            # your lessons/lesson05/kv_slots.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson05
"""
from aios import SamplingParams
from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, random_prompts, run_engine
from aios.course.plugin import pieces
from aios.engine.sequence import Sequence

slots = load_exercise(5, "kv_slots")


def _seq(num_tokens: int, block_table: list[int], block_size: int, num_cached: int = 0) -> Sequence:
    seq = Sequence(list(range(num_tokens)), SamplingParams(), block_size, max_len=1024)
    seq.block_table, seq.num_cached_tokens = block_table, num_cached
    return seq


# ---------------------------------------------- one buffer per sequence ---
def test_a_prompt_fills_its_buffer_from_the_start():
    seq = _seq(10, [2], block_size=256)           # buffer 2 = slots 512..767
    assert slots.prefill_slots(seq, 256) == list(range(512, 522))


def test_each_new_token_goes_right_after_the_last():
    seq = _seq(11, [2], block_size=256)
    assert slots.decode_slot(seq, 256) == 512 + 10


# --------------------------------------- many blocks (lesson 6's engine) ---
def test_positions_go_through_the_block_table():
    seq = _seq(10, [5, 1, 7], block_size=4)       # positions 0-3, 4-7, 8-9
    assert slots.prefill_slots(seq, 4) == [20, 21, 22, 23, 4, 5, 6, 7, 28, 29]
    assert slots.decode_slot(_seq(9, [5, 1, 7], block_size=4), 4) == 28


def test_a_cached_prefix_is_not_written_again():
    seq = _seq(6, [3, 8], block_size=4, num_cached=4)
    assert slots.prefill_slots(seq, 4) == [32, 33]


# ------------------------------------------------------------ together ---
def test_the_engine_runs_on_your_slots(tiny_qwen3):
    assert_same_tokens_as_engine(tiny_qwen3, 5, pieces(5, slots), random_prompts([5, 18, 47]), 10)


def test_the_same_slots_serve_many_small_blocks(tiny_qwen3):
    prompts = random_prompts([21, 40], seed=2)
    paged, _ = run_engine(tiny_qwen3, 6, prompts, 10, pieces(5, slots))   # 16-token blocks
    buffered, _ = run_engine(tiny_qwen3, 5, prompts, 10)
    assert paged == buffered
