"""Offline throughput benchmark: how many output tokens per second.

    python benchmark.py --workload small                 # CPU, the default model, seconds
    python benchmark.py --model random:Qwen3-0.6B --workload nano
    python benchmark.py --model random:Qwen3-0.6B --workload table --compare-hf

Workloads (benchmarks/workloads.py): table (32 requests, the course's table),
nano (256 requests, nano-vllm's benchmark), small (a CPU smoke run).
"""
import argparse
import dataclasses
import json
import resource
import sys
import time

import torch

from aios import LLM
from aios.engine_args import add_engine_args, engine_kwargs
from aios.utils.compile_watch import TritonCompiles
from benchmarks.workloads import WORKLOADS


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="default: SmolLM2-135M-Instruct on a CPU, "
                   "random:Qwen3-0.6B on a GPU")
    p.add_argument("--workload", default="small", choices=sorted(WORKLOADS))
    p.add_argument("--num-seqs", "--num-prompts", type=int, dest="num_seqs", help="number of requests")
    for name in ("min-input-len", "max-input-len", "min-output-len", "max-output-len"):
        p.add_argument(f"--{name}", type=int)
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float, help="top-p of every request (default: off)")
    p.add_argument("--top-k", type=int, help="top-k of every request (default: off)")
    p.add_argument("--seed", type=int)
    p.add_argument("--no-warmup", action="store_true")
    p.add_argument("--compare-hf", action="store_true",
                   help="also run Hugging Face transformers on the same workload, for the ratio")
    p.add_argument("--hf-runs", default="static,continuous",
                   help="with --compare-hf: which transformers runs, comma-separated "
                        "(static = generate on batches of 32, continuous = generate_batch)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    add_engine_args(p)
    # A workload is a fixed measurement: its temperature, and no top-k/top-p,
    # whatever the checkpoint's generation_config.json says (the transformers
    # baseline samples the same way). --generation-config auto lets the
    # checkpoint fill top_k/top_p (the workload's temperature stays).
    p.set_defaults(generation_config="none")
    return p.parse_args(argv)


def workload_from_args(args):
    overrides = {f: getattr(args, f) for f in ("num_seqs", "min_input_len", "max_input_len",
                                               "min_output_len", "max_output_len",
                                               "temperature", "top_p", "top_k", "seed")
                 if getattr(args, f) is not None}
    try:
        return dataclasses.replace(WORKLOADS[args.workload], **overrides)
    except ValueError as e:
        raise SystemExit(f"error: {e}")


def peak_memory_gb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


def run_aios(llm: LLM, prompts, params, warmup: bool) -> dict:
    if warmup:
        llm.warm_up()
    if llm.config.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with TritonCompiles() as compiles:
        outputs = llm.generate(prompts, params)
    elapsed = time.perf_counter() - start
    if compiles.names:   # the time includes compiling these: say so
        print(f"note: {compiles.summary()}")
    num_out = sum(len(o["token_ids"]) for o in outputs)
    return {"engine": "aios", "output_tokens": num_out, "seconds": elapsed,
            "output_tokens_per_s": num_out / elapsed, "compiled_in_run": compiles.names,
            "peak_memory_gb": peak_memory_gb(llm.config.device),
            "kv_capacity_tokens": llm.kv_capacity_tokens,
            "preemptions": llm.scheduler.num_preemptions}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.model is None and torch.cuda.is_available() and args.device != "cpu":
        args.model = "random:Qwen3-0.6B"
    workload = workload_from_args(args)
    hf_runs = [r.strip() for r in args.hf_runs.split(",") if r.strip()]
    if not set(hf_runs) <= {"static", "continuous"}:
        print(f"error: --hf-runs takes static and/or continuous, got {args.hf_runs!r}", file=sys.stderr)
        return 2
    try:
        llm = LLM(args.model, **engine_kwargs(args))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    config = llm.config
    prompts, params = workload.build(config.hf_config.vocab_size, config.max_model_len)
    print(f"model {config.model_name} ({config.device}, {config.torch_dtype}, "
          f"attention={llm.model_runner.backend_name}, cuda_graphs={llm.model_runner.graph_runner is not None})"
          + ("  [random weights: speed only, the text is meaningless]" if config.is_random else ""))
    print(f"workload {workload.name}: {workload.num_seqs} requests, input {workload.min_input_len}-"
          f"{workload.max_input_len}, output {workload.min_output_len}-{workload.max_output_len} tokens")
    print(f"KV cache: {llm.num_kv_blocks} blocks x {config.block_size} = {llm.kv_capacity_tokens} tokens")
    engine = {"attention_backend": llm.model_runner.backend_name, "block_size": config.block_size,
              "cuda_graphs": llm.model_runner.graph_runner is not None,
              "tensor_parallel_size": config.tensor_parallel_size,
              "all_reduce": llm.model_runner.all_reduce}   # TP: p2p, nccl or gloo
    results = [run_aios(llm, prompts, params, warmup=not args.no_warmup)]
    if args.compare_hf:
        from benchmarks.hf_baseline import run_hf
        del llm  # free its KV cache for transformers
        results += run_hf(config, prompts, params, runs=hf_runs)
    report(results, workload, config, args.json, engine)
    return 0


def report(results, workload, config, json_path, engine=None):
    print(f"\n{'engine':<28}{'output tok/s':>14}{'seconds':>10}{'out tokens':>12}{'peak GB':>9}")
    for r in results:
        print(f"{r['engine']:<28}{r['output_tokens_per_s']:>14.1f}{r['seconds']:>10.2f}"
              f"{r['output_tokens']:>12}{r['peak_memory_gb']:>9.2f}")
    for r in results[1:]:
        print(f"aios / {r['engine']}: {results[0]['output_tokens_per_s'] / r['output_tokens_per_s']:.2f}x")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"workload": dataclasses.asdict(workload), "model": config.model_name,
                       "device": config.device, "dtype": str(config.torch_dtype),
                       "random_weights": config.is_random, **(engine or {}), "results": results},
                      f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
