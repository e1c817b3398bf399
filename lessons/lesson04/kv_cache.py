"""Lesson 04: the KV cache. Your exercise.

Each new token's keys and values are appended to a cache once; every later
step reads them back instead of recomputing them. Write the three functions
below; README.md ("The exercise") walks through them. While your code runs
they replace the engine's own (aios/course/plugin.py):

    store_kvcache()     store_kvcache_ref       (the torch attention backend's)
    gather_kv()         gather_kv_ref           aios/kernels/reference.py
    decode_attention()  decode_attention_ref    (the torch attention backend's)

The cache of one layer, for K and for V alike:
    cache: [num_blocks, block_size, num_kv_heads, head_dim]
In this lesson's engine block_size is 1: every token gets a block of its own,
appended as the sequence grows, and a sequence's block table lists them in
order. Write the code for any block_size all the same: lessons 5 and 6 reuse it.

Check:  python -m pytest lessons/lesson04
Run:    python lessons/lesson04/run_lesson4.py
"""
import torch

from aios.kernels.reference import attention_ref  # your attention from lesson 01


def store_kvcache(key, value, k_cache, v_cache, slot_mapping) -> None:
    """Step 1. Append: write each new token's K and V into its cache slot, in place.

    key, value: [N, Hkv, D]; k_cache, v_cache: [num_blocks, block_size, Hkv, D];
    slot_mapping: [N] ints, the flat slot of each token (block * block_size +
    offset), or -1 for "do not store". View a cache as [num_blocks * block_size,
    Hkv, D] to index it by slot.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 04, step 1: store_kvcache() is yours to write "
                              "— see lessons/lesson04/README.md, or run with --solution")


def gather_kv(cache, block_tables, max_len):
    """Step 2. Read: the first max_len positions of each sequence, out of the cache.

    cache: [num_blocks, block_size, Hkv, D]; block_tables: [B, max_blocks] ints,
    padded with -1. Position p of sequence b is in block block_tables[b, p // block_size],
    at offset p % block_size. -> [B, max_len, Hkv, D]. Positions past a sequence's
    end may return anything (attention masks them), but must not index out of
    range: clamp the -1 padding to 0.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 04, step 2: gather_kv() is yours to write "
                              "— see lessons/lesson04/README.md, or run with --solution")


def decode_attention(q, k_cache, v_cache, context_lens, block_tables, scale, max_context_len=None):
    """Step 3. One new query per sequence, against everything in its cache.

    q: [B, H, D], the newest token of each sequence (its K/V is in the cache
    already); context_lens: [B], tokens in each sequence's cache, the new one
    included; max_context_len: max(context_lens) when given. -> [B, H, D].
    Gather each sequence's keys and values (step 2), then attend with
    attention_ref: one query per sequence (q_lens all ones) over context_lens keys.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 04, step 3: decode_attention() is yours to write "
                              "— see lessons/lesson04/README.md, or run with --solution")
