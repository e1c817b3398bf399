"""Lesson 01 checks: your layers against independent definitions, then inside the engine.

    python -m pytest lessons/lesson01            # your lessons/lesson01/layers.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson01
"""
import torch
import torch.nn.functional as F

from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, random_prompts
from aios.course.plugin import pieces
from aios.layers.rotary_embedding import RotaryEmbedding

layers = load_exercise(1, "layers")


# ------------------------------------------------------------- step 1 ---
def test_rms_norm_matches_torch():
    x, weight = torch.randn(5, 64), torch.randn(64)
    expected = F.rms_norm(x, (64,), weight, eps=1e-6)
    torch.testing.assert_close(layers.rms_norm(x, weight, 1e-6), expected)


def test_rms_norm_adds_the_residual_first():
    x, residual, weight = torch.randn(3, 32), torch.randn(3, 32), torch.randn(32)
    out, new_residual = layers.rms_norm(x, weight, 1e-5, residual)
    torch.testing.assert_close(new_residual, x + residual)
    torch.testing.assert_close(out, F.rms_norm(x + residual, (32,), weight, eps=1e-5))


def test_rms_norm_keeps_bfloat16_and_normalizes_in_float32():
    x, weight = torch.randn(4, 64).bfloat16() * 100, torch.ones(64).bfloat16()
    out = layers.rms_norm(x, weight, 1e-6)
    assert out.dtype == torch.bfloat16
    expected = F.rms_norm(x.float(), (64,), eps=1e-6)
    torch.testing.assert_close(out.float(), expected, atol=2e-2, rtol=2e-2)


# ------------------------------------------------------------- step 2 ---
def _rope_by_definition(positions, x, cos_sin_cache):
    """RoPE as Hugging Face writes it: x * cos + rotate_half(x) * sin, over the full width."""
    cos, sin = cos_sin_cache[positions].chunk(2, dim=-1)
    cos, sin = torch.cat((cos, cos), -1)[:, None], torch.cat((sin, sin), -1)[:, None]
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def test_rotary_matches_the_definition():
    cache = RotaryEmbedding(32, 128, base=10000.0).cos_sin_cache
    positions = torch.tensor([0, 5, 17, 127])
    q, k = torch.randn(4, 4, 32), torch.randn(4, 2, 32)
    q_rot, k_rot = layers.rotary(positions, q, k, cache)
    torch.testing.assert_close(q_rot, _rope_by_definition(positions, q, cache))
    torch.testing.assert_close(k_rot, _rope_by_definition(positions, k, cache))


def test_rotary_scores_depend_only_on_the_distance():
    """The point of RoPE: q_m . k_n is a function of m - n."""
    cache = RotaryEmbedding(16, 64, base=10000.0).cos_sin_cache
    q, k = torch.randn(1, 1, 16), torch.randn(1, 1, 16)

    def score(m, n):
        q_m, _ = layers.rotary(torch.tensor([m]), q, k, cache)
        _, k_n = layers.rotary(torch.tensor([n]), q, k, cache)
        return (q_m * k_n).sum()

    torch.testing.assert_close(score(7, 3), score(40, 36))
    torch.testing.assert_close(score(0, 0), (q * k).sum())   # position 0: no rotation


# ------------------------------------------------------------- step 3 ---
def _mask(q_lens, k_lens, max_q, max_k):
    return layers.causal_mask(torch.tensor(q_lens), torch.tensor(k_lens), max_q, max_k)


def test_causal_mask_of_a_prompt_is_lower_triangular():
    expected = torch.tril(torch.ones(3, 3, dtype=torch.bool))[None]
    assert torch.equal(_mask([3], [3], 3, 3), expected)


def test_causal_mask_places_new_queries_after_the_cached_keys():
    # 2 new tokens after 3 cached ones: they sit at positions 3 and 4.
    expected = torch.tensor([[[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]], dtype=torch.bool)
    assert torch.equal(_mask([2], [5], 2, 5), expected)


def test_causal_mask_hides_the_padding():
    mask = _mask([2, 4], [2, 4], 4, 4)
    assert mask.shape == (2, 4, 4)
    assert not mask[0, :, 2:].any(), "keys past sequence 0's end are padding"
    assert torch.equal(mask[1], torch.tril(torch.ones(4, 4, dtype=torch.bool)))


# ------------------------------------------------------------- step 4 ---
def test_attention_matches_torch_sdpa_on_a_ragged_batch():
    torch.manual_seed(0)
    q_lens, k_lens = [3, 1, 5], [3, 6, 7]
    B, H, Hkv, D = 3, 4, 2, 16
    q, k, v = torch.randn(B, 5, H, D), torch.randn(B, 7, Hkv, D), torch.randn(B, 7, Hkv, D)
    for b, n in enumerate(k_lens):  # what lies past a sequence's end must not matter
        k[b, n:], v[b, n:] = float("nan"), float("nan")
    out = layers.attention(q, k, v, torch.tensor(q_lens), torch.tensor(k_lens), 0.25)
    assert out.shape == (B, 5, H, D)
    for b, (nq, nk) in enumerate(zip(q_lens, k_lens)):
        qb = q[b, :nq].transpose(0, 1)                                   # [H, nq, D]
        kb = k[b, :nk].repeat_interleave(H // Hkv, dim=1).transpose(0, 1)
        vb = v[b, :nk].repeat_interleave(H // Hkv, dim=1).transpose(0, 1)
        allowed = torch.ones(nq, nk, dtype=torch.bool).tril(diagonal=nk - nq)
        expected = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=allowed, scale=0.25)
        torch.testing.assert_close(out[b, :nq], expected.transpose(0, 1))


# ---------------------------------------------------------- all four ---
def test_the_engine_runs_on_your_layers(tiny_qwen3):
    assert_same_tokens_as_engine(tiny_qwen3, 1, pieces(1, layers), random_prompts([4, 19, 33]))
