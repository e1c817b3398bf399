"""What every run_lessonN.py does: run your pieces inside the engine, and measure.

    python lessons/lesson06/run_lesson6.py              # your pieces (lessons/lesson06/)
    python lessons/lesson06/run_lesson6.py --solution   # the reference (solutions/lesson06/)
        --tiny          a tiny workload: seconds (what CI runs)
        --model PATH    another model (default: SmolLM2-135M on a CPU, random:Qwen3-8B on a GPU)
        --device D      cpu or cuda (default: cuda when there is one)
        --json PATH     also write the results as JSON (lessons/make_table.py reads them)
        --previous-first   measure the lesson before first (default: this lesson first)

Lessons 3 on run the course workload twice in one process: in lesson N's
engine with your pieces plugged in, then in lesson N-1's engine with the
engine's own pieces (lessons 4 to 6, whose engines serve one request at a
time: both engines take turns of a few steps; stage_run.run_both). Both
output tokens/s are printed beside the course's promise, with their ratio.
Lessons 1 and 2 have no loop of their own yet: they run one forward pass and
a short greedy generation with your pieces, and compare both with the
engine's own.

Lessons 9 to 11 first check their pieces on their own (kernel_checks.py): the
Triton kernels against the PyTorch references on small tensors (in Triton's
CPU interpreter without a GPU), the CUDA-graph buckets and their padding.
From lesson 12 the workload samples (stages.workload_sampling); lesson 13's
prompts share a prefix, and it reports the prefill tokens found in the cache
and the time to first token.

When a piece is still a TODO stub, the run stops at once with that stub's one
line (exit code 1). The printed table and the results dict: report.py.
"""
import argparse
import sys
import time
from functools import partial
from pathlib import Path

import torch

from aios import LLM, SamplingParams
from aios.course.checks import forward_logits
from aios.course.exercise import REPO_ROOT, exercise_path, load_exercise
from aios.course.kernel_checks import KERNEL_CHECKS
from aios.course.plugin import PLUG_POINTS, pieces, plugged
from aios.course.report import run_header, report_runs, write_json
from aios.course.stage_run import StageEngine, free_memory, run_both, run_stage
from aios.course.stages import LESSONS, stage_options, workload_sampling
from aios.course.sweep import context_sweep, draw_sweep
from aios.course.workload import WORKLOADS, shared_prefix_workload


# ---------------------------------------------------------------- the CLI --
def parse_args(lesson: int, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"run_lesson{lesson}.py",
                                description=f"Lesson {lesson}: {LESSONS[lesson].title}")
    p.add_argument("--solution", action="store_true", help="run the reference pieces (solutions/)")
    p.add_argument("--model", default=None, help="a model folder, Hub id or random:Qwen3-*")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--tiny", action="store_true", help="a tiny workload: seconds (CI)")
    p.add_argument("--json", metavar="PATH", help="write the results to PATH as JSON")
    p.add_argument("--previous-first", action="store_true",
                   help="measure the lesson before first, then this lesson (default: this lesson first)")
    return p.parse_args(argv)


def resolve_device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def default_model_for(device: str) -> str | None:
    # On a GPU 8B: an eager decode step costs the host ~20 ms of launches whatever
    # the model, and only a model this size gives the GPU comparable work behind
    # them, so that what a lesson saves shows (README.md, "The course").
    return "random:Qwen3-8B" if device == "cuda" else None  # None: the embedded SmolLM2


def command_line(lesson: int, argv) -> str:
    script = f"lessons/lesson{lesson:02d}/run_lesson{lesson}.py"
    return " ".join(["python", script, *as_in_the_table(sys.argv[1:] if argv is None else argv)])


def as_in_the_table(args: list[str]) -> list[str]:
    """The flags as the table shows them: --json names its file in lessons/results/,
    wherever the run wrote it (run_all.sh's RESULTS)."""
    args = list(args)
    for i, arg in enumerate(args[:-1]):
        if arg == "--json":
            args[i + 1] = f"lessons/results/{Path(args[i + 1]).name}"
    return args


def main(lesson: int, argv=None) -> int:
    """The whole of run_lessonN.py: parse, run, report. Returns the exit code."""
    args = parse_args(lesson, argv)
    exercise = LESSONS[lesson].exercise
    try:
        module = load_exercise(lesson, exercise, solution=args.solution)
        replacements = pieces(lesson, module)
        _announce(lesson, exercise, args.solution)
        checked = KERNEL_CHECKS[lesson](module, args) if lesson in KERNEL_CHECKS else None
        if lesson <= 2:
            results = _compare_forward(lesson, args, replacements)
        else:
            results = _measure_stages(lesson, args, replacements)
        if checked is not None:
            results["kernel_check"] = checked
    except NotImplementedError as e:
        if not str(e).startswith("lesson "):
            raise  # not one of the course's TODO stubs
        print(e, file=sys.stderr)
        return 1
    results["command"] = command_line(lesson, argv)
    if args.json:
        write_json(args.json, results)
    return 0


