"""Lesson 09: FlashAttention, a tiled prefill attention kernel in Triton. Your exercise.

Write `prefill_attention`: causal attention for a packed prefill batch, as
one Triton kernel that never builds the [L, L] score matrix. README.md ("The
exercise") walks through it. While your code runs it replaces the engine's
own (aios/kernels/prefill_attention.py) inside the Triton backend.

    q       [Nq, H, D]    the new tokens of every sequence, packed
    k, v    [Nk, Hkv, D]  their keys and values, packed (GQA: Hkv divides H)
    cu_seqlens_q, cu_seqlens_k   [B+1] int32: sequence b owns rows cu[b]:cu[b+1]
    k_cache, v_cache  [num_blocks, block_size, Hkv, D]  with block_tables
                      [B, max_blocks] (-1 padded): read keys/values from the
                      paged cache instead (a reused prefix, lesson 13)

Without a GPU, Triton runs your kernel in its CPU interpreter: set
TRITON_INTERPRET=1 before triton is imported (the checks and the run script
do). Use float32 tl.dot(..., input_precision="ieee") there: exact, if slow.

Check:  python -m pytest lessons/lesson09
Run:    python lessons/lesson09/run_lesson9.py
"""
import torch
import triton  # noqa: F401  (your kernel's)
import triton.language as tl  # noqa: F401


# Your kernel goes here: @triton.jit def _flash_kernel(...), one program per
# (sequence * head, query tile). The outline is in prefill_attention's docstring.


def prefill_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                      scale, k_cache=None, v_cache=None, block_tables=None) -> torch.Tensor:
    """Step 1. Launch your kernel -> out [Nq, H, D], q's dtype.

    Grid: (B * H, cdiv(max_seqlen_q, BLOCK_M)). One program, for sequence b,
    query head h and query rows m0 .. m0+BLOCK_M of that sequence:
      q_len, k_len from the cu_seqlens; offset = k_len - q_len (a cached
      prefix: query i is key position offset + i, and sees keys t <= offset + i).
      Load the q tile [BLOCK_M, D]. m = -inf, l = 0, acc = 0   (per row)
      For each key tile t0 .. t0+BLOCK_N, up to the last key any row may see:
        load K, V tiles of KV head h // (H // Hkv) (packed rows, or through
          block_tables: block block_tables[b, t // block_size], row t % block_size)
        s = q @ K^T * scale, -inf where t > offset + i or t >= k_len
        m_new = max(m, rowmax(s)); p = exp(s - m_new); alpha = exp(m - m_new)
        l = l * alpha + rowsum(p); acc = acc * alpha + p @ V; m = m_new
      Store acc / l for the rows that exist (i < q_len).
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 09, step 1: prefill_attention() is yours to write "
                              "— see lessons/lesson09/README.md, or run with --solution")
