"""Where a decode step's time goes, at TP=1 and at TP=2: host phases, collectives, kernels.

    python benchmarks/tp_profile.py --model random:Qwen3-8B --tp 2 --batches 32,256 --json tp2.json

For each batch size: that many requests (prompts of --prompt-len random tokens)
are prefilled, then decode steps are timed on rank 0 (this process):
  (1) host time per step of each phase of LLMEngine.step(): schedule, prepare
      the inputs, build and send the workers' message, prepare sampling,
      launch the model (CUDA graph, LM head and its gather), sample, share the
      sampled tokens (TP with async scheduling), wait for the GPU, postprocess;
  (2) the collectives one decode step issues, with their bytes (counted from
      the model's TP layers: the graphs replay them where Python cannot see);
  (3) torch.profiler over a window of steps: the GPU's busy time per step,
      NCCL kernels' share of it, and the busiest kernels.
The workers' own host time is not in (1): it overlaps rank 0's.
AIOS_PROFILE_TRACE=PREFIX also writes each profiled window's timeline to
PREFIX-<n>.json (Chrome trace format). Run it once per TP size (or call profile_decode from another script, as
benchmarks/tp_scaling.py does).
"""
import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from aios import LLM, SamplingParams  # noqa: E402
from aios.engine import model_runner as model_runner_module  # noqa: E402
from aios.engine.decode_inputs import DecodeInputs  # noqa: E402
from aios.engine.model_runner import ModelRunner  # noqa: E402
from aios.engine.step_output import StepOutput  # noqa: E402
from aios.engine.scheduler import Scheduler  # noqa: E402
from aios.engine.tp_group import TPWorkers  # noqa: E402
from aios.layers.embed_head import ParallelLMHead, VocabParallelEmbedding  # noqa: E402
from aios.layers.linear import RowParallelLinear  # noqa: E402
from aios.layers.sampler import Sampler  # noqa: E402
from benchmarks.phase_timing import phase_timers  # noqa: E402

# (owner, attribute, phase): the functions each phase's host time is measured in.
PHASES = [
    (Scheduler, "schedule", "schedule"),
    (ModelRunner, "prepare_decode", "prepare inputs"),
    (ModelRunner, "pending_rows", "prepare inputs"),
    (model_runner_module, "take_pending_tokens", "prepare inputs"),
    (DecodeInputs, "message", "send to workers"),
    (TPWorkers, "send_decode", "send to workers"),
    (ModelRunner, "prepare_sampling", "prepare sampling"),
    (ModelRunner, "run_model", "launch model"),
    (Sampler, "forward", "sample"),
    (Sampler, "sample_vocab_parallel", "sample"),
    (dist, "broadcast", "share sampled"),
    (StepOutput, "token_ids", "wait for GPU"),
    (Scheduler, "postprocess", "postprocess"),
]


def count_collectives(llm: LLM, batch: int) -> dict:
    """One decode step's collectives on each rank: {name: {count, bytes}}.

    Every RowParallelLinear and the embedding all-reduce [rows, hidden] (rows:
    the CUDA graph's padded batch). Sampling: each rank samples its slice of the
    vocabulary and the ranks all-gather [2, batch] (score, id) float32 pairs; or
    (AIOS_TP_SAMPLING=gather) the LM head gathers [batch, vocab/tp] to rank 0 and,
    with async scheduling, rank 0 broadcasts [batch] sampled ids."""
    if llm.config.tensor_parallel_size == 1:
        return {}
    runner = llm.model_runner
    rows = (runner.graph_runner.padded_size(batch) if runner.graph_runner else None) or batch
    hidden, itemsize = llm.config.hf_config.hidden_size, runner.dtype.itemsize
    modules = list(runner.model.modules())
    reducing = [m for m in modules if type(m) in (RowParallelLinear, VocabParallelEmbedding)]
    head = next(m for m in modules if isinstance(m, ParallelLMHead))
    counts = {"all_reduce": {"count": len(reducing), "bytes": len(reducing) * rows * hidden * itemsize}}
    if runner.slice_sampling:
        tp = llm.config.tensor_parallel_size
        counts["all_gather (sampled scores, ids)"] = {"count": 1, "bytes": tp * 2 * batch * 4}
        return counts
    counts["gather (LM head)"] = {"count": 1, "bytes": batch * head.rows * itemsize}
    if runner.share_sampled:
        counts["broadcast (sampled)"] = {"count": 1, "bytes": batch * 8}
    return counts


def _fill(llm: LLM, batch: int, prompt_len: int, params: SamplingParams | None = None) -> list:
    g = torch.Generator().manual_seed(batch)
    vocab = llm.config.hf_config.vocab_size
    params = params or SamplingParams(temperature=0.6, max_tokens=4096, ignore_eos=True)
    seqs = [llm.add_request(torch.randint(0, vocab, (prompt_len,), generator=g).tolist(), params)
            for _ in range(batch)]
    while llm.scheduler.waiting or not all(s.num_completion_tokens for s in seqs):
        llm.step()  # the prefills, outside every measurement
    return seqs


