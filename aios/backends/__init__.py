"""Attention backends, chosen by `Config(attention_backend=...)`.

"auto" picks triton on a GPU, torch on a CPU. The names flash_attn and
flashinfer are reserved for backends over those optional packages; they are
not written yet, and asking for them says so.
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
    if name in ("flash_attn", "flashinfer"):
        raise ValueError(f"attention_backend={name!r} is not available in this version of aios; "
                         f"use 'triton' (the GPU default) or 'torch'")
    if name == "triton" and not _has(name):
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
    raise ValueError(f"unknown attention backend {name!r}")
