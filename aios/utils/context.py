"""The per-step batch description that attention layers read.

The model's forward signature stays `forward(input_ids, positions)`, like a
plain transformer. Everything attention needs to find its keys and values in
the paged KV cache travels beside it in one global `Context`, set by the model
runner before each forward and cleared after it.
"""
from dataclasses import dataclass

import torch


@dataclass
class Context:
    is_prefill: bool = False
    # Prefill packs the new tokens of all sequences into one row:
    # sequence i owns rows cu_seqlens_q[i]:cu_seqlens_q[i+1].
    cu_seqlens_q: torch.Tensor | None = None   # [B+1] int32
    cu_seqlens_k: torch.Tensor | None = None   # [B+1] int32, keys incl. cached prefix
    # Prefill: the packed rows that need logits, when more than each
    # sequence's last (prompt log-probabilities: aios/engine/logprobs.py).
    # None = rows cu_seqlens_q[1:] - 1.
    logit_rows: torch.Tensor | None = None     # [R] int64, the B last rows first
    max_seqlen_q: int = 0
    max_seqlen_k: int = 0
    # Where each new token's K/V goes: flat index block_id * block_size + offset.
    slot_mapping: torch.Tensor | None = None   # [N] int32, -1 = do not store
    # Decode: how many tokens each sequence has in the cache (incl. the new one).
    context_lens: torch.Tensor | None = None   # [B] int32
    # Which physical blocks hold each sequence's KV, padded with -1.
    # In prefill it is set only when some sequence reuses cached prefix blocks.
    block_tables: torch.Tensor | None = None   # [B, max_blocks] int32


_CONTEXT = Context()


def get_context() -> Context:
    return _CONTEXT


def set_context(**kwargs) -> None:
    global _CONTEXT
    _CONTEXT = Context(**kwargs)


def reset_context() -> None:
    global _CONTEXT
    _CONTEXT = Context()
