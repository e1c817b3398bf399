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
[B, V] logits (sample_vocab_parallel).
"""
import torch
import torch.distributed as dist
from torch import nn

from aios.kernels.reference import sample_ref, sample_scores_ref, seeded_exponential_noise  # noqa: F401
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

    def sample_vocab_parallel(self, logits, first_id, temperatures, seeds, positions):
        """TP, every rank: logits [B, V/tp] of its own slice of the vocabulary
        (token ids first_id..) -> the next token ids [B] of whole rows, the same
        on every rank: the best of the ranks' (score, token id). No top-k /
        top-p here (they rank the whole row): the engine gathers the logits then."""
        scores, ids = self.scores_impl(logits, temperatures, seeds, positions, first_id=first_id)
        mine = torch.stack([scores, ids.float()])             # [2, B]: ids < 2^24 are exact
        ranks = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
        all_gather(ranks, mine)
        every = torch.stack(ranks)                            # [tp, 2, B]
        best_rank = every[:, 0].argmax(dim=0)                 # ties: the lowest rank, lowest ids
        return every[:, 1].gather(0, best_rank[None])[0].long()
