"""Qwen3's q/k RMSNorm and the rotary embedding, in one kernel, in place.

Reference: `qk_norm_rotary_ref` in aios/kernels/reference.py (rms_norm_ref on
every q and k head, then rotary_ref).

Unfused, a Qwen3 layer launches three kernels here (q_norm, k_norm, RoPE),
and the two norms write their results out only for RoPE to read them back.
At decode's small batches each of those kernels moves a few kilobytes: its
launch and ramp-up cost more than its memory traffic, 28 layers x 3 times a
step. Fused, one program per token loads the token's q and k heads once,
normalizes each head over head_dim, rotates it, and writes it back.

Given the layer's KV cache, the same program also writes the token's rotated
key heads and its value heads into the token's cache slot (what
aios/kernels/store_kvcache.py does on its own): the keys are still in
registers, and a layer launches one kernel fewer.

Each head is loaded as its two halves (x1 = features [0, D/2), x2 = [D/2, D)),
which is what the rotation pairs up; the head's mean of squares is the sum
over both halves. Rounding: the normalized head is rounded to the activations'
dtype, multiplied by the norm's weight and rounded again (as Qwen3's RMSNorm
does), then rotated in float32 and rounded once on the store. The reference
layers rotate in the activations' dtype, as Hugging Face's models do, so in
bf16 the two differ by about one rounding, the kernel the nearer to exact
(tests/test_kernels.py says by how much).
"""
import os

import torch
import triton
import triton.language as tl

from aios.kernels.host_math import next_power_of_2
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel
from aios.kernels.rotary import check_shapes, head_halves, load_cos_sin, rotate_and_store
from aios.kernels.store_kvcache import check_store_shapes

# The engine's layers store k and v here rather than in a kernel of their own;
# AIOS_QK_NORM_STORE_KV=0 turns that off (to measure what it buys).
STORE_KV = os.environ.get("AIOS_QK_NORM_STORE_KV", "1") != "0"


@triton.jit
def _norm_rotate_heads(base_ptr, stride_h, stride_d, num_heads, w_ptr, eps, cos, sin,
                       HALF: tl.constexpr, BLOCK_H: tl.constexpr):
    """RMSNorm (weight at w_ptr) then rotate the [num_heads, 2 * HALF] rows at base_ptr,
    in place; returns the two rotated halves, as stored."""
    p1, p2, mask = head_halves(base_ptr, stride_h, stride_d, num_heads, HALF, BLOCK_H)
    x1 = tl.load(p1, mask=mask, other=0.0)
    x2 = tl.load(p2, mask=mask, other=0.0)
    dtype = x1.dtype
    x1, x2 = x1.to(tl.float32), x2.to(tl.float32)
    mean_sq = (tl.sum(x1 * x1, axis=1) + tl.sum(x2 * x2, axis=1)) / (2 * HALF)  # [BLOCK_H]
    inv_rms = tl.rsqrt(mean_sq + eps)[:, None]
    dims = tl.arange(0, HALF)[None, :]              # [1, HALF]
    w1 = tl.load(w_ptr + dims).to(tl.float32)
    w2 = tl.load(w_ptr + HALF + dims).to(tl.float32)
    # RMSNorm's two roundings (normalized row, then times the weight).
    x1 = (w1 * (x1 * inv_rms).to(dtype).to(tl.float32)).to(dtype).to(tl.float32)
    x2 = (w2 * (x2 * inv_rms).to(dtype).to(tl.float32)).to(dtype).to(tl.float32)
    return rotate_and_store(p1, p2, mask, x1, x2, cos, sin)


