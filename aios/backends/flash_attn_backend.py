"""The flash-attn backend: FlashAttention-2's kernels, from the `flash-attn` package.

Same three operations as the other backends, same results (up to rounding):

    store_kvcache              aios's Triton kernel (slots may be anywhere in the pool)
    prefill, fresh prompts     flash_attn_varlen_func over this step's packed k/v
    prefill, prefix-cache hit  flash_attn_varlen_func reading the paged cache (block_table)
    decode                     flash_attn_with_kvcache reading the paged cache (block_table)

No copy or reshape of the cache is needed: aios's per-layer cache
[num_blocks, block_size, num_kv_heads, head_dim] is flash-attn's paged layout
(num_blocks, page_block_size, nheads_k, headdim), and a block table row lists a
sequence's blocks in order, as flash-attn reads it. Its paged kernels want
page_block_size to be a multiple of 256 (Config checks block_size).

flash-attn computes in bfloat16 or float16 only. Every length it needs comes
in a device tensor, so decode launches without a host sync and can be
captured in a CUDA graph (aios/engine/cuda_graph.py).
"""
from aios.backends import FLASH_ATTN_INSTALL
from aios.backends.base import AttentionBackend
from aios.kernels.store_kvcache import store_kvcache


def import_flash_attn():
    """The flash_attn module, or an error that says how to get a working one."""
    try:
        import flash_attn
    except ImportError as e:
        # Often installed but built for another torch/CUDA (undefined symbols).
        raise ImportError(f"attention_backend='flash_attn': the flash-attn package does not "
                          f"import ({e}); it must be built for this torch and CUDA: "
                          f"{FLASH_ATTN_INSTALL}") from e
    return flash_attn


class FlashAttnBackend(AttentionBackend):
    name = "flash_attn"

    def __init__(self):
        flash_attn = import_flash_attn()
        self.varlen = flash_attn.flash_attn_varlen_func
        self.with_kvcache = flash_attn.flash_attn_with_kvcache

    def store_kvcache(self, key, value, k_cache, v_cache, slot_mapping):
        store_kvcache(key, value, k_cache, v_cache, slot_mapping)

    def prefill(self, q, k, v, k_cache, v_cache, ctx, scale):
        # causal=True aligns the mask to the last key, as aios means it: a
        # sequence's queries are its last q_len positions.
        if ctx.block_tables is None:
            # No cached prefix: this step's packed k/v are all the keys.
            return self.varlen(q, k, v, ctx.cu_seqlens_q, ctx.cu_seqlens_k,
                               ctx.max_seqlen_q, ctx.max_seqlen_k,
                               softmax_scale=scale, causal=True)
        # Prefix-cache hits: the keys, reused and new (store_kvcache has just
        # written the new ones), are read from the cache through the block
        # tables; cu_seqlens_k counts all of them.
        return self.varlen(q, k_cache, v_cache, ctx.cu_seqlens_q, ctx.cu_seqlens_k,
                           ctx.max_seqlen_q, ctx.max_seqlen_k,
                           softmax_scale=scale, causal=True, block_table=ctx.block_tables)

    def decode(self, q, k_cache, v_cache, ctx, scale):
        # q [B, H, D] -> [B, 1, H, D]: one query per sequence. cache_seqlens
        # counts the cached tokens incl. the new one (already stored), so no
        # k/v is passed for flash-attn to append. max_seqlen_k is not used: a
        # CUDA graph cannot know it.
        out = self.with_kvcache(q.unsqueeze(1), k_cache, v_cache,
                                cache_seqlens=ctx.context_lens, block_table=ctx.block_tables,
                                softmax_scale=scale, causal=True)
        return out.squeeze(1)                                        # [B, H, D]
