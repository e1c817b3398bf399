"""SwiGLU's activation on the fused [gate | up] projection: silu(gate) * up.

Reference: `silu_and_mul_ref` in aios/kernels/reference.py.

The MLP computes gate and up with one matmul into [N, 2I]; this kernel reads
both halves once and writes [N, I], instead of three separate elementwise
passes. The math is done in float32 and rounded once.
"""
import torch
import triton
import triton.language as tl

from aios.kernels.host_math import cdiv, next_power_of_2
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel


@triton.jit
def _silu_and_mul_kernel(
    x_ptr, out_ptr,
    stride_x, stride_out,   # row strides; columns are contiguous
    n_cols,                 # I, the width of one half
    BLOCK: tl.constexpr,
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    gate = tl.load(x_ptr + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
    up = tl.load(x_ptr + row * stride_x + n_cols + cols, mask=mask, other=0.0).to(tl.float32)
    silu = gate / (1.0 + tl.exp(-gate))     # = gate * sigmoid(gate)
    tl.store(out_ptr + row * stride_out + cols,
             (silu * up).to(out_ptr.dtype.element_ty), mask=mask)


def silu_and_mul(x: torch.Tensor) -> torch.Tensor:
    """x: [..., 2I] -> new tensor [..., I] (x is not modified)."""
    two_i = x.shape[-1]
    assert two_i % 2 == 0, "the last dim must hold [gate | up]"
    n_cols = two_i // 2
    x2 = x.reshape(-1, two_i)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    rows = x2.shape[0]
    out = torch.empty((rows, n_cols), dtype=x.dtype, device=x.device)
    block = min(next_power_of_2(n_cols), 1024)
    if rows > 0:
        _silu_and_mul_kernel[(rows, cdiv(n_cols, block))](
            x2, out, x2.stride(0), out.stride(0), n_cols,
            BLOCK=block, num_warps=4, **pdl_options(x.device),
        )
    return out if x.dim() == 2 else out.view(*x.shape[:-1], n_cols)
