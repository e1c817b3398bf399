"""The skinny GEMM against cuBLAS at decode batch sizes, and its tile table (needs CUDA).

    python benchmarks/skinny_gemm.py [--json PATH] [--budget-s 150] [--models Qwen3-8B/tp2]

For the four GEMMs of a layer of each model (default Qwen3-0.6B and Qwen3-8B;
"/tp2" is one rank's shard at tensor parallelism 2: qkv and gate_up split their
N, o and down their K) (qkv, o, gate_up, down; bf16) at M = 1, 4, 8, 16, 32
(and 48, 64, 96, 128 with --buckets 64,128) rows, times F.linear (cuBLAS) and
aios/kernels/skinny_gemm.py: its default config, and a small sweep:
  1. (BLOCK_N, BLOCK_K, SPLIT_K) at 4 warps / 3 stages,
  2. (num_warps, num_stages) around the best of 1.
A config is scored on every M of its rows bucket (1-16 share one table entry,
since one BLOCK_M serves them), by the sum of its times.

Timing: triton.testing.do_bench_cudagraph, i.e. a CUDA graph of a few hundred
back-to-back calls, as the engine's decode graph runs them. Each call reads a
different copy of the weight from a ring of copies >= 4x the 50 MB L2, so
every call streams its weight from HBM as in a real step (28 layers of
different weights). GB/s counts the weight + x + y bytes once, against the
H100's ~3.0 TB/s.

Prints (and writes in the JSON) the CONFIGS table for skinny_gemm.py, the
entries that beat cuBLAS by >= 3% over their bucket ("engine_configs", also
written alone to --engine-configs: the file AIOS_SKINNY_GEMM_CONFIGS reads), and the
per-layer sum of the four GEMMs per M: cuBLAS vs the kernel's default vs its
best config. Results go to --json (default $OUT/skinny_gemm.json) after every
shape, so a cut-off run keeps what it measured. --budget-s stops sweeping
(cuBLAS and the default config are still timed) once that much time is spent.
"""
import argparse
import itertools
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aios.kernels.skinny_gemm import (GemmConfig, default_config, rows_bucket,  # noqa: E402
                                      skinny_gemm)

PEAK_GBS = 3000.0
L2_BYTES = 50 * 2**20
DTYPE = torch.bfloat16
DEVICE = "cuda"


def layer_shapes(hidden, inter, heads, kv_heads, head_dim):
    """(name, N, K) of a decoder layer's four GEMMs."""
    return [("qkv", (heads + 2 * kv_heads) * head_dim, hidden),
            ("o", hidden, heads * head_dim),
            ("gate_up", 2 * inter, hidden),
            ("down", hidden, inter)]


