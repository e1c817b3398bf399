"""A decode step's layers with their RMSNorms folded into the GEMMs around them.

At a few dozen rows a decoder layer is ten launches: RMSNorm, qkv GEMM, q/k
norm + RoPE, attention, its merge, o GEMM, RMSNorm (+ residual add), gate_up
GEMM, SiLU-and-mul, down GEMM. The GEMMs read megabytes of weights; each norm
moves a few kilobytes and still costs a launch (~1.3 us on an H200), 28 layers
over. Here the skinny GEMM (aios/kernels/skinny_gemm.py) does their work:

  residual = embedding
  per layer:
    qkv          = RMSNorm(residual) @ Wqkv.T      (layer 0: the norm kernel, then the GEMM)
    residual, n  = attention(qkv) @ Wo.T + residual      the add in the o GEMM's store, and
                   the next norm's input n: residual * g and its rows' sums of squares
    act          = SiLU-and-mul(n @ Wgate_up.T, scaled per row by 1 / rms)
    residual, n  = act @ Wdown.T + residual              (the last layer: no n)
  hidden = RMSNorm(residual)

Two launches a layer fewer. The rounding differs from the layers' in the last
bits (the sum is rounded once, o + residual, not round(o) + residual; the norm's
1 / rms scales the GEMM's float32 output rather than its rounded input).

Only where the skinny GEMM itself runs: a decode batch captured in a CUDA graph,
one process (no all-reduce between a GEMM and its residual), and every GEMM of
the layer at a shape measured faster than cuBLAS (CONFIGS). Everything else
takes the layers as written (Qwen3Model.forward). Opt-in, AIOS_FUSED_DECODE=1:
on an H100 this form ran `table` 1.3% faster (four runs each way) and `nano` as fast,
but its greedy tokens part from the layers' on random weights, and the GPU test that
holds them equal on a model with clear winners failed (BENCHMARKS.md, session 15);
until that is understood it stays off. A first form that normalized inside the GEMM's
loop was 19% slower on `table` (session 14).
"""
import os

import torch

from aios.kernels.skinny_gemm import MAX_ROWS, skinny_gemm
from aios.kernels.skinny_gemm_configs import CONFIGS, rows_bucket

ENABLED = os.environ.get("AIOS_FUSED_DECODE", "0") == "1"


class FusedDecode:
    def __init__(self, buckets: set[int]):
        self.buckets = buckets      # rows buckets (16, 32, ...) where every GEMM has a config

    @classmethod
    def for_model(cls, model) -> "FusedDecode | None":
        """For a Qwen3Model (Llama and Qwen2 are one) on one GPU, or None where it cannot run."""
        layer = model.layers[0]
        attn, mlp = layer.self_attn, layer.mlp
        linears = (attn.qkv_proj, attn.o_proj, mlp.gate_up_proj, mlp.down_proj)
        if not ENABLED or any(lin.collectives for lin in linears):
            return None
        buckets = {b for b in (16, 32, 64, 128) if b <= MAX_ROWS
                   and all((b, *lin.weight.shape) in CONFIGS for lin in linears)}
        return cls(buckets) if buckets else None

    def takes(self, x: torch.Tensor) -> bool:
        """Is x ([rows, hidden]) a decode batch the fused layers run?"""
        rows = x.shape[0]
        return (x.is_cuda and 0 < rows and rows_bucket(rows) in self.buckets
                and x.dtype in (torch.bfloat16, torch.float16)
                and torch.cuda.is_current_stream_capturing())

    @staticmethod
    def norm_linear(x, norm_input, norm, linear):
        """linear(norm(x)): from the norm's input the GEMM before left (NormInput),
        or, with none (layer 0), through the norm's own kernel."""
        if norm_input is None:
            return linear(norm(x))
        return skinny_gemm(norm_input, linear.weight, linear.bias)

    @staticmethod
    def linear_add(x, linear, residual, next_norm=None):
        """-> (linear(x) + residual, and for next_norm (an RMSNorm) its input for the
        GEMM after it, a NormInput; None without next_norm)."""
        if next_norm is None:
            return skinny_gemm(x, linear.weight, linear.bias, residual=residual), None
        return skinny_gemm(x, linear.weight, linear.bias, residual=residual,
                           next_norm=(next_norm.weight, next_norm.eps))
