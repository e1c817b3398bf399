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
"""
import importlib
from contextlib import contextmanager
from types import ModuleType
from typing import Callable

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
    # Checked in two gloo processes that plug them in themselves (aios/course/parallel.py):
    # the engine's TP workers are processes of their own, which a plug-in does not reach.
    14: {"column_weight_loader": "aios.layers.linear.ColumnParallelLinear.weight_loader",
         "row_weight_loader": "aios.layers.linear.RowParallelLinear.weight_loader",
         "row_forward": "aios.layers.linear.RowParallelLinear.forward",
         "embedding_forward": "aios.layers.embed_head.VocabParallelEmbedding.forward"},
    # Plugged into the server's own process (aios/course/serve.py); _stream calls sse by
    # its module's name.
    15: {"sse": "aios.server.api.sse",
         "stream_choice": "aios.server.api.Call.stream_choice",
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


@contextmanager
def plugged(replacements: dict[str, Callable]):
    """Rebind each engine name to its replacement; restore them all on exit."""
    saved = []
    try:
        for target, function in replacements.items():
            owner, name = _locate(target)
            original = _raw(owner, name)
            saved.append((owner, name, original))
            # A layer's impl is a staticmethod: the replacement must be one too,
            # or Python would pass the layer itself as the first argument.
            setattr(owner, name, staticmethod(function) if isinstance(original, staticmethod) else function)
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)
