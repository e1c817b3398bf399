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
import ipaddress
import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

# The requests, their timings and percentiles: benchmarks/serve_client.py.
from aios.utils.server_process import free_port, stop, wait_healthy  # noqa: E402
from benchmarks.serve_client import run_level  # noqa: E402


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


def start_server(model: str, server_args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "aios.cli", "serve"]
    cmd += [] if model == "default" else [model]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            *shlex.split(server_args)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(f"starting: {' '.join(cmd)}", file=sys.stderr)
    return subprocess.Popen(cmd, cwd=root), f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------- results ---
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
        try:
            wait_healthy(proc, url, timeout=900 if proc else 10)
        except RuntimeError as e:
            raise SystemExit(f"error: {e}")
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
            stop(proc)
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
