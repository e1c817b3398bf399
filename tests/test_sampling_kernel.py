"""The sampling kernel (aios/kernels/sampling.py) against its reference
(`sample_ref`), the counter noise they share, and the seeds around them.

Without a GPU the kernel runs in Triton's CPU interpreter, at small sizes and
with small tiles, so that rows span several tiles and several splits; there
the float math of the interpreter (numpy) and of torch are the same steps, so
the token ids must be identical. On a GPU the sizes are the real ones (batch
256, Qwen3's 151,936 tokens), and the GPU's fast log and fused multiply-adds may
round differently from torch's: a row may then differ, but only where its two
candidate tokens' scores are a near-tie (see the kernel's docstring).
"""
import os

import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ["TRITON_INTERPRET"] = "1"   # must be set before the kernel is defined

import pytest  # noqa: E402

from aios import LLM, SamplingParams  # noqa: E402
from aios.kernels.reference import (exponential_from_bits, sample_ref,  # noqa: E402
                                    sample_scores_ref, seeded_exponential_noise,
                                    top_k_top_p_threshold_ref)
from aios.kernels.sampling import gumbel_sample  # noqa: E402
from aios.kernels.top_k_top_p import top_k_top_p_thresholds  # noqa: E402
from aios.layers.sampler import Sampler, mask_top_k_top_p  # noqa: E402
from conftest import generate_ids, random_prompts  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
QWEN3_VOCAB = 151_936
# (batch, vocab, kernel overrides). On the CPU: vocab sizes that are not
# multiples of the tile, one split or several, a split that is not a multiple
# of the tile (rounded up), one tile covering the whole row.
if CUDA:
    CASES = [(256, QWEN3_VOCAB, {}), (1, QWEN3_VOCAB, {}), (3, QWEN3_VOCAB, {}),
             (64, 32_000, {}), (256, QWEN3_VOCAB, {"split_tokens": 10**9}),
             (200, 50_257, {"block": 2048, "num_warps": 8})]
else:
    CASES = [(1, 1000, {}), (6, 3001, {"block": 256}),
             (5, 2500, {"block": 128, "split_tokens": 300}),
             (17, 777, {"block": 128, "split_tokens": 10**6}), (40, 1537, {"block": 512})]


@pytest.fixture
def poison_empty(monkeypatch):
    """The kernel's outputs and partials start as garbage (NaN, -1), so an
    element it forgets to write fails the test instead of passing by luck."""
    real_empty = torch.empty

    def empty(*args, **kwargs):
        t = real_empty(*args, **kwargs)
        return t.fill_(float("nan") if t.is_floating_point() else -1)

    monkeypatch.setattr(torch, "empty", empty)


def random_inputs(batch, vocab, dtype, seed, scale=3.0):
    """Logits N(0, scale^2), temperatures in (0, 2) with every third row greedy,
    seeds anywhere in int64 (only their low 32 bits count), any positions."""
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(batch, vocab, generator=g) * scale).to(dtype)
    temps = torch.rand(batch, generator=g) * 2 + 0.05
    temps[::3] = 0.0
    seeds = torch.randint(-2**62, 2**62, (batch,), generator=g)
    positions = torch.randint(0, 2**20, (batch,), generator=g)
    return [t.to(DEVICE) for t in (logits, temps, seeds, positions)]


def row_scores(logits, temps, seeds, positions, row):
    """The reference's scores of one row ([V] float32)."""
    x = logits[row].float()
    if temps[row] == 0:
        return x
    noise = seeded_exponential_noise(seeds[row:row + 1], positions[row:row + 1], x.numel())[0]
    return x * torch.reciprocal(temps[row].float()) - torch.log(noise)


def assert_same_tokens(out, ref, logits, temps, seeds, positions):
    assert out.dtype == torch.int64 and out.shape == ref.shape
    rows = (out != ref).nonzero().flatten().tolist()
    if not CUDA:
        assert not rows, f"rows {rows}: kernel {out[rows].tolist()}, reference {ref[rows].tolist()}"
        return
    assert len(rows) <= 1, f"{len(rows)} rows differ: {rows}"
    for row in rows:  # a near-tie: both tokens' scores within float32 rounding
        assert temps[row] > 0, f"greedy row {row} differs"
        s = row_scores(logits, temps, seeds, positions, row)
        a, b = s[out[row]].item(), s[ref[row]].item()
        assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), f"row {row}: scores {a} vs {b}"


