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

A decode layer's RMSNorms can ride along in the GEMMs around them
(aios/layers/fused_decode.py puts this to use): a norm kernel at a few dozen
rows moves a few kilobytes and still costs a launch of ~1.3 us. RMSNorm(s) @ W.T
= r * ((s * g) @ W.T), with r = rsqrt(mean(s^2) + eps) per row, so:
  * the GEMM before the norm (o or down: s = x @ W.T + residual) stores, beside
    s, t = s * g and each output tile's sums of s^2 per row (NEXT_NORM);
  * the GEMM after it takes t as its x, its loop unchanged, and scales each row
    of its output by r, from those sums (ROW_SCALE).
(Normalizing x inside the GEMM's own loads instead measured 2.7x slower per GEMM
on an H200: the modified operand cost the loop its pipelining; BENCHMARKS.md.)

The tile sizes come from skinny_gemm_configs.py (measured, by shape).
"""
import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from aios.kernels.host_math import cdiv, next_power_of_2
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel
from aios.kernels.skinny_gemm_configs import (CONFIGS, GemmConfig, default_config,  # noqa: F401
                                              load_configs, pick_config, rows_bucket)
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
def _store_output(acc, b_ptr, r_ptr, y_ptr, g_ptr, t_ptr, ss_ptr, pid_n, M, rows, cols,
                  stride_rm, stride_ym, out_ok, col_ok,
                  HAS_BIAS: tl.constexpr, HAS_RESIDUAL: tl.constexpr, NEXT_NORM: tl.constexpr):
    if HAS_BIAS:
        acc += tl.load(b_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    if HAS_RESIDUAL:
        acc += tl.load(r_ptr + rows[:, None] * stride_rm + cols[None, :], mask=out_ok,
                       other=0.0).to(tl.float32)
    y = acc.to(y_ptr.dtype.element_ty)
    tl.store(y_ptr + rows[:, None] * stride_ym + cols[None, :], y, mask=out_ok)
    if NEXT_NORM:   # for the GEMM after the norm: t = y * g, and this tile's sums of y^2
        yf = y.to(tl.float32)                                # the norm sees y as stored
        g = tl.load(g_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)
        tl.store(t_ptr + rows[:, None] * stride_ym + cols[None, :],
                 (yf * g[None, :]).to(y_ptr.dtype.element_ty), mask=out_ok)
        tl.store(ss_ptr + pid_n * M + rows, tl.sum(yf * yf, axis=1), mask=rows < M)


# M is not specialized (on M == 1 or M % 16 == 0, as Triton would): every row
# count of a bucket shares one compiled kernel, so an eager decode of a new
# batch size compiles nothing.
@triton.jit(do_not_specialize=["M"])
def _skinny_gemm_kernel(
    x_ptr, w_ptr, b_ptr, r_ptr, y_ptr,   # x [M, K], W [N, K], b [N], residual [M, N], y [M, N]
    g_ptr, t_ptr, ss_ptr, ss_tiles, eps,   # the norms: see the module's docstring
    part_ptr, count_ptr,          # split-K: float32 partials [split_k, M, N], int32 [tiles]
    M, N, K,
    stride_xm, stride_wn, stride_rm, stride_ym,   # row strides; K (and N in y) is contiguous
    k_per_split,                  # K elements per split, a multiple of BLOCK_K
    split_k,
    HAS_BIAS: tl.constexpr, HAS_RESIDUAL: tl.constexpr,
    NEXT_NORM: tl.constexpr, ROW_SCALE: tl.constexpr, SS_TILES: tl.constexpr,
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
    if ROW_SCALE:   # issued before the loop, used after it: its latency hides behind the loads
        tiles = tl.arange(0, SS_TILES)
        sum_sq = tl.sum(tl.load(ss_ptr + tiles[:, None] * M + rows[None, :],
                                mask=(tiles[:, None] < ss_tiles) & row_ok[None, :], other=0.0), axis=0)

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
    if ROW_SCALE:
        acc *= tl.rsqrt(sum_sq / K + eps)[:, None]           # the norm's 1 / rms, per row

    out_ok = row_ok[:, None] & col_ok[None, :]
    if split_k == 1:
        _store_output(acc, b_ptr, r_ptr, y_ptr, g_ptr, t_ptr, ss_ptr, pid_n, M, rows, cols,
                      stride_rm, stride_ym, out_ok, col_ok, HAS_BIAS, HAS_RESIDUAL, NEXT_NORM)
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
            _store_output(total, b_ptr, r_ptr, y_ptr, g_ptr, t_ptr, ss_ptr, pid_n, M, rows, cols,
                          stride_rm, stride_ym, out_ok, col_ok, HAS_BIAS, HAS_RESIDUAL, NEXT_NORM)


def tile_counters(device: torch.device) -> torch.Tensor:
    """The per-device ticket counters of split-K launches (aios/kernels/tickets.py)."""
    return ticket_counters("skinny_gemm", MAX_TILES, device)


def _rows(t: torch.Tensor, k: int) -> torch.Tensor:
    """t: [..., k] -> [M, k] with contiguous rows."""
    t2 = t.reshape(-1, k)
    return t2 if t2.stride(-1) == 1 else t2.contiguous()


class NormInput(NamedTuple):
    """An RMSNorm's input as the GEMM before it leaves it for the GEMM after it."""
    scaled: torch.Tensor        # t = s * g, [M, K]: the next GEMM's x
    sum_sq: torch.Tensor        # float32 [tiles, M]: each of the producer's tiles' sums of s^2
    eps: float


