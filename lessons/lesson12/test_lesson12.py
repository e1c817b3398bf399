"""Lesson 12 checks: top-k, top-p, temperature, and Gumbel-max sampling, with a statistical check.

    python -m pytest lessons/lesson12            # your lessons/lesson12/sampling.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson12

The noise is a pure function of (seed, position, token): 4000 rows with seeds
0..3999 are 4000 independent draws, and the same ones at every run, so the
statistical checks are exact and never flaky.
"""
import torch

from aios import SamplingParams
from aios.course import load_exercise
from aios.course.checks import random_prompts, run_engine
from aios.course.plugin import pieces, plugged
from aios.layers.sampler import Sampler
from aios.layers.top_k_top_p import CANDIDATES, sorted_top_k_top_p

sampling = load_exercise(12, "sampling")
INF = float("-inf")
LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])


def _counts(logits, n, temperature, top_k=None, top_p=None) -> torch.Tensor:
    """Draw n tokens from one row of logits with your pieces in the engine's Sampler."""
    batch = logits.expand(n, -1).contiguous()
    full = lambda value, dtype: torch.full((n,), value, dtype=dtype)  # noqa: E731
    ks = None if top_k is None else full(top_k, torch.long)
    ps = None if top_k is None else full(top_p, torch.float32)
    with plugged(pieces(12, sampling)):
        tokens = Sampler()(batch, full(temperature, torch.float32), ks, ps,
                           seeds=torch.arange(n), positions=torch.zeros(n, dtype=torch.long))
    return torch.bincount(tokens, minlength=logits.shape[-1]).float()


def _chi_square(counts, probs) -> float:
    expected = probs * counts.sum()
    seen = expected > 0
    assert counts[~seen].sum() == 0, f"tokens outside the allowed set were drawn: {counts.tolist()}"
    return (((counts - expected)[seen]) ** 2 / expected[seen]).sum().item()


# ------------------------------------------------------------- step 1 ---
def test_top_k_keeps_the_k_largest():
    out = sampling.apply_top_k_top_p(LOGITS[None], torch.tensor([2]), torch.tensor([1.0]))
    assert out[0].tolist() == [2.0, 1.0, INF, INF, INF, INF]


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([[0.1, 0.5, 0.3, 0.1]]))
    keep = lambda p: (sampling.apply_top_k_top_p(logits, torch.tensor([4]), torch.tensor([p]))  # noqa: E731
                      > INF)[0].tolist()
    assert keep(0.5) == [False, True, False, False]          # 0.5 alone reaches 0.5
    assert keep(0.6) == [False, True, True, False]
    assert keep(0.01) == [False, True, False, False], "the top token always stays"
    assert keep(1.0) == [True, True, True, True]


def test_the_same_masks_as_a_full_sort_on_a_large_vocabulary():
    """8 rows of 3000 logits: top-k alone, top-p alone, both; peaked rows and flat ones.

    The flat rows with top-p alone need more than CANDIDATES tokens: their nucleus
    goes past the survivors of the partial selection, and must still be exact.
    """
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([3.0, 3.0, 3.0, 0.01, 0.01, 3.0, 1.0, 0.01])[:, None]
    logits = torch.randn(8, 3000, generator=g) * scale
    top_ks = torch.tensor([50, 3000, 7, 3000, 3000, 1, 3000, 20])
    top_ps = torch.tensor([0.95, 0.9, 1.0, 0.9, 0.5, 0.3, 0.999, 0.99])
    out = sampling.apply_top_k_top_p(logits, top_ks, top_ps)
    assert torch.equal(out, sorted_top_k_top_p(logits, top_ks, top_ps))
    assert (out[3] > INF).sum() > CANDIDATES, "the flat row's nucleus reaches past the candidates"


# ------------------------------------------------------------- step 2 ---
def test_mask_only_the_rows_asked_with_the_tempered_nucleus():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.6, 0.3, 0.1]])).to(torch.bfloat16)
    temps = torch.tensor([1.0, 3.0, 1.0])
    out = sampling.mask_top_k_top_p(logits, temps, torch.tensor([3, 3, 3]), torch.tensor([0.8, 0.8, 0.8]),
                                    rows=torch.tensor([0, 1]))
    assert out.dtype == torch.bfloat16
    assert (out > INF).tolist() == [[True, True, False],       # T=1: 0.6 + 0.3 reach 0.8
                                    [True, True, True],        # T=3 flattens: all three needed
                                    [True, True, True]]        # row 2 not asked
    assert torch.equal(out[0, :2], logits[0, :2]), "kept tokens keep their unscaled logit"


# ------------------------------------------------------------- step 3 ---
def test_greedy_rows_take_the_argmax_and_draws_are_reproducible():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 50, generator=g)
    temps = torch.tensor([0.0, 1.0, 0.0, 0.7, 1.5, 1.0])
    seeds, positions = torch.arange(6) * 7, torch.arange(6)
    tokens = sampling.sample(logits, temps, seeds, positions)
    assert tokens.dtype == torch.int64 and tokens.shape == (6,)
    assert tokens[[0, 2]].tolist() == logits[[0, 2]].argmax(-1).tolist()
    assert torch.equal(tokens, sampling.sample(logits, temps, seeds, positions)), "same seeds, same tokens"


def test_samples_follow_softmax_over_temperature():
    """Chi-square over 6 tokens (5 degrees of freedom): below 20.5 is p > 0.001."""
    for temperature in (1.0, 0.5):
        counts = _counts(LOGITS, 4000, temperature)
        probs = (LOGITS / temperature).softmax(-1)
        assert _chi_square(counts, probs) < 20.5, (temperature, counts.tolist(), probs.tolist())


def test_samples_follow_the_renormalized_nucleus():
    counts = _counts(LOGITS, 4000, 0.8, top_k=4, top_p=0.9)
    probs = (LOGITS / 0.8).softmax(-1)
    kept = torch.zeros(6, dtype=torch.bool)
    order = probs.argsort(descending=True)
    kept[order[(probs[order].cumsum(0) - probs[order] < 0.9) & (torch.arange(6) < 4)]] = True
    nucleus = torch.where(kept, probs, 0.0)
    assert _chi_square(counts, nucleus / nucleus.sum()) < 20.5, counts.tolist()


def test_samples_follow_the_nucleus_with_top_p_alone():
    counts = _counts(LOGITS, 4000, 1.0, top_k=6, top_p=0.8)
    probs = LOGITS.softmax(-1)
    nucleus = torch.where(probs.cumsum(0) - probs < 0.8, probs, 0.0)   # LOGITS is sorted, descending
    assert _chi_square(counts, nucleus / nucleus.sum()) < 20.5, counts.tolist()


def test_the_engine_samples_with_your_pieces(tiny_qwen3):
    """Sampled (seeded) requests in lesson 12's engine: the engine's own tokens."""
    prompts = random_prompts([10, 4, 17])
    params = [SamplingParams(temperature=0.8, top_p=0.9, top_k=50, max_tokens=8, ignore_eos=True, seed=s)
              for s in range(3)]

    def run(replacements):
        with plugged(replacements):
            _, llm = run_engine(tiny_qwen3, 12, [[1]], 1)
            return [o["token_ids"] for o in llm.generate(prompts, params, use_tqdm=False)]
    assert run(pieces(12, sampling)) == run({})
