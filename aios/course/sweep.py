"""Lesson 4's second measurement: decode speed against context length, with and without the cache.

Without a KV cache every step recomputes the whole context: its cost grows
with the length (linearly in the layers, quadratically in attention). With
the cache a step computes one token and reads the rest: nearly flat. At a
short context both are bound by the same fixed costs (on a GPU: launching the
step's kernels) and the cache buys little; the sweep shows where it starts to.

For each length, one request with a prompt of that many tokens is prefilled,
then `decode_tokens` steps are timed (the prefill is not). Written beside the
table as a chart (lessons/results/lesson04_context.png).
"""
import time
from pathlib import Path

import torch

from aios import LLM, SamplingParams
from aios.course.plugin import plugged
from aios.course.report import save_chart
from aios.course.stages import stage_options

# Context lengths swept and decode steps timed at each, per workload (workload.WORKLOADS).
SWEEPS = {"gpu": ((128, 256, 512, 1024, 2048, 4096), 16),
          "cpu": ((64, 128, 256, 512), 4),
          "tiny": ((16, 32), 2)}


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def decode_tok_s(llm: LLM, length: int, decode_tokens: int, device: str) -> float:
    """Output tokens/s of `decode_tokens` decode steps after a `length`-token prompt."""
    llm.add_request(list(range(100, 100 + length)),
                    SamplingParams(temperature=0.0, max_tokens=decode_tokens + 1, ignore_eos=True))
    llm.step()                       # the prefill (and the first token): not timed
    _sync(device)
    start = time.perf_counter()
    while not llm.is_finished():
        llm.step()
    _sync(device)
    return decode_tokens / (time.perf_counter() - start)


def context_sweep(model: str | None, device: str, workload: str, replacements: dict) -> dict:
    """{lengths, cache: tok/s, no_cache: tok/s}: lesson 4's engine (with `replacements`) and lesson 3's."""
    lengths, decode_tokens = SWEEPS[workload]
    max_len = max(lengths) + decode_tokens + 1
    results = {"lengths": list(lengths), "decode_tokens": decode_tokens}
    for name, lesson, plug in (("cache", 4, replacements), ("no_cache", 3, {})):
        with plugged(plug):
            llm = LLM(model, **(stage_options(lesson, device) | dict(max_model_len=max_len)))
            decode_tok_s(llm, lengths[0], 1, device)            # warm up
            results[name] = []
            for length in lengths:
                results[name].append(decode_tok_s(llm, length, decode_tokens, device))
                print(f"  lesson {lesson} ({name.replace('_', ' ')}): {length:>5} tokens of context, "
                      f"{results[name][-1]:8.1f} tok/s", flush=True)
            llm.close()
            del llm
    return results


def draw_sweep(sweep: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(sweep["lengths"], sweep["cache"], "o-", label="lesson 4: KV cache")
    ax.plot(sweep["lengths"], sweep["no_cache"], "s--", label="lesson 3: no cache (recompute)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    # Labels at 1, 2, 5 of every decade: a range of a decade or two still reads.
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(sweep["lengths"], [str(n) for n in sweep["lengths"]])
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("decode tokens/s, one request")
    ax.set_title(title)
    save_chart(fig, ax, path)