def skinny_gemm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                config: GemmConfig | None = None, *, residual: torch.Tensor | None = None,
                next_norm: tuple[torch.Tensor, float] | None = None):
    """x: [..., K], weight: [N, K], bias: [N] or None -> y = x @ W.T + b, [..., N] in x's dtype.

    residual: [..., N], added to y.
    next_norm: (g [N], eps) of the RMSNorm that y goes into next -> (y, NormInput),
        and skinny_gemm(norm_input, W2) is then RMSNorm(y) @ W2.T.
    x may be such a NormInput ([M, K]): y is then RMSNorm(s) @ W.T for the s it came from.
    """
    norm_in = x if isinstance(x, NormInput) else None
    assert norm_in is None or next_norm is None, \
        "a GEMM either takes a norm's input or leaves one, not both (they share one buffer)"
    if norm_in is not None:
        x = norm_in.scaled
    n, k = weight.shape
    assert x.dtype in (torch.bfloat16, torch.float16) and weight.dtype == x.dtype, \
        f"skinny_gemm takes bfloat16 or float16 x and weight alike, got {x.dtype} and {weight.dtype}"
    assert x.shape[-1] == k, f"x has {x.shape[-1]} features, the weight expects {k}"
    assert weight.stride(-1) == 1, "the weight must be contiguous along K (row-major [N, K])"
    x2 = _rows(x, k)
    m = x2.shape[0]
    assert m <= MAX_ROWS, f"skinny_gemm is for at most {MAX_ROWS} rows, got {m}; use F.linear"
    cfg = config or pick_config(m, n, k, x.device)
    tiles = cdiv(n, cfg.block_n)
    y = torch.empty((m, n), dtype=x.dtype, device=x.device)
    r2 = t = ss = y                                      # placeholders where unused
    if residual is not None:
        assert residual.shape[-1] == n and residual.dtype == x.dtype, \
            f"residual must be [..., {n}] in {x.dtype}, got {tuple(residual.shape)} {residual.dtype}"
        r2 = _rows(residual, n)
    if next_norm is not None:
        g, eps = next_norm
        t = torch.empty_like(y)
        ss = torch.empty((tiles, m), dtype=torch.float32, device=x.device)
    elif norm_in is not None:
        g, eps, ss = y, norm_in.eps, norm_in.sum_sq
        assert ss.shape[1] == m, "the NormInput's rows are not x's"
    else:
        g, eps = y, 0.0
    if m > 0:
        split_k = max(1, min(cfg.split_k, cdiv(k, cfg.block_k)))
        k_per_split = cdiv(cdiv(k, cfg.block_k), split_k) * cfg.block_k
        split_k = cdiv(k, k_per_split)        # no split left without K to sum
        counters = tile_counters(x.device)
        if split_k > 1:
            assert tiles <= MAX_TILES, f"{tiles} output tiles exceed the {MAX_TILES} counters"
            partials = torch.empty((split_k, m, n), dtype=torch.float32, device=x.device)
        else:
            partials = counters                       # not touched with one split
        ss_tiles = ss.shape[0] if norm_in is not None else 1
        _skinny_gemm_kernel[(tiles, split_k)](
            x2, weight, bias if bias is not None else y, r2, y, g, t, ss, ss_tiles, eps,
            partials, counters,
            m, n, k, x2.stride(0), weight.stride(0), r2.stride(0), y.stride(0), k_per_split, split_k,
            HAS_BIAS=bias is not None, HAS_RESIDUAL=residual is not None,
            NEXT_NORM=next_norm is not None, ROW_SCALE=norm_in is not None,
            SS_TILES=next_power_of_2(ss_tiles), BLOCK_M=rows_bucket(m), BLOCK_N=cfg.block_n,
            BLOCK_K=cfg.block_k, DOT_IN_FP32=_INTERPRETED, num_warps=cfg.num_warps,
            num_stages=cfg.num_stages, **pdl_options(x.device),
        )
    y = y.view(*x.shape[:-1], n)
    if next_norm is None:
        return y
    return y, NormInput(t, ss, eps)


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
