"""The P2P all-reduce, host side: set-up, choice, status (the kernel:
aios/kernels/p2p_all_reduce.py).

Under tensor parallelism a decode step all-reduces a few hundred KB to a few
MB twice a layer. Here each rank's staging buffer is mapped into the others'
address space (PyTorch's symmetric memory), and one Triton kernel of ours
stages, waits for the peers and sums, about 2.5x as fast as NCCL at those
sizes on two H200s. use_p2p_all_reduce installs it as the group's
`fast_all_reduce` (aios/utils/distributed.py), which all_reduce() calls for
the tensors it fits; the rest go to NCCL.
"""
import os
import uuid
import warnings

import torch
import torch.distributed as dist

from aios.kernels.host_math import sm_count
from aios.utils import distributed
from aios.utils.distributed import TIMEOUT, get_tp_rank, get_tp_size


class P2PAllReduce:
    """An all-reduce that reads the other GPUs' memory directly.

    NCCL's all-reduce costs ~20 us for a decode step's 256 KB and ~35 us
    for 2 MB on two H200s, in a CUDA graph with the ranks in step
    (benchmarks/all_reduce.py; this one: 7.5 and 12.8 us), and a decode step
    of Qwen3-8B makes 73. The default where the GPUs can read each other's
    memory (use_p2p_all_reduce). Here every rank's staging buffer is mapped
    into every other rank (PyTorch's symmetric memory), and one Triton kernel
    stages, waits for the peers and sums (aios/kernels/p2p_all_reduce.py). A
    tensor larger than the buffer's slot (a prefill's: 16,384 tokens x 4,096
    is 128 MB) goes through in slot-sized chunks, one launch each, when
    CHUNKED; else (the default: at 128 MB NCCL measured 482 us, this kernel
    621) to NCCL. It works inside CUDA graphs.

    PyTorch finds a symmetric-memory group by its process group's name, and
    remembers it for the life of the process, while a new process group
    reuses the name of the last ("0"): so every TP engine registers its
    process group under a name of its own, drawn by rank 0 (p2p_group_name).
    """
    # Program p of one rank waits for program p of the others, so every rank must
    # get all of the kernel's programs running. With one program per SM (132 on an
    # H200) a Qwen3-8B TP=2 engine hung in 4 runs out of 4: rank 0 had started no
    # program of the next call while rank 1 waited in it (cause not found;
    # BENCHMARKS.md, session 8). With 32 or 64 programs every run went through. 64
    # programs of 8,192 elements move 2 MB in 12.8 us (32: 15.1; session 9), and an
    # H200's 132 SMs hold all 64 twice over.
    MAX_PROGRAMS = 64
    BLOCK = 8192          # elements a program moves per iteration
    PUSH = False          # write into the peers' buffers instead: no faster (BENCHMARKS.md, session 9)
    # The slot per rank and half: a decode step's [max_num_seqs, hidden], or at least this
    # many elements. 1 << 23 (16 MB in bf16) would take prefill chunks up to 2,048 tokens
    # of 4,096 (68 us alone, NCCL 88), and with CHUNKED a prefill's 128 MB in 8 launches:
    # in one call with it, lesson 14's TP=2 (whose prefills are ~1,000-2,000 tokens) made
    # 1.07x lesson 13 against 1.24x in session 8, cause not isolated (BENCHMARKS.md, session
    # 10); so prefills stay with NCCL, as measured in session 9.
    MIN_SLOT_NUMEL = 0
    CHUNKED = False       # tensors larger than a slot in chunks (False: to NCCL)

    def __init__(self, group_name: str, max_numel: int, dtype: torch.dtype, device: torch.device):
        # The kernel reads the peers' buffers through plain mappings and never uses NVLink
        # multicast (multimem): PyTorch need not make multicast objects for these buffers
        # (a user's setting stands).
        os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
        import torch.distributed._symmetric_memory as symm_mem
        from torch._C._distributed_c10d import _register_process_group
        self.group_name = group_name
        _register_process_group(self.group_name, dist.group.WORLD)
        self.slot_numel = max(max_numel, self.MIN_SLOT_NUMEL)
        self.dtype, self.device = dtype, device
        self.rank = get_tp_rank()
        # [2 halves, a slot per source rank, slot_numel]
        self.buffer = symm_mem.empty(2 * get_tp_size() * self.slot_numel, dtype=dtype, device=device)
        self.flags = symm_mem.empty(self.MAX_PROGRAMS * get_tp_size(), dtype=torch.int32, device=device)
        self.flags.zero_()
        buffers = symm_mem.rendezvous(self.buffer, self.group_name)   # every rank, in the same order
        flags = symm_mem.rendezvous(self.flags, self.group_name)
        self.buffer_ptrs = torch.tensor(buffers.buffer_ptrs, dtype=torch.int64, device=device)
        self.flag_ptrs = torch.tensor(flags.buffer_ptrs, dtype=torch.int64, device=device)
        self.epochs = torch.zeros(self.MAX_PROGRAMS, dtype=torch.int32, device=device)
        self.status = torch.zeros(1, dtype=torch.int32, device=device)
        self.programs = min(self.MAX_PROGRAMS, sm_count(device))
        self.timeout_ns = int(TIMEOUT.total_seconds() * 1e9)
        torch.cuda.synchronize(device)
        dist.barrier()   # every rank's flags are zero before anybody signals

    def fits(self, x: torch.Tensor) -> bool:
        return (x.dtype == self.dtype and x.is_contiguous()
                and (self.CHUNKED or x.numel() <= self.slot_numel))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from aios.kernels.p2p_all_reduce import p2p_all_reduce
        return p2p_all_reduce(x, self.buffer_ptrs, self.flag_ptrs, self.epochs, self.status,
                              self.slot_numel, self.rank, self.timeout_ns, self.programs, self.BLOCK,
                              self.PUSH)

    def abort(self) -> None:
        """A peer is gone: let every wait of this rank's kernels give up (now and later),
        without waiting for the work queued on the GPU (a side stream, a copy engine)."""
        with torch.cuda.device(self.device):
            with torch.cuda.stream(torch.cuda.Stream()):
                self.status.copy_(torch.ones(1, dtype=torch.int32).pin_memory(), non_blocking=True)

    def unregister(self) -> None:
        from torch._C._distributed_c10d import _unregister_process_group
        _unregister_process_group(self.group_name)


