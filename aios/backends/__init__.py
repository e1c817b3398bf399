"""Attention backends, chosen by `Config(attention_backend=...)`.

"auto" picks the fastest one available: flash_attn or flashinfer when those
optional packages are installed, else triton on a GPU, else torch.
"""
import importlib.util

from aios.backends.base import AttentionBackend

BACKENDS = ("auto", "torch", "triton", "flash_attn", "flashinfer")


def _has(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def resolve_backend_name(name: str, device_type: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown attention_backend {name!r}; choose one of {BACKENDS}")
    if name == "auto":
        if device_type != "cuda":
            return "torch"
        return "triton" if _has("triton") else "torch"
    if name != "torch" and device_type != "cuda":
        raise ValueError(f"attention_backend={name!r} needs a CUDA GPU; use 'torch' on the CPU")
    if name in ("triton", "flash_attn", "flashinfer") and not _has(name):
        raise ValueError(f"attention_backend={name!r} needs the {name} package; "
                         f"install it or use attention_backend='torch'")
    return name


def get_backend(name: str) -> AttentionBackend:
    if name == "torch":
        from aios.backends.torch_backend import TorchBackend
        return TorchBackend()
    if name == "triton":
        from aios.backends.triton_backend import TritonBackend
        return TritonBackend()
    if name == "flash_attn":
        from aios.backends.flash_attn_backend import FlashAttnBackend
        return FlashAttnBackend()
    if name == "flashinfer":
        from aios.backends.flashinfer_backend import FlashInferBackend
        return FlashInferBackend()
    raise ValueError(f"unknown attention backend {name!r}")
