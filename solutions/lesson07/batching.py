"""Lesson 07, solved: the engine's own functions, imported from where they live.

    pad_packed         aios/kernels/reference.py: pad_packed
    prefill_attention  aios/kernels/reference.py: prefill_attention_ref, called by
                       TorchBackend.prefill (aios/backends/torch_backend.py)
"""
from aios.kernels.reference import pad_packed
from aios.kernels.reference import prefill_attention_ref as prefill_attention

__all__ = ["pad_packed", "prefill_attention"]
