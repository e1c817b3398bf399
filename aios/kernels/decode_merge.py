"""Decode attention's merge: the partial outputs of a sequence's splits, made one.

Split-KV decode (aios/kernels/decode_attention.py) leaves, per (sequence,
query head) and split s, a normalized partial output o_s and the log-sum-exp
(base 2) of its scores lse_s. The whole attention output is their weighted mean:

    out = sum_s w_s * o_s / sum_s w_s,   w_s = 2^(lse_s - max_s lse_s)

`decode_merge_kernel` does it as a second launch, one program per (sequence,
query head); `merge_splits` does it inside the split kernel, for one KV head's
query group, when the last split to finish merges (fused_merge).
"""
import triton
import triton.language as tl

from aios.kernels.pdl import wait_for_previous_kernel


# Both counts change with the batch and its lengths when the kernel runs
# eagerly: unspecialized, so one compiled merge serves them all.
@triton.jit(do_not_specialize=["num_splits", "split_tokens"])
def decode_merge_kernel(
    part_o_ptr, part_lse_ptr, o_ptr, ctx_lens_ptr,
    stride_ob, stride_oh, stride_od,
    num_heads, num_splits, split_tokens,
    HEAD_DIM: tl.constexpr, BLOCK_S: tl.constexpr,
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    """out = sum_s w_s * o_s / sum_s w_s with w_s = 2^(lse_s - max lse)."""
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
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


@triton.jit
def merge_splits(part_o_ptr, part_lse_ptr, o_ptr, first, n_valid, seq, heads, dims, q_mask, head_ok,
                  stride_ob, stride_oh, stride_od, GROUP_PAD: tl.constexpr, HEAD_DIM: tl.constexpr):
    """The merge kernel's sum for one KV head's query group, in split order:
    out = sum_s w_s * o_s / sum_s w_s, w_s = 2^(lse_s - max lse). Loads bypass L1
    (.cg): the other splits' partials were written by other SMs."""
    m = tl.full([GROUP_PAD], float("-inf"), dtype=tl.float32)
    for s in range(0, n_valid):
        m = tl.maximum(m, tl.load(part_lse_ptr + first + s, mask=head_ok, other=float("-inf"),
                                  cache_modifier=".cg"))
    acc = tl.zeros([GROUP_PAD, HEAD_DIM], dtype=tl.float32)
    l = tl.zeros([GROUP_PAD], dtype=tl.float32)
    m = tl.where(m > float("-inf"), m, 0.0)     # every split empty: any finite m
    for s in range(0, n_valid):
        lse = tl.load(part_lse_ptr + first + s, mask=head_ok, other=float("-inf"), cache_modifier=".cg")
        w = tl.exp2(lse - m)                    # an empty split (lse -inf) weighs 0
        o = tl.load(part_o_ptr + (first + s)[:, None] * HEAD_DIM + dims[None, :], mask=q_mask,
                    other=0.0, cache_modifier=".cg")
        acc += w[:, None] * o
        l += w
    out = acc / tl.where(l > 0.0, l, 1.0)[:, None]   # every split empty (length 0): zeros
    tl.store(o_ptr + seq.to(tl.int64) * stride_ob + heads[:, None] * stride_oh + dims[None, :] * stride_od,
             out.to(o_ptr.dtype.element_ty), mask=q_mask)