def sharded(shapes, tp):
    """One rank's GEMMs: column-parallel qkv / gate_up split N, row-parallel o / down split K."""
    return [(name, n // tp, k) if name in ("qkv", "gate_up") else (name, n, k // tp)
            for name, n, k in shapes]


QWEN3 = {"Qwen3-0.6B": (28, layer_shapes(1024, 3072, 16, 8, 128)),
         "Qwen3-8B": (36, layer_shapes(4096, 12288, 32, 8, 128)),
         "Qwen3-14B": (40, layer_shapes(5120, 17408, 40, 8, 128))}
MODELS = {f"{name}{suffix}": dict(layers=layers, shapes=sharded(shapes, tp))
          for name, (layers, shapes) in QWEN3.items() for suffix, tp in (("", 1), ("/tp2", 2))}
DEFAULT_MODELS = "Qwen3-0.6B,Qwen3-8B"
MIN_GAIN = 0.03   # an engine entry must beat cuBLAS by this much over its bucket
BUCKETS = {16: [1, 4, 8, 16], 32: [32], 64: [48, 64], 128: [96, 128]}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    out = os.environ.get("OUT")
    p.add_argument("--json", default=os.path.join(out, "skinny_gemm.json") if out else None)
    p.add_argument("--budget-s", type=float, default=120.0,
                   help="stop sweeping after this many seconds (the whole run stays < 3 min)")
    p.add_argument("--buckets", default="16,32,64", help="rows buckets to measure")
    p.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated, of: {', '.join(MODELS)}")
    p.add_argument("--engine-configs", metavar="PATH",
                   help="also write the winning entries here, for AIOS_SKINNY_GEMM_CONFIGS")
    args = p.parse_args()
    unknown = set(args.models.split(",")) - set(MODELS)
    if unknown:
        p.error(f"unknown models {sorted(unknown)}; choose from {', '.join(MODELS)}")
    return args


class WeightRing:
    """Copies of one [N, K] weight, enough that L2 cannot hold them; each call takes the next."""

    def __init__(self, n, k):
        one = n * k * DTYPE.itemsize
        copies = max(2, -(-4 * L2_BYTES // one))
        self.weights = [torch.randn(n, k, device=DEVICE, dtype=DTYPE) / k ** 0.5
                        for _ in range(copies)]
        self.next = itertools.cycle(self.weights)

    def __call__(self):
        return next(self.next)


def time_us(fn) -> float:
    from triton.testing import do_bench_cudagraph
    return do_bench_cudagraph(fn, rep=5, return_mode="median") * 1e3


def rel_err(out, ref):
    return ((out.double() - ref.double()).norm() / ref.double().norm()).item()


def candidate_tiles(n, k, num_sms):
    """(BLOCK_N, BLOCK_K, SPLIT_K) worth trying: 1/2 to 8 programs per SM, whole BLOCK_K steps."""
    out = []
    for block_n, block_k in itertools.product((16, 32, 64), (128, 256)):
        tiles = -(-n // block_n)
        for split in (1, 2, 4, 8, 16):
            if split > 1 and k // split < block_k:
                continue
            if tiles * split > 8 * num_sms or (tiles * split < num_sms // 2 and split < 16
                                               and k // (2 * split) >= block_k):
                continue
            out.append(GemmConfig(block_n, block_k, split, 4, 3))
    return out


class Timer:
    """Times one (N, K) at each M of a bucket; remembers each result."""

    def __init__(self, ring, k, ms):
        self.ring = ring
        self.xs = {m: torch.randn(m, k, device=DEVICE, dtype=DTYPE) for m in ms}
        self.cache = {}

    def cublas(self, m):
        x = self.xs[m]
        return time_us(lambda: F.linear(x, self.ring()))

    def kernel(self, m, cfg):
        if (m, cfg) not in self.cache:
            x = self.xs[m]
            try:
                w = self.ring.weights[0]
                err = rel_err(skinny_gemm(x, w, None, cfg), F.linear(x.float(), w.float()))
                if err > 1e-2:
                    raise AssertionError(f"rel L2 err {err:.2e} vs F.linear")
                self.cache[(m, cfg)] = time_us(lambda: skinny_gemm(x, self.ring(), None, cfg))
            except Exception as e:  # noqa: BLE001 - e.g. out of shared memory: skip the config
                print(f"    {tuple(cfg)} at M={m} failed: {type(e).__name__}: {str(e)[:100]}")
                self.cache[(m, cfg)] = float("inf")
        return self.cache[(m, cfg)]

    def score(self, cfg):
        return sum(self.kernel(m, cfg) for m in self.xs)


def gbs(m, n, k, us):
    return (n * k + m * k + m * n) * DTYPE.itemsize / us / 1e3


def measure_shape(model, name, n, k, bucket, num_sms, deadline):
    ms = BUCKETS[bucket]
    timer = Timer(WeightRing(n, k), k, ms)
    default = default_config(bucket, n, k, num_sms)
    best, best_score = default, timer.score(default)
    swept = 0
    if time.time() < deadline:
        for cfg in candidate_tiles(n, k, num_sms):
            if time.time() > deadline:
                break
            score = timer.score(cfg)
            swept += 1
            if score < best_score:
                best, best_score = cfg, score
        for warps, stages in [(2, 3), (8, 3), (4, 2), (4, 4)]:
            if time.time() > deadline:
                break
            cfg = best._replace(num_warps=warps, num_stages=stages)
            score = timer.score(cfg)
            swept += 1
            if score < best_score:
                best, best_score = cfg, score
    rows = []
    for m in ms:
        cublas = timer.cublas(m)
        row = dict(model=model, gemm=name, M=m, N=n, K=k, weight_mb=n * k * 2 / 1e6,
                   cublas_us=cublas, default_us=timer.kernel(m, default), best_us=timer.kernel(m, best),
                   default=tuple(default), best=tuple(best), configs_tried=swept)
        for key in ("cublas", "default", "best"):
            row[f"{key}_gbs"] = gbs(m, n, k, row[f"{key}_us"])
        rows.append(row)
        print(f"  {model:10s} {name:7s} M={m:2d} N={n:5d} K={k:5d} {row['weight_mb']:5.1f} MB | "
              f"cuBLAS {cublas:6.2f} us {row['cublas_gbs']:5.0f} GB/s | default {row['default_us']:6.2f} us | "
              f"best {row['best_us']:6.2f} us {row['best_gbs']:5.0f} GB/s "
              f"({row['best_gbs'] / PEAK_GBS:4.0%} of {PEAK_GBS / 1e3:.1f} TB/s) {tuple(best)}", flush=True)
    return rows, best


def beats_cublas(rows) -> bool:
    """Is the best config >= MIN_GAIN faster than cuBLAS, summed over the bucket's row counts?"""
    return sum(r["best_us"] for r in rows) <= (1 - MIN_GAIN) * sum(r["cublas_us"] for r in rows)


def summarize(rows, models):
    """Per model and M: the four GEMMs of one layer, summed, and over all layers."""
    out = []
    for model in models:
        spec = MODELS[model]
        for m in sorted({r["M"] for r in rows if r["model"] == model}):
            sel = [r for r in rows if r["model"] == model and r["M"] == m]
            if len(sel) < len(spec["shapes"]):
                continue
            layer = {key: sum(r[f"{key}_us"] for r in sel) for key in ("cublas", "default", "best")}
            out.append(dict(model=model, M=m, **{f"layer_{k}_us": v for k, v in layer.items()},
                            step_saved_ms=(layer["cublas"] - layer["best"]) * spec["layers"] / 1e3))
            print(f"  {model:10s} M={m:2d}: one layer's 4 GEMMs cuBLAS {layer['cublas']:6.1f} us, "
                  f"default {layer['default']:6.1f} us, best {layer['best']:6.1f} us; "
                  f"x{spec['layers']} layers: {out[-1]['step_saved_ms']:.3f} ms a step saved", flush=True)
    return out


def main():
    args = parse_args()
    assert torch.cuda.is_available(), "this benchmark needs a CUDA GPU"
    torch.manual_seed(0)
    start = time.time()
    num_sms = torch.cuda.get_device_properties(0).multi_processor_count
    buckets = [int(b) for b in args.buckets.split(",")]
    result = dict(device=torch.cuda.get_device_name(), num_sms=num_sms, peak_gbs=PEAK_GBS,
                  rows=[], configs={}, summary=[])
    print(f"{result['device']}, {num_sms} SMs; sweep budget {args.budget_s:.0f} s", flush=True)
    # The shapes the engine meets most first: 0.6B at <= 16 rows, then 32, then 8B, then 64.
    models = args.models.split(",")
    result["engine_configs"] = {}
    order = [(b, model) for b in buckets if b <= 32 for model in models] + \
            [(b, model) for b in buckets if b > 32 for model in models]
    for bucket, model in order:
        for name, n, k in MODELS[model]["shapes"]:
            rows, best = measure_shape(model, name, n, k, bucket, num_sms, start + args.budget_s)
            result["rows"] += rows
            if rows[0]["configs_tried"]:
                result["configs"][f"({bucket}, {n}, {k})"] = f"GemmConfig{tuple(best)}"
                if beats_cublas(rows):
                    result["engine_configs"][f"{bucket},{n},{k}"] = list(best)
                    if args.engine_configs:
                        with open(args.engine_configs, "w") as f:
                            json.dump(result["engine_configs"], f, indent=1)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(result, f, indent=1)
            del rows
            torch.cuda.empty_cache()
    print("\nper layer (sum of the four GEMMs):")
    result["summary"] = summarize(result["rows"], models)
    print("\nCONFIGS for aios/kernels/skinny_gemm.py (rows bucket, N, K):")
    for key, cfg in result["configs"].items():
        wins = key.strip("()").replace(" ", "") in result["engine_configs"]
        print(f"    {key}: {cfg},{'' if wins else '   # not >= 3% faster than cuBLAS'}")
    result["seconds"] = time.time() - start
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    print(f"\n{result['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
