"""The printed table of a lesson's stage runs, and the results dict behind it.

measure.py runs the stages; this file only reports them: one row per run
(tokens/s, KV memory, seats in use) beside the course's promise, the ratio to
the previous stage, and the same numbers as a dict for --json (which
lessons/make_table.py reads).
"""
from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict
from typing import TYPE_CHECKING

import torch

from aios.course.stage_run import TURN_STEPS
from aios.course.stages import LESSONS, workload_sampling

if TYPE_CHECKING:   # only for the annotations: measure.py imports this file
    from aios.course.stage_run import StageRun
    from aios.course.workload import Workload


def run_header(device: str, model: str | None) -> dict:
    info = {"device": device, "model": model or "SmolLM2-135M-Instruct",
            "torch": torch.__version__, "date": datetime.date.today().isoformat()}
    if device == "cuda":
        info["device_name"] = torch.cuda.get_device_name()
    return info


def report_runs(lesson: int, workload: Workload, runs: list[StageRun], device: str, model: str | None) -> dict:
    shared = f"a shared {workload.shared_prefix}-token prefix + " if workload.shared_prefix else ""
    print(f"\nworkload '{workload.name}': prompts {shared}{workload.input_lens[0]}-{workload.input_lens[1]} tokens, "
          f"outputs {workload.output_lens[0]}-{workload.output_lens[1]} tokens, "
          f"{_sampling_words(runs[0].lesson)}; "
          f"stages that serve one request at a time run the first {workload.one_at_a_time}\n"
          f"(KV peak: cache memory the requests held at the peak; seqs/step: sequences per decode step;\n"
          f" launches: kernels one decode step of one sequence launches, all layers / one layer)")
    print(f"{'lesson':<36}{'pieces':>9}{'requests':>9}{'tokens':>8}{'seconds':>9}{'tok/s':>9}"
          f"{'KV peak':>10}{'seqs/step':>10}{'launches':>11}   course promise (GPU)")
    for run in runs:
        kv = "-" if run.kv_peak_mib is None else f"{run.kv_peak_mib:.1f} MiB"
        title = f"{run.lesson} {LESSONS[run.lesson].title}"
        launches = (f"{run.launches['launches_per_step']}/{run.launches['launches_per_layer']}"
                    if run.launches else "-")
        print(f"{title:<36}{run.pieces:>9}{run.requests:>9}{run.output_tokens:>8}{run.seconds:>9.2f}"
              f"{run.tok_s:>9.1f}{kv:>10}{run.seqs_per_decode:>10.1f}{launches:>11}   "
              f"{LESSONS[run.lesson].promise}")
    results = {"lesson": lesson, "title": LESSONS[lesson].title, "promise": LESSONS[lesson].promise,
               "pieces": runs[0].pieces, "tok_s": runs[0].tok_s, "run": _run_dict(runs[0]),
               "previous_stage": None, "previous_tok_s": None, "ratio": None,
               "launches": runs[0].launches, "workload": asdict(workload), **run_header(device, model)}
    if len(runs) == 2:
        mine, before = runs
        ratio = mine.tok_s / before.tok_s
        shared = min(mine.requests, before.requests)
        same = sum(a == b for a, b in zip(mine.token_ids[:shared], before.token_ids[:shared]))
        if workload_sampling(lesson) == workload_sampling(before.lesson):
            compared = (f"same {'greedy' if workload_sampling(lesson)['temperature'] == 0 else 'seeded'} "
                        f"tokens as lesson {before.lesson} for {same} of {shared} requests")
        else:
            compared = f"lesson {lesson} samples, lesson {before.lesson} decodes greedily: tokens differ"
        print(f"lesson {lesson} / lesson {before.lesson}: {ratio:.2f}x output tokens/s; {compared}")
        if mine.turns > 1:
            print(f"(the two engines took turns of up to {TURN_STEPS} steps, {mine.turns} turns each: "
                  f"a drift in the host's speed falls on both)")
        results.update(previous_stage=before.lesson, previous_tok_s=before.tok_s, ratio=ratio,
                       previous_run=_run_dict(before), same_tokens_as_previous=f"{same}/{shared}")
        if lesson >= 13:
            for run in runs:
                saved = run.prefix_hit_tokens / run.prefill_tokens if run.prefill_tokens else 0.0
                print(f"lesson {run.lesson}: prefill tokens {run.prefill_tokens}, found in the prefix cache "
                      f"{run.prefix_hit_tokens} ({saved:.0%} saved); time to first token from arrival: "
                      f"mean {run.ttft_mean_s * 1e3:.0f} ms, p90 {run.ttft_p90_s * 1e3:.0f} ms; "
                      f"from its prefill's launch: mean {run.ttft_scheduled_mean_s * 1e3:.0f} ms, "
                      f"p90 {run.ttft_scheduled_p90_s * 1e3:.0f} ms")
            results.update(prefill_tokens_saved=mine.prefix_hit_tokens, prefill_tokens=mine.prefill_tokens,
                           ttft_mean_s=mine.ttft_mean_s, previous_ttft_mean_s=before.ttft_mean_s,
                           ttft_p90_s=mine.ttft_p90_s, previous_ttft_p90_s=before.ttft_p90_s,
                           ttft_scheduled_mean_s=mine.ttft_scheduled_mean_s,
                           previous_ttft_scheduled_mean_s=before.ttft_scheduled_mean_s,
                           ttft_scheduled_p90_s=mine.ttft_scheduled_p90_s,
                           previous_ttft_scheduled_p90_s=before.ttft_scheduled_p90_s,
                           ttft_ratio=mine.ttft_mean_s / before.ttft_mean_s)
        if mine.kv_peak_mib is not None and before.kv_peak_mib is not None:
            print(f"KV memory held by the sequences: peak {mine.kv_peak_mib:.2f} MiB vs "
                  f"{before.kv_peak_mib:.2f} MiB ({mine.kv_peak_mib / before.kv_peak_mib:.2f}x), "
                  f"mean {mine.kv_mean_mib:.2f} vs {before.kv_mean_mib:.2f} MiB")
    return results


def _sampling_words(lesson: int) -> str:
    sampling = workload_sampling(lesson)
    if sampling["temperature"] == 0:
        return "greedy"
    return ("sampled (" + ", ".join(f"{k} {v}" for k, v in sampling.items()) + ", a seed per request; "
            f"lessons before {min(n for n in LESSONS if workload_sampling(n) == sampling)}: greedy)")


def _run_dict(run: StageRun) -> dict:
    keep = ("lesson", "pieces", "requests", "output_tokens", "seconds", "kv_peak_mib", "kv_mean_mib",
            "seqs_per_decode", "prefill_tokens", "prefix_hit_tokens", "ttft_mean_s", "ttft_max_s",
            "ttft_p90_s", "ttft_scheduled_mean_s", "ttft_scheduled_p90_s", "launches", "compiled_in_run",
            "host_pauses", "turns")
    return {k: getattr(run, k) for k in keep} | {"tok_s": run.tok_s}


def write_json(path: str, results: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"results written to {path}")


def save_chart(fig, ax, path) -> None:
    """How every course chart ends: a light grid, the legend, a PNG at path."""
    import matplotlib.pyplot as plt
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
