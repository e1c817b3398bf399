"""Lesson 07: batching, with padding and masks. Your exercise.

A batch's prompts have different lengths. The engine packs their tokens into
one row ([N, ...], no padding: the matmuls waste nothing), and only attention
needs to see sequences apart: there it pads them to a rectangle, masks the
padding and the future, attends, and packs the result again. Write those two
steps below; README.md ("The exercise") walks through them. While your code
runs they replace the engine's own (aios/course/plugin.py):

    pad_packed()         pad_packed              aios/kernels/reference.py
    prefill_attention()  prefill_attention_ref   (the torch attention backend's)

Packed batches: sequence i owns rows cu_seqlens[i]:cu_seqlens[i+1] ([B+1] ints).

Check:  python -m pytest lessons/lesson07
Run:    python lessons/lesson07/run_lesson7.py
"""
import torch

from aios.kernels.reference import attention_ref, gather_kv_ref  # lessons 1 and 4


def pad_packed(packed, cu_seqlens, max_len):
    """Step 1. Packed rows [N, ...] -> (padded [B, max_len, ...], valid [B, max_len] bool).

    Row j of sequence b is packed[cu_seqlens[b] + j] when j < its length, and
    valid[b, j] says so. Padding rows may hold anything that is not NaN
    (e.g. a copy of some row of packed); they are masked away.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 07, step 1: pad_packed() is yours to write "
                              "— see lessons/lesson07/README.md, or run with --solution")


def prefill_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, scale,
                      k_cache=None, v_cache=None, block_tables=None):
    """Step 2. Causal attention for a packed batch of prompts: q [Nq, H, D] -> [Nq, H, D].

    k, v: [Nk, Hkv, D], packed like q. Lengths: q_lens = cu_seqlens_q[1:] -
    cu_seqlens_q[:-1], k_lens likewise. Pad q, k and v (step 1), attend with
    attention_ref(q_pad, k_pad, v_pad, q_lens, k_lens, scale), and keep the
    output rows that were valid in q.
    When block_tables is given (prefix caching, lesson 13) some keys are not
    in k: read k_pad and v_pad from the caches with gather_kv_ref instead.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 07, step 2: prefill_attention() is yours to write "
                              "— see lessons/lesson07/README.md, or run with --solution")
