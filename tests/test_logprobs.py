"""Log-probabilities and the model's generation-config defaults, in-process.

Logprobs are the raw distribution's: log_softmax of the logits before any
temperature/top-k/top-p. On the real default model they must equal
transformers' (reading the original GGUF) to within 1e-3, for generated
tokens and prompt tokens alike, including a prompt whose prefix is in the
prefix cache (the engine recomputes it). Asking for them must not change the
tokens. The HTTP side is in test_server.py.
"""
import json
import shutil

import pytest

from aios import LLM, SamplingParams
from aios.utils.generation_config import sampling_defaults
from conftest import LONG_TEXT, assert_all_blocks_free, greedy, hf_logprobs, random_prompts

ATOL = 1e-3   # SmolLM2's logits agree to ~1e-4 (test_correctness.py)


def check_entry(entry, ref_row, token_id: int, k: int) -> None:
    """One TokenLogprobs against transformers' log-probabilities at that position."""
    assert entry.token_id == token_id
    assert abs(entry.logprob - ref_row[token_id].item()) < ATOL
    assert len(entry.top) == k
    ref_top = ref_row.topk(k).values.tolist()
    for (top_id, top_lp), ref_lp in zip(entry.top, ref_top):
        assert abs(top_lp - ref_lp) < ATOL                  # the k largest, in order
        assert abs(top_lp - ref_row[top_id].item()) < ATOL  # and the ids they belong to


def test_logprobs_match_transformers_and_leave_tokens_unchanged(default_llm, hf_gguf_model):
    prompts = ["The capital of France is", "def fibonacci(n):", LONG_TEXT[:400]]
    plain = default_llm.generate(prompts, greedy(12), use_tqdm=False)
    # Only the second and third ask; the first shares their steps.
    params = [greedy(12), greedy(12, logprobs=5, prompt_logprobs=3), greedy(12, logprobs=0)]
    outs = default_llm.generate(prompts, params, use_tqdm=False)
    assert [o["token_ids"] for o in outs] == [o["token_ids"] for o in plain]
    assert "logprobs" not in outs[0] and "prompt_logprobs" not in outs[0]
    assert "prompt_logprobs" not in outs[2]
    for out, prompt, p in zip(outs[1:], prompts[1:], params[1:]):
        prompt_ids = default_llm.tokenize(prompt)
        ref = hf_logprobs(hf_gguf_model, prompt_ids + out["token_ids"])
        assert len(out["logprobs"]) == len(out["token_ids"])
        for i, (entry, token_id) in enumerate(zip(out["logprobs"], out["token_ids"])):
            check_entry(entry, ref[len(prompt_ids) - 1 + i], token_id, p.logprobs)
        if p.prompt_logprobs is not None:
            assert out["prompt_logprobs"][0] is None
            assert len(out["prompt_logprobs"]) == len(prompt_ids)
            for i, entry in enumerate(out["prompt_logprobs"][1:]):
                check_entry(entry, ref[i], prompt_ids[i + 1], p.prompt_logprobs)
    assert_all_blocks_free(default_llm)


def test_prompt_logprobs_of_a_cached_prefix_are_recomputed(default_llm, hf_gguf_model):
    prompt = LONG_TEXT[:300]
    prompt_ids = default_llm.tokenize(prompt)
    default_llm.generate([prompt], greedy(2), use_tqdm=False)        # fills the prefix cache
    bm = default_llm.scheduler.block_manager
    hits = bm.num_prefix_hit_tokens
    out = default_llm.generate([prompt], greedy(2, prompt_logprobs=1), use_tqdm=False)[0]
    assert bm.num_prefix_hit_tokens - hits >= default_llm.config.block_size   # the cache was hit
    ref = hf_logprobs(hf_gguf_model, prompt_ids + out["token_ids"])
    for i, entry in enumerate(out["prompt_logprobs"][1:]):
        check_entry(entry, ref[i], prompt_ids[i + 1], 1)
    assert_all_blocks_free(default_llm)


