"""The decode layers with their RMSNorms folded into the GEMMs around them
(aios/layers/fused_decode.py; the skinny GEMM's NEXT_NORM / ROW_SCALE / residual).

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

from aios.kernels.reference import linear_ref, rms_norm_ref  # noqa: E402
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
@pytest.mark.parametrize("before,after", [(GemmConfig(16, 64, 1), GemmConfig(16, 64, 1)),
                                          (GemmConfig(16, 32, 3), GemmConfig(32, 64, 2))])
def test_a_norm_between_two_gemms(rows, before, after):
    """s = x @ W1.T + residual, then RMSNorm(s) @ W2.T with the norm's work done by
    the two GEMMs (one split or several, in either; 48 = 3 tiles of 16 before it)."""
    k, hidden, n = 96, 48, 40
    x, residual = randn(rows, k), randn(rows, hidden, scale=2.0)
    w1, w2 = randn(hidden, k, scale=k ** -0.5), randn(n, hidden, scale=hidden ** -0.5)
    g = 1.0 + randn(hidden, scale=0.2)
    s, norm_input = skinny_gemm(x, w1, None, before, residual=residual, next_norm=(g, 1e-6))
    s_ref = linear_ref(x.float(), w1.float()) + residual.float()
    assert rel_err(s, s_ref) < 1e-2
    out = skinny_gemm(norm_input, w2, None, after)
    assert out.shape == (rows, n)
    ref = linear_ref(rms_norm_ref(s.float(), g.float(), 1e-6), w2.float())
    assert rel_err(out, ref) < 1e-2


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
    out + new_r comes out: as the first layer (its norm a kernel of its own) and
    as a later one (its norm's input left by the GEMM before), leaving the next
    layer's norm input."""
    from aios.layers.layernorm import RMSNorm
    layer = _tiny_layer()
    rows = 6
    hidden, residual = randn(rows, 64), randn(rows, 64, scale=2.0)
    positions = torch.arange(rows, device=DEVICE)
    out, new_residual = layer(positions, hidden, residual)
    expected = out.float() + new_residual.float()
    next_norm = RMSNorm(64).to(DEVICE, BF16)
    first, norm_input = layer.forward_fused(positions, hidden + residual, None, next_norm, FusedDecode({16}))
    assert rel_err(first, expected) < 1e-2
    assert rel_err(norm_input.scaled, first.float() * next_norm.weight.float()) < 1e-2
    s, before = skinny_gemm(hidden, torch.eye(64, device=DEVICE, dtype=BF16), residual=residual,
                            next_norm=(layer.input_layernorm.weight, 1e-6))
    later, none = layer.forward_fused(positions, s, before, None, FusedDecode({16}))
    assert none is None and rel_err(later, expected) < 1e-2


def test_fused_decode_is_only_for_measured_shapes_on_one_process(monkeypatch):
    from transformers import Qwen3Config

    from aios.kernels import skinny_gemm_configs
    from aios.models.qwen3 import Qwen3Model
    config = Qwen3Config(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=32)
    model = Qwen3Model(config, qkv_bias=False, qk_norm=True)
    monkeypatch.setattr(fused_decode, "ENABLED", True)
    assert FusedDecode.for_model(model) is None        # no configs for these shapes
    shapes = [(256, 64), (64, 128), (192, 64), (64, 96)]   # qkv, o, gate_up, down
    patched = dict(skinny_gemm_configs.CONFIGS)
    patched.update({(16, *s): GemmConfig(16, 64, 1) for s in shapes})
    monkeypatch.setattr(fused_decode, "CONFIGS", patched)
    monkeypatch.setattr(fused_decode, "ENABLED", True)
    fused = FusedDecode.for_model(model)
    assert fused is not None and fused.buckets == {16}
    x = randn(8, 64)
    assert not fused.takes(x)                           # not inside a CUDA graph capture
    monkeypatch.setattr(fused_decode, "ENABLED", False)   # AIOS_FUSED_DECODE=0
    assert FusedDecode.for_model(model) is None


# ----------------------------------------------------------- on a GPU ---
@pytest.fixture(scope="module")
def clear_winner_qwen3(tmp_path_factory):
    """A random Qwen3 whose logits have clear winners (initializer_range 0.2), so
    that rounding in the last bits does not flip a greedy token."""
    from transformers import Qwen3Config, Qwen3ForCausalLM
    config = Qwen3Config(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                         max_position_embeddings=512, tie_word_embeddings=False, initializer_range=0.2,
                         architectures=["Qwen3ForCausalLM"])
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("qwen3-clear")
    Qwen3ForCausalLM(config).save_pretrained(path)
    return str(path)


@pytest.mark.skipif(not CUDA, reason="the fused layers run inside CUDA graphs: a GPU")
def test_fused_decode_generates_what_the_layers_do(clear_winner_qwen3, monkeypatch):
    """Greedy generations with the fused layers captured in the decode graphs (the
    model's shapes given configs), against the same engine without them."""
    from aios import LLM
    from aios.kernels import skinny_gemm
    from conftest import generate_ids, greedy, random_prompts
    shapes = [(256, 64), (64, 128), (256, 64), (64, 128)]   # qkv, o, gate_up, down
    patched = dict(skinny_gemm.CONFIGS)
    patched.update({(b, *s): GemmConfig(16, 64, 1) for b in (16, 32) for s in shapes})
    monkeypatch.setattr(fused_decode, "CONFIGS", patched)
    monkeypatch.setattr(skinny_gemm, "CONFIGS", patched)
    monkeypatch.setattr(fused_decode, "ENABLED", True)
    prompts = random_prompts([3, 20, 50, 7], seed=4)
    calls = []
    monkeypatch.setattr(FusedDecode, "takes", lambda self, x, _takes=FusedDecode.takes:
                        calls.append(_takes(self, x)) or calls[-1])
    fused = generate_ids(LLM(clear_winner_qwen3), prompts, greedy(24))
    assert any(calls), "no decode graph took the fused layers"
    monkeypatch.setattr(fused_decode, "ENABLED", False)
    assert generate_ids(LLM(clear_winner_qwen3), prompts, greedy(24)) == fused
