"""Top-k and top-p (nucleus) masks without sorting the vocabulary.

A full sort of each row costs O(V log V) for V = 151,936 (Qwen3), every step,
to keep the 50 tokens top-k asks for. Neither mask needs the whole order:

- top-k: the k largest logits are a partial selection (torch.topk), which
  returns them sorted, largest first, and never orders the rest;
- top-p: the nucleus is the head of that order, so it is found among the
  survivors. Its probabilities are those of the whole row, p_i =
  exp(logit_i - max) / sum_row exp(logit - max): one pass over the row, no sort.

When a row limits only by top-p (top_k = V), its survivors are the first
CANDIDATES tokens. If their mass does not reach top_p, the nucleus may go on
past them: such rows (a flat distribution) are masked again by the full sort,
exactly. `sorted_top_k_top_p` is that full sort, the definition both must equal.
"""
import torch

from aios.kernels.reference import mass_before

CANDIDATES = 1024   # where a row limits only by top-p, its nucleus is looked for among these first


def sorted_top_k_top_p(logits, top_ks, top_ps):
    """The definition, by a full sort: logits [B, V] float32 -> a copy with the tokens
    outside each row's top-k and top-p nucleus at -inf.

    A rank is dropped when it is >= top_k, or when the softmax mass of the
    ranks above it already reaches top_p (so the top token always stays).
    """
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    rank = torch.arange(logits.shape[-1], device=logits.device)[None, :]
    probs = sorted_logits.softmax(dim=-1)
    drop = (rank >= top_ks[:, None]) | (mass_before(probs) >= top_ps[:, None])
    return torch.empty_like(logits).scatter_(-1, order, sorted_logits.masked_fill(drop, float("-inf")))


def apply_top_k_top_p(logits, top_ks, top_ps):
    """Mask (to -inf) tokens outside each row's top-k and top-p nucleus, by partial selection.

    logits: [B, V] float32; top_ks: [B] int (V = off); top_ps: [B] float (1.0 = off).
    The same tokens as sorted_top_k_top_p (ties at the boundary aside).
    """
    vocab = logits.shape[-1]
    k = min(int(top_ks.max()), vocab)       # the widest top-k of the batch (one host sync)
    if k == vocab:                          # a row limits by top-p alone: look among the head first
        k = min(CANDIDATES, vocab)
    values, ids = logits.topk(k, dim=-1)                                  # [B, k], largest first
    # Their probabilities in the whole row, as softmax computes them: exp(x - max) / sum.
    top = values[:, :1]
    probs = (values - top).exp() / (logits - top).exp().sum(dim=-1, keepdim=True)
    rank = torch.arange(k, device=logits.device)[None, :]
    drop = (rank >= top_ks[:, None]) | (mass_before(probs) >= top_ps[:, None])
    masked = torch.full_like(logits, float("-inf")).scatter_(-1, ids, values.masked_fill(drop, float("-inf")))
    # A row whose top-k reaches past the survivors and whose nucleus is not complete
    # among them: its kept set may go on past them. The full sort decides it.
    cut_short = (top_ks > k) & (probs.sum(dim=-1) < top_ps)
    if cut_short.any():                     # rare: a flat distribution with top-p alone
        rows = cut_short.nonzero().squeeze(1)
        masked[rows] = sorted_top_k_top_p(logits[rows], top_ks[rows], top_ps[rows])
    return masked
