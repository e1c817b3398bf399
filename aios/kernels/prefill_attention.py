"""Causal FlashAttention for a prefill batch of variable-length sequences.

Reference: `prefill_attention_ref` in aios/kernels/reference.py.

The batch is packed: sequence b owns query rows cu_seqlens_q[b]:cu_seqlens_q[b+1]
and key rows cu_seqlens_k[b]:cu_seqlens_k[b+1]. Its queries are its LAST q_len
positions (the first k_len - q_len may be a prefix reused from the cache), so
query i may see key t when t <= (k_len - q_len) + i.

One program computes one BLOCK_M-row tile of queries for one (sequence, head).
It walks the keys in BLOCK_N-row tiles with the online softmax: it keeps, per
query row, the running max m, the running sum l of exp(score - m) and the
unnormalized output acc, rescaling them when m grows. The [L, L] score matrix
never exists in memory; each K/V tile is read once per query tile.

Causality decides which key tiles a query tile needs:
  * tiles wholly at or below every row's limit: no mask at all (the bulk);
  * tiles crossing the diagonal (or the end of the keys): masked;
  * tiles wholly above the diagonal: skipped, never loaded.
Scores are kept in base 2 (scale * log2(e) folded in, exp2 instead of exp).

Keys and values come either from the packed k/v of the new tokens or, with
`block_tables` (prefix-cache hits), from the paged cache: key t of sequence b
then lives in block block_tables[b, t // block_size] at offset t % block_size.
GQA: query head h reads KV head h // (H // Hkv).
"""
import torch
import triton
import triton.language as tl

from aios.kernels.attention_common import dot as _dot, upcast_dot as _upcast_dot
from aios.kernels.host_math import cdiv
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel

LOG2E = 1.4426950408889634

HEAD_DIMS = (16, 32, 64, 128, 256)  # powers of two (tl.arange), >= 16 (tl.dot)


def _default_config(is16: bool, head_dim: int):
    """(BLOCK_M, BLOCK_N, num_warps, num_stages) for the H100.

    16-bit tiles feed the tensor cores, sized so that q plus the pipelined K/V
    buffers fit in shared memory. float32 (exact "ieee" dots without tensor
    cores; for tests, not speed) uses small tiles so that nothing spills.
    """
    if is16:
        if head_dim <= 64:
            return 128, 64, 4, 3
        return (128, 64, 8, 3) if head_dim == 128 else (64, 64, 8, 2)
    return (32, 16, 4, 2) if head_dim <= 128 else (16, 16, 4, 2)




