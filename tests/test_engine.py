"""The engine's machinery: batching, preemption, prefix caching, block accounting.

Every test checks outputs against a simpler run of the same model (one request
at a time, a large cache, no prefix caching): batching, preemption and caching
must never change what a request generates. And after every workload, every
KV block must be free again with no reference left (assert_all_blocks_free).
"""
import pytest
import torch

import aios.config
from aios import LLM, SamplingParams
from aios.models.random_configs import QWEN3_SHAPES, random_model_config
from conftest import (LONG_TEXT, assert_all_blocks_free, generate_ids, greedy,
                      random_prompts, run_to_completion)


def one_at_a_time(llm, prompts, params) -> list[list[int]]:
    if not isinstance(params, list):
        params = [params] * len(prompts)
    return [generate_ids(llm, [p], sp)[0] for p, sp in zip(prompts, params)]


# ------------------------------------------------------------- batching ---
def test_batched_equals_one_at_a_time_real_model(default_llm, chat_prompts):
    prompts = [chat_prompts[i] for i in (0, 2, 3, 6, 7)]     # 32 to 304 tokens
    params = greedy(16)
    batched = generate_ids(default_llm, prompts, params)
    assert batched == one_at_a_time(default_llm, prompts, params)
    assert all(len(ids) == 16 for ids in batched)
    assert_all_blocks_free(default_llm)


def test_continuous_batching_mixed_lengths(tiny_qwen3_dir):
    """Few slots (max_num_seqs=3), different lengths and max_tokens: requests
    join and leave the running batch at different steps, prefills interleave
    with decodes. Each output is what the request gives alone."""
    llm = LLM(tiny_qwen3_dir, max_num_seqs=3)
    prompts = random_prompts([1, 5, 16, 17, 40, 90, 130, 200, 33, 64], seed=3)
    params = [greedy(n) for n in (30, 5, 17, 1, 40, 8, 25, 3, 12, 20)]
    seqs, _ = run_to_completion(llm, prompts, params)
    alone = one_at_a_time(llm, prompts, params)
    assert [s.completion_token_ids for s in seqs] == alone
    assert [len(ids) for ids in alone] == [p.max_tokens for p in params]
    assert all(s.finish_reason == "length" for s in seqs)
    assert_all_blocks_free(llm)


def test_static_scheduling_and_no_kv_cache_give_the_same_tokens(tiny_qwen3_dir, tiny_qwen3_llm):
    prompts = random_prompts([3, 20, 50], seed=4)
    expected = generate_ids(tiny_qwen3_llm, prompts, greedy(12))
    for options in ({"scheduling": "static", "max_num_seqs": 2}, {"enable_kv_cache": False}):
        llm = LLM(tiny_qwen3_dir, **options)
        assert generate_ids(llm, prompts, greedy(12)) == expected, options
        assert_all_blocks_free(llm)


# ----------------------------------------------------------- preemption ---
@pytest.fixture(scope="module")
def small_cache_llm():
    """The default model with a KV cache of 10 blocks (160 tokens)."""
    return LLM(num_kv_blocks=10)


def test_preemption_real_model(small_cache_llm, default_llm, chat_prompts):
    prompts = [chat_prompts[i] for i in (0, 3, 4, 6, 7)]    # 32..66 tokens
    params = greedy(24)
    # Together they need 25 blocks, far more than 10: sequences are preempted
    # and recomputed, some more than once. One alone needs at most 6.
    expected = generate_ids(default_llm, prompts, params)
    before = small_cache_llm.scheduler.num_preemptions
    outputs = small_cache_llm.generate(prompts, params, use_tqdm=False)
    assert small_cache_llm.scheduler.num_preemptions > before
    assert [o["finish_reason"] for o in outputs] == ["length"] * len(prompts)
    assert [o["token_ids"] for o in outputs] == expected
    assert_all_blocks_free(small_cache_llm)


