"""Sampling and stopping: the right distribution, reproducible seeds, stops.

The distribution test drives aios.layers.sampler.Sampler directly: many rows
of the same fixed logits, each row one draw, so empirical frequencies can be
compared with the exact temperature-scaled, top-k/top-p-truncated
distribution. The bounds hold with overwhelming probability (each fails with
probability < 1e-9), and the draws are seeded, so the test is deterministic.
"""
import math

import pytest
import torch

from aios import LLM, SamplingParams
from aios.kernels.reference import top_k_top_p_threshold_ref
from aios.layers.sampler import Sampler
from conftest import assert_all_blocks_free, generate_ids, greedy, random_prompts

LOGITS = torch.tensor([2.0, 1.5, 1.2, 0.9, 0.5, 0.0, -0.3, -1.0, -2.0, -4.0, 1.1, -0.6])
V = LOGITS.numel()
# (temperature, top_k (-1 = off), top_p); top_p values sit well away from the
# cumulative sums, so which tokens are in the nucleus is unambiguous.
CONFIGS = [(1.0, -1, 1.0), (0.5, -1, 0.8), (2.0, 3, 1.0), (0.7, 5, 0.6), (1.3, 4, 0.9),
           (1.0, -1, 0.5), (3.0, -1, 0.97)]
DRAWS = 40_000
LOG_INV_DELTA = math.log(2 / 1e-9)   # per-cell failure probability 1e-9


def exact_distribution(logits, temperature, top_k, top_p) -> torch.Tensor:
    """softmax(logits / T), keeping the top_k most likely tokens and, of those,
    the smallest most-likely-first set whose mass reaches top_p; renormalized."""
    p = torch.softmax(logits.double() / temperature, dim=-1)
    keep, mass = torch.zeros_like(p, dtype=torch.bool), 0.0
    for rank, token in enumerate(p.argsort(descending=True).tolist()):
        if (top_k > 0 and rank >= top_k) or mass >= top_p:
            break
        keep[token], mass = True, mass + p[token].item()
    q = torch.where(keep, p, torch.zeros_like(p))
    return q / q.sum()


def _sampler_inputs(mode: str):
    rows = len(CONFIGS) * DRAWS
    temps = torch.tensor([c[0] for c in CONFIGS]).repeat_interleave(DRAWS)
    top_ks = torch.tensor([c[1] if c[1] > 0 else V for c in CONFIGS]).repeat_interleave(DRAWS)
    top_ps = torch.tensor([c[2] for c in CONFIGS]).repeat_interleave(DRAWS)
    kwargs = dict(temperatures=temps, top_ks=top_ks, top_ps=top_ps)
    if mode == "seed per row":          # many requests, each its own seed
        kwargs.update(seeds=torch.arange(rows) * 7919 + 13, positions=torch.full((rows,), 40))
    elif mode == "one seed, many positions":   # one request, step after step
        kwargs.update(seeds=torch.full((rows,), 1234), positions=torch.arange(rows))
    if "seeds" in kwargs:
        kwargs["seeded_rows"] = torch.arange(rows)
    return kwargs


@pytest.mark.parametrize("mode, truncation", [
    ("torch RNG", "mask"), ("seed per row", "mask"), ("one seed, many positions", "mask"),
    ("seed per row", "threshold"), ("one seed, many positions", "threshold")])
