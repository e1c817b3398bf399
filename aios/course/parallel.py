"""Lesson 14's check: your tensor-parallel pieces in two gloo processes on the CPU.

Each piece is checked on its own layer, before the whole engine runs them
(run_lesson14.py): this check starts two processes itself; each joins a gloo
group, plugs your pieces in, builds one column-parallel, one row-parallel and
one vocab-parallel layer, loads the whole (unsharded) weights through the
layers' weight_loaders and runs them. Rank 0 compares the results with the
unsharded computation.

    results = run_two_ranks(solution=False)   # {check name: max abs error}

A TODO stub (NotImplementedError) in a rank is raised again here with its
one line, so the checks and the run script report it as the other lessons do.
"""
import os
import tempfile

import torch
import torch.multiprocessing as mp

from aios.utils.server_process import free_port

WORLD = 2
IN, OUT, VOCAB, TOKENS = 64, 96, 50, 7   # a vocabulary that 2 ranks do not split evenly


def _weights():
    g = torch.Generator().manual_seed(14)
    return dict(col_w=torch.randn(OUT, IN, generator=g), col_b=torch.randn(OUT, generator=g),
                row_w=torch.randn(IN, OUT, generator=g), row_b=torch.randn(IN, generator=g),
                emb=torch.randn(VOCAB, IN, generator=g), x=torch.randn(TOKENS, IN, generator=g),
                ids=torch.randint(0, VOCAB, (TOKENS,), generator=g))


def _rank(rank: int, port: int, solution: bool, out_dir: str) -> None:
    import torch.distributed as dist

    from aios.course.exercise import load_exercise
    from aios.course.plugin import pieces, plugged
    torch.set_num_threads(1)
    result = {}
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
        module = load_exercise(14, "tensor_parallel", solution=solution)
        with plugged(pieces(14, module)):
            # Imported after joining: the layers read rank and size when built.
            from aios.layers.embed_head import VocabParallelEmbedding
            from aios.layers.linear import ColumnParallelLinear, RowParallelLinear
            w = _weights()
            col = ColumnParallelLinear(IN, OUT, bias=True)
            col.weight.weight_loader(col.weight, w["col_w"])
            col.bias.weight_loader(col.bias, w["col_b"])
            row = RowParallelLinear(OUT, IN, bias=True)
            row.weight.weight_loader(row.weight, w["row_w"])
            row.bias.weight_loader(row.bias, w["row_b"])
            emb = VocabParallelEmbedding(VOCAB, IN)
            emb.weight.weight_loader(emb.weight, w["emb"])
            with torch.no_grad():
                h = col(w["x"])                          # [tokens, OUT/2]: this rank's columns
                parts = [torch.empty_like(h) for _ in range(WORLD)]
                dist.all_gather(parts, h)
                y = row(h)                               # the all-reduced [tokens, IN]
                e = emb(w["ids"])
            result = dict(col_shard=h, col_full=torch.cat(parts, dim=-1), row=y, emb=e,
                          col_weight=col.weight.data.clone(), row_weight=row.weight.data.clone())
    except BaseException as e:  # noqa: BLE001 - handed to the parent, which raises it
        result = dict(error=type(e).__name__, message=str(e))
    finally:
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
        if dist.is_initialized():
            dist.destroy_process_group()


def run_two_ranks(solution: bool) -> dict[str, float]:
    """Run the check in two processes; -> {check: max abs error}. Raises what a rank raised."""
    with tempfile.TemporaryDirectory() as out_dir:
        mp.start_processes(_rank, args=(free_port(), solution, out_dir), nprocs=WORLD,
                           start_method="spawn", join=True)
        ranks = [torch.load(os.path.join(out_dir, f"rank{r}.pt")) for r in range(WORLD)]
    for r in ranks:
        if "error" in r:
            if r["error"] == "NotImplementedError":
                raise NotImplementedError(r["message"])
            raise AssertionError(f"a rank raised {r['error']}: {r['message']}")
    w = _weights()
    full_h = w["x"] @ w["col_w"].T + w["col_b"]
    full_y = full_h @ w["row_w"].T + w["row_b"]
    half = OUT // WORLD
    errors = {
        "column weight shards": max((r["col_weight"] - w["col_w"][i * half:(i + 1) * half]).abs().max().item()
                                    for i, r in enumerate(ranks)),
        "row weight shards": max((r["row_weight"] - w["row_w"][:, i * half:(i + 1) * half]).abs().max().item()
                                 for i, r in enumerate(ranks)),
        "column-parallel output": max((r["col_full"] - full_h).abs().max().item() for r in ranks),
        "row-parallel output (all-reduced)": max((r["row"] - full_y).abs().max().item() for r in ranks),
        "vocab-parallel embedding": max((r["emb"] - w["emb"][w["ids"]]).abs().max().item() for r in ranks),
    }
    return errors


TOLERANCE = 1e-3
