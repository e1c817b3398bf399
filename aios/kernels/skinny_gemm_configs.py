"""Tile sizes of the skinny GEMM (aios/kernels/skinny_gemm.py), by shape.

A small table keyed by (rows bucket, N, K), measured by benchmarks/skinny_gemm.py
on an H100 or H200; shapes not in it get a heuristic. Nothing is tuned while the
engine runs. A table measured elsewhere (another GPU, other shapes) can be added
without editing this file: point AIOS_SKINNY_GEMM_CONFIGS at the JSON file
benchmarks/skinny_gemm.py writes (its "engine_configs").
"""
import json
import os
from typing import NamedTuple

import torch

from aios.kernels.host_math import cdiv, next_power_of_2, sm_count


class GemmConfig(NamedTuple):
    block_n: int
    block_k: int
    split_k: int
    num_warps: int = 4
    num_stages: int = 3


# (rows bucket, N, K) -> config: the shapes where this kernel measured at least
# 3% faster than cuBLAS (summed over the bucket's row counts) on one H100 or H200
# (benchmarks/skinny_gemm.py, BENCHMARKS.md), or faster end to end once the
# engine's own kernels were launched with PDL. The rows bucket is BLOCK_M: 16
# for 1-16 rows, 32 for 17-32, 64, 128. Only these shapes leave cuBLAS in the
# engine (skinny_linear); other GPUs have not been measured.
CONFIGS: dict[tuple[int, int, int], GemmConfig] = {
    # Qwen3-0.6B: qkv (N 4096, K 1024) and gate_up (N 6144, K 1024): as fast as cuBLAS
    # alone, but launched with PDL (pdl.py) where cuBLAS is not: +1.4% on `table`
    # (BENCHMARKS.md, session 13)
    (16, 4096, 1024): GemmConfig(16, 256, 1, 4, 4),
    (16, 6144, 1024): GemmConfig(32, 256, 1, 4, 3),
    (32, 4096, 1024): GemmConfig(16, 256, 1, 4, 4),
    (32, 6144, 1024): GemmConfig(16, 128, 1, 4, 4),
    # Qwen3-0.6B: o (N 1024, K 2048) and down (N 1024, K 3072): 8 cuBLAS tiles
    (16, 1024, 2048): GemmConfig(32, 128, 4, 4, 4),
    (16, 1024, 3072): GemmConfig(32, 128, 8, 4, 3),
    (32, 1024, 2048): GemmConfig(16, 128, 4, 4, 3),
    (32, 1024, 3072): GemmConfig(16, 256, 4, 4, 3),
    # Qwen3-8B: qkv, o, gate_up, down
    (16, 6144, 4096): GemmConfig(32, 256, 1, 2, 3),
    (16, 4096, 4096): GemmConfig(32, 128, 4, 4, 3),
    (16, 24576, 4096): GemmConfig(64, 128, 1, 4, 3),
    (16, 4096, 12288): GemmConfig(64, 128, 4, 4, 3),
    (32, 24576, 4096): GemmConfig(64, 128, 1, 2, 3),
    (32, 4096, 12288): GemmConfig(32, 256, 2, 4, 3),
    # Measured on one H200 (benchmarks/skinny_gemm.py --models Qwen3-8B/tp2,Qwen3-14B/tp2,
    # Qwen3-14B --buckets 16,32; BENCHMARKS.md): one rank's shards at TP=2, and 14B
    (16, 3072, 4096): GemmConfig(32, 128, 4, 4, 4),   # 8B/tp2 qkv
    (16, 12288, 4096): GemmConfig(32, 256, 1, 4, 3),   # 8B/tp2 gate_up
    (16, 4096, 6144): GemmConfig(32, 128, 4, 4, 3),   # 8B/tp2 down
    (16, 3584, 5120): GemmConfig(32, 128, 4, 2, 3),   # 14B/tp2 qkv
    (16, 17408, 5120): GemmConfig(32, 128, 1, 2, 3),   # 14B/tp2 gate_up
    (16, 5120, 8704): GemmConfig(32, 128, 4, 2, 3),   # 14B/tp2 down
    (16, 7168, 5120): GemmConfig(32, 256, 1, 4, 4),   # 14B qkv
    (16, 34816, 5120): GemmConfig(64, 128, 1, 4, 2),   # 14B gate_up
    (16, 5120, 17408): GemmConfig(32, 128, 4, 2, 3),   # 14B down
    (32, 3072, 4096): GemmConfig(32, 128, 4, 4, 4),   # 8B/tp2 qkv
    (32, 4096, 6144): GemmConfig(32, 256, 2, 2, 3),   # 8B/tp2 down
    (32, 3584, 5120): GemmConfig(32, 256, 2, 2, 3),   # 14B/tp2 qkv
    (32, 5120, 8704): GemmConfig(64, 128, 4, 4, 3),   # 14B/tp2 down
}


def load_configs(path: str) -> dict[tuple[int, int, int], GemmConfig]:
    """{"16,3072,4096": [block_n, block_k, split_k, num_warps, num_stages], ...} -> CONFIGS entries."""
    try:
        with open(path) as f:
            table = json.load(f)
        configs = {}
        for key, cfg in table.items():
            shape = tuple(int(v) for v in key.split(","))
            if len(shape) != 3 or not 3 <= len(cfg) <= 5:
                raise ValueError(f"entry {key!r}: {cfg!r}")
            configs[shape] = GemmConfig(*(int(v) for v in cfg))
        return configs
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"AIOS_SKINNY_GEMM_CONFIGS={path!r}: expected a JSON object like "
                         f'{{"16,3072,4096": [32, 256, 1, 4, 3]}} (benchmarks/skinny_gemm.py '
                         f"writes one): {e}") from e


if os.environ.get("AIOS_SKINNY_GEMM_CONFIGS"):
    CONFIGS.update(load_configs(os.environ["AIOS_SKINNY_GEMM_CONFIGS"]))


def rows_bucket(rows: int) -> int:
    return max(16, next_power_of_2(rows))


def default_config(rows: int, n: int, k: int, num_sms: int = 132) -> GemmConfig:
    """Tiles of 16 rows of W (32 from N = 2,048 on); split K until there are
    ~2 programs per SM (at most 16 splits, each at least 128 of K long).

    BLOCK_K is 256 unless 128 divides K into the splits more evenly (a split
    range is a whole number of BLOCK_K steps; an uneven last one idles).
    """
    block_n = 32 if n >= 2048 else 16
    tiles = cdiv(n, block_n)
    split_k = 1
    while tiles * split_k < 2 * num_sms and k // (2 * split_k) >= 128 and split_k < 16:
        split_k *= 2
    per_split = cdiv(k, split_k)
    block_k = 256 if per_split % 256 == 0 else 128
    return GemmConfig(block_n, block_k, split_k, num_warps=4, num_stages=3)


def pick_config(rows: int, n: int, k: int, device: torch.device) -> GemmConfig:
    # On a CPU (the interpreter's tests) as on an H100, which the heuristic was made for.
    return CONFIGS.get((rows_bucket(rows), n, k)) or default_config(rows, n, k, sm_count(device, on_cpu=132))
