"""Programmatic dependent launch (aios/kernels/pdl.py): on where it can be, and
a kernel chain launched with it computes the very bits it does without it.

On a GPU the chain is one MLP block of a decode step, captured in a CUDA graph
and replayed, where kernels overlap the most: RMSNorm with the residual,
gate_up GEMM, SiLU-and-mul, down GEMM (skinny GEMMs with split-K tickets).
A kernel that forgot to wait for the one before it would read a half-written
input here, and the bits would differ.
"""
import os
import subprocess
import sys

import pytest
import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ["TRITON_INTERPRET"] = "1"   # must be set before triton is imported

from aios.kernels import pdl  # noqa: E402
from aios.kernels.rms_norm import rms_norm  # noqa: E402
from aios.kernels.silu_and_mul import silu_and_mul  # noqa: E402
from aios.kernels.skinny_gemm import GemmConfig, skinny_gemm  # noqa: E402


def test_pdl_is_off_on_a_cpu():
    assert pdl.pdl_options(torch.device("cpu")) == \
        {"USE_PDL": False, "LAUNCH_EARLY": False, "launch_pdl": False}


def test_a_wrong_aios_pdl_says_what_it_takes():
    env = {**os.environ, "AIOS_PDL": "yes", "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, "-c", "import aios.kernels.pdl"], env=env,
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "AIOS_PDL='yes': expected 0 (off), 1 (on, the default) or early" in run.stderr


def _mlp_block(x, residual, norm_w, w_gate_up, w_down, prefetch=False):
    """[M, H] -> the MLP's output and the new residual, through the engine's kernels."""
    h, residual = rms_norm(x, norm_w, 1e-6, residual)
    act = silu_and_mul(skinny_gemm(h, w_gate_up, None, GemmConfig(16, 128, 4), prefetch=prefetch))
    return skinny_gemm(act, w_down, None, GemmConfig(16, 128, 8), prefetch=prefetch), residual


def _replayed(mode: str, inputs, prefetch=False):
    """The block's outputs, captured in a CUDA graph under AIOS_PDL=mode and replayed twice."""
    saved = pdl.MODE
    pdl.MODE = mode
    pdl.pdl_options.cache_clear()
    try:
        static = [t.clone() for t in inputs]
        _mlp_block(*static, prefetch)            # compile (and make the tickets) outside the capture
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out, new_res = _mlp_block(*static, prefetch)
        graph.replay()
        graph.replay()                           # the tickets must be back at zero
        torch.cuda.synchronize()
        return out.clone(), new_res.clone()
    finally:
        pdl.MODE = saved
        pdl.pdl_options.cache_clear()


@pytest.mark.skipif(not CUDA or torch.cuda.get_device_capability()[0] < 9,
                    reason="programmatic dependent launch needs a Hopper GPU")
@pytest.mark.parametrize("prefetch", [False, True])   # the GEMMs ask the L2 for W before the wait
@pytest.mark.parametrize("mode", ["1", "early"])
def test_a_pdl_chain_gives_the_bits_of_a_plain_one(mode, prefetch):
    torch.manual_seed(0)
    m, hidden, inter = 24, 1024, 3072
    dev, bf16 = "cuda", torch.bfloat16
    inputs = [torch.randn(m, hidden, device=dev, dtype=bf16),
              torch.randn(m, hidden, device=dev, dtype=bf16),
              torch.rand(hidden, device=dev, dtype=bf16) + 0.5,
              torch.randn(2 * inter, hidden, device=dev, dtype=bf16) / hidden ** 0.5,
              torch.randn(hidden, inter, device=dev, dtype=bf16) / inter ** 0.5]
    plain = _replayed("0", inputs)
    with_pdl = _replayed(mode, inputs, prefetch)
    assert torch.equal(with_pdl[0], plain[0]) and torch.equal(with_pdl[1], plain[1])


def test_a_wrong_aios_skinny_prefetch_says_what_it_takes():
    env = {**os.environ, "AIOS_SKINNY_PREFETCH": "yes", "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, "-c", "import aios.kernels.skinny_gemm"], env=env,
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "AIOS_SKINNY_PREFETCH='yes': expected 1" in run.stderr


def test_a_wrong_aios_decode_prefetch_says_what_it_takes():
    env = {**os.environ, "AIOS_DECODE_PREFETCH": "100", "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, "-c", "import aios.kernels.decode_attention"], env=env,
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "AIOS_DECODE_PREFETCH=100: expected 0 (off) or a power of two" in run.stderr


@pytest.mark.skipif(not CUDA, reason="compiles for a GPU")
def test_the_compiled_gemm_holds_the_prefetches_only_when_asked(tmp_path):
    """The prefetch is an inline-asm statement whose result nothing uses: the compiler
    must keep it (it is marked impure), and leave it out when it is off."""
    script = ("import torch; from aios.kernels.skinny_gemm import skinny_gemm, GemmConfig\n"
              "x = torch.randn(4, 1024, device='cuda', dtype=torch.bfloat16)\n"
              "w = torch.randn(512, 1024, device='cuda', dtype=torch.bfloat16)\n"
              "skinny_gemm(x, w, None, GemmConfig(16, 128, 2), prefetch={})\n"
              "torch.cuda.synchronize()\n")
    for prefetch in (True, False):
        cache = tmp_path / str(prefetch)
        env = {**os.environ, "TRITON_CACHE_DIR": str(cache)}
        subprocess.run([sys.executable, "-c", script.format(prefetch)], env=env, check=True)
        ptx = "".join(p.read_text() for p in cache.rglob("_skinny_gemm_kernel*.ptx"))
        assert ptx, f"no PTX of the GEMM under {cache}"
        assert ("prefetch.global.L2" in ptx) == prefetch
