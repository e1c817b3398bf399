"""Tensor-parallel rank and size; (0, 1) when no process group is running.

Under tensor parallelism (aios/engine/tp_group.py) each of N processes holds
one shard of the model, and the shards meet in collectives (all-reduce,
gather): NCCL between GPUs, gloo between CPU processes. They find each other
through a small key-value store served by rank 0 on a loopback port.
"""
import os
import threading
import warnings
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist

LOOPBACK = "127.0.0.1"
# How long a collective (or the rendezvous) may wait for the other ranks
# before it fails instead of hanging: generous, since the first one waits for
# every rank to load its weights.
TIMEOUT = timedelta(seconds=float(os.environ.get("AIOS_TP_TIMEOUT_S", 600)))


def get_tp_rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def get_tp_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def in_process_group() -> bool:
    """Do the layers talk to other ranks? True under TP, even with one rank:
    a one-rank group runs the very same collectives (benchmarks/tp_check.py)."""
    return dist.is_initialized()


def create_store(world_size: int) -> dist.TCPStore:
    """Rank 0's rendezvous store, on a free port (port 0: the OS picks one)."""
    return dist.TCPStore(LOOPBACK, 0, world_size, is_master=True, timeout=TIMEOUT,
                         wait_for_workers=False)


def join_process_group(rank: int, world_size: int, device_type: str,
                       store: dist.Store | None = None, store_port: int = 0) -> None:
    """Join the group: rank 0 passes its store, the others the store's port."""
    global _group_broken
    if dist.is_initialized():
        raise RuntimeError("a tensor-parallel process group is already running in this "
                           "process; close() the engine that owns it first")
    if store is None:
        store = dist.TCPStore(LOOPBACK, store_port, world_size, is_master=False, timeout=TIMEOUT)
    options = {}
    if device_type == "cuda" and rank == 0:
        # On a failed collective, abort the communicators but let the engine
        # live to raise a clear error (the default kills the process).
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "2")
    if device_type == "cuda":
        torch.cuda.set_device(rank)                        # rank r uses cuda:r
        options["device_id"] = torch.device("cuda", rank)  # connect now, not at first use
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size,
                            timeout=TIMEOUT, **options)
    _group_broken = False   # a new group: see _collective


# --------------------------------------------------- collectives outside graphs --
# A worker died: the watchdog aborts the group. PyTorch's NCCL abort holds the process
# group's lock until NCCL has aborted its communicators, and NCCL finishes only once every
# CUDA graph that captured one of its collectives is destroyed. Those graphs are rank 0's
# decode steps, and its main thread destroys them (ModelRunner.release_cuda_graphs). So that
# thread must never wait on the group's lock meanwhile: each eager collective holds
# `_collectives` while it is enqueued (microseconds), and the abort first takes it and marks
# the group broken. A collective called after that raises at once instead of blocking.
_collectives = threading.Lock()
_group_broken = False


class GroupBrokenError(RuntimeError):
    """A collective was called after the group was aborted (a peer died)."""


@contextmanager
def _collective():
    with _collectives:
        if _group_broken:
            raise GroupBrokenError("the tensor-parallel group was aborted: a rank has died")
        yield


def _break_group(wait_s: float) -> None:
    """Let no new collective start: done before the group is aborted (see above). An
    NCCL collective still being enqueued after wait_s (a full launch queue behind a
    stuck GPU) is not waited for; nor is a gloo one, which blocks until it is done."""
    global _group_broken
    took = _collectives.acquire(timeout=wait_s)
    _group_broken = True
    if took:
        _collectives.release()


def gather(x: torch.Tensor, parts: list[torch.Tensor] | None, dst: int = 0) -> None:
    with _collective():
        dist.gather(x, parts, dst=dst)


def all_gather(parts: list[torch.Tensor], x: torch.Tensor) -> None:
    with _collective():
        dist.all_gather(parts, x)


def broadcast(x: torch.Tensor, src: int = 0) -> None:
    with _collective():
        dist.broadcast(x, src=src)


# ------------------------------------------------------------ all-reduce --
# The P2P all-reduce (aios/utils/p2p.py) when the engine set it up: it takes the
# tensors it fits (.fits), NCCL the rest. It also has abort() and unregister().
fast_all_reduce = None


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    """Sum `x` over the ranks, in place (every rank calls it with the same shape)."""
    if fast_all_reduce is not None and fast_all_reduce.fits(x):
        return fast_all_reduce(x)
    with _collective():
        dist.all_reduce(x)
    return x


# -------------------------------------------------------------- teardown --
_leaving: threading.Thread | None = None   # a teardown under way (see leave_process_group)


def leave_process_group(abort: bool = False, wait_s: float = 30.0) -> bool:
    """Destroy this process's group; `abort` for a broken one (a peer died).

    NCCL (2.26 and later) will not destroy or abort a communicator while a
    CUDA graph that captured one of its collectives is alive: the call spins
    until those graphs are gone. So release the CUDA graphs first
    (ModelRunner.release_cuda_graphs). Even so, the teardown runs in a thread
    of its own and is waited for at most `wait_s` seconds: leaving must never
    hang the program. -> True once the group is gone; False (with a warning)
    if it is still being torn down. A second call joins the teardown under way.
    """
    global _leaving
    if _leaving is None or not _leaving.is_alive():
        if not dist.is_initialized():
            return True
        if abort:   # before the abort takes the group's lock: see _collective
            _break_group(wait_s=5.0 if dist.get_backend() == "nccl" else 0.0)
        _leaving = threading.Thread(target=_leave, args=(abort,), name="aios-tp-leave", daemon=True)
        _leaving.start()
    _leaving.join(wait_s)
    if _leaving.is_alive():
        if wait_s > 0:
            warnings.warn(f"the tensor-parallel process group was not torn down within {wait_s:.0f} s "
                          f"(a CUDA graph holding an NCCL communicator, or a stuck collective); "
                          f"going on without it: start a new process for another TP engine",
                          RuntimeWarning, stacklevel=2)
        return False
    return True


def _leave(abort: bool) -> None:
    global fast_all_reduce
    p2p, fast_all_reduce = fast_all_reduce, None   # its buffers belong to the group
    if p2p is not None and abort:
        p2p.abort()          # its kernels wait for the dead peer, which NCCL's abort cannot end
    try:
        if abort and dist.get_backend() == "nccl":
            # Unblocks kernels still waiting for the dead peer, where destroying would hang.
            dist.distributed_c10d._abort_process_group()
        else:
            dist.destroy_process_group()
    except Exception:
        pass  # already aborted (by the watchdog, or NCCL's own on a timeout)
    if p2p is not None:
        p2p.unregister()


def min_over_ranks(value: int, device: torch.device) -> int:
    """The smallest `value` of all ranks (every rank must call this)."""
    if get_tp_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.long, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())