@triton.jit
def _attend_tile(acc, l_i, m_i, q, k_ptr, v_ptr, bt_row_ptr, start, seq_k_start,
                 k_len, row_limit, kv_head_off, qk_scale,
                 stride_kb, stride_kn, stride_kd,
                 MASKED: tl.constexpr, PAGED: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr,
                 HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                 DOT_PREC: tl.constexpr, UPCAST_DOT: tl.constexpr):
    """Fold key tile [start, start + BLOCK_N) into the running (acc, l, m)."""
    t = start + tl.arange(0, BLOCK_N)                      # [BLOCK_N] key positions
    dims = tl.arange(0, HEAD_DIM)
    in_seq = t < k_len
    # Where each key row lives (int64: block_id * stride can pass 2**31).
    if PAGED:
        if MASKED:
            block_id = tl.load(bt_row_ptr + t // KV_BLOCK_SIZE, mask=in_seq, other=0)
        else:
            block_id = tl.load(bt_row_ptr + t // KV_BLOCK_SIZE)
        row_off = block_id.to(tl.int64) * stride_kb + (t % KV_BLOCK_SIZE) * stride_kn
    else:
        row_off = (seq_k_start + t).to(tl.int64) * stride_kn
    offs = row_off[:, None] + kv_head_off + dims[None, :] * stride_kd  # [BLOCK_N, D]

    if MASKED:
        k = tl.load(k_ptr + offs, mask=in_seq[:, None], other=0.0)
    else:
        k = tl.load(k_ptr + offs)
    # Raw scores; the scale is applied below, fused into exp2's argument.
    qk = _dot(q, tl.trans(k), tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32),
              DOT_PREC, UPCAST_DOT)                          # [BLOCK_M, BLOCK_N]
    if MASKED:
        # row_limit[i] = the last key row i may see (causal and end of keys).
        qk = tl.where(t[None, :] <= row_limit[:, None], qk, float("-inf"))

    m_new = tl.maximum(m_i, tl.max(qk, axis=1) * qk_scale)  # [BLOCK_M], base-2 units
    p = tl.exp2(qk * qk_scale - m_new[:, None])            # one FMA per score
    alpha = tl.exp2(m_i - m_new)                           # rescales the old state
    l_i = l_i * alpha + tl.sum(p, axis=1)
    acc = acc * alpha[:, None]

    if MASKED:
        v = tl.load(v_ptr + offs, mask=in_seq[:, None], other=0.0)
    else:
        v = tl.load(v_ptr + offs)
    acc = _dot(p.to(v.dtype), v, acc, DOT_PREC, UPCAST_DOT)  # [BLOCK_M, D]
    return acc, l_i, m_new


# Triton compiles a variant per integer argument that is 1 or a multiple of 16;
# the block-table width changes from step to step, so it must not pick one
# (a compile in the middle of serving stalls every request for a second).
@triton.jit(do_not_specialize=["stride_bt"])
def _prefill_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr, cu_q_ptr, cu_k_ptr, bt_ptr,
    stride_qn, stride_qh, stride_qd,       # q   [Nq, H, D]
    stride_on, stride_oh, stride_od,       # out [Nq, H, D]
    stride_kb, stride_kn, stride_kh, stride_kd,  # packed k/v [Nk, Hkv, D] (stride_kb unused)
                                           # or caches [blocks, block_size, Hkv, D]
    stride_bt,                             # block_tables row stride
    num_heads, qk_scale,
    GROUP: tl.constexpr,                   # query heads per KV head
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    PAGED: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr,
    DOT_PREC: tl.constexpr, UPCAST_DOT: tl.constexpr,  # see _dot
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    pid_bh = tl.program_id(0)
    seq = pid_bh // num_heads
    head = pid_bh % num_heads
    # Heaviest query tiles (the last rows see the most keys) start first, so
    # the GPU does not end on a tail of long programs.
    m_block = tl.num_programs(1) - 1 - tl.program_id(1)

    q_start = tl.load(cu_q_ptr + seq)
    q_len = tl.load(cu_q_ptr + seq + 1) - q_start
    m_start = m_block * BLOCK_M
    if m_start >= q_len:                   # this sequence is shorter than the grid
        return
    k_start = tl.load(cu_k_ptr + seq)
    k_len = tl.load(cu_k_ptr + seq + 1) - k_start
    offset = k_len - q_len                 # keys before the first query (cached prefix)

    rows = m_start + tl.arange(0, BLOCK_M)                 # [BLOCK_M] query index in seq
    dims = tl.arange(0, HEAD_DIM)
    q_rows = (q_start + rows).to(tl.int64)
    q = tl.load(q_ptr + q_rows[:, None] * stride_qn + head * stride_qh + dims[None, :] * stride_qd,
                mask=(rows < q_len)[:, None], other=0.0)   # [BLOCK_M, D]

    kv_head_off = (head // GROUP) * stride_kh
    bt_row_ptr = bt_ptr + seq.to(tl.int64) * stride_bt
    row_limit = tl.minimum(offset + rows, k_len - 1)       # last visible key per row

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)

    # Key tiles [0, full_end) are visible to every row of this query tile.
    full_end = ((offset + m_start + 1) // BLOCK_N) * BLOCK_N
    for start in range(0, full_end, BLOCK_N):
        acc, l_i, m_i = _attend_tile(
            acc, l_i, m_i, q, k_ptr, v_ptr, bt_row_ptr, start, k_start, k_len, row_limit,
            kv_head_off, qk_scale, stride_kb, stride_kn, stride_kd,
            False, PAGED, KV_BLOCK_SIZE, HEAD_DIM, BLOCK_M, BLOCK_N, DOT_PREC, UPCAST_DOT)
    # Key tiles [full_end, hi) cross the diagonal or the end: masked.
    # Beyond hi no row of this tile sees anything.
    hi = tl.minimum(k_len, offset + m_start + BLOCK_M)
    for start in range(full_end, hi, BLOCK_N):
        acc, l_i, m_i = _attend_tile(
            acc, l_i, m_i, q, k_ptr, v_ptr, bt_row_ptr, start, k_start, k_len, row_limit,
            kv_head_off, qk_scale, stride_kb, stride_kn, stride_kd,
            True, PAGED, KV_BLOCK_SIZE, HEAD_DIM, BLOCK_M, BLOCK_N, DOT_PREC, UPCAST_DOT)

    # Every valid row saw key 0, so l_i > 0; the guard only protects padding rows.
    out = acc / tl.where(l_i > 0.0, l_i, 1.0)[:, None]
    tl.store(o_ptr + q_rows[:, None] * stride_on + head * stride_oh + dims[None, :] * stride_od,
             out.to(o_ptr.dtype.element_ty), mask=(rows < q_len)[:, None])


def prefill_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                      scale, k_cache=None, v_cache=None, block_tables=None, *,
                      block_m=None, block_n=None, num_warps=None, num_stages=None):
    """q: [Nq, H, D]; k, v: [Nk, Hkv, D] packed; cu_seqlens_*: [B+1] int32.

    With block_tables ([B, max_blocks], -1 padded) keys/values are read from
    k_cache/v_cache ([num_blocks, block_size, Hkv, D]) instead of k/v, and
    cu_seqlens_k counts the cached prefix too. Returns a new [Nq, H, D].
    The keyword-only tile arguments override the defaults (for tuning).
    """
    Nq, num_heads, head_dim = q.shape
    assert head_dim in HEAD_DIMS, f"head_dim must be one of {HEAD_DIMS}, got {head_dim}"
    assert q.dtype in (torch.float16, torch.bfloat16, torch.float32), f"unsupported dtype {q.dtype}"
    assert scale > 0, "the kernel folds the scale into exp2 after the row max"
    paged = block_tables is not None
    if paged:
        assert k_cache is not None and v_cache is not None
        assert k_cache.stride() == v_cache.stride(), "k_cache and v_cache must share a layout"
        kv, vv = k_cache, v_cache
        kv_block_size = k_cache.shape[1]
        assert kv_block_size & (kv_block_size - 1) == 0, "block_size must be a power of two"
        strides = k_cache.stride()                       # (block, token, head, dim)
        bt, stride_bt = block_tables, block_tables.stride(0)
    else:
        kv, vv = k, v
        if k.stride() != v.stride():
            kv, vv = k.contiguous(), v.contiguous()
        kv_block_size = 16                               # unused
        strides = (0, *kv.stride())                      # (unused, token, head, dim)
        bt, stride_bt = cu_seqlens_k, 0                  # unused pointer
    num_kv_heads = kv.shape[-2]
    assert kv.shape[-1] == head_dim and num_heads % num_kv_heads == 0
    assert kv.dtype == q.dtype, "q and k/v must share a dtype"

    out = torch.empty((Nq, num_heads, head_dim), dtype=q.dtype, device=q.device)
    batch = cu_seqlens_q.shape[0] - 1
    if Nq == 0 or batch == 0:
        return out
    is16 = q.dtype != torch.float32
    bm, bn, nw, ns = _default_config(is16, head_dim)
    bm, bn = block_m or bm, block_n or bn
    nw, ns = num_warps or nw, num_stages or ns
    grid = (batch * num_heads, cdiv(max_seqlen_q, bm))
    assert grid[1] <= 65535, "max_seqlen_q too long for the grid"
    _prefill_kernel[grid](
        q, kv, vv, out, cu_seqlens_q, cu_seqlens_k, bt,
        *q.stride(), *out.stride(), *strides, stride_bt,
        num_heads, scale * LOG2E,
        GROUP=num_heads // num_kv_heads, HEAD_DIM=head_dim, BLOCK_M=bm, BLOCK_N=bn,
        PAGED=paged, KV_BLOCK_SIZE=kv_block_size,
        DOT_PREC="tf32" if is16 else "ieee", UPCAST_DOT=_upcast_dot(q),
        num_warps=nw, num_stages=ns, **pdl_options(q.device),
    )
    return out
