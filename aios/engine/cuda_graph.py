"""CUDA graphs for the decode step.

A decode step launches hundreds of small kernels; at small batch sizes the
GPU finishes each one before the CPU has launched the next, so the step is
bound by launch overhead, not by the GPU. A CUDA graph records the whole
forward once and replays it with one launch.

A graph replays fixed memory addresses and shapes. So we capture one graph
per batch size in `batch_sizes`, all reading from the same static input
buffers; a step with batch size b copies its inputs into those buffers,
pads up to the next captured size, replays, and reads the first b rows.
"""
import torch

from aios.utils.context import get_context, reset_context, set_context


def capture_batch_sizes(max_num_seqs: int) -> list[int]:
    sizes = [1, 2, 4, 8] + list(range(16, max_num_seqs + 1, 16))
    return sorted({min(s, max_num_seqs) for s in sizes})


def padded_batch_size(batch_size: int, batch_sizes: list[int]) -> int:
    """The smallest captured size that fits the batch."""
    return next(s for s in batch_sizes if s >= batch_size)


class CUDAGraphRunner:
    def __init__(self, model: torch.nn.Module, max_num_seqs: int, max_blocks_per_seq: int,
                 hidden_size: int, dtype: torch.dtype, device: torch.device):
        self.model = model
        self.batch_sizes = capture_batch_sizes(max_num_seqs)
        n = self.batch_sizes[-1]
        i32 = dict(dtype=torch.int32, device=device)
        self.input_ids = torch.zeros(n, dtype=torch.long, device=device)
        self.positions = torch.zeros(n, dtype=torch.long, device=device)
        self.slot_mapping = torch.full((n,), -1, **i32)
        self.context_lens = torch.ones(n, **i32)
        self.block_tables = torch.zeros(n, max_blocks_per_seq, **i32)
        self.hidden = torch.zeros(n, hidden_size, dtype=dtype, device=device)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.pool = None

    @torch.inference_mode()
    def capture(self) -> None:
        # Largest first: later (smaller) graphs reuse its memory pool.
        for bs in reversed(self.batch_sizes):
            self._set_context(bs)
            self._forward(bs)                     # warm up (Triton compiles here)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, self.pool):
                self._forward(bs)
            if self.pool is None:
                self.pool = graph.pool()
            self.graphs[bs] = graph
            torch.cuda.synchronize()
            reset_context()

    def _set_context(self, bs: int) -> None:
        set_context(is_prefill=False, slot_mapping=self.slot_mapping[:bs],
                    context_lens=self.context_lens[:bs], block_tables=self.block_tables[:bs],
                    max_seqlen_k=0)  # a graph cannot know it: kernels must not need it

    def _forward(self, bs: int) -> None:
        self.hidden[:bs] = self.model(self.input_ids[:bs], self.positions[:bs])

    def can_run(self, batch_size: int) -> bool:
        return batch_size <= self.batch_sizes[-1]

    def run(self, input_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Replay the decode forward for this step's inputs -> hidden [b, hidden]."""
        ctx, b = get_context(), input_ids.shape[0]
        bs = padded_batch_size(b, self.batch_sizes)
        self.input_ids[:b] = input_ids
        self.positions[:b] = positions
        self.slot_mapping[:b] = ctx.slot_mapping
        self.slot_mapping[b:bs] = -1              # padding rows write nothing
        self.context_lens[:b] = ctx.context_lens
        self.context_lens[b:bs] = 1
        width = ctx.block_tables.shape[1]
        self.block_tables[:b, :width] = ctx.block_tables
        self.graphs[bs].replay()
        return self.hidden[:b]
