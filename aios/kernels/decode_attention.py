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
  * Paged: tiles of BLOCK_N positions are gathered through the block table
    (position t lives in block block_tables[b, t // block_size] at offset
    t % block_size), so BLOCK_N need not match the cache's block size.

CUDA-graph safety: the host never reads a tensor's values. The grid and the
split size depend only on shapes (batch, block-table width) and python
arguments; each program reads its sequence's length on the device and exits
when its split starts past the end. `max_context_len` is only a hint for
choosing the split size; every split count covers the whole block table.
"""
import functools

import torch
import triton
import triton.language as tl

from aios.kernels.attention_common import dot as _dot, upcast_dot as _upcast_dot

LOG2E = 1.4426950408889634
MIN_SPLIT_TOKENS = 256   # shorter splits cost more in partials than they win
MAX_SPLITS = 128         # bounds the partials' workspace

HEAD_DIMS = (16, 32, 64, 128, 256)  # powers of two (tl.arange), >= 16 (tl.dot)


def _default_config(is16: bool, head_dim: int):
    """(BLOCK_N, num_warps, num_stages) for the H100 (float32 sized so that
    its exact "ieee" dots do not spill registers)."""
    if is16:
        return (64, 4, 3) if head_dim <= 128 else (32, 4, 3)
    return (32, 8, 2) if head_dim <= 128 else (16, 8, 2)



@triton.jit(do_not_specialize=["stride_bt"])   # its width varies: see prefill_attention.py
def _decode_split_kernel(
    q_ptr, k_cache_ptr, v_cache_ptr, o_ptr, part_o_ptr, part_lse_ptr,
    ctx_lens_ptr, bt_ptr,
    stride_qb, stride_qh, stride_qd,              # q   [B, H, D]
    stride_ob, stride_oh, stride_od,              # out [B, H, D]
    stride_cb, stride_ct, stride_ch, stride_cd,   # caches [blocks, block_size, Hkv, D]
    stride_bt,                                    # block_tables row stride
    num_kv_heads, split_tokens, qk_scale,
    GROUP: tl.constexpr, GROUP_PAD: tl.constexpr,  # query heads per KV head, padded >= 16
    HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr,
    DIRECT: tl.constexpr,                         # one split: write the output itself
    DOT_PREC: tl.constexpr,
    UPCAST_DOT: tl.constexpr,                     # see _dot
):
    pid = tl.program_id(0)
    seq = pid // num_kv_heads
    kv_head = pid % num_kv_heads
    split = tl.program_id(1)
    ctx_len = tl.load(ctx_lens_ptr + seq)
    s_start = split * split_tokens
    # Splits past the end have nothing to do (the merge will not read them).
    # Split 0 always runs, so a length-0 (padding) sequence still gets a row.
    if (split > 0) & (s_start >= ctx_len):
        return
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
        num_splits = tl.num_programs(1)
        num_heads = num_kv_heads * GROUP
        row = (seq.to(tl.int64) * num_heads + heads) * num_splits + split  # [GROUP_PAD]
        tl.store(part_o_ptr + row[:, None] * HEAD_DIM + dims[None, :], out, mask=q_mask)
        # log-sum-exp (base 2) of this split's scores; -inf for an empty split.
        lse = tl.where(l_i > 0.0, m_i + tl.log2(tl.where(l_i > 0.0, l_i, 1.0)), float("-inf"))
        tl.store(part_lse_ptr + row, lse, mask=r < GROUP)


# Both counts change with the batch and its lengths when the kernel runs
# eagerly: unspecialized, so one compiled merge serves them all.
@triton.jit(do_not_specialize=["num_splits", "split_tokens"])
def _decode_merge_kernel(
    part_o_ptr, part_lse_ptr, o_ptr, ctx_lens_ptr,
    stride_ob, stride_oh, stride_od,
    num_heads, num_splits, split_tokens,
    HEAD_DIM: tl.constexpr, BLOCK_S: tl.constexpr,
):
    """out = sum_s w_s * o_s / sum_s w_s with w_s = 2^(lse_s - max lse)."""
    pid = tl.program_id(0)
    seq = pid // num_heads
    head = pid % num_heads
    ctx_len = tl.load(ctx_lens_ptr + seq)
    n_valid = tl.minimum((ctx_len + split_tokens - 1) // split_tokens, num_splits)
    base = pid.to(tl.int64) * num_splits        # == (seq * num_heads + head) * num_splits
    s_off = tl.arange(0, BLOCK_S)
    dims = tl.arange(0, HEAD_DIM)

    m_vec = tl.full([BLOCK_S], float("-inf"), dtype=tl.float32)
    for s0 in range(0, n_valid, BLOCK_S):
        lse = tl.load(part_lse_ptr + base + s0 + s_off, mask=s0 + s_off < n_valid,
                      other=float("-inf"))
        m_vec = tl.maximum(m_vec, lse)
    m = tl.max(m_vec, axis=0)

    acc = tl.zeros([HEAD_DIM], dtype=tl.float32)
    l_vec = tl.zeros([BLOCK_S], dtype=tl.float32)
    for s0 in range(0, n_valid, BLOCK_S):
        valid = s0 + s_off < n_valid
        lse = tl.load(part_lse_ptr + base + s0 + s_off, mask=valid, other=0.0)
        w = tl.where(valid, tl.exp2(lse - m), 0.0)                  # [BLOCK_S]
        o = tl.load(part_o_ptr + (base + s0 + s_off)[:, None] * HEAD_DIM + dims[None, :],
                    mask=valid[:, None], other=0.0)                 # [BLOCK_S, D]
        acc += tl.sum(w[:, None] * o, axis=0)
        l_vec += w
    l = tl.sum(l_vec, axis=0)
    out = acc / tl.where(l > 0.0, l, 1.0)       # n_valid = 0 (length 0): zeros
    tl.store(o_ptr + seq.to(tl.int64) * stride_ob + head * stride_oh + dims * stride_od,
             out.to(o_ptr.dtype.element_ty))


@functools.lru_cache(maxsize=None)
def _num_sms(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 4  # the CPU interpreter: small, so that tests see several splits


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
    want = triton.cdiv(2 * num_sms, batch * num_kv_heads)   # splits per (seq, KV head)
    if want <= 1:
        return capacity
    hint = min(max_context_len, capacity) if max_context_len else MIN_SPLIT_TOKENS
    tokens = max(triton.cdiv(hint, want), MIN_SPLIT_TOKENS, triton.cdiv(capacity, MAX_SPLITS))
    return triton.cdiv(tokens, block_n) * block_n


def decode_attention(q, k_cache, v_cache, context_lens, block_tables, scale,
                     max_context_len=None, *, split_tokens=None, block_n=None,
                     num_warps=None, num_stages=None):
    """q: [B, H, D]; caches: [num_blocks, block_size, Hkv, D];
    context_lens: [B] int32 (incl. the new token); block_tables: [B, max_blocks].

    Returns a new [B, H, D]. max_context_len is an optional hint (python int)
    that only tunes the split size. The keyword-only arguments override the
    defaults (tests, tuning); split_tokens is rounded up to a multiple of block_n.
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
                                           _num_sms(q.device), max_context_len)
    split_tokens = max(triton.cdiv(split_tokens, bn) * bn, bn)
    num_splits = max(triton.cdiv(capacity, split_tokens), 1)
    assert num_splits <= 65535, "too many splits for the grid"
    direct = num_splits == 1
    group = num_heads // num_kv_heads
    if direct:
        part_o = part_lse = out                       # unused
    else:
        part_o = torch.empty((B, num_heads, num_splits, head_dim), dtype=torch.float32,
                             device=q.device)
        part_lse = torch.empty((B, num_heads, num_splits), dtype=torch.float32,
                               device=q.device)
    _decode_split_kernel[(B * num_kv_heads, num_splits)](
        q, k_cache, v_cache, out, part_o, part_lse, context_lens, block_tables,
        *q.stride(), *out.stride(), *k_cache.stride(), block_tables.stride(0),
        num_kv_heads, split_tokens, scale * LOG2E,
        GROUP=group, GROUP_PAD=max(16, triton.next_power_of_2(group)),
        HEAD_DIM=head_dim, BLOCK_N=bn, KV_BLOCK_SIZE=kv_block_size,
        DIRECT=direct, DOT_PREC="tf32" if is16 else "ieee", UPCAST_DOT=_upcast_dot(q),
        num_warps=nw, num_stages=ns,
    )
    if not direct:
        _decode_merge_kernel[(B * num_heads,)](
            part_o, part_lse, out, context_lens, *out.stride(),
            num_heads, num_splits, split_tokens,
            HEAD_DIM=head_dim, BLOCK_S=16,     # one tile size for every split count
            num_warps=4,
        )
    return out