def profile_decode(llm: LLM, batch: int, prompt_len: int = 512, steps: int = 50,
                   profile_steps: int = 20, sampling: SamplingParams | None = None) -> dict:
    """Time `steps` decode steps at `batch` sequences; see the top of this file.
    sampling: the requests' parameters (default: temperature 0.6, nothing else)."""
    on_gpu = llm.config.device == "cuda"
    seqs = _fill(llm, batch, prompt_len, sampling)
    for _ in range(5):
        llm.step()
    totals = collections.defaultdict(float)
    with phase_timers(PHASES, totals):
        start = time.perf_counter()
        for _ in range(steps):
            llm.step()
        wall = time.perf_counter() - start
    ms = {label: 1e3 * t / steps for label, t in totals.items()}
    ms["other"] = 1e3 * wall / steps - sum(ms.values())

    result = {"tp": llm.config.tensor_parallel_size, "batch": batch, "prompt_len": prompt_len,
              "ms_per_step": 1e3 * wall / steps, "phases_ms": ms,
              "collectives_per_step": count_collectives(llm, batch)}
    if on_gpu:
        result.update(_kernel_profile(llm, profile_steps))
    for seq in seqs:
        llm.abort(seq)
    while not llm.is_finished():
        llm.step()
    return result


def profile_prefill(llm: LLM, prompts: int = 16, prompt_len: int = 1024, rounds: int = 3) -> dict:
    """Time prefill steps of `prompts` x `prompt_len` new tokens (one step each, at the
    default 16,384-token budget), then profile one more: GPU time, NCCL's share, top kernels."""
    on_gpu = llm.config.device == "cuda"
    g = torch.Generator().manual_seed(prompts)
    vocab = llm.config.hf_config.vocab_size
    params = SamplingParams(max_tokens=1, ignore_eos=True)

    def one_round():
        for _ in range(prompts):
            llm.add_request(torch.randint(0, vocab, (prompt_len,), generator=g).tolist(), params)
        while not llm.is_finished():
            llm.step()

    one_round()   # first visit of these shapes: outside the timing
    if on_gpu:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(rounds):
        one_round()
    wall = (time.perf_counter() - start) / rounds
    result = {"tp": llm.config.tensor_parallel_size, "prefill_tokens": prompts * prompt_len,
              "ms_per_round": 1e3 * wall, "prefill_tok_s": prompts * prompt_len / wall}
    if on_gpu:
        result.update(_kernel_profile(llm, 1, work=one_round))
    return result


def _kernel_profile(llm: LLM, steps: int, work=None) -> dict:
    """Profile `steps` calls of `work` (default: llm.step) -> per-call GPU time and kernels."""
    work = work or llm.step
    acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=acts) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            work()
        torch.cuda.synchronize()
        wall = time.perf_counter() - start
    if os.environ.get("AIOS_PROFILE_TRACE"):   # a timeline for chrome://tracing or perfetto
        _kernel_profile.traces += 1
        prof.export_chrome_trace(f"{os.environ['AIOS_PROFILE_TRACE']}-{_kernel_profile.traces}.json")
    events = [e for e in prof.key_averages() if e.self_device_time_total > 0]
    events.sort(key=lambda e: e.self_device_time_total, reverse=True)
    busy = sum(e.self_device_time_total for e in events)
    nccl = sum(e.self_device_time_total for e in events if "nccl" in e.key.lower())
    print(prof.key_averages().table(sort_by="self_device_time_total", row_limit=12))
    return {"profiled_wall_ms_per_step": 1e3 * wall / steps,
            "gpu_busy_ms_per_step": busy / 1e3 / steps,
            "nccl_ms_per_step": nccl / 1e3 / steps,
            "top_kernels_ms_per_step": [[e.key[:90], e.self_device_time_total / 1e3 / steps,
                                         e.count // steps] for e in events[:15]]}


_kernel_profile.traces = 0


def print_result(r: dict) -> None:
    if "prefill_tokens" in r:
        print(f"\nTP={r['tp']} prefill of {r['prefill_tokens']:,} tokens: {r['ms_per_round']:.1f} ms "
              f"({r['prefill_tok_s']:,.0f} tok/s); GPU busy {r.get('gpu_busy_ms_per_step', 0):.1f} ms, "
              f"NCCL {r.get('nccl_ms_per_step', 0):.1f} ms")
        return
    print(f"\nTP={r['tp']} batch {r['batch']}: {r['ms_per_step']:.3f} ms/step "
          f"({r['batch'] / r['ms_per_step'] * 1e3:,.0f} tok/s while decoding)")
    for label, value in r["phases_ms"].items():
        print(f"  {label:<18}{value:8.3f} ms")
    for name, c in r["collectives_per_step"].items():
        print(f"  {name:<20}{c['count']:5d} calls {c['bytes'] / 2**20:9.2f} MiB per step")
    if "gpu_busy_ms_per_step" in r:
        print(f"  GPU busy {r['gpu_busy_ms_per_step']:.3f} ms/step (NCCL kernels "
              f"{r['nccl_ms_per_step']:.3f}), profiled wall {r['profiled_wall_ms_per_step']:.3f} ms/step")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="random:Qwen3-8B")
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--batches", default="32,256")
    p.add_argument("--prompt-len", type=int, default=512)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    with LLM(args.model, tensor_parallel_size=args.tp, device=args.device) as llm:
        llm.warm_up()
        results = []
        for batch in (int(b) for b in args.batches.split(",")):
            results.append(profile_decode(llm, batch, args.prompt_len))
            print_result(results[-1])
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
