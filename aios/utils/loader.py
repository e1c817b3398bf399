"""Load a Hugging Face checkpoint's safetensors into our (fused) parameters.

Under tensor parallelism each rank reads only its shard: a weight_loader that
narrows gets a lazy `CheckpointSlice` instead of the whole tensor, and reading
the narrowed rows (or columns) reads just those bytes from the file. So no
rank ever holds the whole model: only the small replicated tensors (norms,
row-parallel biases) are read whole.
"""
import glob
import os

import torch
from safetensors import safe_open
from torch import nn
from tqdm import tqdm

from aios.utils.distributed import get_tp_size

# Present in some checkpoints, not parameters of ours (recomputed or tied).
_SKIP_SUFFIXES = ("rotary_emb.inv_freq",)


def _checkpoint_files(path: str) -> list[str]:
    files = sorted(glob.glob(os.path.join(path, "*.safetensors")))
    if not files:
        raise ValueError(f"no *.safetensors files in {path!r}")
    return files


def load_model(model: nn.Module, path: str, show_progress: bool = False) -> None:
    """Copy each checkpoint tensor into its parameter, via its weight_loader.

    `packed_modules_mapping` renames checkpoint tensors onto fused parameters,
    e.g. `...q_proj.weight` -> `...qkv_proj.weight`, slice "q". Tensors are
    read one at a time, so peak memory is the model plus one tensor.
    """
    packed = getattr(model, "packed_modules_mapping", {})
    params = dict(model.named_parameters(remove_duplicate=False))
    tied = getattr(model.lm_head, "weight", None) is model.model.embed_tokens.weight
    loaded = set()
    sharded = get_tp_size() > 1
    files = _checkpoint_files(path)
    for file in tqdm(files, desc="Loading weights", disable=not show_progress or len(files) < 2):
        with safe_open(file, framework="pt") as f:
            for name in f.keys():
                if name.endswith(_SKIP_SUFFIXES) or (tied and name == "lm_head.weight"):
                    continue
                target, shard_id = _target_name(name, packed)
                if target not in params:
                    raise ValueError(f"checkpoint tensor {name!r} has no matching parameter "
                                     f"in {type(model).__name__}")
                param = params[target]
                tensor = _read(f, name, param, shard_id, sharded)
                loader = getattr(param, "weight_loader", default_weight_loader)
                loader(param, tensor, shard_id) if shard_id is not None else loader(param, tensor)
                loaded.add(target)
    missing = set(params) - loaded - ({"lm_head.weight"} if tied else set())
    if missing:
        raise ValueError(f"checkpoint {path!r} lacks weights for: {sorted(missing)[:5]}")


class CheckpointSlice:
    """A checkpoint tensor not read yet; reading part of it reads only that part.

    It offers what the weight_loaders use to take their shard: `shape`,
    `narrow(dim, start, length)` and `[start:stop]` on the first dimension.
    """

    def __init__(self, view, dtype: torch.dtype):
        self.view, self.dtype = view, dtype  # view: safetensors' get_slice()
        self.shape = torch.Size(view.get_shape())

    def narrow(self, dim: int, start: int, length: int) -> torch.Tensor:
        index = (slice(None),) * dim + (slice(start, start + length),)
        return self.view[index].to(self.dtype)

    def __getitem__(self, rows: slice) -> torch.Tensor:
        start, stop, _ = rows.indices(self.shape[0])
        return self.narrow(0, start, max(0, stop - start))


def _read(f, name: str, param: nn.Parameter, shard_id, sharded: bool):
    """The tensor to hand the weight_loader: whole, or lazily under TP.

    A parameter as large as the checkpoint tensor (a norm, a replicated bias)
    takes it whole. A smaller one (a TP shard), or one slice of a fused one,
    gets a CheckpointSlice, and its weight_loader reads just its part.
    """
    if sharded:
        view = f.get_slice(name)
        if shard_id is not None or tuple(view.get_shape()) != tuple(param.shape):
            return CheckpointSlice(view, param.dtype)
    return f.get_tensor(name).to(param.dtype)


def default_weight_loader(param: nn.Parameter, loaded: torch.Tensor) -> None:
    param.data.copy_(loaded)


def _target_name(name: str, packed: dict) -> tuple[str, object]:
    for checkpoint_part, (our_part, shard_id) in packed.items():
        if f".{checkpoint_part}." in name:
            return name.replace(checkpoint_part, our_part), shard_id
    return name, None


@torch.no_grad()
def init_random_weights(model: nn.Module, seed: int) -> None:
    """Seeded random weights: normal(0, 0.02) matrices, unit norms."""
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    for name, param in model.named_parameters():
        if name.endswith("norm.weight"):
            param.fill_(1.0)
        else:
            param.normal_(0.0, 0.02, generator=gen)