ALL_REDUCE_CHOICES = ("auto", "p2p", "nccl")


def p2p_supported(device: torch.device) -> str | None:
    """None if the P2P all-reduce can run here, else why not."""
    try:
        import torch.distributed._symmetric_memory  # noqa: F401
    except ImportError:
        return "this PyTorch has no symmetric memory (torch.distributed._symmetric_memory)"
    index = device.index if device.index is not None else torch.cuda.current_device()
    peers = [r for r in range(get_tp_size()) if r != index]   # rank r runs on cuda:r
    if not all(torch.cuda.can_device_access_peer(index, p) for p in peers):
        return "the GPUs cannot read each other's memory (no NVLink or PCIe peer access)"
    if any(peer_atomics(index, p) is False for p in peers):
        return ("the GPUs' link carries no atomic operations (PCIe peer access without them), "
                "which the kernel's flags need")
    return None


# The driver's CU_DEVICE_P2P_ATTRIBUTE_NATIVE_ATOMIC_SUPPORTED.
_NATIVE_ATOMIC_SUPPORTED = 3


def peer_atomics(src: int, dst: int) -> bool | None:
    """Can GPU `src` do atomic operations on GPU `dst`'s memory? NVLink can; PCIe peer
    access mostly cannot, and the P2P kernel's flags are atomics on the peers' memory.
    None when the CUDA driver cannot be asked (then the caller does not rule P2P out)."""
    import ctypes
    try:
        driver = ctypes.CDLL("libcuda.so.1")
        handles = []
        for ordinal in (src, dst):   # device handles of the ordinals this process sees
            handle = ctypes.c_int()
            if driver.cuDeviceGet(ctypes.byref(handle), ctypes.c_int(ordinal)) != 0:
                return None
            handles.append(handle)
        value = ctypes.c_int()
        if driver.cuDeviceGetP2PAttribute(ctypes.byref(value), ctypes.c_int(_NATIVE_ATOMIC_SUPPORTED),
                                          handles[0], handles[1]) != 0:
            return None
        return bool(value.value)
    except (OSError, AttributeError):
        return None


P2P_GROUP_KEY = "aios-p2p-group"
_p2p_set_up_in_this_process = False


