"""The course table's last row: the engine as shipped, default options, on the course workload.

    python lessons/run_engine.py --device cuda --json lessons/results/engine.json

The lessons switch the engine's ideas on one at a time; this runs LLM(model,
device=...) with nothing switched, as a user gets it (aios/config.py: its
default batch size, async scheduling, CUDA graphs, prefix caching ...), on the
same workload as lessons 3 to 12, sampled as from lesson 12, and beside it
lesson 13's engine (the last one-GPU stage) on the same requests.
"""
import argparse
import sys
from dataclasses import asdict

from aios.course.measure import WORKLOADS, as_in_the_table, default_model_for, resolve_device
from aios.course.stage_run import run_stage
from aios.course.report import _run_dict, run_header, write_json

LAST_STAGE = 13   # the last lesson whose engine runs on one device


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="run_engine.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="a model folder, Hub id or random:Qwen3-*")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--tiny", action="store_true", help="a tiny workload: seconds (CI)")
    p.add_argument("--json", metavar="PATH", help="write the results to PATH as JSON")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    model = args.model or default_model_for(device)
    workload = WORKLOADS["tiny" if args.tiny else device]
    shipped = run_stage(LAST_STAGE, model, device, workload, {}, "engine", options=dict(device=device))
    stage = run_stage(LAST_STAGE, model, device, workload, {}, "engine")
    ratio = shipped.tok_s / stage.tok_s
    print(f"\nworkload '{workload.name}': {workload.num_requests} requests, prompts "
          f"{workload.input_lens[0]}-{workload.input_lens[1]} tokens, outputs "
          f"{workload.output_lens[0]}-{workload.output_lens[1]}, sampled as from lesson 12")
    print(f"the engine as shipped: {shipped.tok_s:,.1f} tok/s ({shipped.seqs_per_decode:.1f} sequences per "
          f"decode step); lesson {LAST_STAGE}'s engine: {stage.tok_s:,.1f} tok/s; {ratio:.2f}x")
    results = {"lesson": "engine", "title": "The engine as shipped (default options)", "promise": "-",
               "pieces": "engine", "tok_s": shipped.tok_s, "run": _run_dict(shipped),
               "previous_stage": LAST_STAGE, "previous_tok_s": stage.tok_s, "ratio": ratio,
               "previous_run": _run_dict(stage), "workload": asdict(workload),
               **run_header(device, model),
               "command": " ".join(["python", "lessons/run_engine.py",
                                    *as_in_the_table(sys.argv[1:] if argv is None else argv)])}
    if args.json:
        write_json(args.json, results)
    return 0
