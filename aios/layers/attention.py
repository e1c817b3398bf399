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

    def forward(self, q, k, v):
        """q: [N, H, D]; k, v: [N, Hkv, D] -> [N, H, D]."""
        ctx = get_context()
        if self.k_cache.numel() > 0:
            self.backend.store_kvcache(k, v, self.k_cache, self.v_cache, ctx.slot_mapping)
        if ctx.is_prefill:
            return self.backend.prefill(q, k, v, self.k_cache, self.v_cache, ctx, self.scale)
        return self.backend.decode(q, self.k_cache, self.v_cache, ctx, self.scale)
