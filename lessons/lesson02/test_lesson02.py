"""Lesson 02 checks: your loader and decoder give transformers' logits.

    python -m pytest lessons/lesson02            # your lessons/lesson02/decoder.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson02
"""
import pytest
import torch

from aios import LLM
from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, forward_logits, random_prompts
from aios.course.plugin import pieces, plugged
from aios.course.stages import stage_options
from aios.models.qwen3 import Qwen3ForCausalLM

decoder = load_exercise(2, "decoder")
PACKED = Qwen3ForCausalLM.packed_modules_mapping


# ------------------------------------------------------------- step 1 ---
@pytest.mark.parametrize("name, expected", [
    ("model.layers.0.self_attn.q_proj.weight", ("model.layers.0.self_attn.qkv_proj.weight", "q")),
    ("model.layers.7.self_attn.k_proj.bias", ("model.layers.7.self_attn.qkv_proj.bias", "k")),
    ("model.layers.7.self_attn.v_proj.weight", ("model.layers.7.self_attn.qkv_proj.weight", "v")),
    ("model.layers.2.mlp.gate_proj.weight", ("model.layers.2.mlp.gate_up_proj.weight", 0)),
    ("model.layers.2.mlp.up_proj.weight", ("model.layers.2.mlp.gate_up_proj.weight", 1)),
    ("model.layers.2.mlp.down_proj.weight", ("model.layers.2.mlp.down_proj.weight", None)),
    ("model.layers.0.self_attn.o_proj.weight", ("model.layers.0.self_attn.o_proj.weight", None)),
    ("model.layers.0.self_attn.q_norm.weight", ("model.layers.0.self_attn.q_norm.weight", None)),
    ("model.embed_tokens.weight", ("model.embed_tokens.weight", None)),
])
def test_target_name(name, expected):
    assert decoder.target_name(name, PACKED) == expected


# ------------------------------------------------------- steps 1 to 3 ---
@pytest.mark.parametrize("model", ["tiny_qwen3", "tiny_llama"])
def test_one_forward_pass_equals_transformers(model, request):
    from transformers import AutoModelForCausalLM
    path = request.getfixturevalue(model)
    reference = AutoModelForCausalLM.from_pretrained(path).float().eval()
    with plugged(pieces(2, decoder)):  # the loading runs your target_name() too
        llm = LLM(path, **stage_options(2, "cpu"))
        for prompt in random_prompts([1, 9, 40]):
            with torch.no_grad():
                expected = reference(torch.tensor([prompt])).logits[0, -1]
            torch.testing.assert_close(forward_logits(llm, prompt), expected, atol=1e-4, rtol=1e-4)


def test_the_engine_generates_with_your_decoder(tiny_qwen3):
    assert_same_tokens_as_engine(tiny_qwen3, 2, pieces(2, decoder), random_prompts([6, 25]))
