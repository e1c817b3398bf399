"""Lesson 14. Tensor parallelism: your pieces in two gloo processes, then the engine at TP=2.

    python lessons/lesson14/run_lesson14.py              # your lessons/lesson14/tensor_parallel.py
    python lessons/lesson14/run_lesson14.py --solution   # the reference: solutions/lesson14/
    flags: --tiny (seconds), --model PATH, --device cpu|cuda, --json PATH, --previous-first

What it runs: first your four pieces in two processes joined by gloo (the
lesson's checks: aios/course/parallel.py), printing each one's largest error
against the unsharded layer. If they pass, the course workload in lesson 14's
engine (tensor_parallel_size=2) with your pieces plugged in, on both ranks: the
engine's worker (rank 1) is a process of its own, and plugs them in itself
before it loads its shard (aios/course/plugin.py). Then lesson 13's engine (one
process) with the engine's own pieces. It prints output tokens/s of both.

On a CPU the two "GPUs" are two processes on the same cores, talking through
gloo: TP=2 is expected to be no faster there, often slower. That number is a
CPU result, not the course's promise (~2,000 tok/s on 2 GPUs), which needs two
GPUs to measure. The CPU model is a small random Qwen3 with 1 KV head (fewer
KV heads than ranks: each rank holds a copy); SmolLM2's 9 heads do not split in two.

A TODO still in your file stops the run with its one line (exit code 1); a
piece that fails its check stops it before the engine runs (exit code 2).
"""
import os
import sys
import tempfile
from functools import partial

import torch

from aios.course import load_exercise, measure, report
from aios.course.parallel import TOLERANCE, run_two_ranks
from aios.course.plugin import pieces
from aios.course.stages import stage_options, workload_sampling

LESSON = 14


def cpu_model(path: str, tiny: bool) -> str:
    """A random Qwen3: 4 query heads, 1 KV head, written once into path."""
    if os.path.isfile(os.path.join(path, "config.json")):
        return path
    from transformers import Qwen3Config, Qwen3ForCausalLM
    hidden = 64 if tiny else 256
    config = Qwen3Config(vocab_size=512 if tiny else 4096, hidden_size=hidden, intermediate_size=4 * hidden,
                         num_hidden_layers=2 if tiny else 4, num_attention_heads=4, num_key_value_heads=1,
                         head_dim=hidden // 4, max_position_embeddings=512, tie_word_embeddings=False,
                         bos_token_id=1, eos_token_id=2, architectures=["Qwen3ForCausalLM"])
    torch.manual_seed(0)
    Qwen3ForCausalLM(config).save_pretrained(path)
    return path


def main(argv=None) -> int:
    args = measure.parse_args(LESSON, argv)
    device = measure.resolve_device(args.device)
    print(f"Lesson {LESSON}: tensor parallelism. Checking "
          f"{'solutions' if args.solution else 'lessons'}/lesson14/tensor_parallel.py in 2 gloo processes ...")
    try:
        errors = run_two_ranks(solution=args.solution)
    except NotImplementedError as e:
        if not str(e).startswith("lesson "):
            raise
        print(e, file=sys.stderr)
        return 1
    for name, err in errors.items():
        print(f"  {name:<36} max |2 ranks - unsharded| = {err:.1e}  {'ok' if err < TOLERANCE else 'WRONG'}")
    if not all(e < TOLERANCE for e in errors.values()):
        # The engine would generate wrong tokens, or wait in an all-reduce one rank never joins.
        print("Fix the pieces marked WRONG first: the engine at TP=2 runs them.", file=sys.stderr)
        return 2
    whose = "solution" if args.solution else "yours"
    replacements = pieces(LESSON, load_exercise(LESSON, "tensor_parallel", solution=args.solution))
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or (measure.default_model_for(device) if device == "cuda"
                               else cpu_model(os.path.join(scratch, "qwen3-1kv"), args.tiny))
        workload = measure.WORKLOADS["tiny" if args.tiny else device]
        where = "2 GPUs" if device == "cuda" else "CPU, 2 gloo processes on the same cores"
        who = "the solution's" if args.solution else "your"
        print(f"\nThe engine at TP=2 ({where}) with {who} pieces on both ranks, "
              f"against TP=1 with the engine's own:")
        runs = measure.run_both(partial(measure.StageEngine, LESSON, model, device, workload, replacements, whose),
                                partial(measure.StageEngine, LESSON - 1, model, device, workload, {}, "engine"),
                                args.previous_first)
        results = report.report_runs(LESSON, workload, runs, device, model if args.model or device == "cuda"
                                 else "random Qwen3, 4 heads, 1 KV head (written by run_lesson14.py)")
        where += f", all-reduce: {runs[0].all_reduce}"   # p2p or nccl on GPUs (aios/utils/p2p.py)
        print(f"TP=2 ran on {where}")
    if device == "cpu":
        print("TP=2 here is a CPU result (2 gloo processes sharing the cores), not the course's promise: "
              "~2,000 tok/s on 2 GPUs, not yet measured.")
    results.update(stage=stage_options(LESSON, device), sampling=workload_sampling(LESSON),
                   pieces=whose, tp_check=errors, tp_check_passed=True,
                   tp_measured_on=where, command=measure.command_line(LESSON, argv))
    if args.json:
        report.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
