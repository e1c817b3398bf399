"""Greedy tokens of a few workload prompts, written to JSON: to check that an
option (an environment flag, a kernel) leaves the engine's output unchanged.

    AIOS_QK_NORM_STORE_KV=0 python benchmarks/greedy_tokens.py --out off.json
    python benchmarks/greedy_tokens.py --out on.json --compare off.json

Each run builds the engine in its own process (environment flags are read at
import). --compare exits 1 when the tokens differ, naming the first prompt and
position where they do.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aios import LLM, SamplingParams  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402


def first_difference(a: list[list[int]], b: list[list[int]]) -> tuple[int, int] | None:
    """(prompt, position) of the first token that differs, or None."""
    for i, (x, y) in enumerate(zip(a, b)):
        for j, (s, t) in enumerate(zip(x, y)):
            if s != t:
                return i, j
        if len(x) != len(y):
            return i, min(len(x), len(y))
    return None if len(a) == len(b) else (min(len(a), len(b)), 0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="random:Qwen3-0.6B")
    p.add_argument("--workload", default="table")
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--out", required=True, help="JSON file to write the tokens to")
    p.add_argument("--compare", help="JSON file of another run: exit 1 if the tokens differ")
    args = p.parse_args()
    llm = LLM(args.model)
    prompts, _ = WORKLOADS[args.workload].build(llm.config.hf_config.vocab_size, llm.config.max_model_len)
    outputs = llm.generate(prompts[:args.prompts], SamplingParams(temperature=0, max_tokens=args.max_tokens,
                                                                  ignore_eos=True), use_tqdm=False)
    tokens = [o["token_ids"] for o in outputs]
    Path(args.out).write_text(json.dumps({"model": args.model, "tokens": tokens}))
    llm.close()
    if args.compare:
        other = json.loads(Path(args.compare).read_text())["tokens"]
        where = first_difference(tokens, other)
        if where is None:
            print(f"same greedy tokens as {args.compare}: {len(tokens)} prompts x {args.max_tokens} tokens")
        else:
            sys.exit(f"greedy tokens differ from {args.compare}: prompt {where[0]}, token {where[1]}")


if __name__ == "__main__":
    main()
