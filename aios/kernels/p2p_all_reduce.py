"""All-reduce through the other GPUs' memory: one kernel, one barrier per call.

Reference: the sum x_0 + x_1 + ... in rank order. tests/test_p2p_all_reduce.py holds
the protocol to it on the CPU (two processes, Triton's interpreter, shared memory
standing in for the GPUs' mappings); tests/test_tensor_parallel.py with
AIOS_TP_ALL_REDUCE=p2p on two GPUs (TP=2 engines give the TP=1 tokens).

A decode step of a TP engine all-reduces a few hundred KB to a few MB twice
a layer. NCCL moves that through its ring in ~18-40 us on two H200s
(benchmarks/all_reduce.py); the bytes themselves cross NVLink in a few. Here
every rank's buffer is mapped into every other rank's address space
(PyTorch's symmetric memory), one slot per source rank, and each program of
the kernel:
  1. copies its slices of x into its slot: in its own buffer, for the peers
     to read across the links (pull), or in every peer's buffer (push: the
     links carry writes, which need no round trip, and the sum reads locally);
  2. tells every peer "my slices of call e are there" (flag = e, a release at
     system scope), then waits until every peer's flag says e (an acquire);
  3. adds the same slices of every rank, in rank order (every rank gets the
     same bits), into x.
Program p of every rank handles the same slices, so the barrier is between
the programs p alone, never the whole grid.

Why one barrier is enough: the buffers are double (call e uses half e % 2).
Before a rank writes half h again at call e + 2, its call e + 1 has ended,
and that needed every peer's signal of call e + 1, which each peer gives only
after its call e, and so its reads of half h, have ended (a stream runs its
kernels in order). This holds for either way of staging.

Status: the engine's default under TP where the GPUs can read each other's memory
(AIOS_TP_ALL_REDUCE=auto). Alone it is correct and ~2.5x as fast as NCCL at decode
sizes (BENCHMARKS.md, sessions 8-10); at a prefill's 128 MB NCCL is faster. With one
program per SM it hung a Qwen3-8B TP=2 engine, cause not found; the engine launches
64 (P2PAllReduce.MAX_PROGRAMS); with 32 or 64 every run went through.

A peer that never arrives (it died) must not hang this GPU: a wait gives up
once `status` is set (rank 0 sets it when a worker dies: abort()) or after
`timeout_ns`, and then sets `status` itself so that every later wait gives up
at once. The sums are garbage from then on: when the status says it timed out,
the engine stops at the step that reads its tokens (raise_if_p2p_failed).
"""
import os

import torch
import triton
import triton.language as tl

_INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


@triton.jit
def _now_ns(lanes):
    """The GPU's nanosecond clock, read once per element of `lanes`."""
    return tl.inline_asm_elementwise("mov.u64 $0, %globaltimer;", "=l,r", [lanes], dtype=tl.int64,
                                     is_pure=False, pack=1)


# Every branch of the wait below must go the same way in all the program's threads:
# each iteration passes barriers (Triton broadcasts an atomic's result through shared
# memory), and threads that part ways wait at different barriers, for ever. A clock
# or a volatile load can read differently in two threads, so each is read once per
# lane and reduced (tl.max) to the one value they all see. The flag comes from an
# atomic, which Triton already broadcasts.
@triton.jit
def _clock(lanes):
    return tl.max(_now_ns(lanes), axis=0)


@triton.jit
def _status(status_ptr, lanes):
    return tl.max(tl.load(status_ptr + lanes, volatile=True), axis=0)


@triton.jit
def _wait_for_peers(flags_ptr, status_ptr, pid, rank, epoch, timeout_ns,
                    WORLD: tl.constexpr, USE_CLOCK: tl.constexpr):
    """Spin until every peer's flag for program `pid` reaches `epoch` (or we give up)."""
    lanes = tl.zeros([256], dtype=tl.int32)
    if USE_CLOCK:   # the CPU interpreter has no clock: there only `status` ends a wait
        deadline = _clock(lanes) + timeout_ns
    for peer in tl.static_range(WORLD):
        if peer != rank:
            flag = flags_ptr + pid * WORLD + peer
            seen = tl.atomic_add(flag, 0, sem="acquire", scope="sys")
            while (seen < epoch) & (_status(status_ptr, lanes) == 0):
                if USE_CLOCK:
                    if _clock(lanes) > deadline:
                        tl.atomic_xchg(status_ptr, 2, scope="gpu")   # 2: timed out
                seen = tl.atomic_add(flag, 0, sem="acquire", scope="sys")


@triton.jit
def _slot(buffer_ptrs, owner, src, half, buffer_numel, WORLD: tl.constexpr, dtype: tl.constexpr):
    """In `owner`'s buffer, where rank `src`'s slices of this call go."""
    base = tl.load(buffer_ptrs + owner).to(tl.pointer_type(dtype))
    return base + (half * WORLD + src).to(tl.int64) * buffer_numel


