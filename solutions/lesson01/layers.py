"""Lesson 01, solved: the engine's own functions, imported from where they live.

    rms_norm     aios/kernels/reference.py: rms_norm_ref, run by RMSNorm (aios/layers/layernorm.py)
    rotary       aios/kernels/reference.py: rotary_ref, run by RotaryEmbedding
                 (aios/layers/rotary_embedding.py)
    causal_mask  aios/kernels/reference.py: causal_mask, used by attention_ref
    attention    aios/kernels/reference.py: attention_ref, used by the torch backend's
                 prefill and decode attention
"""
from aios.kernels.reference import attention_ref as attention
from aios.kernels.reference import causal_mask
from aios.kernels.reference import rms_norm_ref as rms_norm
from aios.kernels.reference import rotary_ref as rotary

__all__ = ["rms_norm", "rotary", "causal_mask", "attention"]
