"""Plug your functions into the running engine, in place of the engine's own.

    with plugged({"aios.engine.block_manager.BlockManager.allocate": allocate}):
        llm = LLM(...)
        llm.generate(...)           # every allocation now runs your allocate()

A plug-in point is a name the engine looks up each time it runs: a module's
function (aios.kernels.reference.attention_ref), a class's method
(BlockManager.allocate) or a layer's `impl` (RMSNorm.impl). Plugging rebinds
that one name for the whole process; leaving the `with` block binds the
engine's own function again. Nothing else in the engine changes, which is why
your function must take the same arguments as the one it replaces.

A tensor-parallel engine (lesson 14) runs ranks 1..N-1 in processes of their
own, which a rebinding here does not reach. So plugged() also leaves the engine
a note (tp_group.WORKER_SETUP): the names and where each worker finds your
functions again (a module and a name, plus the file for an exercise). Each
worker started inside the block plugs them in before it builds its model.
A function that is no module's own (a lambda, a closure) cannot be found
there: a worker given one fails at start and says so.
"""
import importlib
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

from aios.course.exercise import LOADED_FILES, load_file
from aios.engine.tp_group import WORKER_SETUP

# For each lesson: exercise function -> the engine name it replaces.
PLUG_POINTS: dict[int, dict[str, str]] = {
    1: {"rms_norm": "aios.layers.layernorm.RMSNorm.impl",
        "rotary": "aios.layers.rotary_embedding.RotaryEmbedding.impl",
        "causal_mask": "aios.kernels.reference.causal_mask",
        "attention": "aios.kernels.reference.attention_ref"},
    2: {"target_name": "aios.utils.loader._target_name",
        "attention_forward": "aios.models.qwen3.Qwen3Attention.forward",
        "decoder_layer_forward": "aios.models.qwen3.Qwen3DecoderLayer.forward"},
    3: {"finish_reason": "aios.engine.scheduler.Scheduler._finish_reason",
        "postprocess": "aios.engine.scheduler.Scheduler.postprocess"},
    # The torch backend calls these three by the names it imported.
    4: {"store_kvcache": "aios.backends.torch_backend.store_kvcache_ref",
        "gather_kv": "aios.kernels.reference.gather_kv_ref",
        "decode_attention": "aios.backends.torch_backend.decode_attention_ref"},
    5: {"prefill_slots": "aios.engine.paging.prefill_slots",
        "decode_slot": "aios.engine.paging.decode_slot"},
    6: {name: f"aios.engine.block_manager.BlockManager.{name}"
        for name in ("can_allocate", "allocate", "deallocate", "can_append", "may_append")},
    7: {"pad_packed": "aios.kernels.reference.pad_packed",
        "prefill_attention": "aios.backends.torch_backend.prefill_attention_ref"},
    8: {"schedule": "aios.engine.scheduler.Scheduler.schedule",
        "schedule_prefill": "aios.engine.scheduler.Scheduler._schedule_prefill",
        "schedule_decode": "aios.engine.scheduler.Scheduler._schedule_decode",
        "preempt": "aios.engine.scheduler.Scheduler._preempt",
        "finish": "aios.engine.scheduler.Scheduler.finish"},
    # The Triton backend calls the kernel's wrapper by the name it imported.
    9: {"prefill_attention": "aios.backends.triton_backend.prefill_attention"},
    # The model runner imports the kernels when it builds the engine: after plugging.
    10: {"rms_norm": "aios.kernels.rms_norm.rms_norm",
         "silu_and_mul": "aios.kernels.silu_and_mul.silu_and_mul",
         "merged_weight_loader": "aios.layers.linear.MergedColumnParallelLinear.weight_loader",
         "qkv_weight_loader": "aios.layers.linear.QKVParallelLinear.weight_loader"},
    11: {"capture_batch_sizes": "aios.engine.cuda_graph.capture_batch_sizes",
         "padded_batch_size": "aios.engine.cuda_graph.padded_batch_size",
         "padded_size": "aios.engine.cuda_graph.CUDAGraphRunner.padded_size",
         "load": "aios.engine.decode_inputs.DecodeInputs.load"},
    # Sampler.forward calls the masks by their module's names; impl is the
    # PyTorch sampler (on a GPU the model runner sets its Triton twin instead).
    12: {"apply_top_k_top_p": "aios.layers.sampler.apply_top_k_top_p",
         "mask_top_k_top_p": "aios.layers.sampler.mask_top_k_top_p",
         "sample": "aios.layers.sampler.Sampler.impl"},
    13: {"block_hash": "aios.engine.block_manager.block_hash",
         "take_free_block": "aios.engine.block_manager.BlockManager._take_free_block",
         "allocate": "aios.engine.block_manager.BlockManager.allocate",
         "may_append": "aios.engine.block_manager.BlockManager.may_append"},
    # Plugged into rank 0 and, through tp_group.WORKER_SETUP, into the engine's TP
    # workers, which are processes of their own (FunctionRef). The checks run each layer
    # alone in two gloo processes that plug them in themselves (aios/course/parallel.py).
    14: {"column_weight_loader": "aios.layers.linear.ColumnParallelLinear.weight_loader",
         "row_weight_loader": "aios.layers.linear.RowParallelLinear.weight_loader",
         "row_forward": "aios.layers.linear.RowParallelLinear.forward",
         "embedding_forward": "aios.layers.embed_head.VocabParallelEmbedding.forward"},
    # Plugged into the server's own process (aios/course/serve.py); _stream calls sse by
    # its module's name.
    15: {"sse": "aios.server.api.sse",
         "stream_choice": "aios.server.call.Call.stream_choice",
         "stream": "aios.server.api.Routes._stream"},
}