def test_sampler_matches_exact_distribution(mode, truncation):
    """truncation: the sorted mask of the CPU (mask_top_k_top_p), or the GPU's
    way, a logit threshold per row (here its reference, which the kernel
    matches exactly in tests/test_sampling_kernel.py)."""
    torch.manual_seed(0)
    kwargs = _sampler_inputs(mode)
    logits = LOGITS.repeat(len(CONFIGS) * DRAWS, 1)
    sampler = Sampler()
    if truncation == "threshold":
        sampler.threshold_impl = top_k_top_p_threshold_ref
    tokens = sampler(logits, **kwargs).view(len(CONFIGS), DRAWS)
    for (temperature, top_k, top_p), row in zip(CONFIGS, tokens):
        q = exact_distribution(LOGITS, temperature, top_k, top_p)
        counts = torch.bincount(row, minlength=V).double()
        config = f"T={temperature} top_k={top_k} top_p={top_p}"
        # Never a token outside the top-k / top-p set.
        assert counts[q == 0].sum() == 0, f"{config}: drew a token outside the nucleus"
        # Every cell: Bernstein's inequality, |f - q| <= sqrt(2 q (1-q) L / N) + 2 L / (3 N).
        freq = counts / DRAWS
        bound = (2 * q * (1 - q) * LOG_INV_DELTA / DRAWS).sqrt() + 2 * LOG_INV_DELTA / (3 * DRAWS)
        assert (freq - q).abs().le(bound).all(), f"{config}: {freq} vs {q}"
        # And chi-square over the cells expecting >= 5 draws (others pooled),
        # against its 1 - 1e-9 quantile (Wilson-Hilferty, z = 6).
        expected = q * DRAWS
        big = expected >= 5
        obs = torch.cat([counts[big], counts[~big & (q > 0)].sum().view(1)])
        exp = torch.cat([expected[big], expected[~big & (q > 0)].sum().view(1)])
        obs, exp = obs[exp > 0], exp[exp > 0]
        chi2 = ((obs - exp) ** 2 / exp).sum().item()
        df = len(exp) - 1
        if df > 0:
            limit = df * (1 - 2 / (9 * df) + 6 * math.sqrt(2 / (9 * df))) ** 3
            assert chi2 < limit, f"{config}: chi2 {chi2:.1f} >= {limit:.1f}"


def test_sampler_temperature_changes_the_distribution():
    """Sanity for the test above: the bound separates T=0.5 from T=1."""
    q_half, q_one = exact_distribution(LOGITS, 0.5, -1, 1.0), exact_distribution(LOGITS, 1.0, -1, 1.0)
    assert (q_half - q_one).abs().max() > 0.1


def test_sampler_greedy_rows_and_degenerate_truncation():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 1000, generator=g) * 3
    argmax = logits.argmax(dim=-1)
    temps = torch.tensor([0.0, 1.0] * 32)
    # temperature 0 rows are argmax, whatever the other rows do
    out = Sampler()(logits, temps)
    assert torch.equal(out[0::2], argmax[0::2])
    # top_k = 1, or a top_p smaller than the top token's mass, leave only the argmax
    ones = torch.ones(64)
    assert torch.equal(Sampler()(logits, ones, torch.ones(64, dtype=torch.long), ones), argmax)
    assert torch.equal(Sampler()(logits, ones * 2, torch.full((64,), 1000), ones * 1e-6), argmax)


def test_seeded_noise_ignores_the_rest_of_the_batch():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 500, generator=g)
    seeds, positions = torch.arange(8) + 100, torch.arange(8) + 30
    kwargs = dict(temperatures=torch.ones(8), seeds=seeds, positions=positions,
                  seeded_rows=torch.tensor([1, 4, 6]))
    full = Sampler()(logits, **kwargs)
    for i in (1, 4, 6):    # the same row alone, in a batch of one
        alone = Sampler()(logits[i:i + 1], torch.ones(1), seeds=seeds[i:i + 1],
                          positions=positions[i:i + 1], seeded_rows=torch.tensor([0]))
        assert alone.item() == full[i].item()


# ---------------------------------------------------- through the engine ---
POEM = [{"role": "user", "content": "Write a short poem about the sea."}]


