"""The per-step batch description that attention layers read.

The model's forward signature stays `forward(input_ids, positions)`, like a
plain transformer. Everything attention needs to find its keys and values in
the paged KV cache travels beside it in one global `Context`, set by the model
runner before each forward and cleared after it.
"""
from dataclasses import dataclass, field
from typing import Callable

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
    # What per_step() computed in this step: {key: (its inputs, the result)}.
    # None outside a step (the default Context): nothing is kept there.
    derived: dict | None = field(default=None, repr=False)


_CONTEXT = Context()


def get_context() -> Context:
    return _CONTEXT


def set_context(**kwargs) -> None:
    global _CONTEXT
    _CONTEXT = Context(**kwargs, derived={})


def reset_context() -> None:
    global _CONTEXT
    _CONTEXT = Context()


def per_step(fn: Callable, *args):
    """fn(*args), computed once per step and kept for the other layers.

    Every layer of a step asks for the same things made from the same tensors:
    the cache slots to read, which keys each query may see. Eagerly, each one
    is a handful of kernel launches; made again in each of 28 layers, they
    would cost more launches than the attention they serve. So the first
    layer's result is kept on the step's Context (set_context makes a new one
    each step) and found again by the same function and the same argument
    tensors (by identity: the step's tensors are not changed during the step).
    Outside a step it simply calls fn.
    """
    derived = _CONTEXT.derived
    if derived is None:
        return fn(*args)
    key = (fn, *(id(a) if isinstance(a, torch.Tensor) else a for a in args))
    if key not in derived:
        derived[key] = (args, fn(*args))   # the inputs are kept alive: their ids stay theirs
    return derived[key][1]
