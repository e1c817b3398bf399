"""Turn logits into next tokens, for a whole batch at once.

Per sequence: temperature (0 = greedy), top-k, top-p, and a seed.

Sampling uses the Gumbel-max trick. With E_v drawn i.i.d. from Exp(1),
argmax_v p_v / E_v is a sample from p. For p = softmax(logits / T),
log p_v = logit_v / T - logsumexp(logits / T), and the last term is the
same for every v, so

    argmax_v p_v / E_v  ==  argmax_v  logit_v / T - log E_v.

No softmax and no cumulative sums: one pass over the logits, which is what
the Triton kernel does on a GPU (aios/kernels/sampling.py; its reference,
run on a CPU, is `sample_ref` in aios/kernels/reference.py).

The noise comes from a counter, not a random stream: E_v is a pure function
of (seed, position, token id), hashed (`seeded_exponential_noise`). Every row
has a seed: the request's own, or one the engine drew for it from its RNG
(seeded by Config.seed) when the request arrived. So a request's tokens depend
only on its seed and its logits, never on the batch it shares a step with,
and the whole engine is reproducible given Config.seed.

Top-k / top-p keep a head of the tokens ranked most likely first. Here, the
readable way (lesson 12's): a partial selection of each row that asks for
them (torch.topk; aios/layers/top_k_top_p.py, whose `sorted_top_k_top_p` is
the definition by a full sort), masking the dropped tokens to -inf in a copy
of the logits (apply_top_k_top_p, mask_top_k_top_p). On a GPU the model
runner sets `threshold_impl` instead: one logit per row, the last kept
token's, found by one kernel with no host sync (aios/kernels/top_k_top_p.py),
below which the sampling kernel scores tokens -inf. Both keep the same
tokens, except that the threshold keeps every token tied with the last kept one.

Under tensor parallelism each rank holds a slice of the vocabulary's logits.
Since the noise is a function of the token id, the argmax over the whole row
is the best of the slices' own argmaxes: each rank samples its slice, and the
ranks exchange one (score, token id) pair per row instead of gathering
[B, V] logits (sample_vocab_parallel). A top-k / top-p cut comes from the
ranks' best candidates and logsumexps, exchanged the same way.
"""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from aios.kernels.reference import (sample_ref, sample_scores_ref,  # noqa: F401
                                    seeded_exponential_noise, thresholds_from_candidates)
from aios.layers.top_k_top_p import apply_top_k_top_p
from aios.utils.distributed import all_gather

SEED_BITS = 31   # seeds drawn for rows that bring none


def mask_top_k_top_p(logits, temperatures, top_ks, top_ps, rows=None):
    """A copy of logits ([B, V], same dtype) with the tokens outside the top-k /
    top-p set of each row in `rows` ([R] indices, None = all) at -inf.

    The nucleus is that of softmax(logits / T). Kept tokens keep their logit
    unscaled (the sampler divides by T itself); a greedy row keeps its argmax.
    """
    if rows is None:
        rows = torch.arange(logits.shape[0], device=logits.device)
    sub = logits[rows]                                                  # [R, V]
    t = temperatures[rows].clamp(min=1e-5)[:, None]
    kept = apply_top_k_top_p(sub.float() / t, top_ks[rows], top_ps[rows]) > float("-inf")
    return logits.index_put((rows,), sub.masked_fill(~kept, float("-inf")))


def _row_seeds(seeds, seeded_rows, batch, device):
    """[B] seeds: the given ones, and for the other rows (all rows when seeds
    is None) seeds drawn from torch's RNG."""
    if seeds is not None and seeded_rows is None:
        return seeds
    drawn = torch.randint(0, 2**SEED_BITS, (batch,), device=device)
    if seeds is not None:
        drawn[seeded_rows] = seeds[seeded_rows]
    return drawn


