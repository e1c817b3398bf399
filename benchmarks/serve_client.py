"""The client side of benchmarks/serve.py: streaming requests, timed, summarized.

run_level sends one concurrency level's requests (users that each send their
next request when the last one ends, over one or several client processes)
and turns their timings into one row: request throughput, output tokens/s,
and the p50/p90/p99 of time to first token (TTFT) and inter-token latency
(ITL). lessons/lesson15/run_lesson15.py uses it too.
"""
import argparse
import asyncio
import contextlib
import json
import multiprocessing
import random
import ssl
import time

import httpx

WORDS = ("time year people way day man thing woman life child world school state family "
         "student group country problem hand part place case week company system program "
         "question work government number night point home water room mother area money story "
         "fact month lot right study book eye job word business issue side kind head house "
         "service friend father power hour game line end member law car city community name "
         "president team minute idea kid body information back parent face others level office "
         "door health person art war history party result change morning reason research girl "
         "guy moment air teacher force education").split()


# ----------------------------------------------------------- the requests ---
def random_prompt(rng: random.Random, num_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(num_words))


def make_prompt(rng: random.Random, args: argparse.Namespace) -> str | list[int]:
    """Words, or --input-len random token ids for a model without a tokenizer
    (random:Qwen3-*: it streams each token's id as its text)."""
    if args.token_ids:
        return [rng.randrange(500) for _ in range(args.input_len)]  # valid in any vocabulary
    return random_prompt(rng, args.input_len)


async def one_request(client: httpx.AsyncClient, url: str, body: dict) -> dict:
    """Send one streaming request; -> its timings (seconds) and token count."""
    start = time.perf_counter()
    chunk_times, tokens, error = [], 0, None
    try:
        async with client.stream("POST", f"{url}/v1/completions", json=body) as response:
            if response.status_code != 200:
                error = f"HTTP {response.status_code}: {(await response.aread())[:200]!r}"
            else:
                async for line in response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    if chunk.get("usage"):
                        tokens = chunk["usage"]["completion_tokens"]
                    if any(c.get("text") for c in chunk.get("choices", [])):
                        chunk_times.append(time.perf_counter())
    except httpx.HTTPError as e:
        error = f"{type(e).__name__}: {e}"
    if error is None and not chunk_times:
        error = "no text was streamed"
    end = time.perf_counter()
    return {"error": error, "latency": end - start, "tokens": tokens or len(chunk_times),
            "ttft": chunk_times[0] - start if chunk_times else None,
            "itl": [b - a for a, b in zip(chunk_times, chunk_times[1:])]}


async def run_share(url: str, bodies: list[dict], concurrency: int, timeout: float,
                    barrier=None) -> tuple[list[dict], float, float]:
    """Send bodies, at most concurrency in flight; -> results, start and end times.

    concurrency users, each with a client of its own sending one request
    after another: one shared client with a pool of 128 connections spent
    ~40% of its time in httpcore checking every pooled connection whenever a
    request started or ended (py-spy, 128 streams). With a barrier (one
    process of several), the clock starts only when every process is ready,
    so their runs overlap exactly.
    """
    todo = iter(bodies)     # shared: each user takes the next body when it is free

    async def user(client: httpx.AsyncClient) -> list[dict]:
        return [await one_request(client, url, body) for body in todo]

    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = ssl.create_default_context()   # built once: each client would load the CA file (~20 ms)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(
                       httpx.AsyncClient(timeout=timeout, limits=one, verify=tls))
                   for _ in range(concurrency)]
        if barrier is not None:
            await asyncio.to_thread(barrier.wait)
        start = time.perf_counter()
        parts = await asyncio.gather(*(user(c) for c in clients))
        end = time.perf_counter()
    return [r for part in parts for r in part], start, end


_barrier = None   # set in each client process by _init_client


def _init_client(barrier) -> None:
    global _barrier
    _barrier = barrier


def _client_process(url: str, bodies: list[dict], concurrency: int, timeout: float):
    return asyncio.run(run_share(url, bodies, concurrency, timeout, _barrier))


def _run_processes(shares: list[tuple]) -> list[tuple[list[dict], float, float]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(shares))
    with ctx.Pool(len(shares), initializer=_init_client, initargs=(barrier,)) as pool:
        return pool.starmap(_client_process, shares)


async def run_level(url: str, model: str, concurrency: int, num_requests: int,
                    args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed + concurrency)
    bodies = [{"model": model, "prompt": make_prompt(rng, args),
               "max_tokens": args.output_len, "ignore_eos": True, "temperature": 0,
               "stream": True, "stream_options": {"include_usage": True}}
              for _ in range(num_requests)]
    n = min(getattr(args, "client_processes", 1), concurrency)
    if n == 1:
        results, start, end = await run_share(url, bodies, concurrency, args.timeout)
        return summarize(concurrency, results, end - start)
    # One Python process parses every chunk of every stream, and may itself be
    # what limits the rate: split the requests and the users over n processes.
    # perf_counter is the same system-wide monotonic clock in each, so the
    # level lasts from the first start to the last end.
    shares = [(url, bodies[i::n], concurrency // n + (i < concurrency % n), args.timeout)
              for i in range(n)]
    parts = await asyncio.to_thread(_run_processes, shares)
    results = [r for part_results, _, _ in parts for r in part_results]
    duration = max(end for *_, end in parts) - min(start for _, start, _ in parts)
    return summarize(concurrency, results, duration)


# ---------------------------------------------------------------- results ---
def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the two nearest ranks (q in [0, 100])."""
    if not values:
        return None
    values = sorted(values)
    pos = (len(values) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


def summarize(concurrency: int, results: list[dict], duration: float) -> dict:
    ok = [r for r in results if r["error"] is None]
    ttft = [r["ttft"] for r in ok]
    itl = [gap for r in ok for gap in r["itl"]]
    summary = {"concurrency": concurrency, "requests": len(results), "failed": len(results) - len(ok),
               "duration_s": duration, "request_throughput": len(ok) / duration,
               "output_tokens_per_s": sum(r["tokens"] for r in ok) / duration}
    for name, values in (("ttft", ttft), ("itl", itl)):
        for q in (50, 90, 99):
            value = percentile(values, q)
            summary[f"{name}_p{q}_ms"] = None if value is None else value * 1000
    errors = sorted({r["error"] for r in results if r["error"]})
    if errors:
        summary["errors"] = errors[:5]
    return summary
