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


def _mlp_block(x, residual, norm_w, w_gate_up, w_down):
    """[M, H] -> the MLP's output and the new residual, through the engine's kernels."""
    h, residual = rms_norm(x, norm_w, 1e-6, residual)
    act = silu_and_mul(skinny_gemm(h, w_gate_up, None, GemmConfig(16, 128, 4)))
    return skinny_gemm(act, w_down, None, GemmConfig(16, 128, 8)), residual


def _replayed(mode: str, inputs):
    """The block's outputs, captured in a CUDA graph under AIOS_PDL=mode and replayed twice."""
    saved = pdl.MODE
    pdl.MODE = mode
    pdl.pdl_options.cache_clear()
    try:
        static = [t.clone() for t in inputs]
        _mlp_block(*static)                      # compile (and make the tickets) outside the capture
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out, new_res = _mlp_block(*static)
        graph.replay()
        graph.replay()                           # the tickets must be back at zero
        torch.cuda.synchronize()
        return out.clone(), new_res.clone()
    finally:
        pdl.MODE = saved
        pdl.pdl_options.cache_clear()


@pytest.mark.skipif(not CUDA or torch.cuda.get_device_capability()[0] < 9,
                    reason="programmatic dependent launch needs a Hopper GPU")
@pytest.mark.parametrize("mode", ["1", "early"])
def test_a_pdl_chain_gives_the_bits_of_a_plain_one(mode):
    torch.manual_seed(0)
    m, hidden, inter = 24, 1024, 3072
    dev, bf16 = "cuda", torch.bfloat16
    inputs = [torch.randn(m, hidden, device=dev, dtype=bf16),
              torch.randn(m, hidden, device=dev, dtype=bf16),
              torch.rand(hidden, device=dev, dtype=bf16) + 0.5,
              torch.randn(2 * inter, hidden, device=dev, dtype=bf16) / hidden ** 0.5,
              torch.randn(hidden, inter, device=dev, dtype=bf16) / inter ** 0.5]
    plain = _replayed("0", inputs)
    with_pdl = _replayed(mode, inputs)
    assert torch.equal(with_pdl[0], plain[0]) and torch.equal(with_pdl[1], plain[1])
