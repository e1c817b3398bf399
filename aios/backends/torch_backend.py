"""The reference backend: plain PyTorch, runs anywhere (CPU and GPU)."""
from aios.backends.base import AttentionBackend
from aios.kernels.reference import (decode_attention_ref, prefill_attention_ref,
                                    store_kvcache_ref)


class TorchBackend(AttentionBackend):
    name = "torch"

    def store_kvcache(self, key, value, k_cache, v_cache, slot_mapping):
        store_kvcache_ref(key, value, k_cache, v_cache, slot_mapping)

    def prefill(self, q, k, v, k_cache, v_cache, ctx, scale):
        return prefill_attention_ref(
            q, k, v, ctx.cu_seqlens_q, ctx.cu_seqlens_k, ctx.max_seqlen_q,
            ctx.max_seqlen_k, scale, k_cache, v_cache, ctx.block_tables)

    def decode(self, q, k_cache, v_cache, ctx, scale):
        return decode_attention_ref(q, k_cache, v_cache, ctx.context_lens,
                                    ctx.block_tables, scale, ctx.max_seqlen_k)
