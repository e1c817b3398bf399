"""What one launch costs the host, op by op: why an eager decode step is bound by its launches.

    python benchmarks/launch_cost.py --json $OUT/launch_cost.json     # a GPU, ~20 s

An eager decode step (lessons 3-10) launches its kernels one by one from
Python, and at a small batch each kernel finishes long before the next is
launched: the step costs the host's time per launch times the launches. This
times each kind of launch a lesson's engine makes, on decode-sized tensors
(one token of Qwen3-8B: hidden 4,096), as the wall time of N back-to-back calls
divided by N (the GPU work of each is a few microseconds: the host is the
limit). Rows: a bare aten op, F.rms_norm (one fused kernel), the RMSNorm
written out (eight ops), F.linear through cuBLAS at 1 and 32 rows, and the
Triton kernels lesson 10 brings (RMSNorm + residual, SiLU-and-mul, the skinny
GEMM). BENCHMARKS.md, "The course on GPUs", asks this question of lesson 10.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere


def per_call_us(fn, calls: int) -> float:
    for _ in range(50):   # compile, warm the caches
        fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / calls * 1e6


def rms_norm_written_out(x, w, eps=1e-6):
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def direct_launch(jit_fn, grid, args: dict, num_warps: int = 4):
    """Launch a compiled Triton kernel with none of JITFunction.run's per-call work
    (binding and specializing the arguments, the cache key, the stream lookup):
    what a launch would cost if the wrapper kept the compiled kernel itself."""
    kernel = jit_fn[grid](**args, num_warps=num_warps)   # compiles (once) and returns it
    values = [args[name] for name in jit_fn.arg_names]
    stream = torch.cuda.current_stream().cuda_stream
    g = (*grid, 1, 1)[:3]
    return lambda: kernel.run(*g, stream, kernel.function, kernel.packed_metadata, None, None, None, *values)


def cases(hidden: int = 4096, inter: int = 12288) -> dict:
    from aios.kernels.rms_norm import rms_norm
    from aios.kernels.silu_and_mul import _silu_and_mul_kernel, silu_and_mul
    from aios.kernels.skinny_gemm import skinny_gemm
    dev, bf16 = "cuda", torch.bfloat16
    x = torch.randn(1, hidden, device=dev, dtype=bf16)
    res = torch.randn_like(x)
    w = torch.randn(hidden, device=dev, dtype=bf16)
    gate_up = torch.randn(1, 2 * inter, device=dev, dtype=bf16)
    w_o = torch.randn(hidden, hidden, device=dev, dtype=bf16) / hidden ** 0.5
    x32 = torch.randn(32, hidden, device=dev, dtype=bf16)
    silu_out = torch.empty(1, inter, device=dev, dtype=bf16)
    silu_grid = (1, triton.cdiv(inter, 1024))
    silu_args = dict(x_ptr=gate_up, out_ptr=silu_out, stride_x=gate_up.stride(0),
                     stride_out=silu_out.stride(0), n_cols=inter, BLOCK=1024,
                     USE_PDL=False, LAUNCH_EARLY=False)
    return {
        "aten mul (x * w)": lambda: x * w,
        "F.rms_norm (one kernel)": lambda: F.rms_norm(x, (hidden,), w, 1e-6),
        "RMSNorm written out (8 ops)": lambda: rms_norm_written_out(x, w),
        "F.linear 1 row (cuBLAS)": lambda: F.linear(x, w_o),
        "F.linear 32 rows (cuBLAS)": lambda: F.linear(x32, w_o),
        "Triton rms_norm + residual": lambda: rms_norm(x, w, 1e-6, res),
        "Triton silu_and_mul": lambda: silu_and_mul(gate_up),
        "  its kernel[grid] alone": lambda: _silu_and_mul_kernel[silu_grid](**silu_args, num_warps=4),
        "  its compiled kernel, run directly": direct_launch(_silu_and_mul_kernel, silu_grid, silu_args),
        "Triton skinny GEMM 1 row": lambda: skinny_gemm(x, w_o),
        "Triton skinny GEMM 32 rows": lambda: skinny_gemm(x32, w_o),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("launch_cost.py measures GPU launches: it needs a CUDA device")
    rows = {}
    print(f"{'launch':<32}{'host µs per call':>18}")
    for name, fn in cases().items():
        rows[name] = per_call_us(fn, args.calls)
        print(f"{name:<32}{rows[name]:>18.1f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(device=torch.cuda.get_device_name(),
                                                   torch=torch.__version__, us_per_call=rows), indent=2))


if __name__ == "__main__":
    main()