def pieces(lesson: int, exercise: ModuleType) -> dict[str, Callable]:
    """An exercise module's functions, keyed by the engine names they replace."""
    return {target: getattr(exercise, name) for name, target in PLUG_POINTS[lesson].items()}


def _locate(target: str) -> tuple[object, str]:
    """'aios.engine.block_manager.BlockManager.allocate' -> (BlockManager, 'allocate')."""
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue  # the name goes on inside a module: a class, then its attribute
        for name in parts[split:-1]:
            owner = getattr(owner, name)
        if not hasattr(owner, parts[-1]):
            raise AttributeError(f"plug-in point {target!r} does not exist in the engine")
        return owner, parts[-1]
    raise ModuleNotFoundError(f"plug-in point {target!r}: no such module")


def _raw(owner, name):
    """The attribute as stored: a class keeps staticmethod wrappers in its __dict__."""
    return vars(owner)[name] if isinstance(owner, type) else getattr(owner, name)


def _rebind(target: str, function: Callable) -> tuple[object, str, object]:
    """Bind the engine name `target` to `function`; -> (owner, name, what it was)."""
    owner, name = _locate(target)
    original = _raw(owner, name)
    # A layer's impl is a staticmethod: the replacement must be one too,
    # or Python would pass the layer itself as the first argument.
    setattr(owner, name, staticmethod(function) if isinstance(original, staticmethod) else function)
    return owner, name, original


@contextmanager
def plugged(replacements: dict[str, Callable]):
    """Rebind each engine name to its replacement; restore them all on exit.

    Tensor-parallel workers started inside the block plug the same functions in.
    """
    # Found before anything is rebound: an engine function is found under its own name.
    note = (replug, ([(target, reference(function)) for target, function in replacements.items()],))
    WORKER_SETUP.append(note)
    saved = []
    try:
        for target, function in replacements.items():
            saved.append(_rebind(target, function))
        yield
    finally:
        WORKER_SETUP.remove(note)
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


# ------------------------------------------------ in tensor-parallel workers --
@dataclass(frozen=True)
class FunctionRef:
    """Where another process finds a function again: its module and its name there.

    An exercise (lessons/, solutions/) was imported from its file by
    load_exercise, under a name that import may not find: `file` says where.
    """
    module: str
    qualname: str               # "row_forward", or "RowParallelLinear.forward"
    file: str | None = None

    def find(self) -> Callable:
        if self.module in sys.modules:
            module = sys.modules[self.module]
        elif self.file is not None:
            module = load_file(self.module, Path(self.file))
        else:
            module = importlib.import_module(self.module)
        found = module
        for name in self.qualname.split("."):
            found = getattr(found, name)
        return found


@dataclass(frozen=True)
class Unfindable:
    """A plugged function that no other process can find by name."""
    description: str

    def find(self) -> Callable:
        raise RuntimeError(f"a tensor-parallel worker cannot plug in {self.description}: its "
                           f"module and name do not lead to it (a lambda? a closure?). Define it "
                           f"at the top level of a module.")


def reference(function: Callable) -> FunctionRef | Unfindable:
    """How a worker finds `function`: by its module and name, checked here."""
    module, qualname = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    file = LOADED_FILES.get(module)
    ref = FunctionRef(module, qualname, None if file is None else str(file))
    try:
        if module is not None and "<" not in qualname and ref.find() is function:
            return ref
    except (AttributeError, ImportError):
        pass  # its name leads elsewhere, or nowhere
    return Unfindable(repr(function))


def replug(references: list[tuple[str, FunctionRef | Unfindable]]) -> None:
    """In a worker: plug in what plugged() plugged in rank 0, for the process's life."""
    functions = [(target, ref.find()) for target, ref in references]  # before any rebinding
    for target, function in functions:
        _rebind(target, function)
