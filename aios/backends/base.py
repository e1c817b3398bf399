"""The attention backend interface: three operations on the paged KV cache.

An attention layer does not know how attention is computed. It hands its
queries, keys and values to a backend, which (1) stores the new keys and values
into the cache, then (2) attends, either a prefill over whole prompts or a
decode of one new token per sequence. Swapping the backend (plain PyTorch,
Triton, flash-attn) changes the speed, never the result.
"""
from abc import ABC, abstractmethod

import torch

from aios.utils.context import Context


class AttentionBackend(ABC):
    name = "base"

    @abstractmethod
    def store_kvcache(self, key: torch.Tensor, value: torch.Tensor,
                      k_cache: torch.Tensor, v_cache: torch.Tensor,
                      slot_mapping: torch.Tensor) -> None:
        """key, value: [N, Hkv, D] -> written into k_cache/v_cache slots."""

    @abstractmethod
    def prefill(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                k_cache: torch.Tensor, v_cache: torch.Tensor,
                ctx: Context, scale: float) -> torch.Tensor:
        """q: [Nq, H, D], k/v: [Nq, Hkv, D] (the new tokens) -> [Nq, H, D].

        When ctx.block_tables is set, some sequences reuse cached prefix
        blocks: their keys must be read from the cache, which by now holds
        the new tokens too.
        """

    @abstractmethod
    def decode(self, q: torch.Tensor, k_cache: torch.Tensor,
               v_cache: torch.Tensor, ctx: Context, scale: float) -> torch.Tensor:
        """q: [B, H, D], one new token per sequence -> [B, H, D]."""
