"""What top-k / top-p cost, and whether a run leaves anything behind (issue 17).

    python benchmarks/sampling_suite.py --out-dir $OUT/sampling      # a GPU, ~3 minutes

One process, one LLM (random:Qwen3-0.6B). For each workload (nano, table),
one run after another:

    temperature          T = 0.6 (the workload's own), the baseline
    top-k/top-p          T = 0.6, top_p = 0.95, top_k = 20
    top-k/top-p (sort)   the same through the sort the GPU used before
                         (Sampler.threshold_impl = None: mask_top_k_top_p)
    top-p                T = 0.6, top_p = 0.95 (random weights are flat: the
                         nucleus is thousands of tokens, the exact fallback)
    temperature again    as the first: slower would mean state left behind
    temperature, cached  the prompts of the run before: every prompt block
                         is a prefix-cache hit (a deque scan per hit once)

Every run but the cached one gets prompts of its own (the workload's, each
token id shifted by the run's index): the same lengths, so the same work, and
no run finds another's prompts in the prefix cache. Each run's JSON is
written to --out-dir the moment it exists; compiled_in_run lists the Triton
kernels compiled inside the timed run (LLM.warm_up should leave none).

Then the sampler alone (triton.testing.do_bench), logits [B, 151,936] bf16,
B = 1, 32, 256: temperature only, and top-k/top-p and top-p by the sort
(before) and by the thresholds (now), on peaked logits (a few dozen likely
tokens, like a trained model) and flat ones (like random weights); and
torch.topk of the candidates alone (a part of "threshold").
"""
import argparse
import dataclasses
import json
import os
import re
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aios import LLM  # noqa: E402
from aios.layers.sampler import Sampler  # noqa: E402
from aios.utils.compile_watch import TritonCompiles  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402

# (name, SamplingParams overrides, sort: the old path, cached: the last run's prompts)
RUNS = [("temperature", {}, False, False),
        ("top-k/top-p", {"top_p": 0.95, "top_k": 20}, False, False),
        ("top-k/top-p (sort)", {"top_p": 0.95, "top_k": 20}, True, False),
        ("top-p", {"top_p": 0.95}, False, False),
        ("temperature again", {}, False, False),
        ("temperature, cached", {}, False, True)]


