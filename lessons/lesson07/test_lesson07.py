"""Lesson 07 checks: padding a packed batch, attending over it, and batches in the engine.

    python -m pytest lessons/lesson07            # your lessons/lesson07/batching.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson07
"""
import torch
import torch.nn.functional as F

from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, random_prompts, run_engine
from aios.course.plugin import pieces

batching = load_exercise(7, "batching")
H, HKV, D = 4, 2, 8


def _cu(lens: list[int]) -> torch.Tensor:
    return torch.tensor([0] + torch.tensor(lens).cumsum(0).tolist(), dtype=torch.int32)


def _causal(q, k, v, scale):
    """Reference for one sequence: q [n_q, H, D] are the last n_q of k's n_k positions."""
    n_q, n_k = q.shape[0], k.shape[0]
    k, v = (x.repeat_interleave(H // HKV, dim=1).transpose(0, 1) for x in (k, v))
    allowed = torch.ones(n_q, n_k, dtype=torch.bool).tril(diagonal=n_k - n_q)
    return F.scaled_dot_product_attention(q.transpose(0, 1), k, v, attn_mask=allowed,
                                          scale=scale).transpose(0, 1)


# ------------------------------------------------------------- step 1 ---
def test_pad_packed_makes_a_rectangle_and_says_what_is_real():
    packed = torch.arange(8.0)[:, None].repeat(1, 3)          # rows 0..7, [8, 3]
    padded, valid = batching.pad_packed(packed, _cu([3, 1, 4]), 4)
    assert padded.shape == (3, 4, 3)
    assert valid.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]]
    assert padded[valid][:, 0].tolist() == list(range(8))
    assert torch.isfinite(padded).all()


# ------------------------------------------------------------- step 2 ---
def test_prefill_attention_matches_each_sequence_alone():
    torch.manual_seed(0)
    lens = [5, 1, 9, 3]
    q, k, v = torch.randn(sum(lens), H, D), torch.randn(sum(lens), HKV, D), torch.randn(sum(lens), HKV, D)
    cu = _cu(lens)
    out = batching.prefill_attention(q, k, v, cu, cu, max(lens), max(lens), 0.3)
    assert out.shape == q.shape
    for a, b in zip(cu[:-1].tolist(), cu[1:].tolist()):
        torch.testing.assert_close(out[a:b], _causal(q[a:b], k[a:b], v[a:b], 0.3))


def test_prefill_attention_reads_a_cached_prefix_through_the_block_tables():
    torch.manual_seed(1)
    block, total, new = 4, [7, 10], [3, 2]            # 4 and 8 tokens already cached
    k_cache, v_cache = torch.randn(6, block, HKV, D), torch.randn(6, block, HKV, D)
    tables = torch.tensor([[2, 5, -1], [0, 3, 4]], dtype=torch.int32)
    q = torch.randn(sum(new), H, D)
    out = batching.prefill_attention(q, None, None, _cu(new), _cu(total), max(new), max(total), 0.3,
                                     k_cache, v_cache, tables)
    starts = _cu(new).tolist()
    for b, n_k in enumerate(total):
        slots = torch.tensor([int(tables[b, p // block]) * block + p % block for p in range(n_k)])
        k = k_cache.view(-1, HKV, D)[slots]
        v = v_cache.view(-1, HKV, D)[slots]
        rows = slice(starts[b], starts[b + 1])
        torch.testing.assert_close(out[rows], _causal(q[rows], k, v, 0.3))


# ------------------------------------------------------------ together ---
def test_the_engine_batches_on_your_attention(tiny_qwen3):
    assert_same_tokens_as_engine(tiny_qwen3, 7, pieces(7, batching), random_prompts([3, 29, 11, 47, 1]), 9)


def test_a_batch_gives_the_tokens_each_prompt_gets_alone(tiny_qwen3):
    prompts = random_prompts([6, 33, 20], seed=3)
    batched, _ = run_engine(tiny_qwen3, 7, prompts, 9, pieces(7, batching))
    alone, _ = run_engine(tiny_qwen3, 6, prompts, 9)           # lesson 6: one at a time
    assert batched == alone
