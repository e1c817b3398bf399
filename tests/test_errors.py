"""Bad input gives a ValueError that says what is wrong, and never takes the
engine (or the other requests of a batch) down with it."""
import json
import math

import pytest
import torch

from aios import LLM, SamplingParams
from conftest import assert_all_blocks_free, generate_ids, greedy, random_prompts, TINY_VOCAB


@pytest.fixture(scope="module")
def small_llm(tiny_qwen3_dir):
    """max_model_len 64; a KV cache of 3 blocks of 16 = 48 tokens."""
    return LLM(tiny_qwen3_dir, max_model_len=64, num_kv_blocks=3)


# --------------------------------------------------------------- prompts ---
def test_empty_prompt(small_llm, default_llm):
    with pytest.raises(ValueError, match="prompt is empty"):
        small_llm.add_request([], greedy(4))
    with pytest.raises(ValueError, match="prompt is empty"):
        default_llm.add_request("", greedy(4))
    with pytest.raises(ValueError, match="conversation is empty"):
        default_llm.apply_chat_template([])
    assert_all_blocks_free(small_llm)


def test_prompt_longer_than_context(tiny_qwen3_dir):
    llm = LLM(tiny_qwen3_dir, max_model_len=64)
    with pytest.raises(ValueError, match=r"64 tokens but the context holds 64 \(max_model_len\)"):
        llm.add_request(random_prompts([64])[0], greedy(1))
    with pytest.raises(ValueError, match="max_model_len"):
        llm.add_request(random_prompts([500])[0], greedy(1))
    # one token less fits, and generates up to the context's end
    out = llm.generate(random_prompts([63]), greedy(10), use_tqdm=False)[0]
    assert out["finish_reason"] == "length" and len(out["token_ids"]) == 1


def test_request_larger_than_the_whole_kv_cache(small_llm):
    prompt = random_prompts([20])[0]
    with pytest.raises(ValueError, match=r"needs up to \d+ tokens of KV cache but the cache holds "
                                         r"only 48; lower max_tokens"):
        small_llm.add_request(prompt, greedy(40))
    out = small_llm.generate([prompt], greedy(28), use_tqdm=False)[0]     # 48: fits exactly
    assert out["finish_reason"] == "length" and len(out["token_ids"]) == 28
    assert_all_blocks_free(small_llm)


def test_prompt_token_ids_out_of_vocabulary(small_llm):
    for bad in ([1, TINY_VOCAB], [-1, 2], [1, 2.0]):
        with pytest.raises(ValueError, match=rf"token ids must be integers in \[0, {TINY_VOCAB}\)"):
            small_llm.add_request(bad, greedy(1))


def test_text_needs_a_tokenizer(small_llm):
    with pytest.raises(ValueError, match="has no tokenizer: pass token ids"):
        small_llm.add_request("hello", greedy(1))
    with pytest.raises(ValueError, match="stop strings need a tokenizer"):
        small_llm.add_request([1, 2, 3], greedy(2, stop=["x"]))
    with pytest.raises(ValueError, match="no chat template"):
        small_llm.apply_chat_template([{"role": "user", "content": "hi"}])


# ------------------------------------------------------ sampling params ---
@pytest.mark.parametrize("kwargs, message", [
    (dict(max_tokens=0), r"max_tokens: must be an integer >= 1, got 0"),
    (dict(max_tokens=-5), r"max_tokens: must be an integer >= 1"),
    (dict(max_tokens=2.5), r"max_tokens: must be an integer >= 1"),
    (dict(temperature=-0.1), r"temperature: must be >= 0 \(0 means greedy\), got -0.1"),
    (dict(temperature=math.nan), r"temperature: must be >= 0"),
    (dict(top_p=0.0), r"top_p: must be in \(0, 1\], got 0.0"),
    (dict(top_p=-0.5), r"top_p: must be in \(0, 1\]"),
    (dict(top_p=1.01), r"top_p: must be in \(0, 1\], got 1.01"),
    (dict(top_p=math.nan), r"top_p: must be in \(0, 1\]"),
    (dict(top_k=-2), r"top_k: must be -1 \(off\) or a positive integer"),
    (dict(seed=1.5), r"seed: must be an integer or None"),
    (dict(stop=["ok", ""]), r"stop: stop strings must be non-empty strings"),
])
def test_bad_sampling_params(kwargs, message):
    with pytest.raises(ValueError, match=r"SamplingParams\." + message):
        SamplingParams(**kwargs)


def test_good_sampling_params_edges():
    SamplingParams(temperature=0, top_p=1.0, max_tokens=1)
    SamplingParams(top_p=1e-9, top_k=0, seed=0)
    assert SamplingParams(stop="x").stop == ["x"]


