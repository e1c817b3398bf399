"""The P2P all-reduce kernel's protocol, on the CPU: two processes, Triton's interpreter.

aios/kernels/p2p_all_reduce.py sums over GPUs that read each other's memory. Here
two processes stand in for two GPUs: every rank's staging buffer and flags live in
shared memory, mapped into both, and each process runs the kernel under
TRITON_INTERPRET=1, its programs one after the other. What must hold:
- every rank gets x_0 + x_1, in rank order, for calls of any size one after the other
  (the double buffers, the barrier between the programs p of both ranks), a call
  larger than a slot in chunks;
- a rank whose peer never arrives does not hang once its status is set (abort()).
The GPU side (NVLink mappings, CUDA graphs) is tested by tests/test_tensor_parallel.py
with AIOS_TP_TEST_DEVICE=cuda (P2P where the GPUs allow it: AIOS_TP_ALL_REDUCE=auto).
"""
import os
import threading
import time

import pytest
import torch
import torch.multiprocessing as mp

from aios.kernels.p2p_all_reduce import p2p_all_reduce

# conftest turns the interpreter on where there is no GPU; spawned ranks inherit it.
pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1",
                                reason="the CPU interpreter's test; on GPUs see test_tensor_parallel.py")

BUFFER_NUMEL = 6000
PROGRAMS = 3
# More than one BLOCK (2048), odd ends, the buffer's slot, and larger (in 2 or 3 chunks).
SIZES = [1, 100, 4100, 3, 6000, 2048, 13001, 17, 12000]


def shared_state(world: int):
    buffers = [torch.zeros(2 * world * BUFFER_NUMEL).share_memory_() for _ in range(world)]
    flags = [torch.zeros(PROGRAMS * world, dtype=torch.int32).share_memory_() for _ in range(world)]
    return buffers, flags


def rank_inputs(rank: int, size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1000 * size)
    return torch.randn(size, generator=g) * (rank + 1) + rank


def run_rank(rank: int, buffers, flags, results, push: bool) -> None:
    buffer_ptrs = torch.tensor([b.data_ptr() for b in buffers], dtype=torch.int64)
    flag_ptrs = torch.tensor([f.data_ptr() for f in flags], dtype=torch.int64)
    epochs = torch.zeros(PROGRAMS, dtype=torch.int32)
    status = torch.zeros(1, dtype=torch.int32)
    for i, size in enumerate(SIZES):
        if rank == 1 and i % 2:
            time.sleep(0.2)   # a rank that arrives late: the other waits at the barrier
        x = rank_inputs(rank, size)
        p2p_all_reduce(x, buffer_ptrs, flag_ptrs, epochs, status, BUFFER_NUMEL, rank,
                       timeout_ns=0, programs=PROGRAMS, push=push)
        results[(rank, size)] = x
    results[(rank, "status")] = int(status.item())


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_two_ranks_get_the_sum_for_calls_of_any_size(push):
    ctx = mp.get_context("spawn")
    buffers, flags = shared_state(2)
    with ctx.Manager() as manager:
        results = manager.dict()
        procs = [ctx.Process(target=run_rank, args=(r, buffers, flags, results, push)) for r in range(2)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(120)
        hung = [proc for proc in procs if proc.is_alive()]
        for proc in hung:
            proc.kill()
        assert not hung, "a rank did not finish: the barrier lost a signal"
        assert all(proc.exitcode == 0 for proc in procs)
        results = dict(results)
    for size in SIZES:
        expected = rank_inputs(0, size) + rank_inputs(1, size)   # rank order, float32
        assert torch.equal(results[(0, size)], expected), size
        assert torch.equal(results[(1, size)], expected), size
    assert results[(0, "status")] == results[(1, "status")] == 0


def test_a_missing_peer_does_not_hang_once_aborted():
    """Rank 0 calls alone (its peer is dead); setting status, as abort() does, ends the wait."""
    buffers, flags = shared_state(2)
    buffer_ptrs = torch.tensor([b.data_ptr() for b in buffers], dtype=torch.int64)
    flag_ptrs = torch.tensor([f.data_ptr() for f in flags], dtype=torch.int64)
    status = torch.zeros(1, dtype=torch.int32)
    threading.Timer(0.5, lambda: status.fill_(1)).start()
    start = time.monotonic()
    x = torch.ones(10)
    p2p_all_reduce(x, buffer_ptrs, flag_ptrs, torch.zeros(PROGRAMS, dtype=torch.int32),
                           status, BUFFER_NUMEL, 0, timeout_ns=0, programs=PROGRAMS)
    assert time.monotonic() - start < 30
