"""Draw a server benchmark's JSON: throughput and latency against concurrency.

    python benchmarks/plot_serve.py benchmarks/results/serve-h100.json -o benchmarks/results/serve-h100.png

The JSON is what `python benchmarks/serve.py --json PATH` writes. Left: output
tokens/s per concurrency level. Right: time to first token and inter-token
latency, p50 and p99, on a log scale (they span milliseconds to seconds).
"""
import argparse
import json
from pathlib import Path


def draw(run: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = run["results"]
    conc = [lv["concurrency"] for lv in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(conc, [lv["output_tokens_per_s"] for lv in levels], "o-", color="tab:blue")
    left.set_ylabel("output tokens/s")
    left.set_title("throughput")
    for metric, color in (("ttft", "tab:orange"), ("itl", "tab:green")):
        for pct, style in (("p50", "o-"), ("p99", "s--")):
            values = [max(lv[f"{metric}_{pct}_ms"], 1e-2) for lv in levels]  # log axis: no zeros
            right.plot(conc, values, style, color=color, label=f"{metric.upper()} {pct}")
    right.set_yscale("log")
    right.set_ylabel("milliseconds")
    right.set_title("time to first token, inter-token latency")
    right.legend()
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(conc, [str(c) for c in conc])
        ax.set_xlabel("concurrent streams")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", type=Path, help="what benchmarks/serve.py --json wrote")
    p.add_argument("-o", "--out", type=Path, help="the PNG (default: the JSON's name with .png)")
    p.add_argument("--title", default=None)
    args = p.parse_args(argv)
    run = json.loads(args.json.read_text())
    if not run.get("results"):
        raise SystemExit(f"error: {args.json} has no 'results' levels; is it a benchmarks/serve.py --json file?")
    out = args.out or args.json.with_suffix(".png")
    title = args.title or (f"{run['model']}: {run['input_len']}-token prompts, "
                           f"{run['output_len']} output tokens")
    draw(run, out, title)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
