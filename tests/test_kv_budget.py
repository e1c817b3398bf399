"""How many KV-cache blocks the engine allocates (aios/engine/kv_budget.py)."""
import dataclasses

import pytest
import torch

from aios.engine.kv_budget import count_kv_blocks, profile_run
from aios.utils.context import get_context


def test_blocks_come_from_the_budget_and_never_exceed_what_the_seats_can_use(tiny_qwen3_llm):
    config, model = tiny_qwen3_llm.config, tiny_qwen3_llm.model_runner.model
    cpu = torch.device("cpu")
    asked = dataclasses.replace(config, num_kv_blocks=7)
    assert count_kv_blocks(asked, model, cpu, bytes_per_block=1 << 20, max_blocks_per_seq=4) == 7
    auto = dataclasses.replace(config, num_kv_blocks=None, cpu_kv_cache_gb=1.0, max_num_seqs=2)
    assert count_kv_blocks(auto, model, cpu, bytes_per_block=1 << 20, max_blocks_per_seq=1000) == 1024
    assert count_kv_blocks(auto, model, cpu, bytes_per_block=1 << 20, max_blocks_per_seq=4) == 2 * 4
    with pytest.raises(ValueError, match="no memory is left for the KV cache"):
        count_kv_blocks(auto, model, cpu, bytes_per_block=2 << 30, max_blocks_per_seq=4)


def test_profile_run_is_the_largest_prefill_and_leaves_no_context(tiny_qwen3_llm, monkeypatch):
    """The memory profile runs as many max_model_len prompts as one step may hold
    (on a GPU its activations' peak is kept free of KV blocks), before the cache exists."""
    config, model = tiny_qwen3_llm.config, tiny_qwen3_llm.model_runner.model
    for layer in tiny_qwen3_llm.model_runner.attention_layers:   # as before the allocation
        monkeypatch.setattr(layer, "k_cache", torch.tensor([]))
        monkeypatch.setattr(layer, "v_cache", torch.tensor([]))
    seen = []
    hook = model.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    try:
        profile_run(config, model, torch.device("cpu"))
    finally:
        hook.remove()
    per_step = max(1, min(config.max_num_batched_tokens // config.max_model_len, config.max_num_seqs))
    assert seen == [per_step * config.max_model_len]
    assert not get_context().is_prefill
