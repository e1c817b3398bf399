"""Log-probabilities on a GPU: correct on the fast path, free for those who don't ask.

    PYTHONUNBUFFERED=1 python benchmarks/logprobs_check.py --out $OUT

One engine (random:Qwen3-0.6B, bf16, CUDA graphs, async scheduling):
  1. greedy tokens are the same with and without logprobs / prompt_logprobs,
     and a greedy token's logprob is its row's top-1 (the argmax), on the
     CUDA-graph decode path and the eager prefill;
  2. the prompt logprobs of a prompt whose prefix is in the prefix cache
     equal those computed without the cache (recomputed, not skipped);
  3. throughput of the `nano` workload: no logprobs, then every request with
     logprobs=5: the first must match the usual number, the second says
     what asking costs.
Each result is written to OUT/logprobs_check.json as soon as it exists.
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aios import LLM, SamplingParams  # noqa: E402
from benchmark import run_aios  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="random:Qwen3-0.6B")
    parser.add_argument("--workload", default="nano")
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    args = parser.parse_args()
    path = os.path.join(args.out, "logprobs_check.json")
    results = {}

    def save(key, value):
        results[key] = value
        with open(path, "w") as f:
            json.dump(results, f, indent=1)
        print(key, json.dumps(value)[:400], flush=True)

    llm = LLM(args.model, generation_config="none")
    vocab = llm.config.hf_config.vocab_size
    prompts, params = WORKLOADS[args.workload].build(vocab, llm.config.max_model_len)
    short = [p[:200] for p in prompts[:8]]

    greedy = SamplingParams(temperature=0, max_tokens=48)
    plain = llm.generate(short, greedy, use_tqdm=False)
    asked = llm.generate(short, SamplingParams(temperature=0, max_tokens=48, logprobs=5,
                                               prompt_logprobs=2), use_tqdm=False)
    same = [a["token_ids"] == b["token_ids"] for a, b in zip(plain, asked)]
    top1 = [abs(e.logprob - e.top[0][1]) < 1e-3 for o in asked for e in o["logprobs"]]
    finite = all(e.logprob > -1e4 for o in asked for e in o["prompt_logprobs"][1:])
    save("greedy", {"same_tokens": same, "greedy_is_top1": f"{sum(top1)}/{len(top1)}",
                    "prompt_logprobs_finite": finite})

    # The same prompts again: their prefixes are now cached, and must be recomputed.
    hits = llm.scheduler.block_manager.num_prefix_hit_tokens
    again = llm.generate(short, SamplingParams(temperature=0, max_tokens=1, prompt_logprobs=2),
                         use_tqdm=False)
    diff = max(abs(a.logprob - b.logprob) for x, y in zip(asked, again)
               for a, b in zip(x["prompt_logprobs"][1:], y["prompt_logprobs"][1:]))
    save("cached_prefix", {"prefix_hit_tokens": llm.scheduler.block_manager.num_prefix_hit_tokens - hits,
                           "max_abs_diff_vs_uncached": diff})

    base = run_aios(llm, prompts, params, warmup=True)
    save("throughput_no_logprobs", {k: base[k] for k in ("output_tokens_per_s", "seconds", "output_tokens")})
    with_lp = [SamplingParams(temperature=p.temperature, max_tokens=p.max_tokens, ignore_eos=True,
                              logprobs=5) for p in params]
    run = run_aios(llm, prompts, with_lp, warmup=False)
    save("throughput_logprobs5_all", {k: run[k] for k in ("output_tokens_per_s", "seconds", "output_tokens")})
    base2 = run_aios(llm, prompts, params, warmup=False)
    save("throughput_no_logprobs_again", {k: base2[k] for k in ("output_tokens_per_s", "seconds")})
    llm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
