"""Attention backends, chosen by `Config(attention_backend=...)`.

"auto" picks triton on a GPU, torch on a CPU. flash_attn runs the kernels of
the optional `flash-attn` package, when it is installed; it is never picked
by "auto". The name flashinfer is reserved for a backend over that package;
it is not written yet, and asking for it says so.
"""
import importlib.util

from aios.backends.base import AttentionBackend

BACKENDS = ("auto", "torch", "triton", "flash_attn", "flashinfer")

# flash-attn's paged kernels read the KV cache in pages of a multiple of 256 tokens.
FLASH_ATTN_PAGE = 256
FLASH_ATTN_INSTALL = ("pip install flash-attn --no-build-isolation (it needs a CUDA GPU and "
                      "compiles against the installed torch, unless a wheel matches it)")


def _has(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def check_block_size(name: str, block_size: int) -> None:
    """flash_attn needs whole flash-attn pages per KV-cache block."""
    if name == "flash_attn" and block_size % FLASH_ATTN_PAGE:
        raise ValueError(
            f"attention_backend='flash_attn' needs block_size to be a multiple of "
            f"{FLASH_ATTN_PAGE} (flash-attn's paged KV cache reads pages of that size), "
            f"got {block_size}; pass block_size={FLASH_ATTN_PAGE} (--block-size {FLASH_ATTN_PAGE})")


def resolve_backend_name(name: str, device_type: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown attention_backend {name!r}; choose one of {BACKENDS}")
    if name == "auto":
        if device_type != "cuda":
            return "torch"
        return "triton" if _has("triton") else "torch"
    if name != "torch" and device_type != "cuda":
        raise ValueError(f"attention_backend={name!r} needs a CUDA GPU; use 'torch' on the CPU")
    if name == "flashinfer":
        raise ValueError(f"attention_backend={name!r} is not available in this version of aios; "
                         f"use 'triton' (the GPU default), 'flash_attn' or 'torch'")
    if name == "flash_attn" and not _has(name):
        raise ValueError(f"attention_backend='flash_attn' needs the flash-attn package, which is "
                         f"not installed: {FLASH_ATTN_INSTALL}; or use 'triton' (the GPU default)")
    if name in ("triton", "flash_attn") and not _has("triton"):
        # flash_attn too: aios's Triton kernel stores the K/V (flash_attn_backend.py).
        raise ValueError(f"attention_backend={name!r} needs the triton package; "
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
    raise ValueError(f"unknown attention backend {name!r}")
