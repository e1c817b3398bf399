"""SwiGLU's activation: silu(gate) * up, on the fused [gate | up] output."""
import torch
from torch import nn

from aios.kernels.reference import silu_and_mul_ref


class SiluAndMul(nn.Module):
    impl = staticmethod(silu_and_mul_ref)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.impl(x)  # [N, 2 * I] -> [N, I]
