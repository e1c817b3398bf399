"""Programmatic dependent launch (PDL): the next kernel is on the SMs before this one ends.

A decode step of Qwen3-0.6B is ~300 kernels of a few microseconds each, replayed
from a CUDA graph. Between two of them the GPU waits for the last block of one
grid to retire, then launches the next grid and fills the SMs: about a
microsecond in which nothing computes, ~0.3 ms of a ~2 ms step.

Hopper (compute capability 9.0) can overlap that. A kernel launched with
`launch_pdl=True` may start while the kernel before it in the stream is still
running; it must then wait, with `griddepcontrol.wait` (Triton:
`tl.extra.cuda.gdc_wait()`), before it touches memory the kernel before it
writes or reads. The wait returns once that kernel has finished and its writes
are visible. So every Triton kernel of a step here begins with
`wait_for_previous_kernel(USE_PDL)`: the launch, the block scheduling and the
prologue of kernel N+1 overlap kernel N's tail, and nothing else changes. The
chain is safe by induction: each kernel starts its work only after the one
before it finished, which started only after the one before that finished.
A kernel not launched this way (cuBLAS, a torch op) simply runs in stream
order, as always.

`gdc_launch_dependents()` lets the next kernel launch even earlier: once every
block of this grid has called it, not when they exit. The next kernel's blocks
then sit on free SM slots waiting, and start the moment this grid's writes land.

A GEMM's weights do not depend on the kernel before it. With
AIOS_GEMM_PREFETCH=1 the skinny GEMM (skinny_gemm.py) asks for its slice of
the weight into L2 before it waits, and the kernels that run just before a
GEMM (RMSNorm, SiLU-and-mul, the decode merge) let it launch early: the
weight read then overlaps the small kernel instead of following it.

AIOS_PDL chooses: "1" (the default on Hopper): launch with PDL and wait;
"early": every kernel lets the next one launch as soon as it has started;
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
GEMM_PREFETCH = os.environ.get("AIOS_GEMM_PREFETCH") == "1"
_INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


@functools.lru_cache(maxsize=None)
def use_pdl(device: torch.device) -> bool:
    """Launch this device's kernels with PDL? (Hopper or newer, not Triton's CPU interpreter.)"""
    if MODE == "0" or _INTERPRETED or device.type != "cuda":
        return False
    return torch.cuda.get_device_capability(device)[0] >= 9


def pdl_options(device: torch.device, before_gemm: bool = False) -> dict:
    """The launch arguments a kernel wrapper adds: the kernel's USE_PDL and
    LAUNCH_EARLY, and Triton's launch_pdl. before_gemm: a GEMM usually follows
    this kernel (it launches early when the GEMMs prefetch their weights)."""
    on = use_pdl(device)
    early = on and (MODE == "early" or (before_gemm and GEMM_PREFETCH))
    return {"USE_PDL": on, "LAUNCH_EARLY": early, "launch_pdl": on}


def gemm_prefetch(device: torch.device) -> bool:
    """Should a GEMM ask for its weights before it waits for the kernel before it?"""
    return GEMM_PREFETCH and use_pdl(device)


@triton.jit
def prefetch_l2(ptrs):
    """Ask for the 128-byte lines at `ptrs` to be brought into L2 (no registers, no wait)."""
    tl.inline_asm_elementwise("prefetch.global.L2 [$1]; mov.u32 $0, 0;", "=r,l", [ptrs],
                              dtype=tl.int32, is_pure=False, pack=1)


@triton.jit
def wait_for_previous_kernel(USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr):
    """First thing in a kernel launched with PDL: wait until the kernel before it is done."""
    if USE_PDL:
        tl.extra.cuda.gdc_wait()
        if LAUNCH_EARLY:
            tl.extra.cuda.gdc_launch_dependents()
