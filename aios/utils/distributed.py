"""Tensor-parallel rank and size; (0, 1) when no process group is running.

Under tensor parallelism (aios/engine/tp_group.py) each of N processes holds
one shard of the model, and the shards meet in collectives (all-reduce,
gather): NCCL between GPUs, gloo between CPU processes. They find each other
through a small key-value store served by rank 0 on a loopback port.
"""
import os
import threading
import uuid
import warnings
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


# ------------------------------------------------------------ all-reduce --
class P2PAllReduce:
    """An all-reduce that reads the other GPUs' memory directly.

    NCCL's all-reduce costs ~9 us for a decode step's 256 KB and ~34 us for
    2 MB on two H200s (BENCHMARKS.md), and a decode step makes two per layer.
    Here each rank copies its partial sum into a buffer the other ranks can
    read over NVLink (PyTorch's symmetric memory), and one kernel waits for
    every rank, adds all the buffers and waits again (so the buffer can be
    reused): PyTorch's one-shot all-reduce. Only for tensors up to
    `max_numel` (a decode step's); larger ones (prefill) go to NCCL, whose
    ring uses the links' bandwidth better. It works inside CUDA graphs.

    PyTorch remembers a symmetric-memory group by name for the life of the
    process, and a new process group reuses the name of the last one ("0"):
    so every TP engine registers a group name of its own, drawn by rank 0.
    """

    def __init__(self, max_numel: int, dtype: torch.dtype, device: torch.device):
        import torch.distributed._symmetric_memory as symm_mem
        from torch._C._distributed_c10d import _SymmetricMemory
        store = dist.distributed_c10d._get_default_store()
        if get_tp_rank() == 0:
            store.set("aios-p2p-group", f"aios-tp-{uuid.uuid4().hex}")
        self.group_name = store.get("aios-p2p-group").decode()   # waits for rank 0's
        _SymmetricMemory.set_group_info(self.group_name, get_tp_rank(), get_tp_size(),
                                        dist.PrefixStore(self.group_name, store))
        self.max_numel, self.dtype = max_numel, dtype
        self.buffer = symm_mem.empty(max_numel, dtype=dtype, device=device)
        symm_mem.rendezvous(self.buffer, self.group_name)  # every rank, in the same order

    def fits(self, x: torch.Tensor) -> bool:
        return x.dtype == self.dtype and x.numel() <= self.max_numel and x.is_contiguous()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.view(-1)
        staged = self.buffer[:flat.numel()]
        staged.copy_(flat)
        torch.ops.symm_mem.one_shot_all_reduce_out(staged, "sum", self.group_name, flat)
        return x


_p2p: P2PAllReduce | None = None
ALL_REDUCE_CHOICES = ("auto", "nccl", "symm_mem")


def p2p_supported(device: torch.device) -> str | None:
    """None if the P2P all-reduce can run here, else why not."""
    if not hasattr(torch.ops.symm_mem, "one_shot_all_reduce_out"):
        return "this PyTorch has no torch.ops.symm_mem.one_shot_all_reduce_out (2.6 or later does)"
    peers = [r for r in range(get_tp_size()) if r != device.index]
    if not all(torch.cuda.can_device_access_peer(device, p) for p in peers):
        return "the GPUs cannot read each other's memory (no NVLink or PCIe peer access)"
    return None


def use_p2p_all_reduce(max_numel: int, dtype: torch.dtype, device: torch.device) -> bool:
    """Every rank calls this at the same point (it is collective when it turns the
    P2P all-reduce on). AIOS_TP_ALL_REDUCE: auto (the default: the P2P all-reduce
    where the GPUs support it), symm_mem (it, or an error), nccl (never)."""
    global _p2p
    choice = os.environ.get("AIOS_TP_ALL_REDUCE", "auto")
    if choice not in ALL_REDUCE_CHOICES:
        raise ValueError(f"AIOS_TP_ALL_REDUCE must be one of {', '.join(ALL_REDUCE_CHOICES)}, got {choice!r}")
    if choice == "nccl" or get_tp_size() == 1 or device.type != "cuda":
        return False
    why_not = p2p_supported(device)
    if why_not:
        if choice == "symm_mem":
            raise RuntimeError(f"AIOS_TP_ALL_REDUCE=symm_mem: {why_not}; unset it to use NCCL")
        return False
    _p2p = P2PAllReduce(max_numel, dtype, device)
    return True


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    """Sum `x` over the ranks, in place (every rank calls it with the same shape)."""
    if _p2p is not None and _p2p.fits(x):
        return _p2p(x)
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
    global _p2p
    _p2p = None  # its buffer belongs to the group
    try:
        if abort and dist.get_backend() == "nccl":
            # Unblocks kernels still waiting for the dead peer, where destroying would hang.
            dist.distributed_c10d._abort_process_group()
        else:
            dist.destroy_process_group()
    except Exception:
        pass  # already aborted (by the watchdog, or NCCL's own on a timeout)


def min_over_ranks(value: int, device: torch.device) -> int:
    """The smallest `value` of all ranks (every rank must call this)."""
    if get_tp_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.long, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())