# ------------------------------------------------------------------ noise ---
def test_exponential_from_bits_is_accurate():
    """float32 E = -log(U), U = (bits + 0.5) / 2^32, against float64, with the
    bits that give the smallest E (U near 1), the largest, and the switch
    between the series and the log."""
    g = torch.Generator().manual_seed(0)
    top = 2**32 - 1
    bits = torch.cat([torch.randint(0, 2**32, (200_000,), generator=g), torch.arange(1000),
                      top - torch.arange(1000), top - 2**27 + torch.arange(-1000, 1000)])
    e = exponential_from_bits(bits)
    assert e.dtype == torch.float32 and torch.isfinite(e).all() and (e > 0).all()
    c = ((top - bits).double() + 0.5) / 2**32                       # 1 - U, exact in float64
    exact = -torch.log1p(-c)
    rel = ((e.double() - exact) / exact).abs()
    assert rel.max() < 3e-6, rel.max()
    assert e.min().item() == pytest.approx(2.0**-33, rel=1e-6)    # bits = 2^32 - 1


def test_seeded_noise_is_exp1():
    """The hashed noise looks like i.i.d. Exp(1): mean, and the small-E tail
    that decides which token wins among many (6-sigma bounds)."""
    seeds, positions = torch.arange(20) * 7919 + 5, torch.arange(20) + 17
    e = seeded_exponential_noise(seeds, positions, 100_000).double().flatten()
    n = e.numel()
    assert abs(e.mean().item() - 1) < 6 / n**0.5
    for x in (1e-5, 1e-4, 1e-3, 1e-1):
        p = -torch.expm1(torch.tensor(-x, dtype=torch.float64)).item()   # P(E < x)
        count = (e < x).sum().item()
        assert abs(count - n * p) < 6 * (n * p * (1 - p))**0.5 + 1, (x, count, n * p)


# ----------------------------------------------------- kernel vs reference ---
@pytest.mark.usefixtures("poison_empty")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch,vocab,overrides", CASES)
def test_kernel_equals_reference(batch, vocab, overrides, dtype):
    logits, temps, seeds, positions = random_inputs(batch, vocab, dtype, seed=batch * 1000 + vocab)
    out = gumbel_sample(logits, temps, seeds, positions, **overrides)
    ref = sample_ref(logits, temps, seeds, positions)
    assert_same_tokens(out, ref, logits, temps, seeds, positions)


