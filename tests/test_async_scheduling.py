"""Async scheduling computes exactly what the plain step loop computes.

With async_scheduling the engine launches step N+1 before reading step N's
tokens (LLMEngine._step_async). Sampling noise is a function of (seed,
position, token id), never of timing or batch, so seeded requests must give
the same tokens and the same finish reasons either way: through early stops
that the host learns one step late, length limits, preemption, prefix-cache
hits and aborts. The tests run on the CPU, where the overlap buys nothing but
the logic is the same.
"""
import pytest

from aios import LLM, SamplingParams
from conftest import assert_all_blocks_free, random_prompts

LENGTHS = [5, 17, 33, 60, 1, 90, 16, 48]


def params_for(prompts, stop_token_ids=()):
    return [SamplingParams(temperature=0.8, seed=100 + i, max_tokens=8 + 7 * i,
                           stop_token_ids=list(stop_token_ids), ignore_eos=True)
            for i in range(len(prompts))]


def run(llm, prompts, params):
    outputs = llm.generate(prompts, params, use_tqdm=False)
    assert_all_blocks_free(llm)
    return [(o["token_ids"], o["finish_reason"]) for o in outputs]


@pytest.fixture(scope="module")
def engines(tiny_qwen3_dir):
    def make(**options):
        return (LLM(tiny_qwen3_dir, async_scheduling=False, **options),
                LLM(tiny_qwen3_dir, async_scheduling=True, **options))
    return make


def test_same_tokens_and_finish_reasons(engines):
    sync, overlap = engines()
    prompts = random_prompts(LENGTHS, seed=3)
    # Stop on a few tokens that a random model emits often: some requests end
    # early, at steps the host only learns about after the next one started.
    first = run(sync, prompts, params_for(prompts))
    common = sorted({t for ids, _ in first for t in ids}, key=lambda t: -sum(
        ids.count(t) for ids, _ in first))[:3]
    params = params_for(prompts, stop_token_ids=common)
    expected = run(sync, prompts, params)
    assert {reason for _, reason in expected} == {"stop", "length"}
    assert run(overlap, prompts, params) == expected
    # Each request got exactly what it asked for, no token past its stop.
    for (ids, reason), p in zip(expected, params):
        assert len(ids) <= p.max_tokens and (reason == "length") == (ids[-1] not in common)


def test_same_tokens_under_preemption(engines):
    # 12 blocks of 16 tokens for 8 requests that grow to ~150 tokens: preemption.
    sync, overlap = engines(num_kv_blocks=12, enable_prefix_caching=False)
    prompts = random_prompts(LENGTHS, seed=4)
    params = params_for(prompts)
    expected = run(sync, prompts, params)
    assert sync.scheduler.num_preemptions > 0
    assert run(overlap, prompts, params) == expected
    assert overlap.scheduler.num_preemptions > 0


def test_same_tokens_with_prefix_cache_hits(engines):
    sync, overlap = engines()
    shared = random_prompts([64], seed=5)[0]
    prompts = [shared + tail for tail in random_prompts([3, 20, 40, 7], seed=6)]
    params = params_for(prompts)
    expected = run(sync, prompts, params)
    assert run(overlap, prompts, params) == expected
    assert overlap.scheduler.block_manager.num_prefix_hit_tokens > 0


def test_abort_while_a_step_is_in_flight(engines):
    _, overlap = engines()
    prompts = random_prompts([10, 20, 30], seed=7)
    seqs = [overlap.add_request(p, sp) for p, sp in zip(prompts, params_for(prompts))]
    for _ in range(4):
        overlap.step()
    assert overlap.in_flight is not None
    overlap.abort(seqs[1])
    while not overlap.is_finished():
        overlap.step()
    assert seqs[1].finish_reason == "abort"
    assert [s.finish_reason for s in (seqs[0], seqs[2])] == ["length", "length"]
    assert all(s.num_pending_tokens == 0 for s in seqs)
    assert_all_blocks_free(overlap)


def test_async_scheduling_needs_a_kv_cache(tiny_qwen3_dir):
    with pytest.raises(ValueError, match="async_scheduling needs a KV cache"):
        LLM(tiny_qwen3_dir, async_scheduling=True, enable_kv_cache=False)
    # The default: on only for GPUs, so never on a CPU.
    assert LLM(tiny_qwen3_dir, device="cpu").config.async_scheduling is False


def test_stop_strings_on_the_real_model(default_llm, chat_prompts):
    """A stop string ends a request in the detokenizer, after the next step was
    launched with it. Same texts, tokens and reasons as the plain loop."""
    overlap = LLM(default_llm.config.model, async_scheduling=True)
    prompts = chat_prompts[:4]
    params = [SamplingParams(temperature=0.7, seed=7 + i, max_tokens=48, stop=stop)
              for i, stop in enumerate([["."], None, ["\n"], ["the", ","]])]
    expected = default_llm.generate(prompts, params, use_tqdm=False)
    got = overlap.generate(prompts, params, use_tqdm=False)
    assert [(o["text"], o["token_ids"], o["finish_reason"]) for o in got] == \
           [(o["text"], o["token_ids"], o["finish_reason"]) for o in expected]
    assert {o["finish_reason"] for o in expected} >= {"stop"}
    assert_all_blocks_free(overlap)