@pytest.mark.parametrize("prefix_caching", [True, False])
def test_preemption_many_requests(tiny_qwen3_dir, tiny_qwen3_llm, prefix_caching):
    prompts = random_prompts([5, 60, 17, 31, 100, 2, 48, 77, 16, 9, 120, 64], seed=5)
    prompts.append(prompts[4][:90] + [7, 7, 7])          # shares a prefix with another
    params = [greedy(n) for n in (40, 20, 60, 33, 10, 50, 41, 25, 64, 7, 30, 45, 22)]
    expected = generate_ids(tiny_qwen3_llm, prompts, params)
    llm = LLM(tiny_qwen3_dir, num_kv_blocks=14, enable_prefix_caching=prefix_caching)
    assert generate_ids(llm, prompts, params) == expected
    assert llm.scheduler.num_preemptions > 0
    assert_all_blocks_free(llm)


# ------------------------------------------------------- prefix caching ---
@pytest.fixture(scope="module")
def no_prefix_cache_llm():
    return LLM(enable_prefix_caching=False, num_kv_blocks=64)


def _shared_prefix_prompts(llm):
    system = ("You are a careful assistant who explains things step by step. " + LONG_TEXT
              .replace("computing", "counting machines"))          # not used by other tests
    chats = [[{"role": "system", "content": system}, {"role": "user", "content": q}]
             for q in ("Who built a calculator with gears?", "What did Ada Lovelace write?")]
    a, b = (llm.apply_chat_template(c) for c in chats)
    common = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    return a, b, common


def test_prefix_caching_reuses_blocks_and_keeps_outputs(default_llm, no_prefix_cache_llm):
    llm, block = default_llm, default_llm.config.block_size
    bm = llm.scheduler.block_manager
    a, b, common = _shared_prefix_prompts(llm)
    assert common > 250
    expected = generate_ids(no_prefix_cache_llm, [a, b], greedy(16))
    assert no_prefix_cache_llm.scheduler.block_manager.num_prefix_hit_tokens == 0

    # A runs; B arrives while A is still running: B shares A's prefix blocks.
    hits = bm.num_prefix_hit_tokens
    seq_a = llm.add_request(a, greedy(16))
    llm.step()                                                   # prefill A
    seq_b = llm.add_request(b, greedy(16))
    llm.step()                                                   # prefill B
    shared = common // block                                     # whole blocks in common
    assert seq_b.num_cached_tokens == shared * block
    assert seq_b.block_table[:shared] == seq_a.block_table[:shared]
    assert seq_b.block_table[shared] != seq_a.block_table[shared]
    assert all(bm.blocks[i].ref_count == 2 for i in seq_a.block_table[:shared])
    assert bm.num_prefix_hit_tokens - hits == seq_a.num_cached_tokens + shared * block
    while not llm.is_finished():
        llm.step()
    assert [seq_a.completion_token_ids, seq_b.completion_token_ids] == expected
    assert_all_blocks_free(llm)

    # Both finished: their blocks are free but remembered. New requests with the
    # whole of B (+ some of its answer) as prefix reuse every full block of it.
    seq_c = llm.add_request(b + seq_b.completion_token_ids[:5], greedy(8))
    seq_d = llm.add_request(b, greedy(16))
    llm.step()                                                   # prefill C and D
    # (a finished sequence's num_cached_tokens is reset with its blocks: look now)
    assert seq_c.num_cached_tokens == (len(b) + 5 - 1) // block * block
    assert seq_d.num_cached_tokens == (len(b) - 1) // block * block
    while not llm.is_finished():
        llm.step()
    assert seq_d.completion_token_ids == expected[1]
    assert seq_c.completion_token_ids == expected[1][5:13]
    assert_all_blocks_free(llm)


def test_prefix_cache_identical_prompts_in_one_batch(tiny_qwen3_dir, tiny_qwen3_llm):
    """The second copy finds the first's blocks registered in the same prefill
    step, before their K/V are written (they are written earlier in the same
    forward pass, layer by layer), so its output must still be right."""
    llm = tiny_qwen3_llm
    prompt = random_prompts([70], seed=6)[0]                     # not seen before
    prompts = [prompt + [1], prompt + [1], prompt + [2]]
    seqs = [llm.add_request(p, greedy(16)) for p in prompts]
    llm.step()
    assert [s.num_cached_tokens for s in seqs] == [0, 64, 64]    # 4 whole blocks
    while not llm.is_finished():
        llm.step()
    reference = LLM(tiny_qwen3_dir, enable_prefix_caching=False)
    assert [s.completion_token_ids for s in seqs] == generate_ids(reference, prompts, greedy(16))
    assert_all_blocks_free(llm)