@pytest.mark.usefixtures("poison_empty")
@pytest.mark.parametrize("num_slices", [2, 3])
def test_vocabulary_slices_sample_the_whole_row(num_slices):
    """Tensor parallelism: each rank samples its slice of the vocabulary (token ids
    from first_id), and the best (score, id) of the slices is the whole row's token.
    Uneven slices, as the last rank's is when tp does not divide the vocabulary."""
    batch, vocab = (256, QWEN3_VOCAB) if CUDA else (24, 3001)
    logits, temps, seeds, positions = random_inputs(batch, vocab, torch.bfloat16, seed=num_slices)
    bounds = [vocab * i // num_slices for i in range(num_slices + 1)]
    slices = []
    for first, end in zip(bounds, bounds[1:]):
        part = logits[:, first:end]
        score, ids = gumbel_sample(part, temps, seeds, positions, first_id=first, with_scores=True,
                                   **({} if CUDA else {"block": 256}))
        ref_score, ref_ids = sample_scores_ref(part, temps, seeds, positions, first_id=first)
        assert ((ids >= first) & (ids < end)).all()
        assert_same_tokens(ids, ref_ids, logits, temps, seeds, positions)
        same = ids == ref_ids
        torch.testing.assert_close(score[same], ref_score[same], rtol=1e-5, atol=1e-5)
        slices.append((score, ids))
    scores, ids = torch.stack([s for s, _ in slices]), torch.stack([i for _, i in slices])
    best = ids.gather(0, scores.argmax(dim=0)[None])[0]      # ties: the first slice
    assert_same_tokens(best, sample_ref(logits, temps, seeds, positions), logits, temps, seeds,
                       positions)


@pytest.mark.parametrize("num_slices", [2, 3])
def test_top_k_top_p_cut_from_vocabulary_slices(num_slices):
    """Tensor parallelism: each rank brings its slice's best candidates and logsumexp
    (slice_candidates), and the merge (merge_slice_candidates) gives the whole row's
    cut, the reference's, for every row whose top_k is within the candidates: top-k
    alone, top-k with top-p, peaked and flat rows, greedy rows, and a short slice."""
    from aios.layers.sampler import merge_slice_candidates, slice_candidates
    batch, vocab = (256, QWEN3_VOCAB) if CUDA else (16, 1501)
    logits, temps, top_ks, top_ps, _, _ = mixed_truncation(batch, vocab, seed=num_slices)
    fits = (top_ks <= 64) | ((top_ks >= vocab) & (top_ps >= 1))      # what the engine sends
    logits, temps, top_ks, top_ps = logits[fits], temps[fits], top_ks[fits], top_ps[fits]
    width = -(-vocab // num_slices)                                      # the last slice is short
    every = torch.stack([slice_candidates(logits[:, r * width:(r + 1) * width], temps, 64)
                         for r in range(num_slices)])
    thr = merge_slice_candidates(every, temps, top_ks, top_ps, vocab)
    ref = top_k_top_p_threshold_ref(logits, temps, top_ks, top_ps)
    assert_thresholds_follow_the_rule(thr, ref, logits, temps, top_ks, top_ps)


@pytest.mark.usefixtures("poison_empty")
def test_zero_logits_pick_the_smallest_noise():
    """With equal logits the token is the argmin of E: the kernel's hashed noise
    is the reference's, down to the smallest values (the series branch)."""
    batch, vocab = (256, QWEN3_VOCAB) if CUDA else (64, 2000)
    seeds = torch.arange(batch, device=DEVICE) * 104729 + 3
    positions = torch.arange(batch, device=DEVICE) + 100
    logits, temps = torch.zeros(batch, vocab, device=DEVICE), torch.ones(batch, device=DEVICE)
    out = gumbel_sample(logits, temps, seeds, positions, block=256 if not CUDA else None)
    noise = seeded_exponential_noise(seeds, positions, vocab)
    assert_same_tokens(out, noise.argmin(dim=-1), logits, temps, seeds, positions)


@pytest.mark.usefixtures("poison_empty")
@pytest.mark.parametrize("split_tokens", [None, 300, 10**9])
def test_greedy_ties_go_to_the_lowest_id(split_tokens):
    g = torch.Generator().manual_seed(3)
    batch, vocab = (64, QWEN3_VOCAB) if CUDA else (16, 1100)
    logits = torch.randint(0, 3, (batch, vocab), generator=g).to(torch.bfloat16).to(DEVICE)
    logits[5, :] = 1.0                                                    # all tied: token 0
    logits[6, :] = 1.0
    logits[6, vocab - 1] = 2.0                                            # the last token
    zeros = torch.zeros(batch, dtype=torch.long, device=DEVICE)
    out = gumbel_sample(logits, torch.zeros(batch, device=DEVICE), zeros, zeros,
                        split_tokens=split_tokens, block=None if CUDA else 128)
    assert torch.equal(out, logits.float().argmax(dim=-1))
    assert out[5] == 0 and out[6] == vocab - 1


@pytest.mark.usefixtures("poison_empty")
def test_masked_rows():
    """Tokens at -inf (top-k / top-p) never win; a row that keeps one token
    returns it, greedy or not; a row all -inf returns 0, like torch.argmax."""
    g = torch.Generator().manual_seed(4)
    batch, vocab = 8, (QWEN3_VOCAB if CUDA else 1500)
    logits = torch.full((batch, vocab), float("-inf"))
    keep = torch.randint(0, vocab, (batch,), generator=g)
    logits[torch.arange(batch), keep] = torch.randn(batch, generator=g)
    logits[7] = float("-inf")
    keep[7] = 0
    temps = torch.tensor([0.0, 1.0, 0.3, 5.0, 0.0, 1.0, 2.0, 1.0])
    seeds, positions = torch.arange(batch) + 9, torch.arange(batch)
    args = [t.to(DEVICE) for t in (logits.to(torch.bfloat16), temps, seeds, positions)]
    out = gumbel_sample(*args, block=None if CUDA else 128)
    assert out.tolist() == keep.tolist()
    assert sample_ref(*args).tolist() == keep.tolist()


@pytest.mark.usefixtures("poison_empty")
def test_a_row_ignores_the_rest_of_the_batch():
    logits, temps, seeds, positions = random_inputs(12, 3000 if not CUDA else QWEN3_VOCAB,
                                                    torch.bfloat16, seed=5)
    block = None if CUDA else 256
    full = gumbel_sample(logits, temps, seeds, positions, block=block)
    for i in (1, 2, 7):
        alone = gumbel_sample(logits[i:i + 1], temps[i:i + 1], seeds[i:i + 1],
                              positions[i:i + 1], block=block)
        assert alone.item() == full[i].item()


@pytest.mark.usefixtures("poison_empty")
def test_empty_batch():
    out = gumbel_sample(torch.zeros(0, 100, device=DEVICE), torch.zeros(0, device=DEVICE),
                        torch.zeros(0, dtype=torch.long, device=DEVICE),
                        torch.zeros(0, dtype=torch.long, device=DEVICE))
    assert out.shape == (0,) and out.dtype == torch.int64


# ---------------------------------------------------------------- sampler ---
@pytest.mark.usefixtures("poison_empty")
def test_sampler_with_the_kernel_equals_the_reference():
    """Sampler with top-k / top-p on some rows (masked in torch, in the logits'
    own dtype), the kernel vs the reference."""
    batch, vocab = (32, QWEN3_VOCAB) if CUDA else (9, 1200)
    logits, temps, seeds, positions = random_inputs(batch, vocab, torch.bfloat16, seed=6)
    top_ks = torch.full((batch,), vocab, device=DEVICE)
    top_ps = torch.ones(batch, device=DEVICE)
    top_ks[1], top_ps[2], top_ks[4], top_ps[4] = 5, 0.5, 50, 0.9
    kwargs = dict(top_ks=top_ks, top_ps=top_ps, seeds=seeds, positions=positions,
                  top_rows=torch.tensor([1, 2, 4], device=DEVICE))
    ref = Sampler()(logits, temps, **kwargs)
    kernel_sampler = Sampler()
    kernel_sampler.impl = gumbel_sample if CUDA else (
        lambda *args: gumbel_sample(*args, block=256))
    out = kernel_sampler(logits, temps, **kwargs)
    assert_same_tokens(out, ref, logits, temps, seeds, positions)
    top5 = logits[1].float().topk(5).indices.tolist()
    assert out[1].item() in top5


# ------------------------------------------------- top-k / top-p thresholds ---
def mixed_truncation(batch, vocab, seed):
    """Every kind of row: greedy (every third, from random_inputs), temperature
    only, top-k below and above the candidates, top-p (peaked rows keep a few
    tokens, flat rows thousands), both; and one row of ties at the cut."""
    logits, temps, seeds, positions = random_inputs(batch, vocab, torch.bfloat16, seed)
    g = torch.Generator().manual_seed(seed)
    kinds = [(vocab, 1.0), (5, 1.0), (300, 1.0), (vocab, 0.9), (vocab, 0.5), (20, 0.95),
             (vocab, 0.99), (1000, 0.8)]
    top_ks = torch.tensor([kinds[i % len(kinds)][0] for i in range(batch)], device=DEVICE)
    top_ps = torch.tensor([kinds[i % len(kinds)][1] for i in range(batch)], device=DEVICE)
    flat = torch.rand(batch, generator=g) < 0.5                  # random weights look like this
    logits[flat.to(DEVICE)] = (logits[flat.to(DEVICE)].float() * 0.05).to(logits.dtype)
    logits[1, :8] = logits[1].max() + 1                          # 8 tied best, top_k = 5
    return logits, temps, top_ks, top_ps, seeds, positions


def assert_thresholds_follow_the_rule(thr, ref, logits, temps, top_ks, top_ps):
    """CPU (interpreter): the reference's thresholds exactly. GPU: exp and sums
    round differently, so a row may cut at a neighbour of the reference's
    token, but only where the mass above it lies within 1e-4 of top_p."""
    if not CUDA:
        assert torch.equal(thr, ref), (thr - ref).abs().max()
        return
    for row in (thr != ref).nonzero().flatten().tolist():
        x = logits[row].double()
        assert temps[row] > 0 and (x == thr[row].double()).any(), f"row {row}: no such logit"
        p = torch.softmax(x / temps[row].double(), dim=0)
        above_ours, above_ref = p[x > thr[row]].sum(), p[x > ref[row]].sum()
        assert (x > thr[row]).sum() < top_ks[row], f"row {row}: more than top_k kept"
        assert abs(above_ours - top_ps[row]) < 1e-4 or abs(above_ref - top_ps[row]) < 1e-4, (
            f"row {row}: cut {thr[row].item()} vs {ref[row].item()}, masses {above_ours}, {above_ref}")


@pytest.mark.parametrize("num_candidates", [None, 4, 256])
def test_thresholds_equal_the_reference(num_candidates):
    """The rule on the candidates when the kept head fits in them, the
    bisection when not (4 candidates: nearly every truncating row bisects)."""
    batch, vocab = (256, QWEN3_VOCAB) if CUDA else (16, 1500)
    logits, temps, top_ks, top_ps, _, _ = mixed_truncation(batch, vocab, seed=3)
    thr = top_k_top_p_thresholds(logits, temps, top_ks, top_ps, num_candidates)
    ref = top_k_top_p_threshold_ref(logits, temps, top_ks, top_ps)
    assert thr.dtype == torch.float32 and thr.shape == (batch,)
    assert_thresholds_follow_the_rule(thr, ref, logits, temps, top_ks, top_ps)
    greedy_or_off = (temps == 0) | ((top_ks >= vocab) & (top_ps >= 1))
    assert torch.isinf(thr[greedy_or_off]).all() and torch.isfinite(thr[~greedy_or_off]).all()
    assert (logits[1].float() >= thr[1]).sum() == 8          # the ties at the cut are all kept


def test_top_p_counts_the_mass_above_a_rank_exactly():
    """Probabilities 0.5, 0.3, 0.2 and top_p = 0.5: the mass above the second token is
    0.5, so only the first is kept. In float32 (0.5 + 0.3) - 0.3 is 0.49999997: the
    mass must be a running sum of the ranks above, not a cumsum minus the rank."""
    from aios.kernels.reference import thresholds_from_candidates
    from aios.layers.top_k_top_p import sorted_top_k_top_p
    candidates = torch.tensor([[0.5, 0.3, 0.2]]).log()       # exp() gives 0.5, 0.29999998, ...
    probs = candidates.exp()
    assert (probs[0, 0] + probs[0, 1]) - probs[0, 1] < probs[0, 0]   # the rounding in question
    one = torch.ones(1)
    top_ks, top_ps = torch.tensor([3]), probs[:, 0].clone()
    threshold = thresholds_from_candidates(candidates, torch.zeros(1), one, top_ks, top_ps, 3)
    assert threshold.item() == candidates[0, 0].item()
    kept = sorted_top_k_top_p(candidates, top_ks, top_ps)
    assert torch.isfinite(kept).tolist() == [[True, False, False]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_thresholds_in_every_dtype(dtype):
    """The bisection runs on the dtype's own bits (16 or 32 of them)."""
    batch, vocab = (64, 32_000) if CUDA else (6, 700)
    logits, temps, _, _ = random_inputs(batch, vocab, dtype, seed=4, scale=0.3)
    top_ks = torch.full((batch,), vocab, device=DEVICE)
    top_ks[1::2] = 100
    top_ps = torch.full((batch,), 0.9, device=DEVICE)
    thr = top_k_top_p_thresholds(logits, temps, top_ks, top_ps, 8)
    ref = top_k_top_p_threshold_ref(logits, temps, top_ks, top_ps)
    assert_thresholds_follow_the_rule(thr, ref, logits, temps, top_ks, top_ps)


def test_top_k_alone_at_a_low_temperature():
    """Top-k without top-p needs no probabilities; exp(logit / T) of a large
    logit at T = 0.1 overflows float32. The H100 run of the sampler test found
    such a row (logit 14, T 0.099, top_k 5) cut at +inf: nothing kept."""
    batch, vocab = 4, 1500
    logits, _, _, _ = random_inputs(batch, vocab, torch.bfloat16, seed=6)
    logits[:, 7] = 14.0                                        # 14 / 0.099 > 88: exp overflows
    temps = torch.tensor([0.099, 0.05, 0.099, 1.0], device=DEVICE)
    top_ks = torch.tensor([5, 20, vocab, 5], device=DEVICE)
    top_ps = torch.tensor([1.0, 1.0, 0.9, 1.0], device=DEVICE)
    thr = top_k_top_p_thresholds(logits, temps, top_ks, top_ps, 64)
    ref = top_k_top_p_threshold_ref(logits, temps, top_ks, top_ps)
    assert torch.isfinite(thr).all(), thr
    assert_thresholds_follow_the_rule(thr, ref, logits, temps, top_ks, top_ps)
    assert ((logits.float() >= thr[:, None]).sum(dim=1)[[0, 1, 3]] >= top_ks[[0, 1, 3]]).all()


@pytest.mark.skipif(not CUDA, reason="full-size rows on the GPU")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_thresholds_of_flat_rows_on_the_gpu(dtype):
    """Logits as random weights make them (flat): top_p = 0.95 keeps tens of
    thousands of tokens in every row, and every row bisects."""
    batch, vocab = 256, QWEN3_VOCAB
    g = torch.Generator().manual_seed(7)
    logits = (torch.randn(batch, vocab, generator=g) * 0.5).to(DEVICE, dtype)
    temps = torch.full((batch,), 0.6, device=DEVICE)
    top_ks = torch.full((batch,), vocab, device=DEVICE)
    top_ks[::4] = 5000                                    # the count decides these
    top_ps = torch.full((batch,), 0.95, device=DEVICE)
    thr = top_k_top_p_thresholds(logits, temps, top_ks, top_ps, 64)
    ref = top_k_top_p_threshold_ref(logits, temps, top_ks, top_ps)
    assert_thresholds_follow_the_rule(thr, ref, logits, temps, top_ks, top_ps)
    kept = (logits.float() >= thr[:, None]).sum(dim=1)
    # bf16 rows hold long runs of equal logits: ties at the cut are all kept
    assert (kept[1::4] > 10_000).all() and (kept[::4] >= 5000).all()
    assert ((logits.float() > thr[:, None]).sum(dim=1)[::4] < 5000).all()


@pytest.mark.usefixtures("poison_empty")
def test_sampler_with_thresholds_equals_the_reference():
    """The GPU path (thresholds, then the masked sampling kernel) vs the
    reference of both, on every kind of row, seeded."""
    batch, vocab = (256, QWEN3_VOCAB) if CUDA else (16, 1500)
    logits, temps, top_ks, top_ps, seeds, positions = mixed_truncation(batch, vocab, seed=5)
    kwargs = dict(top_ks=top_ks, top_ps=top_ps, seeds=seeds, positions=positions)
    ref_sampler, kernel_sampler = Sampler(), Sampler()
    ref_sampler.threshold_impl = top_k_top_p_threshold_ref
    kernel_sampler.threshold_impl = top_k_top_p_thresholds
    kernel_sampler.impl = gumbel_sample if CUDA else (lambda *args: gumbel_sample(*args, block=256))
    out, ref = kernel_sampler(logits, temps, **kwargs), ref_sampler(logits, temps, **kwargs)
    assert_same_tokens(out, ref, logits, temps, seeds, positions)
    thr = top_k_top_p_threshold_ref(logits, temps, top_ks, top_ps)
    assert (logits.float().gather(1, out[:, None]).squeeze(1) >= thr).all()
    # The CPU's mask path (a sort) keeps the same tokens but where a run of equal
    # logits straddles the cut (row 1: top_k 5 of 8 tied; bf16 rows hold many):
    # on the rows where both keep the same set, the same tokens.
    masked = Sampler()(logits, temps, **kwargs)
    kept_by_sort = mask_top_k_top_p(logits, temps, top_ks, top_ps) > float("-inf")
    same = (kept_by_sort == (logits.float() >= thr[:, None])).all(dim=1) | (temps == 0)
    assert not same[1] and same.sum() >= batch // 4
    assert torch.equal(masked[same], ref[same])


# ----------------------------------------------------------------- engine ---
def test_unseeded_requests_use_a_drawn_seed(tiny_qwen3_dir):
    """A request without a seed samples exactly as one with the seed the engine
    drew for it; the draws follow Config.seed, so the engine is reproducible."""
    prompts = random_prompts([7, 30, 12], seed=13)
    params = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=10, ignore_eos=True)
    first = LLM(tiny_qwen3_dir, seed=5)
    seqs = [first.add_request(p, params) for p in prompts]
    drawn = [s.sampling_seed for s in seqs]
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in drawn) and len(set(drawn)) == 3
    while not first.is_finished():
        first.step()
    unseeded = [s.completion_token_ids for s in seqs]
    # the same engine seed: the same outputs
    assert generate_ids(LLM(tiny_qwen3_dir, seed=5), prompts, params) == unseeded
    # the drawn seeds, given explicitly, in another engine and another order
    other = LLM(tiny_qwen3_dir, seed=6)
    seeded = [SamplingParams(temperature=1.0, top_p=0.95, max_tokens=10, ignore_eos=True, seed=s)
              for s in drawn]
    assert generate_ids(other, prompts[::-1], seeded[::-1]) == unseeded[::-1]
    # another engine seed: other outputs
    assert generate_ids(other, prompts, params) != unseeded