# ------------------------------------------------------- a bad request ---
def test_batch_with_bad_requests_finishes_the_good_ones(small_llm, tiny_qwen3_llm):
    good = random_prompts([5, 12, 30], seed=21)
    prompts = [good[0], [], good[1], random_prompts([70])[0], [1, TINY_VOCAB + 5], good[2],
               random_prompts([40])[0]]
    params = [greedy(8)] * 6 + [greedy(20)]            # the last one: 60 > 48 tokens of cache
    outputs = small_llm.generate(prompts, params, use_tqdm=False)
    assert len(outputs) == len(prompts)
    bad = {1: "prompt is empty", 3: "max_model_len", 4: "token ids must be integers",
           6: "KV cache"}
    for i, out in enumerate(outputs):
        if i in bad:
            assert out["finish_reason"] == "error" and bad[i] in out["error"], out
            assert out["token_ids"] == [] and out["text"] == ""
        else:
            assert "error" not in out and out["finish_reason"] == "length"
    expected = generate_ids(tiny_qwen3_llm, good, greedy(8))
    assert [outputs[i]["token_ids"] for i in (0, 2, 5)] == expected
    assert_all_blocks_free(small_llm)


def test_one_sampling_params_per_prompt(small_llm):
    with pytest.raises(ValueError, match="got 2 prompts but 3 SamplingParams"):
        small_llm.generate([[1, 2], [3, 4]], [greedy(1)] * 3, use_tqdm=False)


# ---------------------------------------------------------------- models ---
def test_unknown_model_folder(tmp_path):
    with pytest.raises(ValueError, match="not found: pass a Hugging Face model folder"):
        LLM(str(tmp_path / "no-such-model"))
    with pytest.raises(ValueError, match="has no config.json"):
        LLM(str(tmp_path))
    with pytest.raises(ValueError, match="unknown random model 'random:Qwen3-999B'; choose one of "
                                         "random:Qwen3-0.6B"):
        LLM("random:Qwen3-999B")


def test_unsupported_architecture(tmp_path):
    from transformers import GPT2Config
    SUPPORTED = r"aios supports Qwen3ForCausalLM, Qwen2ForCausalLM, LlamaForCausalLM"
    small = dict(n_layer=1, n_embd=32, n_head=2, vocab_size=100, bos_token_id=0, eos_token_id=0)
    GPT2Config(architectures=["GPT2LMHeadModel"], **small).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(ValueError, match=r"unsupported architecture \['GPT2LMHeadModel'\] in "
                                         r"config.json; " + SUPPORTED):
        LLM(str(tmp_path / "gpt2"))
    GPT2Config(**small).save_pretrained(tmp_path / "unnamed")          # no "architectures"
    assert "architectures" not in json.load(open(tmp_path / "unnamed" / "config.json"))
    with pytest.raises(ValueError, match=r"unsupported architecture \(none given\).*" + SUPPORTED):
        LLM(str(tmp_path / "unnamed"))


def test_checkpoint_without_weights(tmp_path, tiny_qwen3_dir):
    import shutil
    shutil.copy(f"{tiny_qwen3_dir}/config.json", tmp_path / "config.json")
    with pytest.raises(ValueError, match=r"no \*\.safetensors files"):
        LLM(str(tmp_path))


# ---------------------------------------------------------------- config ---
@pytest.mark.parametrize("options, message", [
    (dict(block_size=3), r"Config.block_size must be a power of two, got 3"),
    (dict(block_size=0), r"Config.block_size must be a positive integer, got 0"),
    (dict(max_num_seqs=0), r"Config.max_num_seqs must be a positive integer, got 0"),
    (dict(max_num_batched_tokens=-1), r"Config.max_num_batched_tokens must be a positive integer"),
    (dict(max_model_len=0), r"Config.max_model_len must be a positive integer"),
    (dict(num_kv_blocks=0), r"Config.num_kv_blocks must be a positive integer"),
    (dict(tensor_parallel_size=0), r"Config.tensor_parallel_size must be a positive integer"),
    (dict(dtype="float64"), r"Config.dtype must be one of \['auto', 'float32', 'bfloat16', 'float16'\]"),
    (dict(attention_backend="magic"), r"Config.attention_backend must be one of"),
    (dict(device="tpu"), r"Config.device must be 'auto', 'cpu' or 'cuda', got 'tpu'"),
    (dict(gpu_memory_utilization=0.0), r"Config.gpu_memory_utilization must be in \(0, 1\]"),
    (dict(gpu_memory_utilization=1.5), r"Config.gpu_memory_utilization must be in \(0, 1\]"),
    (dict(scheduling="fast"), r"Config.scheduling must be 'continuous' or 'static'"),
    (dict(max_model_len=100_000), r"max_model_len=100000 exceeds the model's "
                                  r"max_position_embeddings=512"),
])
def test_bad_config_options(tiny_qwen3_dir, options, message):
    with pytest.raises(ValueError, match=message):
        LLM(tiny_qwen3_dir, **options)


def test_unknown_config_option(tiny_qwen3_dir):
    with pytest.raises(TypeError, match="max_num_seq"):
        LLM(tiny_qwen3_dir, max_num_seq=4)


def test_gpu_only_options_on_a_cpu(tiny_qwen3_dir):
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only errors; this machine has a GPU")
    with pytest.raises(ValueError, match="no CUDA GPU is available; use device='cpu'"):
        LLM(tiny_qwen3_dir, device="cuda")
    with pytest.raises(ValueError, match="attention_backend='triton' needs a CUDA GPU"):
        LLM(tiny_qwen3_dir, attention_backend="triton")