def write_json(out_dir: str, name: str, record: dict) -> None:
    if out_dir:
        path = os.path.join(out_dir, re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") + ".json")
        with open(path, "w") as f:
            json.dump(record, f, indent=2)


def engine_runs(llm: LLM, workload_names, out_dir: str, num_seqs=None) -> list[dict]:
    config, sampler = llm.config, llm.model_runner.sampler
    vocab = config.hf_config.vocab_size
    bm = llm.scheduler.block_manager
    rows = []
    for wl_name in workload_names:
        base = WORKLOADS[wl_name]
        if num_seqs:
            base = dataclasses.replace(base, num_seqs=num_seqs)
        prompts = None
        first_tps = None
        for index, (name, overrides, sort, cached) in enumerate(RUNS):
            workload = dataclasses.replace(base, **overrides)
            fresh, params = workload.build(vocab, config.max_model_len)
            if not cached:
                prompts = [[(t + 7919 * index) % vocab for t in p] for p in fresh]
            saved = sampler.threshold_impl
            if sort:
                sampler.threshold_impl = None
            hits = bm.num_prefix_hit_tokens
            if config.device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            with TritonCompiles() as compiles:
                outputs = llm.generate(prompts, params, use_tqdm=False)
            elapsed = time.perf_counter() - start
            sampler.threshold_impl = saved
            tokens = sum(len(o["token_ids"]) for o in outputs)
            tps = tokens / elapsed
            first_tps = first_tps or tps
            row = {"workload": wl_name, "run": name, "sort": sort,
                   "sampling": {"temperature": workload.temperature, "top_p": workload.top_p,
                                "top_k": workload.top_k},
                   "output_tokens": tokens, "seconds": elapsed, "output_tokens_per_s": tps,
                   "ratio_vs_first": tps / first_tps, "compiled_in_run": compiles.names,
                   "prefix_hit_tokens": bm.num_prefix_hit_tokens - hits,
                   "preemptions": llm.scheduler.num_preemptions,
                   "model": config.model_name, "device": config.device}
            rows.append(row)
            write_json(out_dir, f"{wl_name}_{index}_{name}", row)
            print(f"{wl_name:<6} {name:<22} {tps:>9.0f} tok/s  x{tps / first_tps:.2f}  "
                  f"{elapsed:6.2f} s  hits {row['prefix_hit_tokens']:>7}  compiled {len(compiles.names)}",
                  flush=True)
    return rows


def sampler_bench(out_dir: str, batches, vocab: int) -> list[dict]:
    from aios.kernels.sampling import gumbel_sample
    from aios.kernels.top_k_top_p import num_candidates_for, top_k_top_p_thresholds
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if cuda:
        from triton.testing import do_bench
    else:   # a smoke run of this code (TRITON_INTERPRET=1): one call, wall time
        def do_bench(fn, **_):
            start = time.perf_counter()
            fn()
            return (time.perf_counter() - start) * 1e3
    old, new = Sampler(), Sampler()
    old.impl = new.impl = gumbel_sample
    new.threshold_impl = top_k_top_p_thresholds
    g = torch.Generator().manual_seed(0)
    rows = []
    for batch in batches:
        noise = torch.randn(batch, vocab, generator=g)
        peaked = noise * 2
        peaked[:, :40] += 12                          # a few dozen likely tokens
        logits = {"peaked": peaked, "flat": noise * 0.5}
        logits = {k: v.to(device, torch.bfloat16) for k, v in logits.items()}
        common = dict(temperatures=torch.full((batch,), 0.6, device=device),
                      seeds=torch.arange(batch, device=device) * 7 + 1,
                      positions=torch.full((batch,), 100, device=device))
        tops = {"top-k/top-p": (20, 0.95), "top-p": (vocab, 0.95)}
        cases = [("temperature", "flat", None, new, {})]
        topk_alone = lambda x, **_: torch.topk(x, num_candidates_for(20), dim=-1)  # noqa: E731
        cases.append(("topk(64) only", "flat", None, topk_alone, {}))
        for kind, (k, p) in tops.items():
            extra = dict(top_ks=torch.full((batch,), k, device=device),
                         top_ps=torch.full((batch,), p, device=device),
                         top_rows=torch.arange(batch, device=device),
                         num_candidates=num_candidates_for(k if k < vocab else 0))
            for dist in ("peaked", "flat"):
                cases += [(kind, dist, "sort", old, extra), (kind, dist, "threshold", new, extra)]
        for kind, dist, how, sampler, extra in cases:
            x = logits[dist]
            ms = do_bench(lambda: sampler(x, **common, **extra), warmup=25, rep=100,
                          return_mode="median")
            row = {"batch": batch, "vocab": vocab, "sampling": kind, "logits": dist,
                   "path": how or "-", "ms": ms}
            rows.append(row)
            print(f"B={batch:<4} {kind:<14} {dist:<7} {row['path']:<10} {ms * 1e3:9.1f} us", flush=True)
        write_json(out_dir, f"sampler_bench_B{batch}", {"rows": rows[-len(cases):]})
    return rows


def table(engine, micro) -> None:
    if engine:
        engine_table(engine)
    if micro:
        micro_table(micro)


def engine_table(engine) -> None:
    print("\n== engine (tok/s, x vs the first temperature run of the workload) ==")
    print(f"{'workload':<9}{'run':<23}{'tok/s':>9}{'ratio':>7}{'compiled':>10}{'hits':>9}")
    for r in engine:
        print(f"{r['workload']:<9}{r['run']:<23}{r['output_tokens_per_s']:>9.0f}"
              f"{r['ratio_vs_first']:>7.2f}{len(r['compiled_in_run']):>10}{r['prefix_hit_tokens']:>9}")


def micro_table(micro) -> None:
    print("\n== sampler alone (us, median), logits bf16 ==")
    print(f"{'B':>4}  {'sampling':<14}{'logits':<8}{'sort':>10}{'threshold':>11}{'speed-up':>10}")
    for r in micro:
        if r["path"] == "sort":
            t = next(q for q in micro if q["path"] == "threshold" and
                     (q["batch"], q["sampling"], q["logits"]) == (r["batch"], r["sampling"], r["logits"]))
            print(f"{r['batch']:>4}  {r['sampling']:<14}{r['logits']:<8}{r['ms'] * 1e3:>10.1f}"
                  f"{t['ms'] * 1e3:>11.1f}{r['ms'] / t['ms']:>9.1f}x")
        elif r["path"] == "-":
            print(f"{r['batch']:>4}  {r['sampling']:<14}{r['logits']:<8}{'':>10}{r['ms'] * 1e3:>11.1f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="random:Qwen3-0.6B")
    p.add_argument("--workloads", default="nano,table")
    p.add_argument("--num-seqs", type=int, help="fewer requests per workload (a smoke run)")
    p.add_argument("--out-dir", default=None, help="one JSON per run, written as it ends")
    p.add_argument("--no-engine", action="store_true")
    p.add_argument("--no-micro", action="store_true")
    p.add_argument("--micro-batches", default="1,32,256")
    p.add_argument("--micro-vocab", type=int, default=151_936)
    args = p.parse_args(argv)
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
    engine, micro = [], []
    if not args.no_engine:
        llm = LLM(args.model)
        print(f"model {llm.config.model_name} ({llm.config.device}), KV cache {llm.num_kv_blocks} blocks "
              f"x {llm.config.block_size}", flush=True)
        llm.warm_up()
        engine = engine_runs(llm, args.workloads.split(","), args.out_dir, args.num_seqs)
        del llm
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if not args.no_micro:
        micro = sampler_bench(args.out_dir, [int(b) for b in args.micro_batches.split(",")],
                              args.micro_vocab)
    table(engine, micro)
    return 0


if __name__ == "__main__":
    sys.exit(main())
