"""How many KV-cache blocks fit (ModelRunner._allocate_kv_cache asks).

On a GPU: what memory is left once the weights are in and the largest prefill
the engine will ever run has run once (its activations' peak), up to
gpu_memory_utilization of the card. On a CPU: cpu_kv_cache_gb. Never more
blocks than max_num_seqs sequences of max_model_len could hold.
"""
import torch

from aios.config import Config
from aios.utils.context import reset_context, set_context


def count_kv_blocks(config: Config, model: torch.nn.Module, device: torch.device,
                    bytes_per_block: int, max_blocks_per_seq: int) -> int:
    if config.num_kv_blocks is not None:
        return config.num_kv_blocks
    if device.type == "cuda":
        budget = free_gpu_memory_after_profile(config, model, device)
    else:
        budget = int(config.cpu_kv_cache_gb * 2**30)
    enough = config.max_num_seqs * max_blocks_per_seq  # never need more
    num_blocks = min(budget // bytes_per_block, enough)
    if num_blocks < 1:
        raise ValueError("no memory is left for the KV cache; raise gpu_memory_utilization "
                         "or cpu_kv_cache_gb, or use a smaller model")
    return num_blocks


def free_gpu_memory_after_profile(config: Config, model: torch.nn.Module, device: torch.device) -> int:
    """Bytes the KV cache may take: run the largest prefill, see what it needs."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    profile_run(config, model, device)
    free, total = torch.cuda.mem_get_info()
    used = total - free
    peak, current = torch.cuda.max_memory_allocated(), torch.cuda.memory_allocated()
    return int(total * config.gpu_memory_utilization - used - (peak - current))


@torch.inference_mode()
def profile_run(config: Config, model: torch.nn.Module, device: torch.device) -> None:
    """The largest prefill: as many max_model_len sequences as one step may take."""
    num_seqs = max(1, min(config.max_num_batched_tokens // config.max_model_len, config.max_num_seqs))
    lens = [config.max_model_len] * num_seqs
    cu = torch.tensor([0] + [sum(lens[:i + 1]) for i in range(num_seqs)], dtype=torch.int32, device=device)
    input_ids = torch.zeros(sum(lens), dtype=torch.long, device=device)
    positions = torch.arange(config.max_model_len, device=device).repeat(num_seqs)
    set_context(is_prefill=True, cu_seqlens_q=cu, cu_seqlens_k=cu,
                max_seqlen_q=config.max_model_len, max_seqlen_k=config.max_model_len)
    model.compute_logits(model(input_ids, positions))
    reset_context()
    if device.type == "cuda":
        torch.cuda.synchronize()
