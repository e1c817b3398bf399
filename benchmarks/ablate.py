"""What is a kernel worth end to end? Run benchmark.py with some decode kernels left out (needs CUDA).

    python benchmarks/ablate.py --skip merge,qk_norm -- --model random:Qwen3-0.6B --workload table

The outputs are garbage; the speed is what the engine would have if those
kernels cost nothing: the most that fusing them into their neighbours could
buy. Random weights, ignore_eos: every request still generates its length, so
the work left is the same. What --skip takes:

  merge      decode attention's merge of its splits (the split kernel stays)
  qk_norm    Qwen3's q/k-norm + RoPE kernel, and with it the KV store it does
  rms_norm   every RMSNorm and its residual add
  silu       SiLU-and-mul (the down GEMM reads the gate half as it is)
  attention  decode attention, split kernel and merge (the KV store stays)
"""
import argparse
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])   # the repository, not benchmarks/ (its kernels.py)

import benchmark  # noqa: E402
from aios.engine.model_runner import ModelRunner  # noqa: E402

SKIPS = ("merge", "qk_norm", "rms_norm", "silu", "attention")


class _NoLaunch:
    """Stands in for a Triton kernel: kernel[grid](...) launches nothing."""

    def __getitem__(self, grid):
        return lambda *args, **kwargs: None


def skip_kernels(skips: set[str]) -> None:
    from aios.backends.triton_backend import TritonBackend
    from aios.kernels import decode_attention
    from aios.layers.activation import SiluAndMul
    from aios.layers.layernorm import RMSNorm
    from aios.models.qwen3 import Qwen3Attention
    if "merge" in skips:
        decode_attention.decode_merge_kernel = _NoLaunch()
    if "rms_norm" in skips:
        RMSNorm.forward = lambda self, x, residual=None: x if residual is None else (x, residual)
    if "silu" in skips:
        SiluAndMul.forward = lambda self, x: x[..., : x.shape[-1] // 2]
    if "attention" in skips:
        TritonBackend.decode = lambda self, q, k_cache, v_cache, ctx, scale: q
    if "qk_norm" in skips:
        setup = ModelRunner._use_triton_layer_kernels

        def without_qk_norm(runner):
            setup(runner)
            for module in runner.model.modules():
                if isinstance(module, Qwen3Attention):
                    module.fused_qk_norm_rotary = lambda positions, q, k, *args: (q, k)
        ModelRunner._use_triton_layer_kernels = without_qk_norm


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip", default="", help=f"comma-separated, of: {', '.join(SKIPS)}")
    args, rest = p.parse_known_args()          # the rest is benchmark.py's
    skips = {s for s in args.skip.split(",") if s}
    if skips - set(SKIPS):
        p.error(f"--skip takes {', '.join(SKIPS)}; not {', '.join(sorted(skips - set(SKIPS)))}")
    skip_kernels(skips)
    print(f"left out: {', '.join(sorted(skips)) or 'nothing'}", flush=True)
    return benchmark.main([a for a in rest if a != "--"])

if __name__ == "__main__":
    sys.exit(main())