def _announce(lesson: int, exercise: str, solution: bool) -> None:
    path = exercise_path(lesson, exercise, solution).relative_to(REPO_ROOT)
    print(f"Lesson {lesson}: {LESSONS[lesson].title}. Pieces from {path}, plugged in as:")
    for name, target in PLUG_POINTS[lesson].items():
        print(f"  {name + '()':<24} -> {target}")


# ------------------------------------------------------ lessons 3 to 8 -----
def _measure_stages(lesson: int, args, replacements: dict) -> dict:
    device = resolve_device(args.device)
    model = args.model or default_model_for(device)
    workload = WORKLOADS["tiny" if args.tiny else device]
    if lesson >= 13:   # a shared prefix, for both engines: what prefix caching saves
        workload = shared_prefix_workload(workload, device)
    whose = "solution" if args.solution else "yours"
    if lesson - 1 < 3:
        runs = [run_stage(lesson, model, device, workload, replacements, whose)]
    else:
        this_lesson = partial(StageEngine, lesson, model, device, workload, replacements, whose)
        lesson_before = partial(StageEngine, lesson - 1, model, device, workload, {}, "engine")
        one_at_a_time = all(stage_options(n, device)["max_num_seqs"] == 1 for n in (lesson - 1, lesson))
        runs = run_both(this_lesson, lesson_before, args.previous_first, take_turns=one_at_a_time)
    results = report_runs(lesson, workload, runs, device, model)
    results["stage"] = stage_options(lesson, device)
    results["sampling"] = workload_sampling(lesson)
    results["measured_first"] = "the lesson before" if args.previous_first else "this lesson"
    if lesson == 4:   # and what the cache buys as the context grows
        print("\ndecode speed against context length, one request (aios/course/sweep.py):", flush=True)
        sweep = context_sweep(model, device, workload.name, replacements)
        results["context_sweep"] = sweep
        if args.json:
            chart = Path(args.json).with_name("lesson04_context.png")
            draw_sweep(sweep, chart, f"KV cache vs recompute, {results['model']} on {device}")
            print(f"chart written to {chart}")
    return results


# ------------------------------------------------------ lessons 1 and 2 ----
def _compare_forward(lesson: int, args, replacements: dict) -> dict:
    """One forward pass and a short greedy generation, yours then the engine's."""
    device = resolve_device(args.device)
    model = args.model or default_model_for(device)
    max_tokens = 4 if args.tiny else 24
    outcome = {}
    for name, plug in (("solution" if args.solution else "yours", replacements), ("engine", {})):
        with plugged(plug):
            llm = LLM(model, **stage_options(lesson, device))
            prompt = (llm.tokenizer.encode("The capital of France is") if llm.tokenizer
                      else list(range(100, 112)))
            logits = forward_logits(llm, prompt)
            start = time.perf_counter()
            tokens = llm.generate([prompt], SamplingParams(temperature=0.0, max_tokens=max_tokens,
                                                           ignore_eos=True), use_tqdm=False)[0]
            seconds = time.perf_counter() - start
        outcome[name] = (logits, tokens, len(tokens["token_ids"]) / seconds)
        llm.close()
        del llm
        free_memory()
    (mine_logits, mine_out, mine_tps), (ref_logits, ref_out, ref_tps) = outcome.values()
    diff = (mine_logits - ref_logits).abs().max().item()
    same = mine_out["token_ids"] == ref_out["token_ids"]
    who = "the solution's" if args.solution else "yours"
    print(f"\nnext-token logits after the prompt: max |{who} - the engine's| = {diff:.2e}")
    print(f"greedy continuation, {max_tokens} tokens: {'the same as' if same else 'DIFFERENT from'} "
          f"the engine's: {mine_out['text']!r}")
    print(f"tokens/s in lesson 3's engine (no KV cache): {who} {mine_tps:.1f}, the engine's {ref_tps:.1f}")
    return {"lesson": lesson, "title": LESSONS[lesson].title, "promise": LESSONS[lesson].promise,
            "pieces": "solution" if args.solution else "yours", "max_abs_logit_diff": diff,
            "same_greedy_tokens": same, "tok_s": mine_tps, "previous_stage": None,
            "previous_tok_s": None, "engine_tok_s": ref_tps, "ratio": None,
            "stage": stage_options(lesson, device), **run_header(device, model)}
