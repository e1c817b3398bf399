"""Lesson 12, solved: the engine's own sampling (aios/layers/sampler.py, aios/kernels/reference.py).

    apply_top_k_top_p  called by mask_top_k_top_p
    mask_top_k_top_p   called by Sampler.forward for the rows with top-k / top-p
    sample             sample_ref, Sampler.impl on a CPU (a GPU runs aios/kernels/sampling.py)
"""
from aios.kernels.reference import sample_ref as sample
from aios.layers.sampler import apply_top_k_top_p, mask_top_k_top_p

__all__ = ["apply_top_k_top_p", "mask_top_k_top_p", "sample"]
