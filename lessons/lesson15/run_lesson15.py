"""Lesson 15. Serving: your streaming pieces in a real server, measured through HTTP.

    python lessons/lesson15/run_lesson15.py              # your lessons/lesson15/streaming.py
    python lessons/lesson15/run_lesson15.py --solution   # the reference: solutions/lesson15/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH

What it runs: `python -m aios.course.serve` (aios serve with your pieces
plugged in) on a free loopback port, then streaming completion requests at a
few concurrency levels through HTTP (benchmarks/serve.py's client,
benchmarks/serve_client.py), printing output tokens/s and the percentiles of
time to first token (TTFT) and of the gaps between streamed chunks (ITL). Then the same requests' tokens offline
(LLM.generate in this process, lesson 13's engine): what HTTP, JSON and the
asyncio side cost on top.

A TODO still in your file stops the run with its one line (exit code 1).
"""
import argparse
import asyncio
import random
import sys
import time

import httpx

from aios import LLM, SamplingParams
from aios.course import measure, report
from aios.course.exercise import REPO_ROOT, load_exercise
from aios.course.serving import launch, probe, stop
from aios.course.stages import stage_options

sys.path.insert(0, str(REPO_ROOT))
from benchmarks.serve import print_table  # noqa: E402
from benchmarks.serve_client import make_prompt, run_level  # noqa: E402

LESSON = 15


def main(argv=None) -> int:
    args = measure.parse_args(LESSON, argv)
    device = measure.resolve_device(args.device)
    model = args.model or measure.default_model_for(device)
    module = load_exercise(LESSON, "streaming", solution=args.solution)
    try:
        probe(module)       # a TODO left: its one line, before a server starts
    except NotImplementedError as e:
        print(e, file=sys.stderr)
        return 1
    levels = [2] if args.tiny else ([1, 4] if device == "cpu" else [1, 8, 32])
    num_requests = 4 if args.tiny else (8 if device == "cpu" else 64)
    output_len = 8 if args.tiny else (32 if device == "cpu" else 128)
    load = argparse.Namespace(seed=0, output_len=output_len, input_len=16, timeout=600,
                              token_ids=model is not None and model.startswith("random:"))
    opts = ["--device", device] + ([] if model is None else [])
    print(f"Lesson {LESSON}: serving. Starting aios serve with "
          f"{'solutions' if args.solution else 'lessons'}/lesson15/streaming.py plugged in ...", flush=True)
    proc, url = launch(args.solution, model, opts + ["--max-num-seqs", str(max(levels))])
    try:
        served = httpx.get(f"{url}/v1/models").json()["data"][0]["id"]
        rows = [asyncio.run(run_level(url, served, c, num_requests, load)) for c in levels]
    except NotImplementedError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        stop(proc)
    print(f"\nstreaming completions through HTTP: {num_requests} requests per level, "
          f"{load.input_len} prompt words, {output_len} output tokens each ({device})")
    print_table(rows)
    if any(r["failed"] for r in rows):
        print(f"requests failed: {[r.get('errors') for r in rows]}", file=sys.stderr)
        return 1
    best = max(rows, key=lambda r: r["output_tokens_per_s"])
    # The same load offline, at the best level's batch: what the HTTP side costs.
    llm = LLM(model, **{**stage_options(13, device), "max_num_seqs": best["concurrency"]})
    prompts = [make_prompt(random.Random(i), load) for i in range(num_requests)]
    params = SamplingParams(temperature=0.0, max_tokens=output_len, ignore_eos=True)
    llm.generate(prompts[:1], SamplingParams(temperature=0.0, max_tokens=2), use_tqdm=False)
    start = time.perf_counter()
    outs = llm.generate(prompts, params, use_tqdm=False)
    offline = sum(len(o["token_ids"]) for o in outs) / (time.perf_counter() - start)
    llm.close()
    ratio = best["output_tokens_per_s"] / offline
    print(f"offline (LLM.generate, same engine options, {best['concurrency']} seats): {offline:.1f} tok/s; "
          f"through HTTP: {best['output_tokens_per_s']:.1f} tok/s ({ratio:.2f}x)")
    results = {"lesson": LESSON, "title": "Serving", "promise": "an OpenAI-compatible server",
               "pieces": "solution" if args.solution else "yours", "tok_s": best["output_tokens_per_s"],
               "levels": rows, "ttft_p50_ms": best["ttft_p50_ms"], "ttft_p99_ms": best["ttft_p99_ms"],
               "itl_p50_ms": best["itl_p50_ms"], "itl_p99_ms": best["itl_p99_ms"],
               "offline_tok_s": offline, "previous_stage": None, "previous_tok_s": offline, "ratio": ratio,
               "stage": {**stage_options(13, device), "served_over": "HTTP (aios serve)"},
               **report.run_header(device, model), "command": measure.command_line(LESSON, argv)}
    if args.json:
        report.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
