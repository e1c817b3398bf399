"""Write the course table into README.md and draw the progress chart.

    python lessons/make_table.py          # reads lessons/results/lesson*.json

Each JSON file is what `run_lessonN.py --json` wrote (lessons/run_all.sh
writes them all); engine.json, what lessons/run_engine.py wrote: the last row,
the engine as shipped. A row puts the course's promise beside the measured output
tokens/s, with the device and the exact command that measured it. A lesson
without a measurement on a GPU says so: no number is ever made up here.
The table goes between README.md's markers `<!-- course-table:start -->`
and `<!-- course-table:end -->`; the chart to lessons/results/progress.png.
"""
import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from aios.course.report import save_chart
from aios.course.stages import LESSONS, TARGET_RATIO

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- course-table:start -->", "<!-- course-table:end -->"
NOT_MEASURED = "not yet measured"


def load_results(folder: Path) -> dict[int, dict]:
    """{lesson: its results}, from folder/lesson*.json."""
    results = {}
    for path in sorted(folder.glob("lesson*.json")):
        data = json.loads(path.read_text())
        results[data["lesson"]] = data
    return results


def on_gpu(result: dict | None) -> bool:
    return result is not None and result.get("device") == "cuda"


def measured_cell(result: dict | None) -> str:
    if result is None:
        return NOT_MEASURED
    if "max_abs_logit_diff" in result:   # lessons 1 and 2: a correctness check
        same = "same tokens" if result["same_greedy_tokens"] else "DIFFERENT tokens"
        cell = f"max logit difference {result['max_abs_logit_diff']:.1e}, {same}"
    elif "levels" in result:   # lesson 15: through HTTP, at the highest concurrency
        top = result["levels"][-1]
        cell = (f"{result['tok_s']:,.0f} tok/s through HTTP with {top['concurrency']} concurrent streams "
                f"({result['ratio']:.2f}x the same engine offline, {result['offline_tok_s']:,.0f} tok/s); "
                f"time to first token p50 {result['ttft_p50_ms']:.0f} ms, p99 {result['ttft_p99_ms']:.0f} ms; "
                f"inter-token p50 {result['itl_p50_ms']:.1f} ms, p99 {result['itl_p99_ms']:.1f} ms")
    else:
        cell = f"{result['tok_s']:,.1f} tok/s"
        if result.get("ratio"):
            cell += f", {result['ratio']:.2f}x lesson {result['previous_stage']}"
            target = TARGET_RATIO.get(result["lesson"])
            if target and on_gpu(result):
                cell += f" (target ≥ {target:g}x: {'met' if result['ratio'] >= target else '**missed**'})"
        before = result.get("previous_run") or {}
        if result["lesson"] == 6 and before.get("kv_peak_mib") and result["run"].get("kv_peak_mib"):
            cell += (f"; KV held at the peak: {result['run']['kv_peak_mib']:.1f} MiB vs "
                     f"{before['kv_peak_mib']:.1f} MiB")
        if result["lesson"] == 13 and result.get("prefill_tokens"):   # what the prefix cache saved
            cell += (f"; prefill tokens from the cache: {result['prefill_tokens_saved']} of "
                     f"{result['prefill_tokens']}; time to first token {result['ttft_mean_s'] * 1e3:.0f} ms vs "
                     f"{result['previous_ttft_mean_s'] * 1e3:.0f} ms")
            if "ttft_scheduled_mean_s" in result:
                cell += (f" (p90 {result['ttft_p90_s'] * 1e3:.0f} vs {result['previous_ttft_p90_s'] * 1e3:.0f} ms; "
                         f"from the prefill's launch: {result['ttft_scheduled_mean_s'] * 1e3:.0f} vs "
                         f"{result['previous_ttft_scheduled_mean_s'] * 1e3:.0f} ms)")
        sweep = result.get("context_sweep")
        if sweep:   # lesson 4: the cache against recompute at the longest context swept
            cell += (f"; at {sweep['lengths'][-1]:,} tokens of context "
                     f"{sweep['cache'][-1] / sweep['no_cache'][-1]:.1f}x (chart below)")
        launches = result.get("launches") or {}
        if launches.get("launches_per_step"):
            cell += f"; {launches['launches_per_step']:,} kernel launches a decode step"
    return cell if on_gpu(result) else f"{NOT_MEASURED} on a GPU; on a CPU: {cell}"


def device_cell(result: dict | None) -> str:
    if result is None:
        return ""
    if result.get("device") == "cpu" and result.get("tp_measured_on"):   # lesson 14 without 2 GPUs
        return result["tp_measured_on"]
    name = result.get("device_name") or result["device"]
    return f"2x {name}" if result.get("tp_measured_on", "").startswith("2 GPUs") else name


def engine_row(result: dict | None) -> str:
    """The last row: the engine as shipped, against the last one-GPU lesson on the same workload."""
    command = f"`{result['command']}`" if result else "`python lessons/run_engine.py`"
    cell = NOT_MEASURED
    if result:
        cell = (f"{result['tok_s']:,.1f} tok/s, {result['ratio']:.2f}x lesson {result['previous_stage']}'s "
                f"engine on the same requests")
        cell = cell if on_gpu(result) else f"{NOT_MEASURED} on a GPU; on a CPU: {cell}"
    return (f"| engine | The engine as shipped (default options) | - | {cell} | {device_cell(result)} "
            f"| {command} |")


