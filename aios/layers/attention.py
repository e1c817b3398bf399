"""The attention layer: store this step's K/V in the paged cache, then attend.

How attention is computed is the backend's business (aios/backends/); the
model runner gives every layer its backend and its slice of the KV cache.
"""
import torch
from torch import nn

from aios.backends.base import AttentionBackend
from aios.utils.context import get_context


class Attention(nn.Module):
    def __init__(self, num_heads: int, head_dim: int, scale: float, num_kv_heads: int):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, head_dim
        self.num_kv_heads, self.scale = num_kv_heads, scale
        self.backend: AttentionBackend | None = None
        # [num_blocks, block_size, num_kv_heads, head_dim], views into one
        # big allocation made by the model runner; empty until then.
        self.k_cache = self.v_cache = torch.tensor([])

    def kv_store(self, v) -> tuple | None:
        """(v, k_cache, v_cache, slot_mapping) for a kernel that stores this step's
        keys and values itself (aios/kernels/qk_norm_rotary.py); None while there
        is no cache (the model runner's profiling pass)."""
        if self.k_cache.numel() == 0:
            return None
        return v, self.k_cache, self.v_cache, get_context().slot_mapping

    def forward(self, q, k, v, kv_stored: bool = False):
        """q: [N, H, D]; k, v: [N, Hkv, D] -> [N, H, D]. kv_stored: k and v are
        in the cache already (see kv_store)."""
        ctx = get_context()
        if self.k_cache.numel() > 0 and not kv_stored:
            self.backend.store_kvcache(k, v, self.k_cache, self.v_cache, ctx.slot_mapping)
        if ctx.is_prefill:
            return self.backend.prefill(q, k, v, self.k_cache, self.v_cache, ctx, self.scale)
        return self.backend.decode(q, self.k_cache, self.v_cache, ctx, self.scale)