class _CountedId(int):
    """A block id that counts the equality tests made on it."""
    comparisons = 0

    def __eq__(self, other):
        _CountedId.comparisons += 1
        return int(self) == int(other)

    __hash__ = int.__hash__


def test_prefix_hit_takes_its_block_from_the_free_list_without_a_scan():
    """A rerun of a cached workload takes every prompt block back from the free
    list. A deque's remove compares the id with every id before it (O(n):
    ~2 s of CPU per rerun of the nano workload with 40k blocks); FreeBlockIds
    looks it up by hash, and keeps the hand-out order."""
    from aios.engine.block_manager import BlockManager, FreeBlockIds
    from aios.engine.sequence import Sequence
    ids = [_CountedId(i) for i in range(10_000)]
    free = FreeBlockIds(ids)
    _CountedId.comparisons = 0
    free.remove(ids[9_000])
    assert _CountedId.comparisons <= 2 and 9_000 not in free and len(free) == 9_999

    bm = BlockManager(num_blocks=8, block_size=4)
    prompt = list(range(100, 113))                      # 3 full blocks + 1 token
    seq = Sequence(prompt, greedy(4), 4, 64)
    bm.allocate(seq)
    assert seq.block_table == [0, 1, 2, 3] and list(bm.free_block_ids) == [4, 5, 6, 7]
    bm.deallocate(seq)                                  # freed to the right, last block first
    assert list(bm.free_block_ids) == [4, 5, 6, 7, 3, 2, 1, 0]
    again = Sequence(prompt, greedy(4), 4, 64)
    bm.allocate(again)                                  # hits blocks 0-2, takes 4 for the rest
    assert again.block_table == [0, 1, 2, 4] and again.num_cached_tokens == 12
    assert list(bm.free_block_ids) == [5, 6, 7, 3]      # the others keep their order
    assert bm.num_free_blocks == 4
    bm.deallocate(again)
    assert list(bm.free_block_ids) == [5, 6, 7, 3, 4, 2, 1, 0]
    with pytest.raises(AssertionError, match="freed twice"):
        bm.free_block_ids.append(0)


# ------------------------------------------------------ block accounting ---
def test_aborts_free_their_blocks_and_do_not_disturb_others(tiny_qwen3_llm):
    llm = LLM(tiny_qwen3_llm.config.model_path, max_num_seqs=3, num_kv_blocks=20)
    prompts = random_prompts([40, 25, 70, 10, 55, 33], seed=7)
    expected = generate_ids(tiny_qwen3_llm, prompts, greedy(30))
    seqs = [llm.add_request(p, greedy(30)) for p in prompts]
    for _ in range(6):
        llm.step()
    running, waiting = list(llm.scheduler.running), list(llm.scheduler.waiting)
    assert running and waiting
    victims = [running[0], waiting[-1]]
    for seq in victims:
        llm.abort(seq)
    llm.abort(victims[0])                                        # twice: no effect
    assert all(s.block_table == [] for s in victims)
    while not llm.is_finished():
        llm.step()
    for seq, ids in zip(seqs, expected):
        if seq in victims:
            assert seq.finish_reason == "abort" and len(seq.completion_token_ids) < 30
        else:
            assert seq.finish_reason == "length" and seq.completion_token_ids == ids
    assert_all_blocks_free(llm)


def test_blocks_free_after_mixed_workload(small_cache_llm, chat_prompts):
    """Preemption, stop strings, stop tokens, EOS, aborts, all in one run."""
    llm = small_cache_llm
    prompts = [chat_prompts[i] for i in (1, 3, 4, 6, 7)]
    params = [SamplingParams(temperature=0, max_tokens=24, stop=[" the", "."]),
              SamplingParams(temperature=0.8, top_p=0.9, max_tokens=24, seed=1),
              SamplingParams(temperature=0, max_tokens=24, stop_token_ids=[30, 28]),
              greedy(24, ignore_eos=False), greedy(24)]
    seqs = [llm.add_request(p, sp) for p, sp in zip(prompts, params)]
    for i in range(8):
        llm.step()
        if i == 5:
            llm.abort(seqs[-1])
    while not llm.is_finished():
        llm.step()
    assert {s.finish_reason for s in seqs} >= {"stop", "abort"}
    assert_all_blocks_free(llm)


