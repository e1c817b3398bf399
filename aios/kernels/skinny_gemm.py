"""y = x @ W.T (+ b) for the few rows of a decode step: a GEMM that is one weight read.

Reference: `linear_ref` in aios/kernels/reference.py (F.linear).

In a decode step of up to a few dozen sequences, x is [M, K] with M small and
W is [N, K]: the work is reading W once from HBM (2-25 MB), the arithmetic is
nothing. cuBLAS tiles such a GEMM with 128-wide output tiles, so N = 1,024
outputs become ~8 tiles, read by ~8 of the H100's 132 SMs: the kernel takes
about twice as long as the card needs to stream the weight.

This kernel spreads the weight over every SM instead:
  * narrow output tiles (BLOCK_N = 16-64 rows of W), each program streaming
    its [BLOCK_N, BLOCK_K] tiles of W along K (each row of W is contiguous
    along K, so the loads are 16-byte vectors, coalesced);
  * split-K when N / BLOCK_N tiles are too few to fill the GPU: program
    (n, s) sums its K range into a float32 partial [M, BLOCK_N], writes it to
    a workspace and takes a ticket from the tile's counter; the program that
    draws the last ticket adds the SPLIT_K partials (in split order, so the
    result is the same whoever finishes last), adds the bias, writes y and
    sets the counter back to zero for the next launch.
One launch, no host sync, a grid fixed by the shape: CUDA-graph capturable.
The counters (one int32 per output tile, zero between launches) are shared by
every call on a device: launches on one stream never overlap, and the engine
runs all of its GEMMs on one stream.

The tile sizes come from a small table keyed by (rows bucket, N, K), measured
by benchmarks/skinny_gemm.py on an H100; shapes not in it get a heuristic.
Nothing is tuned while the engine runs. A table measured elsewhere (another
GPU, other shapes) can be added without editing this file: point
AIOS_SKINNY_GEMM_CONFIGS at the JSON file benchmarks/skinny_gemm.py writes
(its "engine_configs").
"""
import json
import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from aios.kernels.host_math import cdiv, next_power_of_2, sm_count
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel
from aios.kernels.tickets import ticket_counters

_INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
# Up to 128 rows (BLOCK_M = 16, 32, 64 or 128), but the engine takes the kernel only
# for shapes in CONFIGS: measured on one H100 / H200 up to 32 rows. Past that cuBLAS's
# tiles fill the GPU for a whole model, not always for one TP rank's half-width shards
# (BENCHMARKS.md, session 9: TP=2's GEMMs at 64 rows ran at 66% of their weight-read
# floor); `benchmarks/skinny_gemm.py --buckets 64,128 --models Qwen3-8B/tp2` measures them.
MAX_ROWS = 128
MAX_TILES = 1 << 16     # output tiles a split-K launch may have (size of the counters)


