"""Programmatic dependent launch (PDL): the next kernel is on the SMs before this one ends.

A decode step of Qwen3-0.6B is ~300 kernels of a few microseconds each, replayed
from a CUDA graph. Between two of them the GPU waits for the last block of one
grid to retire, then launches the next grid and fills the SMs: up to a
microsecond or so in which nothing computes.

Hopper (compute capability 9.0) can overlap that. A kernel launched with
`launch_pdl=True` may start while the kernel before it in the stream is still
running; it must then wait, with `griddepcontrol.wait` (Triton:
`tl.extra.cuda.gdc_wait()`), before it touches memory the kernel before it
writes or reads. The wait returns once that kernel has finished and its writes
are visible. So every Triton kernel of a step here begins with
`wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)`: the launch and the block
scheduling of kernel N+1 overlap kernel N's tail, and nothing else changes. The
chain is safe by induction: each kernel starts its work only after the one
before it finished, which started only after the one before that finished.
A kernel not launched this way (cuBLAS, a torch op) simply runs in stream
order, as always.

On an H100 this took the engine's `table` benchmark from 7,956 to 8,416
tok/s (+5.8%, ~0.12 ms of a ~2.1 ms step) and `nano` from 20,409 to 20,793,
with the same greedy tokens (BENCHMARKS.md, session 13).

`gdc_launch_dependents()` lets the next kernel launch even earlier: once every
block of this grid has called it, not when they exit. The next kernel's blocks
then sit on SM slots, waiting. Measured, that is slower here (`table` 8,220;
session 16, with no decode grid of empty programs left to crowd: 8,100 against
8,780-8,828).

A kernel could also start, before its wait, on what no kernel before it writes,
such as a GEMM asking the L2 for its weight (`prefetch.global.L2`). Measured
twice on an H100, it is slower: with the kernels before a GEMM launching it early,
`table` lost 11% (session 13) and 15% (session 15); with the wait as it is, 7%
(session 15, BENCHMARKS.md). Not kept.

AIOS_PDL chooses: "1" (the default on Hopper): launch with PDL and wait;
"early": also let the next kernel launch as soon as this one has started;
"0": off (kernels launch in plain stream order, as before Hopper).
"""
import functools
import os

import torch
import triton
import triton.language as tl

MODE = os.environ.get("AIOS_PDL", "1")
if MODE not in ("0", "1", "early"):
    raise ValueError(f"AIOS_PDL={MODE!r}: expected 0 (off), 1 (on, the default) or early")
_INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


def use_pdl(device: torch.device) -> bool:
    """Launch this device's kernels with PDL? (Hopper or newer, not Triton's CPU interpreter.)"""
    if MODE == "0" or _INTERPRETED or device.type != "cuda":
        return False
    return torch.cuda.get_device_capability(device)[0] >= 9


@functools.lru_cache(maxsize=None)   # once per device: an eager step makes ~300 launches
def pdl_options(device: torch.device) -> dict:
    """The launch arguments a kernel wrapper adds (never modify the dict: it is shared):
    the kernel's USE_PDL and LAUNCH_EARLY, and Triton's launch_pdl."""
    on = use_pdl(device)
    return {"USE_PDL": on, "LAUNCH_EARLY": on and MODE == "early", "launch_pdl": on}


@triton.jit
def wait_for_previous_kernel(USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr):
    """First thing in a kernel launched with PDL: wait until the kernel before it is done."""
    if USE_PDL:
        tl.extra.cuda.gdc_wait()
        if LAUNCH_EARLY:
            tl.extra.cuda.gdc_launch_dependents()
