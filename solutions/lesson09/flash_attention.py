"""Lesson 09, solved: the engine's own FlashAttention kernel (aios/kernels/prefill_attention.py).

    prefill_attention   the wrapper that launches _prefill_kernel, called by
                        TritonBackend.prefill (aios/backends/triton_backend.py)

Read the kernel itself in aios/kernels/prefill_attention.py: _prefill_kernel
walks the key tiles, _attend_tile folds one tile into the online softmax.
"""
from aios.kernels.prefill_attention import prefill_attention

__all__ = ["prefill_attention"]
