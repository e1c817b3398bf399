"""The all-reduce alone, on 2 GPUs: NCCL against the P2P (symmetric-memory) one.

    python benchmarks/all_reduce.py [--rows 32,256,16384] [--json PATH]

A TP=2 step of Qwen3-8B makes 73 all-reduces of [rows, 4,096] bf16 (two a
layer, and the embedding's). Here two processes, one a GPU, capture 73 of them
back to back in one CUDA graph and replay it, so that the numbers are the
collectives' own cost, with the ranks in step and no model around them (inside
an engine, a rank that arrives late makes the other's all-reduce wait, and a
profile counts that wait as the all-reduce's time). Each mode runs in fresh
processes (NCCL reads its variables once):
  nccl               NCCL as the engine runs it;
  nccl-simple        NCCL_PROTO=Simple (bandwidth protocol);
  nccl-ll128         NCCL_PROTO=LL128;
  nccl-ch16, -ch32   NCCL_MIN_NCHANNELS=16 / 32 (more SMs moving the bytes; not in the
                     default list);
  p2p                aios.utils.p2p.P2PAllReduce (the engine's default where the GPUs
                     can read each other's memory), here past its slot (2,048 rows) in chunks;
  p2p-nochunk        the same, with what passes a slot sent to NCCL (as in the engine:
                     P2PAllReduce.CHUNKED);
  p2p-N, p2p-NxB     the same kernel on N programs, each moving B elements per iteration
                     (the engine's: P2PAllReduce.MAX_PROGRAMS and BLOCK); a suffix -push
                     writes into the peers' buffers instead (P2PAllReduce.PUSH).
Prints microseconds per all-reduce and the algorithm bandwidth (bytes / time).
--nccl-first: one NCCL all-reduce of 128 MB (a profile prefill's) before the rows, to
see whether the P2P kernel still works after one (a Qwen3-8B engine that ran such a
prefill hung in it; BENCHMARKS.md, session 7).
"""
import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from aios.utils import distributed, p2p  # noqa: E402

HIDDEN = 4096
PER_STEP = 73
MODES = {"nccl": {}, "nccl-simple": {"NCCL_PROTO": "Simple"}, "nccl-ll128": {"NCCL_PROTO": "LL128"},
         "nccl-ch16": {"NCCL_MIN_NCHANNELS": "16"}, "nccl-ch32": {"NCCL_MIN_NCHANNELS": "32"},
         "p2p": {"AIOS_TP_ALL_REDUCE": "p2p"}}
DEFAULT_MODES = "nccl,nccl-simple,nccl-ll128,p2p"


def mode_settings(mode: str) -> dict:
    if mode.startswith("p2p-"):
        return {"AIOS_TP_ALL_REDUCE": "p2p"}
    return MODES[mode]


def run_rank(rank: int, mode: str, rows_list: list[int], port: int, queue, nccl_first: bool) -> None:
    os.environ.update(mode_settings(mode))
    if mode.startswith("p2p-") and mode != "p2p-nochunk":
        _, grid, *how = mode.split("-")
        programs, _, block = grid.partition("x")
        p2p.P2PAllReduce.MAX_PROGRAMS = int(programs)
        if block:
            p2p.P2PAllReduce.BLOCK = int(block)
        p2p.P2PAllReduce.PUSH = "push" in how
    p2p.P2PAllReduce.CHUNKED = mode.startswith("p2p") and mode != "p2p-nochunk"
    torch.cuda.set_device(rank)
    store = dist.TCPStore("127.0.0.1", port, 2, is_master=rank == 0)
    dist.init_process_group("nccl", store=store, rank=rank, world_size=2,
                            device_id=torch.device("cuda", rank))
    device = torch.device("cuda", rank)
    if mode.startswith("p2p"):
        p2p.use_p2p_all_reduce(max(r for r in rows_list if r <= 256) * HIDDEN, torch.bfloat16, device)
    if nccl_first:
        big = torch.ones(16384, HIDDEN, device=device, dtype=torch.bfloat16)
        dist.all_reduce(big)
        torch.cuda.synchronize()
        del big
    results = {}
    for rows in rows_list:
        torch.manual_seed(rows)   # the same base on both ranks; rank r holds base + r
        base = torch.randn(rows, HIDDEN, device=device)
        x = (base + rank).to(torch.bfloat16)
        expect = (base.to(torch.bfloat16).float() + (base + 1).to(torch.bfloat16).float()).to(torch.bfloat16)
        distributed.all_reduce(x)
        torch.cuda.synchronize()
        ok = torch.equal(x, expect)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                distributed.all_reduce(x)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(PER_STEP):
                distributed.all_reduce(x)
        for _ in range(5):
            graph.replay()
        dist.barrier()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        reps = 20
        start.record()
        for _ in range(reps):
            graph.replay()
        end.record()
        torch.cuda.synchronize()
        us = start.elapsed_time(end) * 1e3 / (reps * PER_STEP)
        results[rows] = {"us": us, "bytes": x.numel() * 2, "correct": ok}
        del graph
    if rank == 0:
        queue.put(results)
    dist.barrier()
    distributed.fast_all_reduce = None
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="32,256,16384")
    p.add_argument("--modes", default=DEFAULT_MODES, help=f"of: {', '.join(MODES)}, p2p-N")
    p.add_argument("--nccl-first", action="store_true", help="a 128 MB NCCL all-reduce first")
    p.add_argument("--json")
    args = p.parse_args()
    rows_list = [int(r) for r in args.rows.split(",")]
    ctx = mp.get_context("spawn")
    table = {}
    for i, mode in enumerate(args.modes.split(",")):
        queue = ctx.Queue()
        procs = [ctx.Process(target=run_rank, args=(r, mode, rows_list, 29500 + i, queue, args.nccl_first))
                 for r in range(2)]
        for proc in procs:
            proc.start()
        table[mode] = queue.get(timeout=300)
        for proc in procs:
            proc.join(60)
        for rows, r in table[mode].items():
            print(f"{mode:12s} [{rows:6d}, {HIDDEN}] bf16 {r['bytes'] / 2**20:8.2f} MiB: {r['us']:8.1f} us "
                  f"({r['bytes'] / r['us'] / 1e3:6.1f} GB/s) correct={r['correct']}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
