"""Would decode GEMMs run faster from L2? A side stream prefetching the next GEMM's weights (needs CUDA).

    python benchmarks/l2_prefetch.py [--rows 1,4,16,32] [--json PATH]

At a few dozen rows each of Qwen3-0.6B's GEMMs costs ~3.5 us more than its
weight read (BENCHMARKS.md, session 14: 4.7 us for the 4.2 MB o GEMM): the
first loads' latency, the split-K tail, the gap to the next kernel. Meanwhile
HBM idles. Here, while GEMM i runs, a kernel on a second stream asks the L2 to
fetch GEMM i+1's weights (`prefetch.global.L2`, one instruction per 128-byte
line, no registers), so GEMM i+1 may find them there.

The chain is the 28 decode layers minus attention (benchmarks/fused_decode.py's
"layers"), captured in one CUDA graph, each layer with its own weights, timed
with and without the prefetches, PROGRAMS programs of the prefetch kernel (a
few SMs: it must not crowd the GEMMs out). An experiment, not the engine: if the
chain gains, the engine's decode graph can fork the same prefetches.
"""
import argparse
import json
import os
import sys

import torch
import triton
import triton.language as tl

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.fused_decode import BF16, DEVICE, HIDDEN, layers_chain, make_layers  # noqa: E402
from aios.kernels.skinny_gemm import skinny_gemm  # noqa: E402

LINE = 128   # bytes


@triton.jit
def _prefetch_l2_kernel(ptr, num_lines, LINES_PER_STEP: tl.constexpr):
    """Ask the L2 for lines [0, num_lines) of ptr (a uint8 pointer), striding over programs."""
    start = tl.program_id(0) * LINES_PER_STEP
    step = tl.num_programs(0) * LINES_PER_STEP
    for first in range(start, num_lines, step):
        lines = first + tl.arange(0, LINES_PER_STEP)
        addrs = ptr + lines.to(tl.int64) * 128
        addrs = tl.where(lines < num_lines, addrs, ptr)          # past the end: line 0 again
        tl.inline_asm_elementwise("prefetch.global.L2 [$1]; mov.u32 $0, 0;", "=r,l", [addrs],
                                  dtype=tl.int32, is_pure=False, pack=1)


def prefetch_l2(weight: torch.Tensor, programs: int) -> None:
    flat = weight.view(torch.uint8).view(-1)
    lines = triton.cdiv(flat.numel(), LINE)
    _prefetch_l2_kernel[(programs,)](flat, lines, LINES_PER_STEP=256, num_warps=8)


def chain(layers, x, side: torch.cuda.Stream | None, programs: int):
    """The layers' non-attention work; with a side stream, GEMM i+1's weights prefetched during GEMM i."""
    order = [(i, name) for i in range(len(layers)) for name in ("qkv", "o", "gate_up", "down")]
    main = torch.cuda.current_stream()

    def gemm(a, i, name):
        k = order.index((i, name))
        if side is not None and k + 1 < len(order):
            side.wait_stream(main)                       # not before this GEMM is queued
            with torch.cuda.stream(side):
                j, nxt = order[k + 1]
                prefetch_l2(layers[j][nxt], programs)
        return skinny_gemm(a, layers[i][name])

    out = layers_chain(layers, x, gemm)
    if side is not None:
        main.wait_stream(side)
    return out


def time_graph_us(fn, reps: int = 50) -> float:
    """Median µs of one replay of fn captured in a CUDA graph (a side stream forks inside it)."""
    for _ in range(2):
        fn()                                              # compile, warm up
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3)
    return sorted(times)[len(times) // 2]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1,4,16,32")
    p.add_argument("--programs", default="4,16,32", help="programs of the prefetch kernel to try")
    p.add_argument("--json", default=os.path.join(os.environ.get("OUT", "."), "l2_prefetch.json"))
    args = p.parse_args()
    layers = make_layers()
    side = torch.cuda.Stream()
    results = {"gpu": torch.cuda.get_device_name(), "chain_us": {}}
    for m in (int(r) for r in args.rows.split(",")):
        x = torch.randn(m, HIDDEN, device=DEVICE, dtype=BF16)
        ref = chain(layers, x, None, 0).float()
        row = {"no prefetch": time_graph_us(lambda: chain(layers, x, None, 0))}
        for programs in (int(n) for n in args.programs.split(",")):
            out = chain(layers, x, side, programs).float()
            assert torch.equal(out, ref), "a prefetch changed the result"
            row[f"prefetch, {programs} programs"] = time_graph_us(lambda: chain(layers, x, side, programs))
        for name, us in row.items():
            print(f"M={m:3d} {name:28s} {us:8.1f} us ({row['no prefetch'] / us:.3f}x)", flush=True)
        results["chain_us"][m] = row
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
