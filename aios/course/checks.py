"""Helpers for the lessons' checks (lessons/lessonNN/test_lessonNN.py).

    tiny_checkpoint(path, "qwen3")      a small random Hugging Face checkpoint
    run_engine(model, lesson, ...)      generate greedily in lesson N's engine
    forward_logits(llm, token_ids)      one forward pass: the next-token logits

The checks run your pieces inside the real engine, on models small enough to
take a fraction of a second, and compare with the engine's own pieces.
"""
import os

import torch

from aios import LLM, SamplingParams
from aios.course.plugin import plugged
from aios.course.stages import stage_options
from aios.utils.context import reset_context, set_context

TINY_VOCAB = 512
_TINY_SHAPE = dict(vocab_size=TINY_VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                   max_position_embeddings=512, bos_token_id=1, eos_token_id=2)


def tiny_checkpoint(path: str, architecture: str = "qwen3", seed: int = 0) -> str:
    """Write (once) a small random checkpoint with transformers' own save_pretrained.

    architecture: "qwen3" (q/k norm, untied LM head) or "llama" (tied).
    Every weight is random, norms included, so a mixed-up tensor shows.
    """
    if os.path.isfile(os.path.join(path, "config.json")):
        return path
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen3Config
    if architecture == "qwen3":
        config = Qwen3Config(**_TINY_SHAPE, tie_word_embeddings=False, rope_theta=1e6,
                             architectures=["Qwen3ForCausalLM"])
    else:
        config = LlamaConfig(**_TINY_SHAPE, tie_word_embeddings=True, architectures=["LlamaForCausalLM"])
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.normal_(1.0 if "norm" in name else 0.0, 0.2 if "norm" in name else 0.1)
    model.save_pretrained(path)
    return path


def random_prompts(lengths: list[int], seed: int = 0, vocab: int = TINY_VOCAB) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, vocab, (n,), generator=g).tolist() for n in lengths]


def greedy(max_tokens: int) -> SamplingParams:
    """Exactly max_tokens tokens, each the most likely one."""
    return SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True)


def run_engine(model: str, lesson: int, prompts, max_tokens: int, replacements=None, **options):
    """Greedy tokens for each prompt in lesson `lesson`'s engine (CPU).

    replacements: {engine name: function} plugged in for the whole run, the
    engine's construction included. options override the stage's.
    -> (token ids per prompt, the engine, for a look at its state afterwards).
    """
    with plugged(replacements or {}):
        llm = LLM(model, **{**stage_options(lesson, "cpu"), **options})
        outputs = llm.generate(prompts, greedy(max_tokens), use_tqdm=False)
    return [o["token_ids"] for o in outputs], llm


@torch.inference_mode()
def forward_logits(llm, token_ids: list[int]) -> torch.Tensor:
    """One forward pass over a prompt -> the next token's logits [vocab], float32.

    For an engine without a KV cache (lessons 1 to 3): nothing is stored, so a
    prefill Context with the sequence's bounds is all attention needs.
    """
    assert not llm.config.enable_kv_cache, "forward_logits needs an engine without a KV cache"
    runner = llm.model_runner
    n = len(token_ids)
    bounds = torch.tensor([0, n], dtype=torch.int32, device=runner.device)
    set_context(is_prefill=True, cu_seqlens_q=bounds, cu_seqlens_k=bounds, max_seqlen_q=n, max_seqlen_k=n)
    try:
        hidden = runner.model(torch.tensor(token_ids, device=runner.device),
                              torch.arange(n, device=runner.device))
        return runner.model.compute_logits(hidden)[0].float()
    finally:
        reset_context()


def assert_same_tokens_as_engine(model: str, lesson: int, replacements: dict, prompts,
                                 max_tokens: int = 8, **options):
    """Your pieces in lesson N's engine generate what the engine's own pieces do.

    -> the engine that ran your pieces, for a look at its state afterwards.
    """
    yours, llm = run_engine(model, lesson, prompts, max_tokens, replacements, **options)
    engine, _ = run_engine(model, lesson, prompts, max_tokens, None, **options)
    for i, (a, b) in enumerate(zip(yours, engine)):
        assert a == b, f"prompt {i}: your pieces generated {a}, the engine's {b}"
    return llm