def test_seeded_sampling_is_reproducible(default_llm, chat_prompts):
    llm = default_llm
    poem = llm.apply_chat_template(POEM)
    params = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=16, seed=1234)
    first = generate_ids(llm, [poem], params)[0]
    assert generate_ids(llm, [poem], params)[0] == first
    # in a batch with other requests: other prompts, other seeds, unseeded, greedy
    others = [SamplingParams(temperature=0.9, max_tokens=12, seed=7), SamplingParams(max_tokens=20),
              greedy(8)]
    batch = generate_ids(llm, [chat_prompts[0], poem, chat_prompts[3], chat_prompts[4], poem],
                         [others[0], params, others[1], others[2], params])
    assert batch[1] == batch[4] == first
    # another seed gives another poem
    assert generate_ids(llm, [poem], SamplingParams(temperature=1.0, top_p=0.95, max_tokens=16,
                                                   seed=4321))[0] != first
    assert_all_blocks_free(llm)


def test_unseeded_sampling_differs_between_requests(default_llm):
    poem = default_llm.apply_chat_template(POEM)
    outs = generate_ids(default_llm, [poem] * 4, SamplingParams(temperature=1.0, max_tokens=12))
    assert len({tuple(o) for o in outs}) > 1


def test_seeded_sampling_survives_preemption(tiny_qwen3_dir, tiny_qwen3_llm):
    prompts = random_prompts([30, 70, 12, 50, 90], seed=12)
    params = [SamplingParams(temperature=0.8, top_k=50, top_p=0.9, max_tokens=40, seed=s,
                             ignore_eos=True) for s in range(5)]
    expected = generate_ids(tiny_qwen3_llm, prompts, params)
    small = LLM(tiny_qwen3_dir, num_kv_blocks=10)
    assert generate_ids(small, prompts, params) == expected
    assert small.scheduler.num_preemptions > 0
    assert_all_blocks_free(small)


def test_top_k_1_and_tiny_top_p_equal_greedy(default_llm, chat_prompts):
    prompts = [chat_prompts[i] for i in (1, 3, 5)]
    expected = generate_ids(default_llm, prompts, greedy(12))
    for params in (SamplingParams(temperature=1.0, top_k=1, max_tokens=12, ignore_eos=True),
                   SamplingParams(temperature=1.5, top_p=1e-6, max_tokens=12, ignore_eos=True),
                   SamplingParams(temperature=0.7, top_k=1, seed=3, max_tokens=12, ignore_eos=True)):
        assert generate_ids(default_llm, prompts, params) == expected, params


# --------------------------------------------------------------- stops ---
@pytest.fixture(scope="module")
def free_runs(default_llm):
    """Greedy answers without any stop, for a list and a Chinese answer."""
    llm = default_llm
    prompts = [llm.apply_chat_template([{"role": "user", "content": content}]) for content in
               ("List five fruits, one per line, and nothing else.", "请用一句话介绍一下你自己。")]
    outputs = llm.generate(prompts, greedy(40), use_tqdm=False)
    return list(zip(prompts, outputs))


