"""flash-attn rows for benchmarks/kernels.py, when the flash-attn package imports.

The same problems as the Triton attention rows, through the flash_attn
backend's own calls (aios/backends/flash_attn_backend.py), each first checked
against the Triton kernel's output:

  * decode, 256 sequences x 1,000 tokens: flash_attn_with_kvcache beside the
    Triton row of the same block size (flash-attn's paged kernels need blocks
    of a multiple of 256 tokens, so only block size 256 has both);
  * prefill, 8 sequences x 4,096 tokens: flash_attn_varlen_func over the
    packed k/v, and reading K/V through block tables of 256-token blocks,
    beside the Triton paged prefill on the same 256-token cache (the Triton
    paged row of the table reads 16-token blocks).
"""
import torch

from aios.backends.flash_attn_backend import FlashAttnBackend
from aios.kernels.prefill_attention import prefill_attention
from aios.utils.context import Context
from benchmarks.kernels import DTYPE, HEAD_DIM, KV_HEADS, PEAK_GBS, bench, paged_tables

PAGE = 256   # flash-attn's paged kernels: block sizes that are multiples of 256


def bench_flash_decode(report, q, k_cache, v_cache, context_lens, table, scale, triton_out, nbytes):
    """One row at the block size of k_cache (a multiple of 256)."""
    block_size = k_cache.shape[1]
    backend = FlashAttnBackend()
    ctx = Context(is_prefill=False, context_lens=context_lens, block_tables=table)
    report.check(f"decode flash_attn bs={block_size} == triton",
                 backend.decode(q, k_cache, v_cache, ctx, scale), triton_out.float())
    ms = bench(lambda: backend.decode(q, k_cache, v_cache, ctx, scale))
    gbs = nbytes / ms / 1e6
    report.add(kernel="decode_attention (flash_attn)", block_size=block_size,
               config="flash_attn_with_kvcache", us=ms * 1e3, GBps=gbs, frac_peak=gbs / PEAK_GBS)


def bench_flash_prefill(report, q, k, v, cu, batch, seqlen, scale, triton_out, flops):
    """Packed and paged (256-token blocks) flash-attn prefill, and the Triton
    paged prefill on the same 256-token cache."""
    backend = FlashAttnBackend()
    packed = Context(is_prefill=True, cu_seqlens_q=cu, cu_seqlens_k=cu,
                     max_seqlen_q=seqlen, max_seqlen_k=seqlen)
    report.check("prefill flash_attn == triton",
                 backend.prefill(q, k, v, None, None, packed, scale), triton_out.float())

    table, num_blocks = paged_tables([seqlen] * batch, PAGE, q.device)
    k_cache = torch.empty(num_blocks, PAGE, KV_HEADS, HEAD_DIM, device=q.device, dtype=DTYPE)
    v_cache = torch.empty_like(k_cache)
    slots = torch.cat([table[b, torch.arange(seqlen, device=q.device) // PAGE].long() * PAGE
                       + torch.arange(seqlen, device=q.device) % PAGE for b in range(batch)])
    backend.store_kvcache(k, v, k_cache, v_cache, slots.to(torch.int32))
    paged = Context(is_prefill=True, cu_seqlens_q=cu, cu_seqlens_k=cu, max_seqlen_q=seqlen,
                    max_seqlen_k=seqlen, block_tables=table)
    report.check(f"prefill flash_attn paged bs={PAGE} == triton",
                 backend.prefill(q, k, v, k_cache, v_cache, paged, scale), triton_out.float())

    runs = {
        ("prefill_attention (flash_attn)", "flash_attn_varlen_func"):
            lambda: backend.prefill(q, k, v, None, None, packed, scale),
        ("prefill_attention_paged (flash_attn)", f"flash_attn_varlen_func block_table bs={PAGE}"):
            lambda: backend.prefill(q, k, v, k_cache, v_cache, paged, scale),
        ("prefill_attention_paged", f"triton bs={PAGE}"):
            lambda: prefill_attention(q, k, v, cu, cu, seqlen, seqlen, scale, k_cache, v_cache, table),
    }
    for (kernel, config), fn in runs.items():
        ms = bench(fn)
        report.add(kernel=kernel, config=config, ms=ms, TFLOPs=flops / ms / 1e9)