def test_garbage_in_unwritten_cache_slots_is_ignored(tiny_qwen3_dir, tiny_qwen3_llm):
    """The cache is allocated uninitialized: attention must never let values
    past a sequence's end (NaN, say) reach the output, in decode or in a
    prefill that reads a cached prefix."""
    prompts = random_prompts([1, 9, 40, 150], seed=8)
    prompts.append(prompts[3][:100] + [5])                       # prefix-cache hit
    expected = generate_ids(tiny_qwen3_llm, prompts, greedy(20))
    llm = LLM(tiny_qwen3_dir, num_kv_blocks=64)
    llm.model_runner.kv_cache.fill_(float("nan"))
    assert generate_ids(llm, prompts, greedy(20)) == expected
    assert llm.scheduler.block_manager.num_prefix_hit_tokens > 0


def test_output_stops_at_max_model_len(tiny_qwen3_dir):
    llm = LLM(tiny_qwen3_dir, max_model_len=64)
    out = llm.generate(random_prompts([50], seed=9), greedy(100), use_tqdm=False)[0]
    assert out["finish_reason"] == "length" and len(out["token_ids"]) == 64 - 50
    assert_all_blocks_free(llm)


# -------------------------------------------------------- random models ---
def test_random_model_configs_have_published_shapes():
    # (parameters, non-embedding parameters), from the Qwen3 model cards
    published = {"Qwen3-0.6B": (0.6e9, 0.44e9), "Qwen3-1.7B": (1.7e9, 1.4e9),
                 "Qwen3-4B": (4.0e9, 3.6e9), "Qwen3-8B": (8.2e9, 6.95e9),
                 "Qwen3-14B": (14.8e9, 13.2e9), "Qwen3-32B": (32.8e9, 31.2e9)}
    assert set(published) == set(QWEN3_SHAPES)
    for name, (size, non_embedding) in published.items():
        c = random_model_config("random:" + name)
        assert c.architectures == ["Qwen3ForCausalLM"] and c.head_dim == 128
        d = c.head_dim
        attn = c.hidden_size * d * (c.num_attention_heads * 2 + c.num_key_value_heads * 2) + 2 * d
        mlp = 3 * c.hidden_size * c.intermediate_size
        body = c.num_hidden_layers * (attn + mlp + 2 * c.hidden_size) + c.hidden_size
        embed = c.vocab_size * c.hidden_size * (1 if c.tie_word_embeddings else 2)
        assert abs(body + embed - size) / size < 0.03, (name, body + embed)
        assert abs(body - non_embedding) / non_embedding < 0.03, (name, body)
    with pytest.raises(ValueError, match="unknown random model.*random:Qwen3-0.6B"):
        random_model_config("random:Qwen3-999B")


def test_random_qwen3_0_6b_builds_and_generates(monkeypatch):
    """`random:Qwen3-0.6B` end to end, with 2 of its 28 layers (all its other
    shapes: 151936-token vocabulary, tied head, GQA 16/8, head_dim 128):
    the full model takes ~20 s just to fill with random numbers on a CPU."""
    full = random_model_config("random:Qwen3-0.6B")

    def two_layers(name):
        config = random_model_config(name)
        config.num_hidden_layers = 2
        return config

    monkeypatch.setattr(aios.config, "random_model_config", two_layers)
    llm = LLM("random:Qwen3-0.6B", max_model_len=128, num_kv_blocks=8)
    model = llm.model_runner.model
    per_layer = sum(p.numel() for p in model.model.layers[0].parameters())
    total = sum(p.numel() for p in model.parameters())          # tied: counted once
    assert total + (full.num_hidden_layers - 2) * per_layer == 596_049_920
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert llm.tokenizer is None
    out = llm.generate([[1, 2, 3, 4, 5]], greedy(4), use_tqdm=False)[0]
    assert len(out["token_ids"]) == 4 and out["text"] == ""
    # seeded random weights: the same seed builds the same model
    again = LLM("random:Qwen3-0.6B", max_model_len=128, num_kv_blocks=8)
    assert torch.equal(again.model_runner.model.model.layers[1].mlp.down_proj.weight,
                       model.model.layers[1].mlp.down_proj.weight)
    assert generate_ids(again, [[1, 2, 3, 4, 5]], greedy(4))[0] == out["token_ids"]
