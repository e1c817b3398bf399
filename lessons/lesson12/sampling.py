"""Lesson 12: sampling, from logits to the next token. Your exercise.

Temperature, top-k, top-p (the nucleus), and the Gumbel-max trick that draws
from softmax(logits / T) without a softmax. README.md ("The exercise") walks
through them. While your code runs they replace the engine's own:

    apply_top_k_top_p, mask_top_k_top_p   aios/layers/sampler.py
    sample                                Sampler.impl (aios/kernels/reference.py's sample_ref;
                                          on a GPU the engine uses its Triton twin instead)

    seeded_exponential_noise(seeds, positions, V) -> [B, V] float32 Exp(1) noise,
        a pure function of (seed, position, token id): given, in aios/kernels/reference.py

Check:  python -m pytest lessons/lesson12
Run:    python lessons/lesson12/run_lesson12.py
"""
import torch

from aios.kernels.reference import seeded_exponential_noise  # noqa: F401


def apply_top_k_top_p(logits: torch.Tensor, top_ks: torch.Tensor, top_ps: torch.Tensor) -> torch.Tensor:
    """Step 1. A copy of logits [B, V] (float32) with the tokens outside each row's
    top-k and top-p nucleus at -inf.

    top_ks: [B] ints (V = no limit); top_ps: [B] floats (1.0 = no limit).
    Sort each row, descending. Drop rank r when r >= top_k, or when the
    probabilities (softmax of the row) of the tokens ranked above it already
    sum to >= top_p (so the top token always stays). Put the row back in
    token order (scatter with the sort's order).
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