@triton.jit
def _store_heads(cache_ptr, slot, stride_cb, stride_ct, stride_ch, stride_cd, mask,
                 x1, x2, KV_BLOCK_SIZE: tl.constexpr, HALF: tl.constexpr, BLOCK_H: tl.constexpr):
    """Write the halves (x1, x2) of [BLOCK_H, 2 * HALF] heads into cache slot `slot`."""
    base = cache_ptr + (slot // KV_BLOCK_SIZE) * stride_cb + (slot % KV_BLOCK_SIZE) * stride_ct
    p1, p2, _ = head_halves(base, stride_ch, stride_cd, 0, HALF, BLOCK_H)
    tl.store(p1, x1, mask=mask)
    tl.store(p2, x2, mask=mask)


@triton.jit
def _qk_norm_rotary_kernel(
    pos_ptr, q_ptr, k_ptr, q_w_ptr, k_w_ptr, cache_ptr,
    v_ptr, k_cache_ptr, v_cache_ptr, slot_ptr,
    stride_qn, stride_qh, stride_qd,
    stride_kn, stride_kh, stride_kd,
    stride_vn, stride_vh, stride_vd,
    stride_cb, stride_ct, stride_ch, stride_cd,   # KV cache [blocks, block_size, Hkv, D]
    stride_cache,
    num_q_heads, num_k_heads, eps,
    HALF: tl.constexpr,          # head_dim // 2
    BLOCK_HQ: tl.constexpr, BLOCK_HK: tl.constexpr,
    STORE_KV: tl.constexpr,      # also write k and v into their cache slot
    KV_BLOCK_SIZE: tl.constexpr,
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    token = tl.program_id(0).to(tl.int64)
    cos, sin = load_cos_sin(pos_ptr, cache_ptr, token, stride_cache, HALF)
    _norm_rotate_heads(q_ptr + token * stride_qn, stride_qh, stride_qd, num_q_heads,
                       q_w_ptr, eps, cos, sin, HALF, BLOCK_HQ)
    k1, k2 = _norm_rotate_heads(k_ptr + token * stride_kn, stride_kh, stride_kd, num_k_heads,
                                k_w_ptr, eps, cos, sin, HALF, BLOCK_HK)
    if STORE_KV:
        slot = tl.load(slot_ptr + token).to(tl.int64)   # -1: not stored (a CUDA graph's padding)
        heads = tl.arange(0, BLOCK_HK)[:, None]
        mask = heads < tl.where(slot >= 0, num_k_heads, 0)
        v1_ptr, v2_ptr, _ = head_halves(v_ptr + token * stride_vn, stride_vh, stride_vd, 0, HALF, BLOCK_HK)
        v1 = tl.load(v1_ptr, mask=mask)
        v2 = tl.load(v2_ptr, mask=mask)
        _store_heads(k_cache_ptr, slot, stride_cb, stride_ct, stride_ch, stride_cd, mask,
                     k1, k2, KV_BLOCK_SIZE, HALF, BLOCK_HK)
        _store_heads(v_cache_ptr, slot, stride_cb, stride_ct, stride_ch, stride_cd, mask,
                     v1, v2, KV_BLOCK_SIZE, HALF, BLOCK_HK)


def qk_norm_rotary(positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor,
                   q_weight: torch.Tensor, k_weight: torch.Tensor, eps: float,
                   cos_sin_cache: torch.Tensor, kv_store: tuple | None = None):
    """positions: [N]; q: [N, H, D]; k: [N, Hkv, D]; q_weight, k_weight: [D];
    cos_sin_cache: [P, D] = [cos | sin].

    IN PLACE: q and k are overwritten with rotary(norm(q)), rotary(norm(k))
    (any strides work, e.g. views into a fused qkv buffer) and returned.
    kv_store = (v, k_cache, v_cache, slot_mapping), as store_kvcache takes them:
    the new k (rotated) and v are also written into their cache slots.
    """
    N, num_q_heads, head_dim = check_shapes(positions, q, k, cos_sin_cache)
    assert q_weight.shape == (head_dim,) and k_weight.shape == (head_dim,)
    assert q_weight.dtype == q.dtype and k_weight.dtype == k.dtype, \
        "the norms' weights must be in the activations' dtype (as the model holds them)"
    if kv_store is not None:
        check_store_shapes(k, *kv_store)
    # Without kv_store the kernel reads none of these: views standing in for them.
    v, k_cache, v_cache, slot_mapping = kv_store or (k, k[:1, None], k[:1, None], positions)
    if N > 0:
        _qk_norm_rotary_kernel[(N,)](
            positions, q, k, q_weight, k_weight, cos_sin_cache,
            v, k_cache, v_cache, slot_mapping,
            *q.stride(), *k.stride(), *v.stride(), *k_cache.stride(),
            cos_sin_cache.stride(0),
            num_q_heads, k.shape[1], eps,
            HALF=head_dim // 2,
            BLOCK_HQ=next_power_of_2(num_q_heads),
            BLOCK_HK=next_power_of_2(k.shape[1]),
            STORE_KV=kv_store is not None,
            KV_BLOCK_SIZE=k_cache.shape[1],
            num_warps=4, **pdl_options(q.device),
        )
    return q, k
