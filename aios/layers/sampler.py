"""Turn logits into next tokens, for a whole batch at once.

Per sequence: temperature (0 = greedy), top-k, top-p, and a seed.

Sampling uses the Gumbel-max trick in its exponential form: with E_i drawn
i.i.d. from Exp(1), argmax_i p_i / E_i is a sample from p. It needs no
cumulative sums, and it lets a seeded request draw its noise from a counter:
E depends only on (seed, position, token id), hashed. So a seeded request
gives the same tokens whatever batch it shares a step with, on any device.
"""
import torch
from torch import nn

_MASK32 = 0xFFFFFFFF


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixer (bijective on [0, 2^32)), on int64 tensors.

    Products may wrap past 2^63; only the low 32 bits are kept, and those
    wrap-around cannot change.
    """
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def seeded_exponential_noise(seeds, positions, vocab_size):
    """Exp(1) noise [B, V], a pure function of (seed, position, token id)."""
    row_key = _hash32(_hash32(seeds & _MASK32) ^ (positions & _MASK32))      # [B]
    token_ids = torch.arange(vocab_size, device=seeds.device)
    bits = _hash32(row_key[:, None] ^ token_ids[None, :])                      # [B, V]
    uniform = (bits.double() + 0.5) / 2.0**32                                  # in (0, 1)
    return (-torch.log(uniform)).float()


def apply_top_k_top_p(logits, top_ks, top_ps):
    """Mask (to -inf) tokens outside each row's top-k and top-p nucleus.

    logits: [B, V] float32; top_ks: [B] int (vocab size = off); top_ps: [B].
    """
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    rank = torch.arange(logits.shape[-1], device=logits.device)[None, :]
    drop = rank >= top_ks[:, None]
    probs = sorted_logits.softmax(dim=-1)
    # Drop a token when the tokens ranked above it already reach top_p.
    mass_before = probs.cumsum(dim=-1) - probs
    drop |= mass_before >= top_ps[:, None]
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    return torch.empty_like(logits).scatter_(-1, order, sorted_logits)


class Sampler(nn.Module):
    def forward(self, logits, temperatures, top_ks=None, top_ps=None,
                seeds=None, positions=None, seeded_rows=None):
        """logits: [B, V] -> next token ids [B].

        temperatures: [B] (0 = greedy). top_ks/top_ps: [B] or None when no row
        uses them. seeds/positions: [B] int64, used for the rows listed in
        seeded_rows ([S] indices, or None); other rows draw from torch's RNG.
        """
        logits = logits.float()
        greedy = logits.argmax(dim=-1)
        logits = logits / temperatures.clamp(min=1e-5)[:, None]
        if top_ks is not None:
            logits = apply_top_k_top_p(logits, top_ks, top_ps)
        probs = logits.softmax(dim=-1)
        noise = torch.empty_like(probs).exponential_()
        if seeded_rows is not None:
            noise[seeded_rows] = seeded_exponential_noise(
                seeds[seeded_rows], positions[seeded_rows], probs.shape[-1])
        sampled = (probs / noise).argmax(dim=-1)
        return torch.where(temperatures == 0, greedy, sampled)
