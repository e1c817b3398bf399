"""How long should a decode split be? Time decode attention as a CUDA graph runs it.

    python benchmarks/decode_splits.py [--json splits.json]

Inside a CUDA graph the decode kernel cannot know the context lengths, so its
grid covers the whole block table (max_model_len 8,192 here) in splits of
`split_tokens`, and programs past a sequence's end exit at once. Short
splits give small batches more programs to spread their reads over; each
split also writes a partial that the merge kernel reads. This times the
kernel and its merge (Qwen3-0.6B shapes, block size 16, contexts of 1,000
tokens) for a few batch sizes and split lengths.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aios.kernels.decode_attention import choose_split_tokens, decode_attention  # noqa: E402

HEADS, KV_HEADS, HEAD_DIM, BLOCK = 16, 8, 128, 16
CAPACITY = 8192


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json")
    p.add_argument("--context", type=int, default=1000)
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("needs a CUDA GPU")
    import triton
    rows = []
    width = CAPACITY // BLOCK
    for batch in (1, 4, 8, 16, 32, 64):
        num_blocks = batch * width
        k_cache = torch.randn(num_blocks, BLOCK, KV_HEADS, HEAD_DIM, device="cuda", dtype=torch.bfloat16)
        v_cache = torch.randn_like(k_cache)
        tables = torch.randperm(num_blocks, device="cuda", dtype=torch.int32).view(batch, width)
        lens = torch.full((batch,), args.context, device="cuda", dtype=torch.int32)
        q = torch.randn(batch, HEADS, HEAD_DIM, device="cuda", dtype=torch.bfloat16)
        default = choose_split_tokens(batch, KV_HEADS, CAPACITY, 64,
                                      torch.cuda.get_device_properties(0).multi_processor_count)
        kv_bytes = 2 * batch * args.context * KV_HEADS * HEAD_DIM * 2
        for split in sorted({64, 128, 256, 512, default}):
            # Timed as a replayed CUDA graph, as the engine runs it: plain do_bench
            # would time the host's launches at small batches.
            ms = triton.testing.do_bench_cudagraph(lambda: decode_attention(
                q, k_cache, v_cache, lens, tables, HEAD_DIM ** -0.5, split_tokens=split))
            rows.append({"batch": batch, "split_tokens": split, "default": split == default,
                         "us": ms * 1e3, "GBps": kv_bytes / ms / 1e6})
            print(f"batch {batch:3d}  split {split:5d}{' (default)' if split == default else '':10s}"
                  f" {ms * 1e3:8.1f} us  {kv_bytes / ms / 1e6:7.0f} GB/s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
