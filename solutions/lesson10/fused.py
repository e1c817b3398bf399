"""Lesson 10, solved: the engine's own fused kernels and weight loaders.

    rms_norm              aios/kernels/rms_norm.py (RMSNorm.impl on a GPU, model_runner._use_triton_layer_kernels)
    silu_and_mul          aios/kernels/silu_and_mul.py (SiluAndMul.impl on a GPU)
    merged_weight_loader  MergedColumnParallelLinear.weight_loader (aios/layers/linear.py)
    qkv_weight_loader     QKVParallelLinear.weight_loader, both called by load_model (aios/utils/loader.py)
"""
from aios.kernels.rms_norm import rms_norm
from aios.kernels.silu_and_mul import silu_and_mul
from aios.layers.linear import MergedColumnParallelLinear, QKVParallelLinear

merged_weight_loader = MergedColumnParallelLinear.weight_loader
qkv_weight_loader = QKVParallelLinear.weight_loader

__all__ = ["rms_norm", "silu_and_mul", "merged_weight_loader", "qkv_weight_loader"]
