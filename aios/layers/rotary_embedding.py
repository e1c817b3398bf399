"""Rotary position embedding (RoPE), with the scaling variants Llama 3 uses.

RoPE rotates each pair of features (i, i + D/2) of q and k by the angle
position * inv_freq[i]. The cos/sin of every angle up to max_position are
computed once into `cos_sin_cache` ([max_position, D] = [cos | sin]).
"""
import math

import torch
from torch import nn

from aios.kernels.reference import rotary_ref


def _llama3_inv_freq(inv_freq: torch.Tensor, scaling: dict) -> torch.Tensor:
    """Llama 3.x: slow down only the low frequencies (long wavelengths).

    Wavelengths shorter than original_len / high_freq_factor stay; those
    longer than original_len / low_freq_factor are divided by `factor`; the
    band between is blended linearly.
    """
    factor = scaling["factor"]
    low, high = scaling.get("low_freq_factor", 1.0), scaling.get("high_freq_factor", 4.0)
    original_len = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    blend = ((original_len / wavelen - low) / (high - low)).clamp(0.0, 1.0)
    # blend = 0 for long wavelengths (fully scaled), 1 for short ones (kept).
    return (1 - blend) * inv_freq / factor + blend * inv_freq


def compute_inv_freq(head_dim: int, base: float, scaling: dict | None) -> torch.Tensor:
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    rope_type = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    if rope_type == "default":
        return inv_freq
    if rope_type == "linear":
        return inv_freq / scaling["factor"]
    if rope_type == "llama3":
        return _llama3_inv_freq(inv_freq, scaling)
    raise ValueError(f"rope scaling type {rope_type!r} is not supported "
                     f"(supported: default, linear, llama3)")


class RotaryEmbedding(nn.Module):
    impl = staticmethod(rotary_ref)

    def __init__(self, head_dim: int, max_position: int, base: float,
                 scaling: dict | None = None):
        super().__init__()
        inv_freq = compute_inv_freq(head_dim, base, scaling)
        angles = torch.outer(torch.arange(max_position, dtype=torch.float64), inv_freq)
        cos_sin = torch.cat((angles.cos(), angles.sin()), dim=-1).float()
        self.register_buffer("cos_sin_cache", cos_sin, persistent=False)  # [P, D]

    def forward(self, positions, q, k):
        """positions: [N]; q: [N, H, D]; k: [N, Hkv, D] -> rotated (q, k)."""
        return self.impl(positions, q, k, self.cos_sin_cache)
