"""RMSNorm with the residual add fused in: one read of x (and residual), one write.

Reference: `rms_norm_ref` in aios/kernels/reference.py.

One program normalizes one row (token). Unfused, "add residual, then norm"
reads and writes the hidden state three times; fused, the sum stays in
registers between the add and the norm.

Rounding follows the reference (and Hugging Face): the residual add is
rounded to the activations' dtype, the mean of squares is taken in float32,
the normalized row is rounded to the activations' dtype before the weight
multiplies it.
"""
import torch
import triton
import triton.language as tl

from aios.kernels.host_math import next_power_of_2
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel


@triton.jit
def _rms_norm_kernel(
    x_ptr, res_ptr, w_ptr, out_ptr, new_res_ptr,
    stride_x, stride_res, stride_out, stride_new_res,  # row strides; columns are contiguous
    n_cols, eps,
    HAS_RESIDUAL: tl.constexpr,
    BLOCK: tl.constexpr,           # n_cols rounded up to a power of two
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * stride_x + cols, mask=mask, other=0.0)
    if HAS_RESIDUAL:
        r = tl.load(res_ptr + row * stride_res + cols, mask=mask, other=0.0)
        x = (x.to(tl.float32) + r.to(tl.float32)).to(x.dtype)  # rounded like `x + residual`
        tl.store(new_res_ptr + row * stride_new_res + cols, x, mask=mask)
    xf = x.to(tl.float32)
    mean_sq = tl.sum(xf * xf, axis=0) / n_cols          # padding columns are 0
    normed = (xf * tl.rsqrt(mean_sq + eps)).to(x.dtype)  # rounded like `.to(orig_dtype)`
    w = tl.load(w_ptr + cols, mask=mask, other=0.0)
    out = w.to(tl.float32) * normed.to(tl.float32)
    tl.store(out_ptr + row * stride_out + cols, out.to(out_ptr.dtype.element_ty), mask=mask)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float,
             residual: torch.Tensor | None = None):
    """x: [..., hidden]; weight: [hidden].

    Returns out, or (out, x + residual) when residual is given, like the
    reference. Out of place: x and residual are never modified; both
    results are fresh tensors (out in the dtype of weight * x).
    """
    hidden = x.shape[-1]
    assert weight.shape == (hidden,), f"weight must be [{hidden}], got {tuple(weight.shape)}"
    x2 = x.reshape(-1, hidden)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    rows = x2.shape[0]
    out = torch.empty((rows, hidden), dtype=torch.promote_types(x.dtype, weight.dtype),
                      device=x.device)
    if residual is not None:
        assert residual.shape == x.shape and residual.dtype == x.dtype
        r2 = residual.reshape(-1, hidden)
        if r2.stride(-1) != 1:
            r2 = r2.contiguous()
        new_res = torch.empty((rows, hidden), dtype=x.dtype, device=x.device)
    else:
        r2 = new_res = x2  # unused by the kernel (HAS_RESIDUAL=False)
    block = next_power_of_2(hidden)
    if rows > 0:
        _rms_norm_kernel[(rows,)](
            x2, r2, weight, out, new_res,
            x2.stride(0), r2.stride(0), out.stride(0), new_res.stride(0),
            hidden, eps,
            HAS_RESIDUAL=residual is not None, BLOCK=block,
            num_warps=min(max(block // 256, 1), 16),  # ~8 elements per thread per pass
            **pdl_options(x.device),
        )
    if x.dim() != 2:   # back to x's shape (a view costs the host ~2 us: not when it is already)
        out, new_res = out.view(x.shape), new_res.view(x.shape)
    return out if residual is None else (out, new_res)
