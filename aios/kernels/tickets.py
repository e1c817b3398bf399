"""Ticket counters, for kernels whose last program to finish does the reduction.

A split-K GEMM (skinny_gemm.py) or a split-KV decode (decode_attention.py,
fused_merge) cuts one output's work over several programs. Each writes its
partial, then takes a ticket from the output's counter (an atomic add); the
one that draws the last ticket adds the partials up and sets the counter back
to zero, ready for the next launch. The counters live here, one zeroed int32
buffer per kernel and GPU, shared by every launch of that kernel: launches on
one stream never overlap, and the engine runs its kernels on one stream.
"""
import torch

_buffers: dict[tuple[str, torch.device], torch.Tensor] = {}


def ticket_counters(kernel: str, size: int, device: torch.device) -> torch.Tensor:
    """`kernel`'s int32 counters on `device` ([size], zero between launches).

    Made on first use, which the engine makes before capturing CUDA graphs
    (ModelRunner, or an eager warm-up step), so that no graph owns them.
    """
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())   # one buffer per GPU
    if (kernel, device) not in _buffers:
        if device.type == "cuda" and torch.cuda.is_current_stream_capturing():
            raise RuntimeError(f"{kernel}: first call on this GPU inside a CUDA graph capture; "
                               f"run the model once eagerly before capturing (a warm-up)")
        _buffers[kernel, device] = torch.zeros(size, dtype=torch.int32, device=device)
    return _buffers[kernel, device]
