"""Lesson 12, solved: the engine's own sampling (aios/layers/, aios/kernels/reference.py).

    apply_top_k_top_p  aios/layers/top_k_top_p.py: top-k by partial selection, top-p
                       over the survivors; called by mask_top_k_top_p
    mask_top_k_top_p   called by Sampler.forward for the rows with top-k / top-p
    sample             sample_ref, Sampler.impl on a CPU (a GPU runs aios/kernels/sampling.py)
"""
from aios.kernels.reference import sample_ref as sample
from aios.layers.sampler import mask_top_k_top_p
from aios.layers.top_k_top_p import apply_top_k_top_p

__all__ = ["apply_top_k_top_p", "mask_top_k_top_p", "sample"]
