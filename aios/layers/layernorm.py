"""RMSNorm, with the residual add fused in: y = norm(x + residual).

Under tensor parallelism an RMSNorm may also take the all-reduce of the
row-parallel layer before it (reduce_input): x is then that layer's partial
sums, and all_reduce_rms_norm sums them over the ranks before the norm, in the
same kernel when the P2P all-reduce is on (aios/kernels/p2p_all_reduce.py).
"""
import torch
from torch import nn

from aios.kernels.reference import rms_norm_ref
from aios.utils.distributed import all_reduce_rms_norm, in_process_group


class RMSNorm(nn.Module):
    # Replaced by the Triton kernel on a GPU (see aios/kernels/rms_norm.py).
    impl = staticmethod(rms_norm_ref)

    def __init__(self, hidden_size: int, eps: float = 1e-6, reduce_input: bool = False):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size), requires_grad=False)
        # x comes from a RowParallelLinear(reduce_results=False): sum it first (under TP)
        self.reduce_input = reduce_input and in_process_group()

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None):
        """Returns norm(x), or (norm(x + residual), x + residual); x summed over the
        ranks first when reduce_input."""
        if self.reduce_input:
            return all_reduce_rms_norm(x, residual, self.weight, self.eps, self.impl)
        return self.impl(x, self.weight, self.eps, residual)
