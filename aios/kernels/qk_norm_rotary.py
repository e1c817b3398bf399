"""Qwen3's q/k RMSNorm and the rotary embedding, in one kernel, in place.

Reference: `qk_norm_rotary_ref` in aios/kernels/reference.py (rms_norm_ref on
every q and k head, then rotary_ref).

Unfused, a Qwen3 layer launches three kernels here (q_norm, k_norm, RoPE),
and the two norms write their results out only for RoPE to read them back.
At decode's small batches each of those kernels moves a few kilobytes: its
launch and ramp-up cost more than its memory traffic, 28 layers x 3 times a
step. Fused, one program per token loads the token's q and k heads once,
normalizes each head over head_dim, rotates it, and writes it back.

Each head is loaded as its two halves (x1 = features [0, D/2), x2 = [D/2, D)),
which is what the rotation pairs up; the head's mean of squares is the sum
over both halves. Rounding follows the reference step by step: the normalized
head is rounded to the activations' dtype, multiplied by the norm's weight
and rounded again (as RMSNorm returns it), then rotated in float32 and rounded
on the store (as RoPE does).
"""
import torch
import triton
import triton.language as tl

from aios.kernels.host_math import next_power_of_2
from aios.kernels.rotary import check_shapes, head_halves, load_cos_sin, rotate_and_store


@triton.jit
def _norm_rotate_heads(base_ptr, stride_h, stride_d, num_heads, w_ptr, eps, cos, sin,
                       HALF: tl.constexpr, BLOCK_H: tl.constexpr):
    """RMSNorm (weight at w_ptr) then rotate the [num_heads, 2 * HALF] rows at base_ptr."""
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
    rotate_and_store(p1, p2, mask, x1, x2, cos, sin)


@triton.jit
def _qk_norm_rotary_kernel(
    pos_ptr, q_ptr, k_ptr, q_w_ptr, k_w_ptr, cache_ptr,
    stride_qn, stride_qh, stride_qd,
    stride_kn, stride_kh, stride_kd,
    stride_cache,
    num_q_heads, num_k_heads, eps,
    HALF: tl.constexpr,          # head_dim // 2
    BLOCK_HQ: tl.constexpr, BLOCK_HK: tl.constexpr,
):
    token = tl.program_id(0).to(tl.int64)
    cos, sin = load_cos_sin(pos_ptr, cache_ptr, token, stride_cache, HALF)
    _norm_rotate_heads(q_ptr + token * stride_qn, stride_qh, stride_qd, num_q_heads,
                       q_w_ptr, eps, cos, sin, HALF, BLOCK_HQ)
    _norm_rotate_heads(k_ptr + token * stride_kn, stride_kh, stride_kd, num_k_heads,
                       k_w_ptr, eps, cos, sin, HALF, BLOCK_HK)


def qk_norm_rotary(positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor,
                   q_weight: torch.Tensor, k_weight: torch.Tensor, eps: float,
                   cos_sin_cache: torch.Tensor):
    """positions: [N]; q: [N, H, D]; k: [N, Hkv, D]; q_weight, k_weight: [D];
    cos_sin_cache: [P, D] = [cos | sin].

    IN PLACE: q and k are overwritten with rotary(norm(q)), rotary(norm(k))
    (any strides work, e.g. views into a fused qkv buffer) and returned.
    """
    N, num_q_heads, head_dim = check_shapes(positions, q, k, cos_sin_cache)
    assert q_weight.shape == (head_dim,) and k_weight.shape == (head_dim,)
    assert q_weight.dtype == q.dtype and k_weight.dtype == k.dtype, \
        "the norms' weights must be in the activations' dtype (as the model holds them)"
    if N > 0:
        _qk_norm_rotary_kernel[(N,)](
            positions, q, k, q_weight, k_weight, cos_sin_cache,
            *q.stride(), *k.stride(), cos_sin_cache.stride(0),
            num_q_heads, k.shape[1], eps,
            HALF=head_dim // 2,
            BLOCK_HQ=next_power_of_2(num_q_heads),
            BLOCK_HK=next_power_of_2(k.shape[1]),
            num_warps=4,
        )
    return q, k
