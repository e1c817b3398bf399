"""The P2P all-reduce kernel's protocol, on the CPU: two processes, Triton's interpreter.

aios/kernels/p2p_all_reduce.py sums over GPUs that read each other's memory. Here
two processes stand in for two GPUs: every rank's staging buffer and flags live in
shared memory, mapped into both, and each process runs the kernel under
TRITON_INTERPRET=1, its programs one after the other. What must hold:
- every rank gets x_0 + x_1, in rank order, for calls of any size one after the other
  (the double buffers, the barrier between the programs p of both ranks);
- the fused variant gives every rank the same bits of rms_norm_ref(x_0 + x_1, residual),
  out and new residual, in calls interleaved with plain ones (the shared epochs), and
  rounds as the unfused path's RMSNorm kernel does;
- a rank whose peer never arrives does not hang once its status is set (abort()).
The GPU side (NVLink mappings, CUDA graphs) is tested by tests/test_tensor_parallel.py
with AIOS_TP_TEST_DEVICE=cuda and AIOS_TP_ALL_REDUCE=p2p.
"""
import os
import threading
import time

import pytest
import torch
import torch.multiprocessing as mp

from aios.kernels.p2p_all_reduce import p2p_all_reduce, p2p_all_reduce_rms_norm
from aios.kernels.reference import rms_norm_ref
from aios.kernels.rms_norm import rms_norm

# conftest turns the interpreter on where there is no GPU; spawned ranks inherit it.
pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1",
                                reason="the CPU interpreter's test; on GPUs see test_tensor_parallel.py")

BUFFER_NUMEL = 6000
PROGRAMS = 3
SIZES = [1, 100, 4100, 3, 6000, 2048, 17]   # more than one BLOCK (2048), odd ends, the buffer's size


def shared_state(world: int):
    buffers = [torch.zeros(2 * world * BUFFER_NUMEL).share_memory_() for _ in range(world)]
    flags = [torch.zeros(PROGRAMS * world, dtype=torch.int32).share_memory_() for _ in range(world)]
    return buffers, flags


def rank_inputs(rank: int, size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1000 * size)
    return torch.randn(size, generator=g) * (rank + 1) + rank