@triton.jit
def p2p_all_reduce_kernel(
    x_ptr,                # [numel] in, the sum out
    buffer_ptrs,          # int64 [WORLD]: each rank's buffer [2, WORLD, buffer_numel], mapped here
    flag_ptrs,            # int64 [WORLD]: each rank's int32 flags [max programs, WORLD], mapped here
    epochs_ptr,           # int32 [max programs]: this rank's calls so far, per program
    status_ptr,           # int32 [1]: 0 while every peer keeps up
    numel, buffer_numel, rank, timeout_ns,
    WORLD: tl.constexpr, BLOCK: tl.constexpr, PUSH: tl.constexpr, USE_CLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    step = tl.num_programs(0) * BLOCK
    dtype = x_ptr.dtype.element_ty
    epoch = tl.load(epochs_ptr + pid) + 1
    tl.store(epochs_ptr + pid, epoch)
    half = epoch % 2

    for start in range(pid * BLOCK, numel, step):                  # 1. stage my slices
        offs = start + tl.arange(0, BLOCK)
        mask = offs < numel
        mine = tl.load(x_ptr + offs, mask=mask)
        if PUSH:   # into every peer's buffer, across the links
            for peer in tl.static_range(WORLD):
                if peer != rank:
                    tl.store(_slot(buffer_ptrs, peer, rank, half, buffer_numel, WORLD, dtype) + offs,
                             mine, mask=mask)
        else:      # into my own buffer, for the peers to read
            tl.store(_slot(buffer_ptrs, rank, rank, half, buffer_numel, WORLD, dtype) + offs,
                     mine, mask=mask)

    tl.debug_barrier()                                             # 2. the barrier of programs pid
    for peer in tl.static_range(WORLD):
        if peer != rank:
            peer_flags = tl.load(flag_ptrs + peer).to(tl.pointer_type(tl.int32))
            tl.atomic_xchg(peer_flags + pid * WORLD + rank, epoch, sem="release", scope="sys")
    own_flags = tl.load(flag_ptrs + rank).to(tl.pointer_type(tl.int32))
    _wait_for_peers(own_flags, status_ptr, pid, rank, epoch, timeout_ns, WORLD, USE_CLOCK)
    tl.debug_barrier()

    for start in range(pid * BLOCK, numel, step):                  # 3. sum, in rank order
        offs = start + tl.arange(0, BLOCK)
        mask = offs < numel
        total = tl.zeros((BLOCK,), dtype=tl.float32)
        for r in tl.static_range(WORLD):
            if r == rank:
                part = tl.load(x_ptr + offs, mask=mask, other=0.0)
            else:  # push: rank r's slices wait in my buffer; pull: in r's, across the links
                owner = rank if PUSH else r
                part = tl.load(_slot(buffer_ptrs, owner, r, half, buffer_numel, WORLD, dtype) + offs,
                               mask=mask, other=0.0, cache_modifier=".cv")
            total += part.to(tl.float32)
        tl.store(x_ptr + offs, total.to(dtype), mask=mask)


def p2p_all_reduce(x: torch.Tensor, buffer_ptrs: torch.Tensor, flag_ptrs: torch.Tensor,
                   epochs: torch.Tensor, status: torch.Tensor, buffer_numel: int, rank: int,
                   timeout_ns: int, programs: int, block: int = 2048, push: bool = False) -> torch.Tensor:
    """Sum contiguous `x` over the ranks, in place (see the top of this file). An x larger
    than a slot (buffer_numel) goes through in slot-sized chunks, a launch (a call) each.

    buffer_ptrs / flag_ptrs: int64 [world], every rank's buffer ([2, world, buffer_numel],
    x's dtype) and int32 flags ([>= programs, world], zero at first), as addresses this
    rank can read and write; epochs: int32 [>= programs], this rank's own, zero at first;
    status: int32 [1], zero. push: write my slices into the peers' buffers (the sum then
    reads local memory) instead of having them read mine. Every rank must make the same
    calls with the same `programs`, `block` and `push`."""
    assert x.is_contiguous(), "x must be contiguous"
    flat = x.view(-1)
    for start in range(0, flat.numel(), buffer_numel):
        chunk = flat[start:start + buffer_numel]
        p2p_all_reduce_kernel[(programs,)](
            chunk, buffer_ptrs, flag_ptrs, epochs, status, chunk.numel(), buffer_numel, rank, timeout_ns,
            WORLD=buffer_ptrs.numel(), BLOCK=block, PUSH=push, USE_CLOCK=not _INTERPRETED, num_warps=8)
    return x
