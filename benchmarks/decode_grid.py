"""What does a CUDA graph's decode-attention grid cost beyond its reads? (needs CUDA)

    python benchmarks/decode_grid.py [--json PATH]

Inside a CUDA graph the decode kernel cannot know the context lengths, so its
grid covers the whole block table (8,192 tokens at the default max_model_len)
in splits of 128-256 tokens: 32-64 programs per (sequence, KV head), of which a
`table` step's contexts (~650 tokens) use 3-5. The rest launch, read their
sequence's length and exit. This times the kernel and its merge, replayed as a
CUDA graph, on contexts drawn like a `table` step's, with the engine's 8,192-wide
block table ("graph": one program a split as before, or a few programs per SM each
taking every P-th split of its row) and with one just wide enough for the longest
context ("narrow": no program past the end to launch), at a few split lengths;
and a plain read of as many bytes (torch.sum), the card's read ceiling.
Qwen3-0.6B shapes (16 query heads, 8 KV heads, head dim 128), block size 16.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import triton

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aios.kernels.decode_attention import choose_split_tokens, decode_attention  # noqa: E402
from aios.kernels.host_math import cdiv  # noqa: E402

HEADS, KV_HEADS, HEAD_DIM, BLOCK = 16, 8, 128, 16
CAPACITY = 8192


def contexts(batch: int, rng) -> np.ndarray:
    """A `table` step's lengths: a prompt of 32-1,024 tokens plus 0-600 generated."""
    return rng.integers(32, 1025, batch) + rng.integers(0, 601, batch)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", default=os.path.join(os.environ.get("OUT", "."), "decode_grid.json"))
    p.add_argument("--batches", default="1,4,8,16,32,64,128,256")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("needs a CUDA GPU")
    rng = np.random.default_rng(0)
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        lens_np = contexts(batch, rng)
        width = CAPACITY // BLOCK
        num_blocks = batch * width
        k_cache = torch.randn(num_blocks, BLOCK, KV_HEADS, HEAD_DIM, device="cuda", dtype=torch.bfloat16)
        v_cache = torch.randn_like(k_cache)
        tables = torch.randperm(num_blocks, device="cuda", dtype=torch.int32).view(batch, width)
        lens = torch.tensor(lens_np, device="cuda", dtype=torch.int32)
        q = torch.randn(batch, HEADS, HEAD_DIM, device="cuda", dtype=torch.bfloat16)
        kv_bytes = 2 * int(lens_np.sum()) * KV_HEADS * HEAD_DIM * 2
        narrow_width = cdiv(int(lens_np.max()), 64) * 64 // BLOCK
        narrow = tables[:, :narrow_width].contiguous()
        graph_split = choose_split_tokens(batch, KV_HEADS, CAPACITY, 64, sms)
        ref = decode_attention(q, k_cache, v_cache, lens, tables, HEAD_DIM ** -0.5)

        def run(name, table, split, per_sm=None):
            ppr = 10**6 if per_sm is None else cdiv(per_sm * sms, batch * KV_HEADS)
            out = decode_attention(q, k_cache, v_cache, lens, table, HEAD_DIM ** -0.5, split_tokens=split,
                                   programs_per_row=ppr)
            assert (out.float() - ref.float()).abs().max() < 2e-2, name
            ms = triton.testing.do_bench_cudagraph(lambda: decode_attention(
                q, k_cache, v_cache, lens, table, HEAD_DIM ** -0.5, split_tokens=split,
                programs_per_row=ppr))
            splits = cdiv(table.shape[1] * BLOCK, cdiv(split, 64) * 64) if split else 1
            row = {"batch": batch, "variant": name, "split_tokens": split, "grid_splits": splits,
                   "us": ms * 1e3, "GBps": kv_bytes / ms / 1e6, "mean_context": float(lens_np.mean())}
            rows.append(row)
            print(f"batch {batch:3d} {name:22s} split {split!s:>5s} grid {splits:3d}  {ms * 1e3:8.1f} us "
                  f"{kv_bytes / ms / 1e6:7.0f} GB/s", flush=True)

        run("graph, a program a split", tables, graph_split)
        for per_sm in (2, 4, 8):
            run(f"graph, {per_sm} programs/SM", tables, graph_split, per_sm)
        run("narrow", narrow, graph_split)
        for split in (128, 256, 512):
            if split != graph_split:
                run("narrow", narrow, split)
        if graph_split != 128:
            run("graph, a program a split", tables, 128)
            run("graph, 4 programs/SM", tables, 128, 4)
        # The read ceiling: as many bytes, summed by torch.
        flat = torch.randn(kv_bytes // 2, device="cuda", dtype=torch.bfloat16)
        ms = triton.testing.do_bench_cudagraph(lambda: flat.sum())
        rows.append({"batch": batch, "variant": "torch.sum of as many bytes", "us": ms * 1e3,
                     "GBps": kv_bytes / ms / 1e6})
        print(f"batch {batch:3d} {'torch.sum (ceiling)':22s} {'':21s}{ms * 1e3:8.1f} us "
              f"{kv_bytes / ms / 1e6:7.0f} GB/s", flush=True)
        del k_cache, v_cache, flat
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
