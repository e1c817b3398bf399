"""The same workload on Hugging Face transformers, for the ratio.

Two ways transformers can serve a batch of requests:
- `generate` on static batches: prompts left-padded to the longest, every
  request decodes until the batch's longest output is done. Only the tokens
  each request asked for count as output; the rest is the price of static
  batching.
- `generate_batch` (continuous batching, in recent versions): one
  GenerationConfig for all requests, so every request generates the
  workload's mean output length; all generated tokens count.
"""
import time

import torch
from transformers import AutoModelForCausalLM, GenerationConfig


def _load(config):
    if config.is_random:
        # Same shapes and dtype; the weights do not matter for speed.
        from transformers import Qwen3ForCausalLM
        with torch.device(config.device):
            model = Qwen3ForCausalLM(config.hf_config).to(config.torch_dtype)
        return model.eval()
    return AutoModelForCausalLM.from_pretrained(config.model_path, dtype=config.torch_dtype).to(config.device).eval()


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def _peak_gb(device):
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")


@torch.inference_mode()
def run_static(model, config, prompts, params, batch_size: int) -> dict:
    device = config.device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding
    _sync(device)
    start, useful = time.perf_counter(), 0
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        longest = max(len(prompts[i]) for i in idx)
        ids = torch.zeros(len(idx), longest, dtype=torch.long)
        mask = torch.zeros(len(idx), longest, dtype=torch.long)
        for row, i in enumerate(idx):  # left padding
            ids[row, longest - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[row, longest - len(prompts[i]):] = 1
        max_new = max(params[i].max_tokens for i in idx)
        gen = GenerationConfig(max_new_tokens=max_new, min_new_tokens=max_new, do_sample=True,
                               temperature=params[idx[0]].temperature,
                               top_k=max(params[idx[0]].top_k, 0), top_p=params[idx[0]].top_p,
                               pad_token_id=0, eos_token_id=None)
        model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=gen)
        useful += sum(params[i].max_tokens for i in idx)
    _sync(device)
    elapsed = time.perf_counter() - start
    return {"engine": f"hf generate (batch {batch_size})", "output_tokens": useful,
            "seconds": elapsed, "output_tokens_per_s": useful / elapsed, "peak_memory_gb": _peak_gb(device)}


@torch.no_grad()  # not inference_mode: generate_batch updates its tensors from another thread
def run_continuous(model, config, prompts, params) -> dict | None:
    if not hasattr(model, "generate_batch"):
        return None
    mean_out = round(sum(p.max_tokens for p in params) / len(params))
    gen = GenerationConfig(max_new_tokens=mean_out, min_new_tokens=mean_out, do_sample=True,
                           temperature=params[0].temperature, top_k=max(params[0].top_k, 0),
                           top_p=params[0].top_p,
                           pad_token_id=0, eos_token_id=None)
    # A short untimed run first, as aios gets its warm-up (kernels, allocator).
    model.generate_batch(inputs=[p[:16] for p in prompts[:2]], generation_config=GenerationConfig(
        max_new_tokens=4, do_sample=False, pad_token_id=0, eos_token_id=None))
    _sync(config.device)
    start = time.perf_counter()
    outputs = model.generate_batch(inputs=prompts, generation_config=gen)
    _sync(config.device)
    elapsed = time.perf_counter() - start
    num_out = sum(len(o.generated_tokens) for o in outputs.values())
    if num_out == 0:
        raise RuntimeError(f"generate_batch returned no tokens after {elapsed:.1f} s")
    return {"engine": f"hf generate_batch (out={mean_out})", "output_tokens": num_out,
            "seconds": elapsed, "output_tokens_per_s": num_out / elapsed, "peak_memory_gb": _peak_gb(config.device)}


def run_hf(config, prompts, params, batch_size: int = 32,
           runs: tuple[str, ...] = ("static", "continuous")) -> list[dict]:
    """The transformers runs asked for; a failure is reported, not raised."""
    if config.device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = _load(config)
    results = []
    for name, run in (("static", lambda: run_static(model, config, prompts, params, batch_size)),
                      ("continuous", lambda: run_continuous(model, config, prompts, params))):
        if name not in runs:
            continue
        try:
            r = run()
        except Exception as e:  # an optional comparison must not lose the aios numbers
            print(f"transformers {name} run failed: {type(e).__name__}: {e}")
            continue
        if r:
            results.append(r)
    return results
