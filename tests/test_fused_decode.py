"""The decode layer with its norms and activation folded into the GEMMs
(aios/layers/fused_decode.py, the skinny GEMM's NORM_X / GATED / residual).

Each fused GEMM against the references it replaces; a decoder layer run fused
against the same layer as written; and, on a GPU, whole generations with the
fused layers captured in CUDA graphs against the layers as written.
"""
import os

import pytest
import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ["TRITON_INTERPRET"] = "1"   # must be set before triton is imported

from aios.kernels.reference import linear_ref, rms_norm_ref, silu_and_mul_ref  # noqa: E402
from aios.kernels.skinny_gemm import GemmConfig, skinny_gemm  # noqa: E402
from aios.layers import fused_decode  # noqa: E402
from aios.layers.fused_decode import FusedDecode  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"
BF16 = torch.bfloat16


def randn(*shape, scale=1.0):
    return (scale * torch.randn(*shape, device=DEVICE)).to(BF16)


def rel_err(out, ref):
    out, ref = out.double(), ref.double()
    return ((out - ref).norm() / ref.norm()).item()


@pytest.mark.parametrize("rows", [1, 5, 16, 32])
@pytest.mark.parametrize("config", [GemmConfig(16, 64, 1), GemmConfig(32, 32, 4)])
def test_norm_folded_into_the_gemm(rows, config):
    """RMSNorm(x) @ W.T with the norm in the GEMM's loads, whatever split-K the
    config asks (the norm needs the whole row: one split)."""
    k, n = 200, 48
    x, weight = randn(rows, k, scale=3.0), randn(n, k, scale=k ** -0.5)
    norm_weight = 1.0 + randn(k, scale=0.2)
    out = skinny_gemm(x, weight, None, config, norm_weight=norm_weight, eps=1e-6)
    ref = linear_ref(rms_norm_ref(x.float(), norm_weight.float(), 1e-6), weight.float())
    assert out.shape == (rows, n) and out.dtype == BF16
    assert rel_err(out, ref) < 1e-2


@pytest.mark.parametrize("rows", [1, 7, 32])
def test_silu_and_mul_in_the_gate_up_gemm(rows):
    """weight [gate | up] -> silu(gate) * up, one tile of each per program; with
    the norm folded in too, as the MLP runs it."""
    k, inter = 96, 80                     # 80 = 5 tiles of 16: the last one full, no spare
    x, weight = randn(rows, k), randn(2 * inter, k, scale=k ** -0.5)
    norm_weight = 1.0 + randn(k, scale=0.2)
    plain = skinny_gemm(x, weight, None, GemmConfig(32, 32, 1), gated=True)
    assert plain.shape == (rows, inter)
    assert rel_err(plain, silu_and_mul_ref(linear_ref(x.float(), weight.float()))) < 1e-2
    normed = skinny_gemm(x, weight, None, GemmConfig(32, 32, 1), gated=True, norm_weight=norm_weight)
    ref = silu_and_mul_ref(linear_ref(rms_norm_ref(x.float(), norm_weight.float(), 1e-6), weight.float()))
    assert rel_err(normed, ref) < 1e-2


@pytest.mark.parametrize("split_k", [1, 3])
def test_residual_added_in_the_gemm(split_k):
    """x @ W.T + b + residual, in the one store and in the split-K reduction's."""
    rows, k, n = 9, 192, 40
    x, weight = randn(rows, k), randn(n, k, scale=k ** -0.5)
    bias, residual = randn(n), randn(rows, n, scale=4.0)
    out = skinny_gemm(x, weight, bias, GemmConfig(16, 64, split_k), residual=residual)
    ref = linear_ref(x.float(), weight.float(), bias.float()) + residual.float()
    assert rel_err(out, ref) < 1e-2
    assert torch.equal(residual, residual.clone())   # read, not written


def test_a_bad_residual_says_what_it_must_be():
    x, weight = randn(4, 64), randn(32, 64)
    with pytest.raises(AssertionError, match=r"residual must be \[\.\.\., 32\]"):
        skinny_gemm(x, weight, residual=randn(4, 16))