def p2p_group_name(store: dist.Store, rank: int, available: bool) -> str:
    """The symmetric-memory group's name, the same on every rank: rank 0 draws it
    and the others wait for it in the engine's store. "" when rank 0 says P2P is
    not `available`, and then every rank uses NCCL: its GPUs cannot read each
    other's memory, or its process has already set up a P2P all-reduce (an
    earlier engine): PyTorch numbers each process's symmetric-memory rendezvous,
    and the new engine's fresh workers would wait for numbers that rank 0 has
    long passed."""
    if rank == 0:
        store.set(P2P_GROUP_KEY, f"aios-tp-{uuid.uuid4().hex}" if available else "")
    return store.get(P2P_GROUP_KEY).decode()


def use_p2p_all_reduce(max_numel: int, dtype: torch.dtype, device: torch.device) -> bool:
    """Every rank calls this at the same point (it is collective when it turns the
    P2P all-reduce on). AIOS_TP_ALL_REDUCE: auto (the default: p2p where the GPUs
    can read each other's memory over a link with atomics, else NCCL), p2p (an error
    where they cannot) or nccl.

    On two H200s it is ~2.5x NCCL's speed at decode sizes (benchmarks/all_reduce.py),
    and Qwen3-8B TP=2 makes 1.55-1.58x TP=1's tokens/s on `nano` with it against
    1.47x with NCCL (BENCHMARKS.md, sessions 9 and 10). A second TP engine in one
    process uses NCCL (p2p_group_name says why). Left open: with one program per SM
    the kernel hung a Qwen3-8B engine (session 8; it runs 64), and two TP tests hung
    once in session 9 and passed in every run since."""
    global _p2p_set_up_in_this_process
    choice = os.environ.get("AIOS_TP_ALL_REDUCE", "auto")
    if choice not in ALL_REDUCE_CHOICES:
        raise ValueError(f"AIOS_TP_ALL_REDUCE must be one of {', '.join(ALL_REDUCE_CHOICES)}, got {choice!r}")
    if choice == "nccl" or get_tp_size() == 1 or device.type != "cuda":
        return False
    rank = get_tp_rank()
    if choice == "p2p":
        why_not = p2p_supported(device)
        if why_not:
            raise RuntimeError(f"AIOS_TP_ALL_REDUCE=p2p: {why_not}; set it to auto or nccl to use NCCL")
        available = not _p2p_set_up_in_this_process
    else:   # auto: rank 0's GPU decides for every rank (peer access goes both ways)
        available = rank == 0 and not _p2p_set_up_in_this_process and p2p_supported(device) is None
    group_name = p2p_group_name(dist.distributed_c10d._get_default_store(), rank, available)
    if not group_name:
        if rank == 0 and choice == "p2p":
            warnings.warn("AIOS_TP_ALL_REDUCE=p2p: this process set up the P2P all-reduce for an "
                          "earlier TP engine, and PyTorch cannot set it up twice in one process "
                          "(its rendezvous are numbered per process); this engine uses NCCL. "
                          "Start a new process for each TP engine to use p2p.", RuntimeWarning, stacklevel=2)
        return False
    distributed.fast_all_reduce = P2PAllReduce(group_name, max_numel, dtype, device)
    _p2p_set_up_in_this_process = True
    return True


def p2p_status_to_host() -> torch.Tensor | None:
    """The P2P all-reduce's status, copied to the host behind the work queued so far
    (read it once that work is done); None when the engine runs NCCL's."""
    p2p = distributed.fast_all_reduce
    if p2p is None:
        return None
    host = torch.empty(1, dtype=torch.int32, pin_memory=p2p.status.is_cuda)
    host.copy_(p2p.status, non_blocking=True)
    return host


def raise_if_p2p_failed(host_status: torch.Tensor | None) -> None:
    """A P2P wait that gave up leaves garbage sums behind: stop the engine instead."""
    if host_status is not None and int(host_status[0]) == 2:
        raise RuntimeError(f"the P2P all-reduce waited more than AIOS_TP_TIMEOUT_S="
                           f"{TIMEOUT.total_seconds():.0f} s for another GPU and gave up, so this "
                           f"step's sums are wrong; unset AIOS_TP_ALL_REDUCE to use NCCL")