def test_logprobs_beyond_the_limit_are_refused(default_llm):
    out = default_llm.generate(["Hi"], [greedy(2, logprobs=21)], use_tqdm=False)[0]
    assert out["finish_reason"] == "error" and "max_logprobs" in out["error"]
    with pytest.raises(ValueError, match="logprobs"):
        SamplingParams(logprobs=-1)


# ---------------------------------------------------- generation config ---
QWEN3_GENERATION_CONFIG = {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 20,
                           "eos_token_id": 2}


@pytest.fixture(scope="module")
def tuned_dir(tiny_qwen3_dir, tmp_path_factory):
    """The tiny Qwen3 with Qwen3's published sampling in its generation_config.json."""
    path = tmp_path_factory.mktemp("tuned") / "model"
    shutil.copytree(tiny_qwen3_dir, path)
    (path / "generation_config.json").write_text(json.dumps(QWEN3_GENERATION_CONFIG))
    return str(path)


def resolved(llm, params: SamplingParams) -> tuple:
    seq = llm.add_request([1, 2, 3], params)
    llm.abort(seq)
    p = seq.sampling_params
    return p.temperature, p.top_p, p.top_k


def test_generation_config_fills_what_the_request_leaves_unset(tuned_dir):
    llm = LLM(tuned_dir, num_kv_blocks=32)
    assert llm.sampling_defaults == {"temperature": 0.6, "top_p": 0.95, "top_k": 20}
    assert resolved(llm, SamplingParams()) == (0.6, 0.95, 20)
    assert resolved(llm, SamplingParams(temperature=0, top_p=0.5)) == (0, 0.5, 20)   # set wins
    # Unset fields sample exactly as if the request had set the checkpoint's values.
    prompts = random_prompts([9, 17], seed=5)
    auto = llm.generate(prompts, SamplingParams(max_tokens=8, seed=3), use_tqdm=False)
    explicit = llm.generate(prompts, SamplingParams(temperature=0.6, top_p=0.95, top_k=20,
                                                    max_tokens=8, seed=3), use_tqdm=False)
    assert [o["token_ids"] for o in auto] == [o["token_ids"] for o in explicit]


def test_generation_config_none_means_plain_sampling(tuned_dir, tiny_qwen3_dir, tmp_path):
    off = LLM(tuned_dir, num_kv_blocks=32, generation_config="none")
    assert off.sampling_defaults == {}
    assert resolved(off, SamplingParams()) == (1.0, 1.0, -1)
    # A folder given by path: its generation_config.json, whatever the model's.
    other = LLM(tiny_qwen3_dir, num_kv_blocks=32, generation_config=tuned_dir)
    assert resolved(other, SamplingParams()) == (0.6, 0.95, 20)
    with pytest.raises(ValueError, match="no generation_config.json"):
        LLM(tiny_qwen3_dir, num_kv_blocks=32, generation_config=str(tmp_path))


def test_default_and_random_models_have_no_sampling_defaults(default_llm):
    # SmolLM2's converted generation_config.json holds only token ids.
    assert default_llm.sampling_defaults == {}
    assert sampling_defaults("auto", None) == {}          # random:<name> models: no file


def test_cli_flags_reach_the_engine_and_benchmark_keeps_its_workload():
    import sys
    from pathlib import Path

    from aios.cli import build_parser
    from aios.engine_args import engine_kwargs
    args = build_parser().parse_args(["serve", "--generation-config", "none", "--max-logprobs", "5"])
    kwargs = engine_kwargs(args)
    assert (kwargs["generation_config"], kwargs["max_logprobs"]) == ("none", 5)
    assert engine_kwargs(build_parser().parse_args(["serve"]))["generation_config"] == "auto"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmark import parse_args
    assert parse_args([]).generation_config == "none"
    assert parse_args(["--generation-config", "auto"]).generation_config == "auto"