class Sampler(nn.Module):
    # The PyTorch reference; ModelRunner swaps in the Triton kernel on a GPU.
    impl = staticmethod(sample_ref)
    # None: top-k / top-p by mask_top_k_top_p. Else a function
    # (logits, temperatures, top_ks, top_ps, num_candidates) -> [B] logit
    # thresholds, which impl then takes as its fifth argument (ModelRunner
    # sets the Triton one on a GPU; top_k_top_p_threshold_ref is its reference).
    threshold_impl = None
    # (logits, temperatures, seeds, positions, first_id=) -> (best scores [B], token ids [B]):
    # sample_vocab_parallel's; ModelRunner swaps in the kernel's (gumbel_sample, with_scores).
    scores_impl = staticmethod(sample_scores_ref)

    def forward(self, logits, temperatures, top_ks=None, top_ps=None, seeds=None,
                positions=None, seeded_rows=None, top_rows=None, num_candidates=None):
        """logits: [B, V] (float32, bfloat16 or float16) -> next token ids [B] (int64).

        temperatures: [B] float32 (0 = greedy).
        top_ks / top_ps: [B] (vocab size / 1.0 = off), or None when no row uses
            them; top_rows: [R] the rows that do (None = all rows; the mask
            path sorts those only). num_candidates: for threshold_impl, the
            batch's largest top_k rounded up (a host int; None = a default).
        seeds / positions: [B] int64, the noise's counter (positions: the index
            of the token being sampled). The engine gives every row a seed; for
            direct callers, rows outside seeded_rows ([S] indices; None = all),
            or all rows when seeds is None, get a seed from torch's RNG, and
            positions default to 0.
        """
        batch, device = logits.shape[0], logits.device
        seeds = _row_seeds(seeds, seeded_rows, batch, device)
        if positions is None:
            positions = torch.zeros(batch, dtype=torch.long, device=device)
        if top_ks is not None:
            if self.threshold_impl is not None:
                thresholds = self.threshold_impl(logits, temperatures, top_ks, top_ps, num_candidates)
                return self.impl(logits, temperatures, seeds, positions, thresholds)
            logits = mask_top_k_top_p(logits, temperatures, top_ks, top_ps, top_rows)
        return self.impl(logits, temperatures, seeds, positions)

    def sample_vocab_parallel(self, logits, first_id, vocab_size, temperatures, seeds, positions,
                              top_ks=None, top_ps=None, num_candidates=None):
        """TP, every rank: logits [B, V/tp] of its own slice of the vocabulary
        (token ids first_id..; vocab_size in all) -> the next token ids [B] of whole
        rows, the same on every rank: the best of the ranks' (score, token id).
        top_ks / top_ps as in forward: each row's cut then comes from every rank's
        best candidates (slice_thresholds), so every top_k must be <= num_candidates;
        the engine gathers whole rows for the steps where one is not."""
        thresholds = None
        if top_ks is not None:
            thresholds = slice_thresholds(logits, temperatures, top_ks, top_ps, vocab_size,
                                          num_candidates)
        scores, ids = self.scores_impl(logits, temperatures, seeds, positions, thresholds,
                                       first_id=first_id)
        every = gather_from_ranks(torch.stack([scores, ids.float()]))   # [tp, 2, B]: ids < 2^24
        best_rank = every[:, 0].argmax(dim=0)                 # ties: the lowest rank, lowest ids
        return every[:, 1].gather(0, best_rank[None])[0].long()


def gather_from_ranks(mine: torch.Tensor) -> torch.Tensor:
    """TP: this rank's tensor -> every rank's, stacked in rank order [tp, ...]."""
    ranks = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    all_gather(ranks, mine)
    return torch.stack(ranks)


def slice_thresholds(logits, temperatures, top_ks, top_ps, vocab_size, num_candidates):
    """TP: each row's top-k / top-p cut as a logit ([B], -inf = none), from this rank's
    slice of the vocabulary (logits [B, V/tp]) and the other ranks' slices.

    A row keeps at most top_k tokens, the best ones. With top_k <= K (num_candidates)
    they are among the row's K best logits, and those are among the union of every
    rank's own K best. Their probabilities need logsumexp(row / T) over the whole row:
    the logsumexp of the ranks' own. The rule on them is the reference's
    (thresholds_from_candidates): the cut of one GPU, but for rounding.
    """
    mine = slice_candidates(logits, temperatures, num_candidates)
    return merge_slice_candidates(gather_from_ranks(mine), temperatures, top_ks, top_ps, vocab_size)


def slice_candidates(logits, temperatures, num_candidates):
    """One rank's part: logits [B, V/tp] -> [B, K + 1] float32: its K best logits,
    largest first (-inf past a short slice's end), then logsumexp(slice / T)."""
    t = temperatures.float()
    inv_t = torch.reciprocal(torch.where(t > 0, t, 1.0))
    best = logits.topk(min(num_candidates, logits.shape[1]), dim=-1).values.float()
    best = F.pad(best, (0, num_candidates - best.shape[1]), value=float("-inf"))
    lse = torch.logsumexp(logits.float() * inv_t[:, None], dim=-1)            # [B]
    return torch.cat([best, lse[:, None]], dim=1)


def merge_slice_candidates(every, temperatures, top_ks, top_ps, vocab_size):
    """Every rank's slice_candidates [tp, B, K + 1] -> each row's cut [B]."""
    tp, batch, k = every.shape[0], every.shape[1], every.shape[2] - 1
    union = every[..., :k].transpose(0, 1).reshape(batch, tp * k)             # [B, tp * K]
    candidates = union.topk(k, dim=-1).values                                # [B, K], largest first
    lse = every[..., k].logsumexp(dim=0)                                      # [B]
    return thresholds_from_candidates(candidates, lse, temperatures, top_ks, top_ps, vocab_size)