def run_two_ranks(target, push: bool) -> dict:
    """Run target(rank, buffers, flags, results, push) in two processes; -> results."""
    ctx = mp.get_context("spawn")
    buffers, flags = shared_state(2)
    with ctx.Manager() as manager:
        results = manager.dict()
        procs = [ctx.Process(target=target, args=(r, buffers, flags, results, push)) for r in range(2)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(120)
        hung = [proc for proc in procs if proc.is_alive()]
        for proc in hung:
            proc.kill()
        assert not hung, "a rank did not finish: the barrier lost a signal"
        assert all(proc.exitcode == 0 for proc in procs)
        return dict(results)


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
    results = run_two_ranks(run_rank, push)
    for size in SIZES:
        expected = rank_inputs(0, size) + rank_inputs(1, size)   # rank order, float32
        assert torch.equal(results[(0, size)], expected), size
        assert torch.equal(results[(1, size)], expected), size
    assert results[(0, "status")] == results[(1, "status")] == 0


# Plain calls (numel) and fused ones (rows, hidden, tile) in one sequence. A tile of 128
# elements gives programs of 2 rows (hidden 64) or 1 (96, padded to 128): several tiles
# per program; 8192 (the engine's) puts every row in program 0's one tile.
CALLS = [("fused", 1, 64, 128), ("plain", 100), ("fused", 17, 96, 128), ("fused", 3, 64, 128),
         ("plain", 4100), ("fused", 17, 64, 128), ("fused", 3, 96, 8192), ("plain", 17),
         ("fused", 17, 96, 8192), ("fused", 1, 96, 128)]
EPS = 1e-6


def norm_inputs(rows: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The residual stream and the norm's weight: the same on every rank."""
    g = torch.Generator().manual_seed(7 * rows + hidden)
    return torch.randn(rows, hidden, generator=g), torch.rand(hidden, generator=g) + 0.5


def run_rank_mixed(rank: int, buffers, flags, results, push: bool) -> None:
    buffer_ptrs = torch.tensor([b.data_ptr() for b in buffers], dtype=torch.int64)
    flag_ptrs = torch.tensor([f.data_ptr() for f in flags], dtype=torch.int64)
    epochs = torch.zeros(PROGRAMS, dtype=torch.int32)
    status = torch.zeros(1, dtype=torch.int32)
    common = dict(buffer_ptrs=buffer_ptrs, flag_ptrs=flag_ptrs, epochs=epochs, status=status,
                  buffer_numel=BUFFER_NUMEL, rank=rank, timeout_ns=0, programs=PROGRAMS, push=push)
    for i, call in enumerate(CALLS):
        if rank == 1 and i % 3 == 1:
            time.sleep(0.2)   # a rank that arrives late
        if call[0] == "plain":
            results[(rank, i)] = p2p_all_reduce(rank_inputs(rank, call[1]), **common)
        else:
            _, rows, hidden, tile = call
            x = rank_inputs(rank, rows * hidden).view(rows, hidden)
            residual, weight = norm_inputs(rows, hidden)
            results[(rank, i)] = p2p_all_reduce_rms_norm(x, residual, weight, EPS, tile=tile, **common)
    results[(rank, "status")] = int(status.item())


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_fused_norm_gets_the_norm_of_the_sum_between_plain_calls(push):
    results = run_two_ranks(run_rank_mixed, push)
    for i, call in enumerate(CALLS):
        if call[0] == "plain":
            expected = rank_inputs(0, call[1]) + rank_inputs(1, call[1])
            assert torch.equal(results[(0, i)], expected) and torch.equal(results[(1, i)], expected), call
            continue
        _, rows, hidden, _ = call
        total = rank_inputs(0, rows * hidden) + rank_inputs(1, rows * hidden)   # rank order, float32
        residual, weight = norm_inputs(rows, hidden)
        out, new_residual = rms_norm_ref(total.view(rows, hidden), weight, EPS, residual)
        for rank in range(2):
            got_out, got_residual = results[(rank, i)]
            assert torch.equal(got_residual, new_residual), (call, rank)
            torch.testing.assert_close(got_out, out, rtol=1e-5, atol=1e-5, msg=f"{call} rank {rank}")
        assert torch.equal(results[(0, i)][0], results[(1, i)][0]), call   # the same bits
    assert results[(0, "status")] == results[(1, "status")] == 0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_fused_norm_rounds_like_the_rms_norm_kernel(dtype):
    """One rank (the sum is its own x): the same bits as the unfused path's Triton
    kernel (aios/kernels/rms_norm.py), roundings in half precision included."""
    rows, hidden = 5, 96
    x = (rank_inputs(0, rows * hidden).view(rows, hidden) * 3).to(dtype)
    residual, weight = (t.to(dtype) for t in norm_inputs(rows, hidden))
    expected_out, expected_residual = rms_norm(x, weight, EPS, residual)
    buffer = torch.zeros(2 * BUFFER_NUMEL, dtype=dtype)
    flags = torch.zeros(PROGRAMS, dtype=torch.int32)
    out, new_residual = p2p_all_reduce_rms_norm(
        x.clone(), residual.clone(), weight, EPS, torch.tensor([buffer.data_ptr()]),
        torch.tensor([flags.data_ptr()]), torch.zeros(PROGRAMS, dtype=torch.int32),
        torch.zeros(1, dtype=torch.int32), BUFFER_NUMEL, rank=0, timeout_ns=0, programs=PROGRAMS,
        tile=128)
    assert torch.equal(new_residual, expected_residual) and torch.equal(out, expected_out)


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
