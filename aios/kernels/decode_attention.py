"""Decode attention: one new query per sequence against its paged KV cache.

Reference: `decode_attention_ref` in aios/kernels/reference.py.

Decode is memory bound: every step reads each sequence's whole K/V cache to
produce one output row. So the kernel is built around reading the cache once
and keeping the GPU's memory system busy:

  * GQA-aware: one program owns one (sequence, KV head) and all GROUP query
    heads that share it. Each K/V tile is loaded once and multiplied against
    the whole query group with tl.dot (the group padded to 16 rows, the
    smallest tensor-core tile), instead of once per query head.
  * Split-KV (flash-decoding): when the batch alone does not give enough
    programs to fill the GPU, each sequence's context is cut into splits of
    split_tokens positions, attended in parallel; each split leaves a partial
    output (normalized) and its log-sum-exp, and a second small kernel merges
    them. With one split the first kernel writes the output directly.
    With fused_merge (opt-in, AIOS_DECODE_FUSED_MERGE=1; slower end to end on an
    H100, BENCHMARKS.md sessions 13 and 16) there is no second kernel: each
    split takes a ticket from its (sequence, KV head)'s counter after writing
    its partial, and the one that draws the last ticket merges them all, in
    split order (aios/kernels/skinny_gemm.py reduces its split-K the same
    way). One launch a layer fewer.
  * Paged: tiles of BLOCK_N positions are gathered through the block table
    (position t lives in block block_tables[b, t // block_size] at offset
    t % block_size), so BLOCK_N need not match the cache's block size.

CUDA-graph safety: the host never reads a tensor's values. The grid and the
split size depend only on shapes (batch, block-table width) and python
arguments; each program reads its sequence's length on the device.
`max_context_len` is only a hint for choosing the split size; every split
count covers the whole block table. A graph serves every length up to
max_model_len (8,192 tokens: 32-64 splits), while a step's contexts use a
few of those splits. So the grid's second axis is not one program a split
but a few programs per SM, each taking every P-th split of its (sequence,
KV head) up to the sequence's length (choose_programs_per_row): no program
is launched only to find its split past the end.
"""
import os

import torch
import triton
import triton.language as tl

from aios.kernels.attention_common import dot as _dot, upcast_dot as _upcast_dot
from aios.kernels.decode_merge import decode_merge_kernel, merge_splits
from aios.kernels.host_math import cdiv, next_power_of_2, sm_count
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel
from aios.kernels.tickets import ticket_counters

LOG2E = 1.4426950408889634
MIN_SPLIT_TOKENS = 256   # shorter splits cost more in partials than they win...
SMALL_BATCH_ROWS = 64    # ...but where (sequence, KV head) rows are this few, programs are
# scarce: 128-token splits measured 11-25% faster per kernel at batches 1-8 of Qwen3-0.6B
# on an H100, though no faster end to end on `table` (BENCHMARKS.md, session 13).
# AIOS_DECODE_SMALL_BATCH_SPLIT=256 turns them off, as BENCHMARKS.md's rows measured it.
SMALL_BATCH_SPLIT_TOKENS = int(os.environ.get("AIOS_DECODE_SMALL_BATCH_SPLIT", "128"))
MAX_SPLITS = 128         # bounds the partials' workspace
# 4: `table` +1.2% on an H100, the kernel 4% faster at 32 sequences (BENCHMARKS.md, session 16).
PROGRAMS_PER_SM = int(os.environ.get("AIOS_DECODE_PROGRAMS_PER_SM", "4"))   # 0: a program a split

HEAD_DIMS = (16, 32, 64, 128, 256)  # powers of two (tl.arange), >= 16 (tl.dot)
FUSED_MERGE = os.environ.get("AIOS_DECODE_FUSED_MERGE") == "1"   # the default of fused_merge
MAX_ROWS = 1 << 16      # (sequence, KV head) rows a fused-merge launch may have: its counters


def merge_counters(device: torch.device) -> torch.Tensor:
    """Per (sequence, KV head) ticket counters for the fused merge (aios/kernels/tickets.py)."""
    return ticket_counters("decode_attention(fused_merge=True)", MAX_ROWS, device)


def _default_config(is16: bool, head_dim: int):
    """(BLOCK_N, num_warps, num_stages) for the H100 (float32 sized so that
    its exact "ieee" dots do not spill registers)."""
    if is16:
        return (64, 4, 3) if head_dim <= 128 else (32, 4, 3)
    return (32, 8, 2) if head_dim <= 128 else (16, 8, 2)