def make_table(results: dict[int, dict], engine: dict | None = None) -> str:
    rows = ["| lesson | what it adds | promise (one GPU) | measured | device | command |",
            "|---:|---|---|---|---|---|"]
    for lesson in LESSONS.values():
        if lesson.number == 0:
            continue
        result = results.get(lesson.number)
        command = f"`{result['command']}`" if result else ""
        rows.append(f"| {lesson.number} | {lesson.title} | {lesson.promise} | {measured_cell(result)} "
                    f"| {device_cell(result)} | {command} |")
    rows.append(engine_row(engine))
    gpu_runs = [r for r in [*results.values(), engine] if on_gpu(r)]
    if not gpu_runs:
        return "\n".join(rows) + "\n\nNo lesson has been measured on a GPU yet.\n"
    model = Counter(r["model"] for r in gpu_runs).most_common(1)[0][0]
    note = f"\nMeasured on a GPU with {model}"
    earlier = [n for n, r in results.items() if on_gpu(r) and r["model"] != model]
    if earlier:
        note += (f", except lesson{'s' * (len(earlier) > 1)} {', '.join(map(str, earlier))}: an earlier run "
                 f"with {results[earlier[0]]['model']} ({results[earlier[0]]['date']})")
    return "\n".join(rows) + "\n" + note + ". `lessons/run_all.sh cuda` measures them all." + climb(results, engine) + "\n"


def climb(results: dict[int, dict], engine: dict | None) -> str:
    """The whole climb on one workload: lesson 3 to lesson 12 (and lesson 13's engine), beside the promise."""
    first, last = results.get(3), results.get(12)
    if not (on_gpu(first) and on_gpu(last) and first["model"] == last["model"]):
        return ""
    promised = LESSONS[12].promised_tok_s / LESSONS[3].promised_tok_s
    text = (f"\n\nThe climb, lesson 3 to lesson 12 on the same workload: {first['tok_s']:,.1f} to "
            f"{last['tok_s']:,.1f} tok/s, **{last['tok_s'] / first['tok_s']:,.0f}x** (the course promises "
            f"~{promised:,.0f}x: ~{LESSONS[3].promised_tok_s:g} to ~{LESSONS[12].promised_tok_s:,.0f} tok/s)")
    if on_gpu(engine) and engine["model"] == first["model"] and engine.get("previous_tok_s"):
        text += (f"; lesson 13's engine on the same requests, in the engine row's run: "
                 f"{engine['previous_tok_s']:,.1f} tok/s, {engine['previous_tok_s'] / first['tok_s']:,.0f}x")
    return text + "."


def draw_chart(results: dict[int, dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    promised = [(n, l.promised_tok_s) for n, l in LESSONS.items() if l.promised_tok_s]
    # Lesson 15 is measured through HTTP, on a workload of its own: not on this line.
    measured = [(n, r["tok_s"]) for n, r in sorted(results.items()) if on_gpu(r) and 3 <= n <= 14]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(*zip(*promised), "o--", color="grey", mfc="white", label="course promise")
    if measured:
        ax.plot(*zip(*measured), "o-", color="tab:blue", label="measured on a GPU")
    ax.set_yscale("log")
    ax.set_xticks([n for n in LESSONS if n >= 3])
    ax.set_xlabel("lesson")
    ax.set_ylabel("output tokens/s")
    ax.set_title("What each lesson buys" + ("" if measured else " (nothing measured on a GPU yet)"))
    save_chart(fig, ax, path)


def replace_between_markers(text: str, body: str) -> str:
    if START not in text or END not in text:
        raise ValueError(f"README.md lacks the markers {START} and {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{body}{END}{tail}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=REPO / "lessons" / "results")
    p.add_argument("--readme", type=Path, default=REPO / "README.md")
    p.add_argument("--chart", type=Path, default=REPO / "lessons" / "results" / "progress.png")
    args = p.parse_args(argv)
    results = load_results(args.results)
    engine_json = args.results / "engine.json"
    engine = json.loads(engine_json.read_text()) if engine_json.is_file() else None
    draw_chart(results, args.chart)
    here = args.readme.resolve().parent
    chart = Path(os.path.relpath(args.chart.resolve(), here))
    body = make_table(results, engine) + f"\n![Output tokens/s, lesson by lesson]({chart.as_posix()})\n"
    sweep = args.results / "lesson04_context.png"
    if sweep.is_file():
        body += (f"\n![Lesson 4: decode tokens/s against context length, with and without the KV cache]"
                 f"({Path(os.path.relpath(sweep.resolve(), here)).as_posix()})\n")
    args.readme.write_text(replace_between_markers(args.readme.read_text(), body))
    print(f"{args.readme}: the course table, from {len(results)} result file(s); chart: {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
