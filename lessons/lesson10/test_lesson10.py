"""Lesson 10 checks: fused RMSNorm + residual, SiLU-and-mul, and fused weight loading.

    python -m pytest lessons/lesson10            # your lessons/lesson10/fused.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson10

Without a GPU the kernels run in Triton's CPU interpreter (lessons/conftest.py
sets TRITON_INTERPRET=1): small sizes, a few seconds.
"""
import pytest
import torch

from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, random_prompts
from aios.course.plugin import pieces, plugged
from aios.kernels.reference import rms_norm_ref, silu_and_mul_ref
from aios.layers.linear import MergedColumnParallelLinear, QKVParallelLinear

fused = load_exercise(10, "fused")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 2e-2}


def _rand(g, *shape, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=g).to(DEVICE, dtype)


def _close(out, ref, dtype):
    assert out.dtype == ref.dtype and out.shape == ref.shape
    error = ((out.float() - ref.float()).norm() / ref.float().norm()).item()
    assert error < TOLERANCE[dtype], f"relative error {error:.2e}"


# ------------------------------------------------------------- step 1 ---
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("hidden", [64, 100])            # 100: not a power of two
def test_rms_norm(dtype, hidden):
    g = torch.Generator().manual_seed(hidden)
    x, w = _rand(g, 5, hidden, dtype=dtype), _rand(g, hidden, dtype=dtype)
    _close(fused.rms_norm(x, w, 1e-6), rms_norm_ref(x, w, 1e-6), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rms_norm_adds_the_residual_and_returns_it(dtype):
    g = torch.Generator().manual_seed(1)
    x, res, w = _rand(g, 2, 3, 96, dtype=dtype), _rand(g, 2, 3, 96, dtype=dtype), _rand(g, 96, dtype=dtype)
    x0, res0 = x.clone(), res.clone()
    out, new_res = fused.rms_norm(x, w, 1e-5, res)
    ref_out, ref_res = rms_norm_ref(x, w, 1e-5, res)
    _close(out, ref_out, dtype)
    _close(new_res, ref_res, dtype)            # the new residual: x + residual, in x's dtype
    assert torch.equal(x, x0) and torch.equal(res, res0), "the inputs must not change"


# ------------------------------------------------------------- step 2 ---
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("width", [64, 150])
def test_silu_and_mul(dtype, width):
    g = torch.Generator().manual_seed(width)
    x = _rand(g, 3, 2 * width, dtype=dtype) * 3
    _close(fused.silu_and_mul(x), silu_and_mul_ref(x), dtype)


# -------------------------------------------------------- steps 3 and 4 ---
def test_merged_weight_loader_puts_gate_then_up():
    with plugged(pieces(10, fused)):
        layer = MergedColumnParallelLinear(8, [12, 12])
    gate, up = torch.randn(12, 8), torch.randn(12, 8)
    layer.weight.weight_loader(layer.weight, up, 1)               # in any order
    layer.weight.weight_loader(layer.weight, gate, 0)
    assert torch.equal(layer.weight, torch.cat([gate, up]))


def test_qkv_weight_loader_puts_q_k_v():
    with plugged(pieces(10, fused)):
        layer = QKVParallelLinear(hidden_size=16, head_dim=4, num_heads=4, num_kv_heads=2)
    q, k, v = torch.randn(16, 16), torch.randn(8, 16), torch.randn(8, 16)
    for shard, tensor in (("v", v), ("q", q), ("k", k)):
        layer.weight.weight_loader(layer.weight, tensor, shard)
    assert torch.equal(layer.weight, torch.cat([q, k, v]))


def test_the_engine_loads_a_checkpoint_with_your_loaders(tiny_qwen3):
    """q/k/v_proj and gate/up_proj of a real checkpoint, through your loaders: same tokens."""
    assert_same_tokens_as_engine(tiny_qwen3, 10, pieces(10, fused), random_prompts([12, 5]), 6)
