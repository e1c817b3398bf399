"""Linear layers that know how to take their slice of a checkpoint.

Every layer is written for tensor parallelism (TP) from the start; with one
process (tp_size == 1) each one is a plain `x @ W.T + b`.

- Column-parallel: the output features are split across ranks. Q/K/V and the
  MLP's gate/up are column-parallel, so every rank computes its own heads.
- Row-parallel: the input features are split; each rank computes a partial
  sum and one all-reduce adds them. The attention output and MLP down
  projection are row-parallel, so a layer needs just two all-reduces.

Fused weights: q/k/v live in one `qkv_proj` and gate/up in one
`gate_up_proj`, so one matmul does the work of three (or two). The
checkpoint still stores them apart; each parameter's `weight_loader` copies a
checkpoint tensor into the right slice (`shard_id` names which one).

The matmul itself is `impl`: F.linear (linear_ref), or on a GPU the skinny
GEMM, which takes decode-sized batches and leaves the rest to F.linear
(aios/kernels/skinny_gemm.py; set by the model runner).
"""
import torch
from torch import nn

from aios.kernels.reference import linear_ref
from aios.utils.distributed import all_reduce, get_tp_rank, get_tp_size, in_process_group


def _divide(a: int, b: int) -> int:
    assert a % b == 0, f"{a} is not divisible by {b}"
    return a // b


class LinearBase(nn.Module):
    impl = staticmethod(linear_ref)   # (x, weight, bias) -> x @ weight.T + bias

    def __init__(self, input_size: int, output_size: int, bias: bool = False):
        super().__init__()
        self.tp_rank, self.tp_size = get_tp_rank(), get_tp_size()
        self.collectives = in_process_group()
        self.weight = nn.Parameter(torch.empty(output_size, input_size), requires_grad=False)
        self.weight.weight_loader = self.weight_loader
        if bias:
            self.bias = nn.Parameter(torch.empty(output_size), requires_grad=False)
            self.bias.weight_loader = self.weight_loader
        else:
            self.register_parameter("bias", None)

    def weight_loader(self, param: nn.Parameter, loaded: torch.Tensor, shard_id=None):
        param.data.copy_(loaded)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.impl(x, self.weight, self.bias)


class ReplicatedLinear(LinearBase):
    """Every rank holds the whole weight."""


class ColumnParallelLinear(LinearBase):
    """Output features split across ranks: [out/tp, in] on each."""

    def __init__(self, input_size: int, output_size: int, bias: bool = False):
        super().__init__(input_size, _divide(output_size, get_tp_size()), bias)

    def weight_loader(self, param, loaded, shard_id=None):
        rows = param.shape[0]
        param.data.copy_(loaded.narrow(0, self.tp_rank * rows, rows))


class MergedColumnParallelLinear(ColumnParallelLinear):
    """Several column-parallel outputs stored as one, e.g. [gate | up]."""

    def __init__(self, input_size: int, output_sizes: list[int], bias: bool = False):
        self.output_sizes = output_sizes
        super().__init__(input_size, sum(output_sizes), bias)

    def weight_loader(self, param, loaded, shard_id: int):
        rows = self.output_sizes[shard_id] // self.tp_size
        start = sum(self.output_sizes[:shard_id]) // self.tp_size
        shard = loaded.narrow(0, self.tp_rank * rows, rows)
        param.data.narrow(0, start, rows).copy_(shard)


class QKVParallelLinear(ColumnParallelLinear):
    """Q, K and V projections in one matrix, split by heads across ranks.

    Each rank gets num_heads/tp query heads and num_kv_heads/tp KV heads. With
    fewer KV heads than ranks, a KV head is replicated: ranks r with the same
    r * num_kv_heads // tp hold the same one.
    """

    def __init__(self, hidden_size: int, head_dim: int, num_heads: int,
                 num_kv_heads: int, bias: bool = False):
        tp = get_tp_size()
        if num_kv_heads >= tp:
            _divide(num_kv_heads, tp)
        else:
            _divide(tp, num_kv_heads)
        self.head_dim = head_dim
        self.num_heads = _divide(num_heads, tp)
        self.num_kv_heads = max(1, num_kv_heads // tp)
        self.total_num_kv_heads = num_kv_heads
        output_size = (self.num_heads + 2 * self.num_kv_heads) * head_dim * tp
        super().__init__(hidden_size, output_size, bias)

    def weight_loader(self, param, loaded, shard_id: str):
        q_rows = self.num_heads * self.head_dim
        kv_rows = self.num_kv_heads * self.head_dim
        if shard_id == "q":
            start, rows, first = 0, q_rows, self.tp_rank * q_rows
        else:
            kv_head = self.tp_rank * self.total_num_kv_heads // self.tp_size
            first = kv_head * self.head_dim
            start = q_rows if shard_id == "k" else q_rows + kv_rows
            rows = kv_rows
        param.data.narrow(0, start, rows).copy_(loaded.narrow(0, first, rows))


class RowParallelLinear(LinearBase):
    """Input features split across ranks; partial sums meet in an all-reduce."""

    def __init__(self, input_size: int, output_size: int, bias: bool = False):
        super().__init__(_divide(input_size, get_tp_size()), output_size, bias)

    def weight_loader(self, param, loaded, shard_id=None):
        if param.dim() == 1:  # the bias is added once, after the reduction
            param.data.copy_(loaded)
            return
        cols = param.shape[1]
        param.data.copy_(loaded.narrow(1, self.tp_rank * cols, cols))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.impl(x, self.weight)
        if self.collectives:
            y = all_reduce(y)
        return y if self.bias is None else y + self.bias
