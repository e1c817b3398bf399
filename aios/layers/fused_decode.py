"""A decode step's layers with the norms and the activation folded into the GEMMs.

At a few dozen rows a decoder layer is ten launches: RMSNorm, qkv GEMM, q/k
norm + RoPE, attention, its merge, o GEMM, RMSNorm (+ residual add), gate_up
GEMM, SiLU-and-mul, down GEMM. The GEMMs read megabytes of weights; the two
norms and the activation move a few kilobytes each and still cost a launch of
~2 us apiece, 28 layers over (BENCHMARKS.md's profile of `table`). Here the
skinny GEMM (aios/kernels/skinny_gemm.py) does their work on the way:

  residual = embedding
  per layer:
    qkv      = RMSNorm(residual) @ Wqkv.T          the norm in the qkv GEMM's loads
    residual = attention(qkv) @ Wo.T + residual     the add in the o GEMM's store
    act      = SiLU-and-mul(RMSNorm(residual) @ Wgate_up.T)   both in the gate_up GEMM
    residual = act @ Wdown.T + residual             the add in the down GEMM's store
  hidden = RMSNorm(residual)

Three launches a layer fewer, and no intermediate [rows, 2I] tensor. The
rounding differs from the layers' in the last bits: the sum is rounded once
(o + residual, not round(o) + residual), the norm's scale is applied in
float32 after the product rather than to a rounded input.

Only where the skinny GEMM itself runs: a decode batch captured in a CUDA graph,
one process (no all-reduce between a GEMM and its residual), and every GEMM of
the layer at a shape measured faster than cuBLAS (CONFIGS). Everything else
takes the layers as written (Qwen3Model.forward). AIOS_FUSED_DECODE=0 turns it
off, to measure what it buys.
"""
import os

import torch

from aios.kernels.skinny_gemm import MAX_ROWS, skinny_gemm
from aios.kernels.skinny_gemm_configs import CONFIGS, rows_bucket

ENABLED = os.environ.get("AIOS_FUSED_DECODE", "1") != "0"


class FusedDecode:
    def __init__(self, buckets: set[int]):
        self.buckets = buckets      # rows buckets (16, 32, ...) where every GEMM has a config

    @classmethod
    def for_model(cls, model) -> "FusedDecode | None":
        """For a Qwen3Model (Llama and Qwen2 are one) on one GPU, or None where it cannot run."""
        layer = model.layers[0]
        attn, mlp = layer.self_attn, layer.mlp
        linears = (attn.qkv_proj, attn.o_proj, mlp.gate_up_proj, mlp.down_proj)
        if not ENABLED or any(lin.collectives for lin in linears) or mlp.gate_up_proj.bias is not None:
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
    def norm_linear(x, norm, linear, gated: bool = False):
        """linear(norm(x)); gated: SiLU-and-mul of it."""
        return skinny_gemm(x, linear.weight, linear.bias, norm_weight=norm.weight, eps=norm.eps,
                           gated=gated)

    @staticmethod
    def linear_add(x, linear, residual):
        """linear(x) + residual."""
        return skinny_gemm(x, linear.weight, linear.bias, residual=residual)
