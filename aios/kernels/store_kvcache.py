"""Write this step's new keys and values into the paged KV cache.

Reference: `store_kvcache_ref` in aios/kernels/reference.py.

One program per new token: it reads the token's slot (block_id * block_size +
offset; -1 means "do not store", e.g. a padded row of a CUDA graph batch) and
copies the token's [num_kv_heads, head_dim] rows of K and V into that slot.
The copy is a pure gather-free scatter, so it runs at memory bandwidth.
"""
import torch
import triton
import triton.language as tl

from aios.kernels.host_math import next_power_of_2
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel

HEAD_DIMS = (16, 32, 64, 128, 256)  # powers of two: tl.arange needs one


@triton.jit
def _store_kvcache_kernel(
    key_ptr, value_ptr, k_cache_ptr, v_cache_ptr, slot_ptr,
    stride_kn, stride_kh, stride_kd,          # key   [N, Hkv, D]
    stride_vn, stride_vh, stride_vd,          # value [N, Hkv, D]
    stride_cb, stride_ct, stride_ch, stride_cd,  # cache [blocks, block_size, Hkv, D]
    num_kv_heads,
    KV_BLOCK_SIZE: tl.constexpr,              # tokens per cache block
    HEAD_DIM: tl.constexpr,
    BLOCK_H: tl.constexpr,                    # num_kv_heads rounded up to a power of two
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    token = tl.program_id(0)
    slot = tl.load(slot_ptr + token).to(tl.int64)   # int64: slot * stride overflows int32
    heads = tl.arange(0, BLOCK_H)                   # [BLOCK_H]
    dims = tl.arange(0, HEAD_DIM)                   # [D]
    # A skipped token (slot == -1) stores no heads; padding heads never store.
    heads_to_store = tl.where(slot >= 0, num_kv_heads, 0)
    mask = heads[:, None] < heads_to_store          # [BLOCK_H, 1]

    src_k = key_ptr + token.to(tl.int64) * stride_kn + heads[:, None] * stride_kh + dims[None, :] * stride_kd
    src_v = value_ptr + token.to(tl.int64) * stride_vn + heads[:, None] * stride_vh + dims[None, :] * stride_vd
    k = tl.load(src_k, mask=mask)                   # [BLOCK_H, D]
    v = tl.load(src_v, mask=mask)

    block = slot // KV_BLOCK_SIZE
    offset = slot % KV_BLOCK_SIZE
    dst = block * stride_cb + offset * stride_ct + heads[:, None] * stride_ch + dims[None, :] * stride_cd
    tl.store(k_cache_ptr + dst, k, mask=mask)
    tl.store(v_cache_ptr + dst, v, mask=mask)


def check_store_shapes(key, value, k_cache, v_cache, slot_mapping) -> None:
    """What the store assumes (aios/kernels/qk_norm_rotary.py stores the same way)."""
    N, num_kv_heads, head_dim = key.shape
    assert head_dim in HEAD_DIMS, f"head_dim must be one of {HEAD_DIMS}, got {head_dim}"
    assert value.shape == key.shape and slot_mapping.shape == (N,)
    assert k_cache.shape == v_cache.shape and k_cache.stride() == v_cache.stride()
    assert k_cache.shape[2:] == (num_kv_heads, head_dim), "cache layout must be [blocks, block_size, Hkv, D]"
    assert k_cache.dtype == key.dtype, "the cache stores the activations' dtype"


def store_kvcache(key: torch.Tensor, value: torch.Tensor, k_cache: torch.Tensor,
                  v_cache: torch.Tensor, slot_mapping: torch.Tensor) -> None:
    """key, value: [N, Hkv, D]; caches: [num_blocks, block_size, Hkv, D];
    slot_mapping: [N] int32/int64, -1 = skip. Writes the caches in place."""
    N, num_kv_heads, head_dim = key.shape
    check_store_shapes(key, value, k_cache, v_cache, slot_mapping)
    if N == 0:
        return
    _store_kvcache_kernel[(N,)](
        key, value, k_cache, v_cache, slot_mapping,
        *key.stride(), *value.stride(), *k_cache.stride(),
        num_kv_heads,
        KV_BLOCK_SIZE=k_cache.shape[1], HEAD_DIM=head_dim,
        BLOCK_H=next_power_of_2(num_kv_heads), **pdl_options(key.device),
    )
