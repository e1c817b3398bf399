"""Triton helpers shared by the attention kernels."""
import torch
import triton
import triton.language as tl


@triton.jit
def dot(a, b, acc, DOT_PREC: tl.constexpr, UPCAST_DOT: tl.constexpr):
    """acc + a @ b, accumulated in float32.

    UPCAST_DOT is set only under the CPU interpreter, whose bfloat16 dot
    multiplies the raw bits; bf16 operands are exact in float32, so the
    upcast changes nothing but the speed.
    """
    if UPCAST_DOT:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), acc=acc, input_precision="ieee")
    else:
        return tl.dot(a, b, acc=acc, input_precision=DOT_PREC)


def upcast_dot(x: torch.Tensor) -> bool:
    """Should `dot` upcast? Only for bf16 under the CPU interpreter."""
    return x.device.type != "cuda" and x.dtype == torch.bfloat16
