"""Lesson 09 checks: your FlashAttention kernel against the PyTorch reference.

    python -m pytest lessons/lesson09            # your lessons/lesson09/flash_attention.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson09

Without a GPU the kernel runs in Triton's CPU interpreter (lessons/conftest.py
sets TRITON_INTERPRET=1), so the sizes are small: a few seconds in all.
"""
import pytest
import torch

from aios.course import load_exercise
from aios.kernels.reference import prefill_attention_ref

flash = load_exercise(9, "flash_attention")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _cu(lens) -> torch.Tensor:
    return torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()], dtype=torch.int32, device=DEVICE)


def _rand(g, *shape, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=g).to(DEVICE, dtype)


def _packed_case(lens, heads, kv_heads, head_dim, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = sum(lens)
    q = _rand(g, n, heads, head_dim, dtype=dtype)
    k = _rand(g, n, kv_heads, head_dim, dtype=dtype)
    v = _rand(g, n, kv_heads, head_dim, dtype=dtype)
    return (q, k, v, _cu(lens), _cu(lens), max(lens), max(lens), head_dim ** -0.5)


def _check(case, tolerance=1e-4):
    out = flash.prefill_attention(*case)
    ref = prefill_attention_ref(*[x.float() if torch.is_tensor(x) and x.is_floating_point() else x
                                  for x in case])
    assert out.shape == case[0].shape and out.dtype == case[0].dtype
    error = (out.float() - ref).abs().max().item()
    assert error < tolerance, f"max |yours - reference| = {error:.2e}"


def test_one_sequence():
    _check(_packed_case([24], heads=2, kv_heads=2, head_dim=16))


def test_a_packed_batch_of_different_lengths_with_grouped_kv_heads():
    # Lengths that end mid-tile, a length-1 sequence, 2 query heads per KV head.
    _check(_packed_case([1, 37, 16, 9], heads=4, kv_heads=2, head_dim=32, seed=1))


def test_attention_is_causal():
    """Changing the last key and value must not change any earlier query's output."""
    case = _packed_case([20], heads=2, kv_heads=1, head_dim=16, seed=2)
    before = flash.prefill_attention(*case)
    q, k, v, *rest = case
    k2, v2 = k.clone(), v.clone()
    k2[-1] += 5.0
    v2[-1] -= 5.0
    after = flash.prefill_attention(q, k2, v2, *rest)
    assert torch.equal(before[:-1], after[:-1]), "a query saw a key after it"
    assert not torch.equal(before[-1], after[-1])


def test_large_scores_stay_finite():
    """The online softmax subtracts the running max: scores of ~1000 must not overflow."""
    q, k, v, *rest = _packed_case([30], heads=2, kv_heads=2, head_dim=16, seed=3)
    _check((q * 40, k * 40, v, *rest), tolerance=1e-3)


@pytest.mark.parametrize("block_size", [16, 8])
def test_keys_from_the_paged_cache_after_a_cached_prefix(block_size):
    """With block_tables, keys come from the cache; queries are each sequence's last tokens."""
    g = torch.Generator().manual_seed(4)
    heads, kv_heads, head_dim = 4, 2, 16
    new, cached = [5, 12, 17], [16, 0, 32]
    k_lens = [c + n for c, n in zip(cached, new)]
    per_seq = [-(-n // block_size) for n in k_lens]
    num_blocks = sum(per_seq) + 3
    k_cache = _rand(g, num_blocks, block_size, kv_heads, head_dim)
    v_cache = _rand(g, num_blocks, block_size, kv_heads, head_dim)
    free = torch.randperm(num_blocks, generator=g).tolist()        # blocks in any order
    tables = torch.full((len(new), max(per_seq)), -1, dtype=torch.int32)
    for b, count in enumerate(per_seq):
        tables[b, :count] = torch.tensor([free.pop() for _ in range(count)])
    n = sum(new)
    q = _rand(g, n, heads, head_dim)
    k, v = _rand(g, n, kv_heads, head_dim), _rand(g, n, kv_heads, head_dim)
    _check((q, k, v, _cu(new), _cu(k_lens), max(new), max(k_lens), head_dim ** -0.5,
            k_cache, v_cache, tables.to(DEVICE)))


def test_bfloat16():
    _check(_packed_case([19, 8], heads=2, kv_heads=2, head_dim=16, dtype=torch.bfloat16, seed=5),
           tolerance=3e-2)
