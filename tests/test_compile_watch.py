"""TritonCompiles: the note that a timed run included compiling Triton kernels.

A CPU has no Triton compiler to trigger, so the hook is called here the way
Triton's JITFunction calls it before building a variant it has not seen
(triton/runtime/jit.py, _call_hook: keyword arguments, fn.name the kernel).
"""
from types import SimpleNamespace

import pytest

from aios.utils.compile_watch import TritonCompiles, _runtime_knobs

knobs = _runtime_knobs()
pytestmark = pytest.mark.skipif(knobs is None, reason="this Triton has no jit_cache_hook")


def call_like_triton(kernel_name: str):
    return knobs.jit_cache_hook(key=("sig", kernel_name), repr=f"{kernel_name}(...)",
                                fn=SimpleNamespace(module="aios.kernels.x", name=kernel_name),
                                compile={}, is_manual_warmup=False, already_compiled=False)


def test_records_each_variant_and_restores_the_hook():
    before = knobs.jit_cache_hook
    with TritonCompiles() as compiles:
        call_like_triton("_prefill_kernel")
        call_like_triton("_prefill_kernel")
        call_like_triton("_rms_norm_kernel")
    assert knobs.jit_cache_hook is before
    assert compiles.names == ["_prefill_kernel", "_prefill_kernel", "_rms_norm_kernel"]
    assert compiles.summary() == ("3 Triton kernel variant(s) compiled inside the timed run: "
                                  "_prefill_kernel x2, _rms_norm_kernel")


def test_a_hook_set_before_still_runs_and_decides():
    seen = []
    knobs.jit_cache_hook = lambda **kw: seen.append(kw["fn"].name) or True   # True: skip the compile
    try:
        with TritonCompiles() as compiles:
            assert call_like_triton("_decode_split_kernel") is True
        assert seen == ["_decode_split_kernel"] and compiles.names == ["_decode_split_kernel"]
    finally:
        knobs.jit_cache_hook = None


def test_nothing_compiled_nothing_noted():
    with TritonCompiles() as compiles:
        pass
    assert compiles.names == []
