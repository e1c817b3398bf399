"""Lesson 11 checks: the batch sizes captured, the padding, and the padded decode inputs.

    python -m pytest lessons/lesson11            # your lessons/lesson11/cuda_graphs.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson11

The graphs themselves need a GPU; what decides which graph replays, and what
its padding rows hold, runs here on the CPU.
"""
from types import SimpleNamespace

import pytest
import torch

from aios import SamplingParams
from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, random_prompts
from aios.course.plugin import pieces, plugged
from aios.engine.decode_inputs import DecodeInputs
from aios.engine.sequence import Sequence
from aios.utils.context import get_context, reset_context

graphs = load_exercise(11, "cuda_graphs")
BLOCK = 4


# ------------------------------------------------------------- step 1 ---
@pytest.mark.parametrize("max_num_seqs, expected", [
    (1, [1]), (4, [1, 2, 4]), (6, [1, 2, 4, 6]), (16, [1, 2, 4, 8, 16]),
    (20, [1, 2, 4, 8, 16]), (48, [1, 2, 4, 8, 16, 32, 48]),
])
def test_capture_batch_sizes(max_num_seqs, expected):
    assert graphs.capture_batch_sizes(max_num_seqs) == expected


# -------------------------------------------------------- steps 2 and 3 ---
def test_padded_batch_size_is_the_smallest_that_fits():
    sizes = [1, 2, 4, 8, 16, 32]
    padded = [graphs.padded_batch_size(b, sizes) for b in range(1, 33)]
    assert padded[:9] == [1, 2, 4, 4, 8, 8, 8, 8, 16]
    assert padded[16:] == [32] * 16 and padded[15] == 16


def test_padded_size_runs_eagerly_past_the_largest_graph():
    runner = SimpleNamespace(batch_sizes=[1, 2, 4, 8])
    with plugged(pieces(11, graphs)):
        assert [graphs.padded_size(runner, b) for b in (1, 3, 8, 9, 100)] == [1, 4, 8, None, None]


# ------------------------------------------------------------- step 4 ---
def _seq(tokens: int, blocks: list[int]) -> Sequence:
    seq = Sequence(list(range(10, 10 + tokens)), SamplingParams(max_tokens=10), BLOCK, max_len=64)
    seq.block_table = blocks
    return seq


def test_load_fills_real_rows_and_harmless_padding():
    inputs = DecodeInputs(max_num_seqs=8, max_blocks_per_seq=6, device=torch.device("cpu"))
    for array in inputs.host.values():
        array.fill(77)                                       # stale rows from an earlier step
    a, b, c = _seq(6, [3, 9]), _seq(9, [0, 1, 5]), _seq(1, [7])
    try:
        input_ids, positions = graphs.load(inputs, [a, b, c], BLOCK, num_rows=4)
        h = inputs.host
        assert input_ids.tolist() == [15, 18, 10] and positions.tolist() == [5, 8, 0]
        assert h["context_lens"][:4].tolist() == [6, 9, 1, 1]
        assert h["slot_mapping"][:4].tolist() == [9 * BLOCK + 1, 5 * BLOCK + 0, 7 * BLOCK + 0, -1]
        assert h["input_ids"][3] == 0 and h["positions"][3] == 0, "padding rows: token 0 at position 0"
        assert h["block_tables"][:4, :3].tolist() == [[3, 9, 77], [0, 1, 5], [7, 77, 77], [0, 0, 0]]
        ctx = get_context()
        assert not ctx.is_prefill and ctx.max_seqlen_k == 9
        assert ctx.context_lens.tolist() == [6, 9, 1] and ctx.block_tables.shape == (3, 3)
        assert h["input_ids"][4] == 77, "rows past num_rows are not touched"
    finally:
        reset_context()


def test_the_engine_decodes_through_your_pieces(tiny_qwen3):
    """Every decode step's inputs come from your load(): the engine's tokens."""
    assert_same_tokens_as_engine(tiny_qwen3, 11, pieces(11, graphs), random_prompts([9, 20, 3]), 8)
