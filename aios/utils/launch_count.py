"""Count the kernels a piece of eager PyTorch would launch, without a GPU.

    with LaunchCounter() as count:
        llm.step()
    count.total            # ops that compute something: one kernel each on a GPU
    count.syncs            # .item() / .tolist() / nonzero: the host waits for the device

Every aten op that PyTorch dispatches is seen here (a TorchDispatchMode), at
the lowest level: F.linear is counted as the mm it becomes. An op that only
makes a new view of a tensor (view, slice, transpose, split, expand ...) or
only allocates one (empty) launches nothing on a GPU and is not counted; every
other op is one kernel launch there, which is what bounds an eager decode step
of a small batch: Python and the CUDA driver take ~5-20 us per launch, however
little the kernel computes. The count is the same on a CPU (a few ops take
other paths on a GPU; the totals differ by a handful, not by hundreds).

A Triton kernel (lessons 9 on) launches without an aten op: the counter also
counts each launch of a Triton kernel (JITFunction.run, under its kernel's
name) and each CUDA-graph replay (lesson 11 on: one launch of a whole step's
kernels). Neither runs on a CPU, where the engine keeps its PyTorch pieces.

`per_module` counts inside one module as well (forward hooks): a decoder
layer's own launches, the number a lesson multiplies by the layer count.

`device_only` leaves out the ops on host tensors alone: an engine on a GPU also
does a little tensor work on the CPU (reading a status it copied to pinned
memory, say), which launches nothing and waits for nobody. On a CPU engine,
which stands in for a GPU, every op counts (the default).
"""
from collections import Counter
from contextlib import ExitStack
from unittest.mock import patch

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

aten = torch.ops.aten
# Ops that allocate without writing, or read metadata: no kernel on a GPU.
_NO_KERNEL = {aten.empty.memory_format, aten.empty_strided.default, aten.empty_like.default,
              aten.detach.default, aten.lift_fresh.default, aten.sym_size.int, aten.sym_numel.default,
              aten.sym_stride.int, aten.sym_storage_offset.default, aten.is_nonzero.default,
              aten._unsafe_view.default, aten.detach_.default}
# Composite ops that PyTorch runs as one fused kernel on a GPU (F.rms_norm there is
# _fused_rms_norm), though they decompose on a CPU and under this mode: counted as one.
_FUSED_ON_GPU = {aten.rms_norm.default}
# Ops whose result the host must wait for (a device -> host copy, or a size known only there).
_SYNCS = {aten._local_scalar_dense.default, aten.nonzero.default, aten.masked_select.default}


def launches_a_kernel(func) -> bool:
    """False for views (the result aliases an input) and bare allocations."""
    if func in _NO_KERNEL or func.is_view:
        return False
    return not any(r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns)


def _indexes_by_mask(func, args) -> bool:
    """x[mask] / x[mask] = y with a bool mask: the kernel must first count the mask's
    True entries (a nonzero inside), and the host waits for that count."""
    if func not in (aten.index.Tensor, aten.index_put_.default, aten.index_put.default):
        return False
    return any(i is not None and i.dtype == torch.bool for i in args[1])


def _touches_a_device(args, kwargs) -> bool:
    """Does the op read or make a tensor off the host (a GPU's, or a meta tensor)?"""
    tensors = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
    if tensors:
        return any(t.device.type != "cpu" for t in tensors)
    device = kwargs.get("device")
    return device is not None and torch.device(device).type != "cpu"


class LaunchCounter(TorchDispatchMode):
    def __init__(self, per_module: torch.nn.Module | None = None, device_only: bool = False):
        super().__init__()
        self.device_only = device_only
        self.ops: Counter = Counter()   # op name -> launches
        self.syncs = 0
        self.module_launches = 0
        self._in_module = 0
        self._hooks = []
        if per_module is not None:
            self._hooks = [per_module.register_forward_pre_hook(self._enter),
                           per_module.register_forward_hook(self._leave)]

    def _enter(self, *_):
        self._in_module += 1

    def _leave(self, *_):
        self._in_module -= 1

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    def _count(self, name: str) -> None:
        self.ops[name] += 1
        self.module_launches += self._in_module > 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.device_only and not _touches_a_device(args, kwargs):
            return func(*args, **kwargs)
        if func in _FUSED_ON_GPU:
            self._count(func.__name__)
            return func(*args, **kwargs)
        if torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), "CompositeImplicitAutograd"):
            with self:   # einsum -> permutes, copies, bmm: count those, through this mode again
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        if launches_a_kernel(func):
            self._count(func.__name__)
        self.syncs += func in _SYNCS or _indexes_by_mask(func, args)
        return func(*args, **kwargs)

    def __enter__(self):
        self._depth = getattr(self, "_depth", 0) + 1   # entered again to count a decomposition
        if self._depth == 1:
            self._other_launches = _count_other_launches(self)
        return super().__enter__()

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0:
            for hook in self._hooks:
                hook.remove()
            self._other_launches.close()
        return super().__exit__(*exc)


def _count_other_launches(counter: LaunchCounter) -> ExitStack:
    """Wrap what launches GPU work without an aten op: Triton's kernel launch and a
    CUDA graph's replay. Closing the returned stack unwraps them."""
    stack = ExitStack()

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def counted(self, *args, **kwargs):
            if not kwargs.get("warmup", False):   # JITFunction.run(warmup=True) only compiles
                counter._count(label(self))
            return original(self, *args, **kwargs)
        stack.enter_context(patch.object(owner, name, counted))

    wrap(torch.cuda.CUDAGraph, "replay", lambda graph: "cuda_graph_replay")
    try:
        from triton.runtime.jit import JITFunction
        wrap(JITFunction, "run", lambda kernel: f"triton:{kernel.fn.__name__}")
    except ImportError:
        pass   # no Triton: no Triton launches to count
    return stack


def count_decode_step(llm, prompt_len: int = 64) -> dict:
    """Launches in one decode step of ONE sequence (a fresh request), and inside one decoder layer (the last).

    The request is prefilled, stepped once, then counted over its next step and
    run to its end, so that the engine is left as it was found. In an engine
    without a KV cache the "decode" step is a recompute of the whole sequence.
    """
    from aios import SamplingParams
    seq = llm.add_request(list(range(100, 100 + prompt_len)),
                          SamplingParams(temperature=0.0, max_tokens=4, ignore_eos=True))
    for _ in range(2):   # the prefill, then one decode step
        llm.step()
    layer = _first_decoder_layer(llm.model_runner.model)
    with LaunchCounter(per_module=layer, device_only=llm.config.device != "cpu") as count:
        llm.step()
    while not seq.is_finished:
        llm.step()
    return dict(launches_per_step=count.total, launches_per_layer=count.module_launches,
                syncs_per_step=count.syncs, counted_with_prompt_len=prompt_len)


def _first_decoder_layer(model: torch.nn.Module) -> torch.nn.Module:
    layers = next(m for name, m in model.named_modules() if name.endswith("layers"))
    return layers[-1]   # the last: the first also makes what per_step keeps for the others
