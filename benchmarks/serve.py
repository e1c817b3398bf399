"""Benchmark a running `aios serve` (or any OpenAI-compatible server) on loopback.

    # against a server you started yourself
    python benchmarks/serve.py --url http://127.0.0.1:8000 --concurrency 1,8,32,128

    # start one here (a subprocess on a free loopback port), measure, stop it
    python benchmarks/serve.py --model default --concurrency 1,8,32 --num-requests 64
    python benchmarks/serve.py --model /path/to/Qwen3-0.6B --server-args "--max-num-seqs 128"

For each concurrency level, --num-requests streaming requests with random
prompts are sent by that many users, each sending its next request when the
last one ends (--client-processes N spreads the users over N processes).
Every request asks for exactly --output-len tokens (ignore_eos), so levels are
comparable. Reported:
request throughput, output tokens/s, time to first token (TTFT) and
inter-token latency (ITL: the gap between consecutive streamed chunks) as
p50/p90/p99.

Only loopback addresses are accepted: this tool is for measuring your own
machine, never someone else's server.
"""
import argparse
import asyncio
import contextlib
import ipaddress
import json
import multiprocessing
import os
import random
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from urllib.parse import urlparse

import httpx

WORDS = ("time year people way day man thing woman life child world school state family "
         "student group country problem hand part place case week company system program "
         "question work government number night point home water room mother area money story "
         "fact month lot right study book eye job word business issue side kind head house "
         "service friend father power hour game line end member law car city community name "
         "president team minute idea kid body information back parent face others level office "
         "door health person art war history party result change morning reason research girl "
         "guy moment air teacher force education").split()


# ------------------------------------------------------------- the target ---
def check_loopback(url: str) -> None:
    """Refuse any URL whose host is not (or does not resolve only to) loopback."""
    host = urlparse(url).hostname
    if not host:
        raise SystemExit(f"error: {url!r} has no host; use e.g. http://127.0.0.1:8000")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as e:
        raise SystemExit(f"error: cannot resolve {host!r}: {e}")
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback
                                for a in addresses):
        raise SystemExit(f"error: {host!r} is not a loopback address ({', '.join(sorted(addresses))}); "
                         f"this benchmark only targets servers on this machine")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, server_args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "aios.cli", "serve"]
    cmd += [] if model == "default" else [model]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            *shlex.split(server_args)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(f"starting: {' '.join(cmd)}", file=sys.stderr)
    return subprocess.Popen(cmd, cwd=root), f"http://127.0.0.1:{port}"


def wait_healthy(proc: subprocess.Popen | None, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"error: the server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"error: no healthy server at {url} after {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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


def print_table(rows: list[dict]) -> None:
    columns = [("concurrency", "conc", "d"), ("requests", "reqs", "d"), ("failed", "fail", "d"),
               ("request_throughput", "req/s", ".2f"), ("output_tokens_per_s", "out tok/s", ".1f"),
               ("ttft_p50_ms", "TTFT p50", ".0f"), ("ttft_p90_ms", "p90", ".0f"),
               ("ttft_p99_ms", "p99", ".0f"), ("itl_p50_ms", "ITL p50", ".1f"),
               ("itl_p90_ms", "p90", ".1f"), ("itl_p99_ms", "p99", ".1f")]
    widths = [max(len(title), 8) for _, title, _ in columns]
    print("  ".join(t.rjust(w) for (_, t, _), w in zip(columns, widths)))
    for row in rows:
        cells = ["-" if row[key] is None else format(row[key], fmt) for key, _, fmt in columns]
        print("  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    print("(TTFT and ITL in milliseconds)")
    for row in rows:
        for error in row.get("errors", []):
            print(f"concurrency {row['concurrency']}: {error}", file=sys.stderr)


# ------------------------------------------------------------------- main ---
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000",
                   help="the server to measure (loopback only; ignored with --model)")
    p.add_argument("--model", default=None,
                   help="start `aios serve MODEL` here first ('default' = the built-in model)")
    p.add_argument("--server-args", default="", help="extra options for `aios serve`, quoted")
    p.add_argument("--concurrency", default="1,8,32,128",
                   help="comma-separated levels of requests in flight (default: 1,8,32,128)")
    p.add_argument("--num-requests", type=int, default=None,
                   help="requests per level (default: 4 x the level, at least 16)")
    p.add_argument("--input-len", type=int, default=64,
                   help="words per random prompt (token ids with --token-ids)")
    p.add_argument("--token-ids", action="store_true",
                   help="send random token ids (automatic for random:* models)")
    p.add_argument("--output-len", type=int, default=64, help="tokens generated per request")
    p.add_argument("--client-processes", type=int, default=1,
                   help="split each level's requests over this many client processes, to see "
                        "whether one Python client is what limits the rate (default: 1)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per request at most")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                   help="also write the results as JSON (to PATH, or stdout without one)")
    args = p.parse_args(argv)
    args.token_ids = args.token_ids or (args.model or "").startswith("random:")
    try:
        args.levels = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        p.error(f"--concurrency must be comma-separated integers, got {args.concurrency!r}")
    sizes = (args.input_len, args.output_len, args.client_processes)
    if any(c < 1 for c in args.levels) or min(sizes) < 1:
        p.error("--concurrency levels, --input-len, --output-len and --client-processes "
                "must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    proc = None
    url = args.url.rstrip("/")
    if args.model is not None:
        proc, url = start_server(args.model, args.server_args)
    check_loopback(url)
    try:
        wait_healthy(proc, url, timeout=900 if proc else 10)
        model = httpx.get(f"{url}/v1/models").json()["data"][0]["id"]
        warmup = argparse.Namespace(**{**vars(args), "output_len": 4})
        asyncio.run(run_level(url, model, 1, 1, warmup))     # load code paths once
        rows = []
        for level in args.levels:
            n = args.num_requests or max(16, 4 * level)
            rows.append(asyncio.run(run_level(url, model, level, n, args)))
            print(f"concurrency {level}: done in {rows[-1]['duration_s']:.1f} s", file=sys.stderr)
    finally:
        if proc is not None:
            stop_server(proc)
    print(f"\n{model} at {url}: prompts ~{args.input_len} words, {args.output_len} output tokens")
    print_table(rows)
    if args.json:
        text = json.dumps({"model": model, "url": url, "input_len": args.input_len,
                           "output_len": args.output_len, "results": rows}, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    return 1 if any(r["failed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
