"""The Triton backend: aios's own GPU kernels (aios/kernels/*.py).

Same three operations as the torch backend, same results (up to rounding),
computed by fused kernels that read the paged cache directly.
"""
from aios.backends.base import AttentionBackend
from aios.kernels.decode_attention import decode_attention
from aios.kernels.prefill_attention import prefill_attention
from aios.kernels.store_kvcache import store_kvcache


class TritonBackend(AttentionBackend):
    name = "triton"

    def store_kvcache(self, key, value, k_cache, v_cache, slot_mapping):
        store_kvcache(key, value, k_cache, v_cache, slot_mapping)

    def prefill(self, q, k, v, k_cache, v_cache, ctx, scale):
        # Without block tables no sequence reuses a cached prefix: the new
        # tokens' packed k/v are all the keys. With them, read the cache
        # (which store_kvcache has just filled with the new tokens too).
        if ctx.block_tables is None:
            return prefill_attention(q, k, v, ctx.cu_seqlens_q, ctx.cu_seqlens_k,
                                     ctx.max_seqlen_q, ctx.max_seqlen_k, scale)
        return prefill_attention(q, k, v, ctx.cu_seqlens_q, ctx.cu_seqlens_k,
                                 ctx.max_seqlen_q, ctx.max_seqlen_k, scale,
                                 k_cache, v_cache, ctx.block_tables)

    def decode(self, q, k_cache, v_cache, ctx, scale):
        # max_seqlen_k is only a hint for the split size (0 = unknown); the
        # kernel reads the true lengths from ctx.context_lens on the device.
        return decode_attention(q, k_cache, v_cache, ctx.context_lens, ctx.block_tables,
                                scale, ctx.max_seqlen_k or None)
