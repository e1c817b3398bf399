"""The decode step's input tensors, built without per-step allocations.

A decode step feeds one token per sequence, so its inputs are small, but they
are rebuilt every step, and every microsecond the host spends here is one the
GPU waits. So they live in buffers made once: pinned (page-locked) host arrays
that numpy fills in place, and device twins that one asynchronous copy each
updates. The CUDA graphs (cuda_graph.py) are captured reading these very
device buffers, so a replay needs no further copies.
"""
import torch

from aios.engine import paging
from aios.engine.sequence import Sequence
from aios.utils.context import set_context


def pinned_buffers(specs, device: torch.device) -> tuple[dict, dict]:
    """For each (name, shape, dtype): a pinned host buffer, as a numpy view that
    fills in place, and its device twin (the host buffer itself on a CPU).
    -> (host: {name: np.ndarray}, device: {name: torch.Tensor})."""
    on_gpu = device.type == "cuda"
    host, twins = {}, {}
    for name, shape, dtype in specs:
        buffer = torch.zeros(shape, dtype=dtype, pin_memory=on_gpu)
        host[name] = buffer.numpy()                 # a numpy view of the same memory
        twins[name] = torch.zeros(shape, dtype=dtype, device=device) if on_gpu else buffer
    return host, twins


class CopyFence:
    """Marks when the last asynchronous copies out of pinned host buffers are
    done, so that the host refills the buffers only after that. With async
    scheduling the host prepares step N+1 while the GPU may not yet have read
    step N's inputs; a copy is a step's first work, so the wait is ~never felt."""

    def __init__(self, on_gpu: bool):
        self.on_gpu, self.event = on_gpu, None

    def wait(self) -> None:
        if self.event is not None:
            self.event.synchronize()

    def record(self) -> None:
        if self.on_gpu:
            self.event = torch.cuda.Event()
            self.event.record()


def to_device(data, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A one-off tensor from a python list or a numpy array, copied through
    pinned memory without waiting. (torch.tensor(..., pin_memory=True) refuses
    numpy arrays: the TP workers' pending rows arrive as one.)"""
    tensor = torch.as_tensor(data, dtype=dtype)
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


class DecodeInputs:
    def __init__(self, max_num_seqs: int, max_blocks_per_seq: int, device: torch.device):
        self.on_gpu = device.type == "cuda"
        n, w = max_num_seqs, max_blocks_per_seq
        self.host, self.device = pinned_buffers(
            (("input_ids", (n,), torch.long), ("positions", (n,), torch.long),
             ("slot_mapping", (n,), torch.int32), ("context_lens", (n,), torch.int32),
             ("block_tables", (n, w), torch.int32)), device)
        self.copied = CopyFence(self.on_gpu)   # the host buffers are refilled after it
        self.shape = (0, 0, 0, 0)   # the last step's (rows, padded rows, table width, max length)

    def load(self, seqs: list[Sequence], block_size: int, num_rows: int):
        """Fill rows [0, num_rows) (>= len(seqs); the rest is padding) and set the Context.

        Padding rows write no KV (slot -1) and read one cached token.
        Returns device views (input_ids, positions) of the first len(seqs) rows.
        """
        self.copied.wait()
        h, b = self.host, len(seqs)
        h["input_ids"][:b] = [seq.last_token for seq in seqs]
        h["positions"][:b] = [len(seq) - 1 for seq in seqs]
        h["context_lens"][:b] = [len(seq) for seq in seqs]
        h["slot_mapping"][:b] = [paging.decode_slot(seq, block_size) for seq in seqs]
        width = max(len(seq.block_table) for seq in seqs)
        tables = h["block_tables"]
        for i, seq in enumerate(seqs):
            tables[i, :len(seq.block_table)] = seq.block_table
        return self._upload(b, num_rows, width, max(len(seq) for seq in seqs))

    # Tensor parallelism: rank 0 sends the rows it filled; a worker loads them as they are.
    def message(self) -> tuple:
        """The last step's rows, as compact arrays for the workers (tp_worker.Worker.decode)."""
        b, num_rows, width, max_len = self.shape
        h = self.host
        return (b, num_rows, width, max_len, h["input_ids"][:b].copy(), h["positions"][:b].copy(),
                h["context_lens"][:b].copy(), h["slot_mapping"][:b].copy(),
                h["block_tables"][:b, :width].copy())

    def load_message(self, message: tuple):
        """What load() does, from rank 0's message() instead of the sequences."""
        b, num_rows, width, max_len, input_ids, positions, context_lens, slots, tables = message
        self.copied.wait()
        h = self.host
        h["input_ids"][:b], h["positions"][:b] = input_ids, positions
        h["context_lens"][:b], h["slot_mapping"][:b] = context_lens, slots
        h["block_tables"][:b, :width] = tables
        return self._upload(b, num_rows, width, max_len)

    def _upload(self, b: int, num_rows: int, width: int, max_len: int):
        h = self.host
        h["input_ids"][b:num_rows] = 0
        h["positions"][b:num_rows] = 0
        h["context_lens"][b:num_rows] = 1
        h["slot_mapping"][b:num_rows] = -1
        h["block_tables"][b:num_rows, :width] = 0
        self.shape = (b, num_rows, width, max_len)
        d = self._copy_to_device(num_rows, width)
        set_context(is_prefill=False, slot_mapping=d["slot_mapping"][:b],
                    context_lens=d["context_lens"][:b], block_tables=d["block_tables"][:b, :width],
                    max_seqlen_k=max_len)
        return d["input_ids"][:b], d["positions"][:b]

    def _copy_to_device(self, num_rows: int, width: int) -> dict:
        if self.on_gpu:
            for name, dev in self.device.items():
                src = torch.from_numpy(self.host[name])
                if name == "block_tables":
                    dev[:num_rows, :width].copy_(src[:num_rows, :width], non_blocking=True)
                else:
                    dev[:num_rows].copy_(src[:num_rows], non_blocking=True)
            self.copied.record()
        return self.device
