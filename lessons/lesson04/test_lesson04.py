"""Lesson 04 checks: writing and reading the cache, and decoding with it.

    python -m pytest lessons/lesson04            # your lessons/lesson04/kv_cache.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson04
"""
import pytest
import torch
import torch.nn.functional as F

from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, random_prompts, run_engine
from aios.course.plugin import pieces

kv = load_exercise(4, "kv_cache")
HKV, D = 2, 8


# ------------------------------------------------------------- step 1 ---
def test_store_writes_each_token_to_its_slot():
    k_cache, v_cache = torch.zeros(5, 4, HKV, D), torch.zeros(5, 4, HKV, D)
    key, value = torch.randn(3, HKV, D), torch.randn(3, HKV, D)
    kv.store_kvcache(key, value, k_cache, v_cache, torch.tensor([9, -1, 0], dtype=torch.int32))
    torch.testing.assert_close(k_cache[2, 1], key[0])      # slot 9 = block 2, offset 1
    torch.testing.assert_close(v_cache[0, 0], value[2])    # slot 0
    assert k_cache.count_nonzero() == 2 * HKV * D, "slot -1 means: do not store"


# ------------------------------------------------------------- step 2 ---
@pytest.mark.parametrize("block_size", [1, 4])
def test_gather_reads_positions_through_the_block_table(block_size):
    cache = torch.randn(12, block_size, HKV, D)
    tables = torch.tensor([[7, 2, 9], [4, -1, -1]], dtype=torch.int32)
    out = kv.gather_kv(cache, tables, max_len=2 * block_size + 1)
    assert out.shape == (2, 2 * block_size + 1, HKV, D)
    for p in range(2 * block_size + 1):
        block = tables[0, p // block_size]
        torch.testing.assert_close(out[0, p], cache[block, p % block_size])
    torch.testing.assert_close(out[1, :block_size], cache[4])


# ------------------------------------------------------------- step 3 ---
def test_decode_attention_attends_over_each_cached_context():
    torch.manual_seed(0)
    H, block_size, lens = 4, 4, [5, 1, 8]
    k_cache = torch.full((10, block_size, HKV, D), float("nan"))  # unwritten slots: garbage
    v_cache = torch.full((10, block_size, HKV, D), float("nan"))
    tables = torch.tensor([[3, 6], [1, -1], [8, 0]], dtype=torch.int32)
    keys, values = {}, {}
    for b, n in enumerate(lens):
        keys[b], values[b] = torch.randn(n, HKV, D), torch.randn(n, HKV, D)
        for p in range(n):
            block, offset = tables[b, p // block_size], p % block_size
            k_cache[block, offset], v_cache[block, offset] = keys[b][p], values[b][p]
    q = torch.randn(3, H, D)
    out = kv.decode_attention(q, k_cache, v_cache, torch.tensor(lens), tables, 0.3)
    for b in range(3):
        k = keys[b].repeat_interleave(H // HKV, dim=1).transpose(0, 1)    # [H, n, D]
        v = values[b].repeat_interleave(H // HKV, dim=1).transpose(0, 1)
        expected = F.scaled_dot_product_attention(q[b][:, None], k, v, scale=0.3)[:, 0]
        torch.testing.assert_close(out[b], expected)


# ------------------------------------------------------------ together ---
def test_the_engine_decodes_from_your_cache(tiny_qwen3):
    assert_same_tokens_as_engine(tiny_qwen3, 4, pieces(4, kv), random_prompts([3, 17, 40]), 12)


def test_a_cache_changes_the_speed_not_the_tokens(tiny_qwen3):
    prompts = random_prompts([9, 31], seed=1)
    with_cache, _ = run_engine(tiny_qwen3, 4, prompts, 12, pieces(4, kv))
    recomputed, _ = run_engine(tiny_qwen3, 3, prompts, 12)  # lesson 3: no cache at all
    assert with_cache == recomputed