@triton.jit
def _store_output(acc, b_ptr, y_ptr, rows, cols, stride_ym, out_ok, col_ok, HAS_BIAS: tl.constexpr):
    if HAS_BIAS:
        acc += tl.load(b_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    tl.store(y_ptr + rows[:, None] * stride_ym + cols[None, :],
             acc.to(y_ptr.dtype.element_ty), mask=out_ok)


# M is not specialized (on M == 1 or M % 16 == 0, as Triton would): every row
# count of a bucket shares one compiled kernel, so an eager decode of a new
# batch size compiles nothing.
@triton.jit(do_not_specialize=["M"])
def _skinny_gemm_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,   # x [M, K], W [N, K], b [N], y [M, N]
    part_ptr, count_ptr,          # split-K: float32 partials [split_k, M, N], int32 [tiles]
    M, N, K,
    stride_xm, stride_wn, stride_ym,   # row strides; K (and N in y) is contiguous
    k_per_split,                  # K elements per split, a multiple of BLOCK_K
    split_k,
    HAS_BIAS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_IN_FP32: tl.constexpr,
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    rows = tl.arange(0, BLOCK_M)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)       # output features = rows of W
    row_ok, col_ok = rows < M, cols < N
    x_rows = x_ptr + rows[:, None].to(tl.int64) * stride_xm
    w_rows = w_ptr + cols[:, None].to(tl.int64) * stride_wn

    # This split's K range. Steps of BLOCK_K never pass k_lo + k_per_split, so
    # only the end of K needs a mask.
    k_lo = pid_k * k_per_split
    k_hi = tl.minimum(k_lo + k_per_split, K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(k_lo, k_hi, BLOCK_K):
        ks = k + tl.arange(0, BLOCK_K)
        k_ok = ks < K
        x = tl.load(x_rows + ks[None, :], mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        w = tl.load(w_rows + ks[None, :], mask=col_ok[:, None] & k_ok[None, :], other=0.0)
        if DOT_IN_FP32:   # Triton's CPU interpreter multiplies 16-bit floats wrongly
            x, w = x.to(tl.float32), w.to(tl.float32)
        acc += tl.dot(x, tl.trans(w))                        # [BLOCK_M, BLOCK_N]

    out_ok = row_ok[:, None] & col_ok[None, :]
    if split_k == 1:
        _store_output(acc, b_ptr, y_ptr, rows, cols, stride_ym, out_ok, col_ok, HAS_BIAS)
    else:
        tile = rows[:, None] * N + cols[None, :]             # offsets in one [M, N] partial
        tl.store(part_ptr + pid_k * M * N + tile, acc, mask=out_ok)
        tl.debug_barrier()                                   # every thread's partial is written
        ticket = tl.atomic_add(count_ptr + pid_n, 1, sem="acq_rel")
        if ticket == split_k - 1:                            # the tile's last split to finish
            total = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
            for s in range(0, split_k):                      # split order: deterministic
                total += tl.load(part_ptr + s * M * N + tile, mask=out_ok, other=0.0,
                                 cache_modifier=".cg")       # from L2, never a stale L1 line
            tl.store(count_ptr + pid_n, 0)                   # zero for the next launch
            _store_output(total, b_ptr, y_ptr, rows, cols, stride_ym, out_ok, col_ok, HAS_BIAS)


class GemmConfig(NamedTuple):
    block_n: int
    block_k: int
    split_k: int
    num_warps: int = 4
    num_stages: int = 3


# (rows bucket, N, K) -> config: the shapes where this kernel measured at least
# 3% faster than cuBLAS (summed over the bucket's row counts) on one H100 or H200
# (benchmarks/skinny_gemm.py, BENCHMARKS.md), or faster end to end once the
# engine's own kernels were launched with PDL. The rows bucket is BLOCK_M: 16
# for 1-16 rows, 32 for 17-32, 64, 128. Only these shapes leave cuBLAS in the
# engine (skinny_linear); other GPUs have not been measured.
CONFIGS: dict[tuple[int, int, int], GemmConfig] = {
    # Qwen3-0.6B: qkv (N 4096, K 1024) and gate_up (N 6144, K 1024): as fast as cuBLAS
    # alone, but launched with PDL (pdl.py) where cuBLAS is not: +1.4% on `table`
    # (BENCHMARKS.md, session 13)
    (16, 4096, 1024): GemmConfig(16, 256, 1, 4, 4),
    (16, 6144, 1024): GemmConfig(32, 256, 1, 4, 3),
    (32, 4096, 1024): GemmConfig(16, 256, 1, 4, 4),
    (32, 6144, 1024): GemmConfig(16, 128, 1, 4, 4),
    # Qwen3-0.6B: o (N 1024, K 2048) and down (N 1024, K 3072): 8 cuBLAS tiles
    (16, 1024, 2048): GemmConfig(32, 128, 4, 4, 4),
    (16, 1024, 3072): GemmConfig(32, 128, 8, 4, 3),
    (32, 1024, 2048): GemmConfig(16, 128, 4, 4, 3),
    (32, 1024, 3072): GemmConfig(16, 256, 4, 4, 3),
    # Qwen3-8B: qkv, o, gate_up, down
    (16, 6144, 4096): GemmConfig(32, 256, 1, 2, 3),
    (16, 4096, 4096): GemmConfig(32, 128, 4, 4, 3),
    (16, 24576, 4096): GemmConfig(64, 128, 1, 4, 3),
    (16, 4096, 12288): GemmConfig(64, 128, 4, 4, 3),
    (32, 24576, 4096): GemmConfig(64, 128, 1, 2, 3),
    (32, 4096, 12288): GemmConfig(32, 256, 2, 4, 3),
    # Measured on one H200 (benchmarks/skinny_gemm.py --models Qwen3-8B/tp2,Qwen3-14B/tp2,
    # Qwen3-14B --buckets 16,32; BENCHMARKS.md): one rank's shards at TP=2, and 14B
    (16, 3072, 4096): GemmConfig(32, 128, 4, 4, 4),   # 8B/tp2 qkv
    (16, 12288, 4096): GemmConfig(32, 256, 1, 4, 3),   # 8B/tp2 gate_up
    (16, 4096, 6144): GemmConfig(32, 128, 4, 4, 3),   # 8B/tp2 down
    (16, 3584, 5120): GemmConfig(32, 128, 4, 2, 3),   # 14B/tp2 qkv
    (16, 17408, 5120): GemmConfig(32, 128, 1, 2, 3),   # 14B/tp2 gate_up
    (16, 5120, 8704): GemmConfig(32, 128, 4, 2, 3),   # 14B/tp2 down
    (16, 7168, 5120): GemmConfig(32, 256, 1, 4, 4),   # 14B qkv
    (16, 34816, 5120): GemmConfig(64, 128, 1, 4, 2),   # 14B gate_up
    (16, 5120, 17408): GemmConfig(32, 128, 4, 2, 3),   # 14B down
    (32, 3072, 4096): GemmConfig(32, 128, 4, 4, 4),   # 8B/tp2 qkv
    (32, 4096, 6144): GemmConfig(32, 256, 2, 2, 3),   # 8B/tp2 down
    (32, 3584, 5120): GemmConfig(32, 256, 2, 2, 3),   # 14B/tp2 qkv
    (32, 5120, 8704): GemmConfig(64, 128, 4, 4, 3),   # 14B/tp2 down
}


def load_configs(path: str) -> dict[tuple[int, int, int], GemmConfig]:
    """{"16,3072,4096": [block_n, block_k, split_k, num_warps, num_stages], ...} -> CONFIGS entries."""
    try:
        with open(path) as f:
            table = json.load(f)
        configs = {}
        for key, cfg in table.items():
            shape = tuple(int(v) for v in key.split(","))
            if len(shape) != 3 or not 3 <= len(cfg) <= 5:
                raise ValueError(f"entry {key!r}: {cfg!r}")
            configs[shape] = GemmConfig(*(int(v) for v in cfg))
        return configs
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"AIOS_SKINNY_GEMM_CONFIGS={path!r}: expected a JSON object like "
                         f'{{"16,3072,4096": [32, 256, 1, 4, 3]}} (benchmarks/skinny_gemm.py '
                         f"writes one): {e}") from e


if os.environ.get("AIOS_SKINNY_GEMM_CONFIGS"):
    CONFIGS.update(load_configs(os.environ["AIOS_SKINNY_GEMM_CONFIGS"]))


def rows_bucket(rows: int) -> int:
    return max(16, next_power_of_2(rows))


def default_config(rows: int, n: int, k: int, num_sms: int = 132) -> GemmConfig:
    """Tiles of 16 rows of W (32 from N = 2,048 on); split K until there are
    ~2 programs per SM (at most 16 splits, each at least 128 of K long).

    BLOCK_K is 256 unless 128 divides K into the splits more evenly (a split
    range is a whole number of BLOCK_K steps; an uneven last one idles).
    """
    block_n = 32 if n >= 2048 else 16
    tiles = cdiv(n, block_n)
    split_k = 1
    while tiles * split_k < 2 * num_sms and k // (2 * split_k) >= 128 and split_k < 16:
        split_k *= 2
    per_split = cdiv(k, split_k)
    block_k = 256 if per_split % 256 == 0 else 128
    return GemmConfig(block_n, block_k, split_k, num_warps=4, num_stages=3)


def pick_config(rows: int, n: int, k: int, device: torch.device) -> GemmConfig:
    # On a CPU (the interpreter's tests) as on an H100, which the heuristic was made for.
    return CONFIGS.get((rows_bucket(rows), n, k)) or default_config(rows, n, k, sm_count(device, on_cpu=132))


def tile_counters(device: torch.device) -> torch.Tensor:
    """The per-device ticket counters of split-K launches (aios/kernels/tickets.py)."""
    return ticket_counters("skinny_gemm", MAX_TILES, device)


def skinny_gemm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                config: GemmConfig | None = None) -> torch.Tensor:
    """x: [..., K], weight: [N, K], bias: [N] or None -> [..., N] in x's dtype."""
    n, k = weight.shape
    assert x.dtype in (torch.bfloat16, torch.float16) and weight.dtype == x.dtype, \
        f"skinny_gemm takes bfloat16 or float16 x and weight alike, got {x.dtype} and {weight.dtype}"
    assert x.shape[-1] == k, f"x has {x.shape[-1]} features, the weight expects {k}"
    assert weight.stride(-1) == 1, "the weight must be contiguous along K (row-major [N, K])"
    x2 = x.reshape(-1, k)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    m = x2.shape[0]
    assert m <= MAX_ROWS, f"skinny_gemm is for at most {MAX_ROWS} rows, got {m}; use F.linear"
    y = torch.empty((m, n), dtype=x.dtype, device=x.device)
    if m == 0:
        return y.view(*x.shape[:-1], n)
    cfg = config or pick_config(m, n, k, x.device)
    split_k = max(1, min(cfg.split_k, cdiv(k, cfg.block_k)))
    k_per_split = cdiv(cdiv(k, cfg.block_k), split_k) * cfg.block_k
    split_k = cdiv(k, k_per_split)        # no split left without K to sum
    tiles = cdiv(n, cfg.block_n)
    counters = tile_counters(x.device)
    if split_k > 1:
        assert tiles <= MAX_TILES, f"{tiles} output tiles exceed the {MAX_TILES} counters"
        partials = torch.empty((split_k, m, n), dtype=torch.float32, device=x.device)
    else:
        partials = counters                       # not touched with one split
    _skinny_gemm_kernel[(tiles, split_k)](
        x2, weight, bias if bias is not None else y, y, partials, counters,
        m, n, k, x2.stride(0), weight.stride(0), y.stride(0), k_per_split, split_k,
        HAS_BIAS=bias is not None, BLOCK_M=rows_bucket(m), BLOCK_N=cfg.block_n,
        BLOCK_K=cfg.block_k, DOT_IN_FP32=_INTERPRETED, num_warps=cfg.num_warps, num_stages=cfg.num_stages,
        **pdl_options(x.device),
    )
    return y.view(*x.shape[:-1], n)


def skinny_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear, through skinny_gemm for decode-sized batches captured in a CUDA graph.

    The linear layers' `impl` on a GPU (ModelRunner._use_triton_layer_kernels).
    Prefill batches (hundreds of rows) stay with cuBLAS, which is compute-tuned.
    So do eager steps: launched from Python, a Triton kernel costs the host
    2-4x what a cuBLAS call does (51-80 vs 18-27 us on an H200's host,
    benchmarks/launch_cost.py), far more than the few microseconds of GPU time
    it saves; a replayed graph pays no launch cost at all.
    """
    rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
    if (x.is_cuda and 0 < rows <= MAX_ROWS and x.dtype in (torch.bfloat16, torch.float16)
            and weight.dtype == x.dtype and weight.stride(-1) == 1
            and (rows_bucket(rows), *weight.shape) in CONFIGS   # measured faster than cuBLAS
            and torch.cuda.is_current_stream_capturing()):
        return skinny_gemm(x, weight, bias)
    return F.linear(x, weight, bias)
