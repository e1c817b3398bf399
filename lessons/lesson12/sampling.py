"""Lesson 12: sampling, from logits to the next token. Your exercise.

Temperature, top-k, top-p (the nucleus), and the Gumbel-max trick that draws
from softmax(logits / T) without a softmax. README.md ("The exercise") walks
through them. While your code runs they replace the engine's own:

    apply_top_k_top_p, mask_top_k_top_p   aios/layers/sampler.py
    sample                                Sampler.impl (aios/kernels/reference.py's sample_ref;
                                          on a GPU the engine uses its Triton twin instead)

    seeded_exponential_noise(seeds, positions, V) -> [B, V] float32 Exp(1) noise,
        a pure function of (seed, position, token id): given, in aios/kernels/reference.py
    sorted_top_k_top_p(logits, top_ks, top_ps): the masks by a full sort of each row,
        the definition (slow: O(V log V) per row): given, in aios/layers/top_k_top_p.py

Check:  python -m pytest lessons/lesson12
Run:    python lessons/lesson12/run_lesson12.py
"""
import torch

from aios.kernels.reference import seeded_exponential_noise  # noqa: F401
from aios.layers.top_k_top_p import CANDIDATES, sorted_top_k_top_p  # noqa: F401


def apply_top_k_top_p(logits: torch.Tensor, top_ks: torch.Tensor, top_ps: torch.Tensor) -> torch.Tensor:
    """Step 1. A copy of logits [B, V] (float32) with the tokens outside each row's
    top-k and top-p nucleus at -inf, WITHOUT sorting the whole row.

    top_ks: [B] ints (V = no limit); top_ps: [B] floats (1.0 = no limit).
    k = the largest top_k of the batch (at most V); when that is V (a row limits by
    top-p alone), look among the first CANDIDATES = 1024 tokens instead.
    values, ids = logits.topk(k): the k largest of each row, largest first.
    Their probabilities are those of the WHOLE row, as softmax takes them:
    exp(values - max) / sum over the row of exp(logits - max), max = values[:, :1].
    Drop rank r when r >= top_k, or when the probabilities of the ranks above it
    already sum to >= top_p (so the top token always stays). Scatter the kept
    values to their ids in a row of -inf. A row with top_k > k whose k survivors
    hold less than top_p may keep tokens past them: give such rows (rare) to
    sorted_top_k_top_p, the full sort, which is exact.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 12, step 1: apply_top_k_top_p() is yours to write "
                              "— see lessons/lesson12/README.md, or run with --solution")


def mask_top_k_top_p(logits, temperatures, top_ks, top_ps, rows=None) -> torch.Tensor:
    """Step 2. Mask only the rows that ask for it, with the nucleus of softmax(logits / T).

    rows: [R] row indices (None = all). For those rows, run apply_top_k_top_p
    on logits[rows].float() / T (T clamped to >= 1e-5, so a greedy row keeps
    its argmax), and set the dropped tokens of the ORIGINAL logits to -inf:
    kept tokens keep their unscaled logit (the sampler divides by T itself).
    -> a new tensor, logits' dtype; the other rows unchanged.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 12, step 2: mask_top_k_top_p() is yours to write "
                              "— see lessons/lesson12/README.md, or run with --solution")


def sample(logits, temperatures, seeds, positions) -> torch.Tensor:
    """Step 3. Next token ids [B] (int64) by the Gumbel-max trick.

    x = logits.float(); E = seeded_exponential_noise(seeds, positions, V).
    A row with T > 0: argmax_v x_v * (1 / T) - log E_v (compute 1 / T once per
    row, then multiply). A row with T = 0 (greedy): argmax_v x_v.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 12, step 3: sample() is yours to write "
                              "— see lessons/lesson12/README.md, or run with --solution")
