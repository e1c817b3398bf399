"""Lesson 04, solved: the engine's own functions, imported from where they live.

    store_kvcache     aios/kernels/reference.py: store_kvcache_ref, called by
                      TorchBackend.store_kvcache (aios/backends/torch_backend.py)
    gather_kv         aios/kernels/reference.py: gather_kv_ref
    decode_attention  aios/kernels/reference.py: decode_attention_ref, called by
                      TorchBackend.decode
"""
from aios.kernels.reference import decode_attention_ref as decode_attention
from aios.kernels.reference import gather_kv_ref as gather_kv
from aios.kernels.reference import store_kvcache_ref as store_kvcache

__all__ = ["store_kvcache", "gather_kv", "decode_attention"]
