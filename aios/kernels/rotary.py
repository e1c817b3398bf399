"""Rotary position embedding ("rotate half" / NeoX layout), in place.

Reference: `rotary_ref` in aios/kernels/reference.py.

For each token, feature pairs (i, i + D/2) of every q and k head are rotated
by the angle position * inv_freq[i]:
    x1' = x1 * cos - x2 * sin,   x2' = x2 * cos + x1 * sin.
One program handles one token: it loads the token's cos/sin row once and
applies it to all of its query and key heads. Math in float32, like the
reference; the results are rounded back into q and k.
"""
import torch
import triton
import triton.language as tl

from aios.kernels.host_math import next_power_of_2
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel

HEAD_DIMS = (16, 32, 64, 128, 256)  # powers of two: tl.arange needs one


@triton.jit
def head_halves(base_ptr, stride_h, stride_d, num_heads,
                HALF: tl.constexpr, BLOCK_H: tl.constexpr):
    """Pointers [BLOCK_H, HALF] to both halves of the [num_heads, 2 * HALF] rows
    at base_ptr, and the mask of the real heads."""
    heads = tl.arange(0, BLOCK_H)[:, None]          # [BLOCK_H, 1]
    dims = tl.arange(0, HALF)[None, :]              # [1, HALF]
    p1 = base_ptr + heads * stride_h + dims * stride_d
    return p1, p1 + HALF * stride_d, heads < num_heads


@triton.jit
def rotate_and_store(p1, p2, mask, x1, x2, cos, sin):
    """Rotate the float32 halves (x1, x2), store them at (p1, p2), rounded, and
    return what was stored."""
    y1 = (x1 * cos - x2 * sin).to(p1.dtype.element_ty)
    y2 = (x2 * cos + x1 * sin).to(p1.dtype.element_ty)
    tl.store(p1, y1, mask=mask)
    tl.store(p2, y2, mask=mask)
    return y1, y2


@triton.jit
def _rotate_heads(base_ptr, stride_h, stride_d, num_heads, cos, sin,
                  HALF: tl.constexpr, BLOCK_H: tl.constexpr):
    """Rotate the [num_heads, 2 * HALF] rows at base_ptr in place."""
    p1, p2, mask = head_halves(base_ptr, stride_h, stride_d, num_heads, HALF, BLOCK_H)
    x1 = tl.load(p1, mask=mask, other=0.0).to(tl.float32)
    x2 = tl.load(p2, mask=mask, other=0.0).to(tl.float32)
    rotate_and_store(p1, p2, mask, x1, x2, cos, sin)


@triton.jit
def load_cos_sin(pos_ptr, cache_ptr, token, stride_cache, HALF: tl.constexpr):
    """cos and sin ([1, HALF] each, float32) of the token's position."""
    pos = tl.load(pos_ptr + token).to(tl.int64)
    dims = tl.arange(0, HALF)[None, :]
    cos = tl.load(cache_ptr + pos * stride_cache + dims).to(tl.float32)
    sin = tl.load(cache_ptr + pos * stride_cache + HALF + dims).to(tl.float32)
    return cos, sin


@triton.jit
def _rotary_kernel(
    pos_ptr, q_ptr, k_ptr, cache_ptr,
    stride_qn, stride_qh, stride_qd,
    stride_kn, stride_kh, stride_kd,
    stride_cache,
    num_q_heads, num_k_heads,
    HALF: tl.constexpr,          # head_dim // 2
    BLOCK_HQ: tl.constexpr, BLOCK_HK: tl.constexpr,
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    token = tl.program_id(0).to(tl.int64)
    cos, sin = load_cos_sin(pos_ptr, cache_ptr, token, stride_cache, HALF)
    _rotate_heads(q_ptr + token * stride_qn, stride_qh, stride_qd, num_q_heads,
                  cos, sin, HALF, BLOCK_HQ)
    _rotate_heads(k_ptr + token * stride_kn, stride_kh, stride_kd, num_k_heads,
                  cos, sin, HALF, BLOCK_HK)


def check_shapes(positions, q, k, cos_sin_cache) -> tuple[int, int, int]:
    """-> (N, num_q_heads, head_dim), after checking what the kernels assume."""
    N, num_q_heads, head_dim = q.shape
    assert k.shape[0] == N and k.shape[2] == head_dim and positions.shape == (N,)
    assert head_dim in HEAD_DIMS, f"head_dim must be one of {HEAD_DIMS}, got {head_dim}"
    assert cos_sin_cache.shape[-1] == head_dim, "cos_sin_cache must be [max_positions, head_dim]"
    assert cos_sin_cache.stride(-1) == 1
    return N, num_q_heads, head_dim


def rotary(positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor,
           cos_sin_cache: torch.Tensor):
    """positions: [N]; q: [N, H, D]; k: [N, Hkv, D]; cos_sin_cache: [P, D] = [cos | sin].

    IN PLACE: q and k are overwritten with their rotated values (any strides
    work, e.g. views into a fused qkv buffer) and returned as (q, k).
    """
    N, num_q_heads, head_dim = check_shapes(positions, q, k, cos_sin_cache)
    if N > 0:
        _rotary_kernel[(N,)](
            positions, q, k, cos_sin_cache,
            *q.stride(), *k.stride(), cos_sin_cache.stride(0),
            num_q_heads, k.shape[1],
            HALF=head_dim // 2,
            BLOCK_HQ=next_power_of_2(num_q_heads),
            BLOCK_HK=next_power_of_2(k.shape[1]),
            num_warps=4, **pdl_options(q.device),
        )
    return q, k