@pytest.mark.parametrize("which", [0, 1])
def test_stop_string(default_llm, free_runs, which):
    prompt, free = free_runs[which]
    text, ids = free["text"], free["token_ids"]
    # A stop string from the middle of the free answer, spanning two tokens.
    tokenizer = default_llm.tokenizer
    boundary = len(tokenizer.decode(ids[:len(ids) // 2], skip_special_tokens=True))
    stop = text[boundary - 2:boundary + 1]
    assert len(stop) == 3
    cut = text.find(stop)
    out = default_llm.generate([prompt], greedy(40, stop=["<never>", stop]), use_tqdm=False)[0]
    assert out["finish_reason"] == "stop"
    assert out["text"] == text[:cut]
    assert stop not in out["text"]
    n = len(out["token_ids"])
    assert n < len(ids) and out["token_ids"] == ids[:n]     # stopped as soon as it appeared
    decode = lambda t: tokenizer.decode(t, skip_special_tokens=True)
    assert stop in decode(ids[:n]) and stop not in decode(ids[:n - 1])
    # with two stop strings, the one that appears first wins
    early = text[cut // 2:cut // 2 + 2] if cut >= 4 else stop
    out2 = default_llm.generate([prompt], greedy(40, stop=[stop, early]), use_tqdm=False)[0]
    assert out2["text"] == text[:min(text.find(early), cut)]
    assert_all_blocks_free(default_llm)


def test_stop_token_ids_and_max_tokens(default_llm, free_runs):
    prompt, free = free_runs[0]
    ids = free["token_ids"]
    stop_id = ids[len(ids) // 2]
    first = ids.index(stop_id)
    out = default_llm.generate([prompt], greedy(40, stop_token_ids=[stop_id]), use_tqdm=False)[0]
    assert out["finish_reason"] == "stop"
    assert out["token_ids"] == ids[:first + 1]
    # max_tokens: exactly that many tokens, finish_reason "length"
    out = default_llm.generate([prompt], SamplingParams(temperature=0, max_tokens=5),
                               use_tqdm=False)[0]
    assert out["finish_reason"] == "length" and out["token_ids"] == ids[:5]
    assert out["num_prompt_tokens"] == len(prompt)
    # EOS (<|im_end|>) stops a chat answer unless ignore_eos
    out = default_llm.generate([prompt], greedy(60, ignore_eos=False), use_tqdm=False)[0]
    im_end = default_llm.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert out["finish_reason"] == "stop" and out["token_ids"][-1] == im_end
    assert "<|im_end|>" not in out["text"] and out["text"].startswith(free["text"][:10])
    assert_all_blocks_free(default_llm)


def test_sampling_inputs_keep_their_buffers_whatever_the_batch():
    """The sampler's per-row inputs sit at the same aligned addresses at every batch
    size: Triton compiles a kernel variant per pointer alignment, and a fresh [2, B]
    tensor's second row was 16-byte aligned for even B only (a compile mid-run)."""
    from aios.engine.sampling_inputs import SamplingInputs
    from aios.engine.sequence import Sequence
    inputs = SamplingInputs(max_num_seqs=8, vocab_size=V, device=torch.device("cpu"))
    addresses = set()
    for batch in (1, 2, 3, 7):
        seqs = [Sequence([1] * (i + 3), SamplingParams(temperature=0.5 * i, seed=100 + i), 16, 64)
                for i in range(batch)]
        got = inputs.load(seqs)
        assert got["temperatures"].tolist() == pytest.approx([0.0] + [0.5 * i for i in range(1, batch)])
        assert got["seeds"].tolist() == [100 + i for i in range(batch)]
        assert got["positions"].tolist() == [i + 3 for i in range(batch)]
        assert "top_ks" not in got
        for name in ("temperatures", "seeds", "positions"):
            assert got[name].data_ptr() % 16 == 0
        addresses.add(tuple(got[n].data_ptr() for n in ("temperatures", "seeds", "positions")))
    assert len(addresses) == 1
    top = inputs.load([Sequence([1, 2], SamplingParams(temperature=1.0, top_k=5, seed=1), 16, 64)])
    assert top["top_ks"].tolist() == [5] and top["top_rows"].tolist() == [0]
    assert top["num_candidates"] == 64
    # A mixed batch: greedy, temperature only, top-p only, top-k 100 (128 candidates).
    mixed = [SamplingParams(temperature=0, seed=1), SamplingParams(temperature=0.7, seed=2),
             SamplingParams(temperature=0.6, top_p=0.95, seed=3),
             SamplingParams(temperature=1.0, top_k=100, seed=4)]
    got = inputs.load([Sequence([1, 2, 3], p, 16, 64) for p in mixed])
    assert got["top_ks"].tolist() == [V, V, V, 100] and got["top_rows"].tolist() == [2, 3]
    assert got["top_ps"].tolist() == pytest.approx([1.0, 1.0, 0.95, 1.0])
    assert got["num_candidates"] == 128
    again = inputs.load([Sequence([1, 2], mixed[2], 16, 64)])    # the same buffers, every step
    assert all(again[n].data_ptr() == got[n].data_ptr() for n in ("top_ks", "top_ps", "top_rows"))