# ----------------------------------------------------------- the layer ---
def _tiny_layer(hidden=64, inter=96, heads=4, kv_heads=2, head_dim=32):
    from transformers import Qwen3Config

    from aios.models.qwen3 import Qwen3DecoderLayer, rope_settings
    from aios.layers.rotary_embedding import RotaryEmbedding
    config = Qwen3Config(hidden_size=hidden, intermediate_size=inter, num_attention_heads=heads,
                         num_key_value_heads=kv_heads, head_dim=head_dim, rms_norm_eps=1e-6)
    torch.manual_seed(0)
    rope = RotaryEmbedding(head_dim, 64, *rope_settings(config))
    layer = Qwen3DecoderLayer(config, qkv_bias=False, qk_norm=True, rotary_emb=rope).to(DEVICE, BF16)
    for name, param in layer.named_parameters():
        noise = torch.randn(param.shape, device=DEVICE)
        param.data.copy_(1.0 + 0.2 * noise if "norm" in name else noise / param.shape[-1] ** 0.5)
    # Attention needs a KV cache and a step's context; both ways of running the
    # layer call attend(), so a stand-in that mixes q, k and v is enough here.
    q_size = heads * head_dim                 # = 2 * kv_heads * head_dim: [q] and [k | v] line up
    layer.self_attn.attend = lambda positions, qkv: qkv[:, :q_size] * 0.5 + qkv[:, q_size:] * 0.25
    return layer


def test_the_fused_layer_computes_the_layer():
    """layer(h, r) gives (out, new_r); fused, the running sum h + r goes in and
    out + new_r comes out."""
    layer = _tiny_layer()
    rows = 6
    hidden, residual = randn(rows, 64), randn(rows, 64, scale=2.0)
    positions = torch.arange(rows, device=DEVICE)
    out, new_residual = layer(positions, hidden, residual)
    fused = layer.forward_fused(positions, hidden + residual, FusedDecode({16}))
    assert rel_err(fused, out.float() + new_residual.float()) < 1e-2


def test_fused_decode_is_only_for_measured_shapes_on_one_process(monkeypatch):
    from transformers import Qwen3Config

    from aios.kernels import skinny_gemm_configs
    from aios.models.qwen3 import Qwen3Model
    config = Qwen3Config(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=32)
    model = Qwen3Model(config, qkv_bias=False, qk_norm=True)
    assert FusedDecode.for_model(model) is None        # no configs for these shapes
    shapes = [(256, 64), (64, 128), (192, 64), (64, 96)]   # qkv, o, gate_up, down
    patched = dict(skinny_gemm_configs.CONFIGS)
    patched.update({(16, *s): GemmConfig(16, 64, 1) for s in shapes})
    monkeypatch.setattr(fused_decode, "CONFIGS", patched)
    fused = FusedDecode.for_model(model)
    assert fused is not None and fused.buckets == {16}
    x = randn(8, 64)
    assert not fused.takes(x)                           # not inside a CUDA graph capture
    monkeypatch.setattr(fused_decode, "ENABLED", False)   # AIOS_FUSED_DECODE=0
    assert FusedDecode.for_model(model) is None


# ----------------------------------------------------------- on a GPU ---
@pytest.mark.skipif(not CUDA, reason="the fused layers run inside CUDA graphs: a GPU")
def test_fused_decode_generates_what_the_layers_do(tiny_qwen3_dir, monkeypatch):
    """Greedy generations of a tiny Qwen3 with the fused layers captured in its
    decode graphs (its shapes given configs), against the same engine without."""
    from aios import LLM
    from aios.kernels import skinny_gemm
    from conftest import generate_ids, greedy, random_prompts
    shapes = [(256, 64), (64, 128), (256, 64), (64, 128)]
    patched = dict(skinny_gemm.CONFIGS)
    patched.update({(b, *s): GemmConfig(16, 64, 1) for b in (16, 32) for s in shapes})
    monkeypatch.setattr(fused_decode, "CONFIGS", patched)
    monkeypatch.setattr(skinny_gemm, "CONFIGS", patched)
    prompts = random_prompts([3, 20, 50, 7], seed=4)
    calls = []
    monkeypatch.setattr(FusedDecode, "takes", lambda self, x, _takes=FusedDecode.takes:
                        calls.append(_takes(self, x)) or calls[-1])
    fused = generate_ids(LLM(tiny_qwen3_dir), prompts, greedy(24))
    assert any(calls), "no decode graph took the fused layers"
    monkeypatch.setattr(fused_decode, "ENABLED", False)
    assert generate_ids(LLM(tiny_qwen3_dir), prompts, greedy(24)) == fused