# The block table's width varies (see prefill_attention.py), and so does the split count with it.
@triton.jit(do_not_specialize=["stride_bt", "num_splits"])
def _decode_split_kernel(
    q_ptr, k_cache_ptr, v_cache_ptr, o_ptr, part_o_ptr, part_lse_ptr,
    ctx_lens_ptr, bt_ptr, count_ptr,               # count_ptr: int32 [B * Hkv], FUSED_MERGE only
    stride_qb, stride_qh, stride_qd,              # q   [B, H, D]
    stride_ob, stride_oh, stride_od,              # out [B, H, D]
    stride_cb, stride_ct, stride_ch, stride_cd,   # caches [blocks, block_size, Hkv, D]
    stride_bt,                                    # block_tables row stride
    num_kv_heads, split_tokens, num_splits, qk_scale,
    GROUP: tl.constexpr, GROUP_PAD: tl.constexpr,  # query heads per KV head, padded >= 16
    HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr,
    DIRECT: tl.constexpr,                         # one split: write the output itself
    FUSED_MERGE: tl.constexpr,                    # the last split to finish merges
    DOT_PREC: tl.constexpr,
    UPCAST_DOT: tl.constexpr,                     # see _dot
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    pid = tl.program_id(0)
    seq = pid // num_kv_heads
    kv_head = pid % num_kv_heads
    ctx_len = tl.load(ctx_lens_ptr + seq)
    # The splits that run: split 0 (a length-0 padding sequence still gets a row),
    # and those that start before the end. Program p of this (sequence, KV head)
    # takes splits p, p + P, p + 2P, ... of them (P = the grid's second axis), so
    # a grid of a few programs per SM covers any length without launching the
    # splits past the end of a short context.
    n_valid = tl.maximum(tl.minimum((ctx_len + split_tokens - 1) // split_tokens, num_splits), 1)
    for split in range(tl.program_id(1), n_valid, tl.num_programs(1)):
        _attend_split(q_ptr, k_cache_ptr, v_cache_ptr, o_ptr, part_o_ptr, part_lse_ptr, bt_ptr,
                      count_ptr, pid, seq, kv_head, split, ctx_len, n_valid, num_splits,
                      stride_qb, stride_qh, stride_qd, stride_ob, stride_oh, stride_od,
                      stride_cb, stride_ct, stride_ch, stride_cd, stride_bt,
                      num_kv_heads, split_tokens, qk_scale, GROUP, GROUP_PAD, HEAD_DIM, BLOCK_N,
                      KV_BLOCK_SIZE, DIRECT, FUSED_MERGE, DOT_PREC, UPCAST_DOT)


@triton.jit
def _attend_split(q_ptr, k_cache_ptr, v_cache_ptr, o_ptr, part_o_ptr, part_lse_ptr, bt_ptr,
                  count_ptr, pid, seq, kv_head, split, ctx_len, n_valid, num_splits,
                  stride_qb, stride_qh, stride_qd, stride_ob, stride_oh, stride_od,
                  stride_cb, stride_ct, stride_ch, stride_cd, stride_bt,
                  num_kv_heads, split_tokens, qk_scale,
                  GROUP: tl.constexpr, GROUP_PAD: tl.constexpr, HEAD_DIM: tl.constexpr,
                  BLOCK_N: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr, DIRECT: tl.constexpr,
                  FUSED_MERGE: tl.constexpr, DOT_PREC: tl.constexpr, UPCAST_DOT: tl.constexpr):
    """One split of one (sequence, KV head): positions [split * split_tokens, ...)."""
    s_start = split * split_tokens
    s_end = tl.minimum(s_start + split_tokens, ctx_len)

    # The query group of this KV head: [GROUP_PAD, D], rows >= GROUP are zero.
    r = tl.arange(0, GROUP_PAD)
    heads = kv_head * GROUP + r
    dims = tl.arange(0, HEAD_DIM)
    q_mask = (r < GROUP)[:, None]
    q = tl.load(q_ptr + seq.to(tl.int64) * stride_qb + heads[:, None] * stride_qh
                + dims[None, :] * stride_qd, mask=q_mask, other=0.0)

    bt_row_ptr = bt_ptr + seq.to(tl.int64) * stride_bt
    head_off = kv_head * stride_ch + dims[None, :] * stride_cd       # [1, D]
    m_i = tl.full([GROUP_PAD], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([GROUP_PAD], dtype=tl.float32)
    acc = tl.zeros([GROUP_PAD, HEAD_DIM], dtype=tl.float32)

    for start in range(s_start, s_end, BLOCK_N):
        t = start + tl.arange(0, BLOCK_N)                            # [BLOCK_N]
        in_seq = t < s_end
        block_id = tl.load(bt_row_ptr + t // KV_BLOCK_SIZE, mask=in_seq, other=0)
        # int64: block_id * stride_cb passes 2**31 in a large cache.
        row_off = block_id.to(tl.int64) * stride_cb + (t % KV_BLOCK_SIZE) * stride_ct
        offs = row_off[:, None] + head_off                           # [BLOCK_N, D]
        k = tl.load(k_cache_ptr + offs, mask=in_seq[:, None], other=0.0)
        qk = _dot(q, tl.trans(k), tl.zeros([GROUP_PAD, BLOCK_N], dtype=tl.float32),
                  DOT_PREC, UPCAST_DOT) * qk_scale                  # [GROUP_PAD, BLOCK_N]
        qk = tl.where(in_seq[None, :], qk, float("-inf"))

        m_new = tl.maximum(m_i, tl.max(qk, axis=1))
        p = tl.exp2(qk - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = tl.load(v_cache_ptr + offs, mask=in_seq[:, None], other=0.0)
        acc = _dot(p.to(v.dtype), v, acc * alpha[:, None], DOT_PREC, UPCAST_DOT)
        m_i = m_new

    out = acc / tl.where(l_i > 0.0, l_i, 1.0)[:, None]   # l_i = 0 only for empty splits
    if DIRECT:
        tl.store(o_ptr + seq.to(tl.int64) * stride_ob + heads[:, None] * stride_oh
                 + dims[None, :] * stride_od, out.to(o_ptr.dtype.element_ty), mask=q_mask)
    else:
        # Partials: part_o [B, H, num_splits, D], part_lse [B, H, num_splits] (base 2).
        num_heads = num_kv_heads * GROUP
        row = (seq.to(tl.int64) * num_heads + heads) * num_splits + split  # [GROUP_PAD]
        tl.store(part_o_ptr + row[:, None] * HEAD_DIM + dims[None, :], out, mask=q_mask)
        # log-sum-exp (base 2) of this split's scores; -inf for an empty split.
        lse = tl.where(l_i > 0.0, m_i + tl.log2(tl.where(l_i > 0.0, l_i, 1.0)), float("-inf"))
        tl.store(part_lse_ptr + row, lse, mask=r < GROUP)
        if FUSED_MERGE:
            tl.debug_barrier()                    # every thread's partial is written
            ticket = tl.atomic_add(count_ptr + pid, 1, sem="acq_rel")
            if ticket == n_valid - 1:             # this (sequence, KV head)'s last split to finish
                first = row - split               # [GROUP_PAD]: split 0's row of each head
                merge_splits(part_o_ptr, part_lse_ptr, o_ptr, first, n_valid, seq, heads, dims,
                              q_mask, r < GROUP, stride_ob, stride_oh, stride_od, GROUP_PAD, HEAD_DIM)
                tl.store(count_ptr + pid, 0)      # zero for the next launch


def choose_split_tokens(batch, num_kv_heads, capacity, block_n, num_sms,
                        max_context_len=None):
    """Positions per split, from shapes and python ints only (graph safe).

    capacity = block-table width * block_size, the longest context possible.
    Aim for >= 2 programs per SM at the expected length; a batch that fills
    the GPU by itself gets one split. Without a hint (inside a CUDA graph,
    which serves every length) use the shortest splits: programs whose split
    starts past their sequence's end exit at once, so short contexts cost
    little, and long ones still get spread over the GPU. Sizing from the
    capacity instead would leave one busy program per (sequence, KV head).
    """
    rows = batch * num_kv_heads
    want = cdiv(2 * num_sms, rows)   # splits per (seq, KV head)
    if want <= 1:
        return capacity
    shortest = SMALL_BATCH_SPLIT_TOKENS if rows <= SMALL_BATCH_ROWS else MIN_SPLIT_TOKENS
    hint = min(max_context_len, capacity) if max_context_len else shortest
    tokens = max(cdiv(hint, want), shortest, cdiv(capacity, MAX_SPLITS))
    return cdiv(tokens, block_n) * block_n


def choose_programs_per_row(rows, num_splits, num_sms):
    """P, the grid's second axis: program p of a (sequence, KV head) row takes splits
    p, p + P, ... up to the row's length. Enough programs to give every SM
    PROGRAMS_PER_SM of them with all rows busy; no more, or a graph's grid, which
    covers the whole block table, would launch mostly programs past the end."""
    if PROGRAMS_PER_SM == 0:
        return num_splits            # one program per split, as many as the table holds
    return min(num_splits, cdiv(PROGRAMS_PER_SM * num_sms, rows))


def decode_attention(q, k_cache, v_cache, context_lens, block_tables, scale,
                     max_context_len=None, *, split_tokens=None, block_n=None,
                     num_warps=None, num_stages=None, fused_merge=None, programs_per_row=None):
    """q: [B, H, D]; caches: [num_blocks, block_size, Hkv, D];
    context_lens: [B] int32 (incl. the new token); block_tables: [B, max_blocks].

    Returns a new [B, H, D]. max_context_len is an optional hint (python int)
    that only tunes the split size. The keyword-only arguments override the
    defaults (tests, tuning); split_tokens is rounded up to a multiple of block_n.
    fused_merge: merge the splits inside the split kernel (default: FUSED_MERGE).
    programs_per_row: programs per (sequence, KV head), each taking every P-th split
    (default: choose_programs_per_row).
    """
    B, num_heads, head_dim = q.shape
    _, kv_block_size, num_kv_heads, _ = k_cache.shape
    assert head_dim in HEAD_DIMS, f"head_dim must be one of {HEAD_DIMS}, got {head_dim}"
    assert q.dtype in (torch.float16, torch.bfloat16, torch.float32), f"unsupported dtype {q.dtype}"
    assert k_cache.shape[-1] == head_dim and k_cache.dtype == q.dtype
    assert k_cache.stride() == v_cache.stride(), "k_cache and v_cache must share a layout"
    assert kv_block_size & (kv_block_size - 1) == 0, "block_size must be a power of two"
    assert num_heads % num_kv_heads == 0
    assert context_lens.shape == (B,) and block_tables.shape[0] == B
    out = torch.empty((B, num_heads, head_dim), dtype=q.dtype, device=q.device)
    if B == 0:
        return out

    is16 = q.dtype != torch.float32
    bn, nw, ns = _default_config(is16, head_dim)
    bn, nw, ns = block_n or bn, num_warps or nw, num_stages or ns
    capacity = block_tables.shape[1] * kv_block_size
    if split_tokens is None:
        split_tokens = choose_split_tokens(B, num_kv_heads, capacity, bn,
                                           sm_count(q.device), max_context_len)
    split_tokens = max(cdiv(split_tokens, bn) * bn, bn)
    num_splits = max(cdiv(capacity, split_tokens), 1)
    assert num_splits <= 65535, "too many splits for the grid"
    direct = num_splits == 1
    fused = (FUSED_MERGE if fused_merge is None else fused_merge) and not direct
    group = num_heads // num_kv_heads
    if direct:
        part_o = part_lse = out                       # unused
    else:
        part_o = torch.empty((B, num_heads, num_splits, head_dim), dtype=torch.float32,
                             device=q.device)
        part_lse = torch.empty((B, num_heads, num_splits), dtype=torch.float32,
                               device=q.device)
    if fused:
        assert B * num_kv_heads <= MAX_ROWS, f"{B * num_kv_heads} (sequence, KV head) rows exceed the counters"
    counters = merge_counters(q.device) if fused else context_lens   # unused without the fused merge
    if programs_per_row is None:
        programs_per_row = choose_programs_per_row(B * num_kv_heads, num_splits, sm_count(q.device))
    _decode_split_kernel[(B * num_kv_heads, max(1, min(programs_per_row, num_splits)))](
        q, k_cache, v_cache, out, part_o, part_lse, context_lens, block_tables, counters,
        *q.stride(), *out.stride(), *k_cache.stride(), block_tables.stride(0),
        num_kv_heads, split_tokens, num_splits, scale * LOG2E,
        GROUP=group, GROUP_PAD=max(16, next_power_of_2(group)),
        HEAD_DIM=head_dim, BLOCK_N=bn, KV_BLOCK_SIZE=kv_block_size,
        DIRECT=direct, FUSED_MERGE=fused, DOT_PREC="tf32" if is16 else "ieee", UPCAST_DOT=_upcast_dot(q),
        num_warps=nw, num_stages=ns, **pdl_options(q.device),
    )
    if not direct and not fused:
        decode_merge_kernel[(B * num_heads,)](
            part_o, part_lse, out, context_lens, *out.stride(),
            num_heads, num_splits, split_tokens,
            HEAD_DIM=head_dim, BLOCK_S=16,     # one tile size for every split count
            num_warps=4, **pdl_options(q.device),
        )
    return out
