"""CUDA graphs for the decode step.

A decode step launches hundreds of small kernels; at small batch sizes the
GPU finishes each one before the CPU has launched the next, so the step is
bound by launch overhead, not by the GPU. A CUDA graph records the whole
forward once and replays it with one launch.

A graph replays fixed memory addresses and shapes. So we capture one graph
per batch size in `batch_sizes`, all reading the same input buffers
(DecodeInputs' device tensors, which every step fills in place). A step with
batch size b pads to the next captured size, replays, and reads the first b
rows of the output.
"""
import torch

from aios.engine.decode_inputs import DecodeInputs
from aios.utils.context import reset_context, set_context


def capture_batch_sizes(max_num_seqs: int) -> list[int]:
    sizes = [1, 2, 4, 8] + list(range(16, max_num_seqs + 1, 16))
    return sorted({min(s, max_num_seqs) for s in sizes})


def padded_batch_size(batch_size: int, batch_sizes: list[int]) -> int:
    """The smallest captured size that fits the batch."""
    return next(s for s in batch_sizes if s >= batch_size)


class CUDAGraphRunner:
    def __init__(self, model: torch.nn.Module, inputs: DecodeInputs, max_num_seqs: int,
                 hidden_size: int, dtype: torch.dtype):
        self.model = model
        self.inputs = inputs.device                # the buffers every graph reads
        self.batch_sizes = capture_batch_sizes(max_num_seqs)
        device = self.inputs["input_ids"].device
        self.hidden = torch.zeros(self.batch_sizes[-1], hidden_size, dtype=dtype, device=device)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.pool = None

    @torch.inference_mode()
    def capture(self) -> None:
        self.inputs["slot_mapping"].fill_(-1)     # capture must not write into the cache
        self.inputs["context_lens"].fill_(1)
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
        set_context(is_prefill=False, slot_mapping=self.inputs["slot_mapping"][:bs],
                    context_lens=self.inputs["context_lens"][:bs],
                    block_tables=self.inputs["block_tables"][:bs],
                    max_seqlen_k=0)  # a graph cannot know it: kernels must not need it

    def _forward(self, bs: int) -> None:
        self.hidden[:bs] = self.model(self.inputs["input_ids"][:bs], self.inputs["positions"][:bs])

    def release(self) -> None:
        """Destroy every graph (one still running is freed when it ends)."""
        for graph in self.graphs.values():
            graph.reset()
        self.graphs.clear()

    def padded_size(self, batch_size: int) -> int | None:
        """The captured size this batch replays with, or None (too big: run eagerly)."""
        if batch_size > self.batch_sizes[-1]:
            return None
        return padded_batch_size(batch_size, self.batch_sizes)

    def replay(self, batch_size: int) -> torch.Tensor:
        """Replay for inputs already loaded into the buffers -> hidden [b, hidden]."""
        self.graphs[padded_batch_size(batch_size, self.batch_sizes)].replay()
        return self.hidden[:batch_size]
