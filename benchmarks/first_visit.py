"""Is a shape slower the first time a process sees it? (the course's order effect)

    python benchmarks/first_visit.py --json $OUT/first_visit.json      # a GPU, ~1 minute

BENCHMARKS.md ("The course on GPUs") found the first engine a process measures
6-11% slower than the second, though lessons 4, 5 and 6 launch the same
kernels. An eager decode step's attention products have a new shape at every
step (the context grows by one), and a library may choose its algorithm the
first time it meets a shape (cuBLAS's heuristics, cached per shape). Two probes:

1. The attention product of one decode step of Qwen3-8B (einsum, bf16) at every
   context length in a range, timed on the host: first pass, then the same
   lengths again.
2. Lesson 5's engine, one request at a time: a prompt decoded to the end, the
   same prompt again (the same shapes), a longer prompt (new shapes), and it again.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere


def attention_products(lengths, heads=32, kv_heads=8, head_dim=128) -> float:
    """Host seconds for one decode step's two attention products at each length."""
    group = heads // kv_heads
    q = torch.randn(1, 1, kv_heads, group, head_dim, device="cuda", dtype=torch.bfloat16)
    k_all = torch.randn(1, max(lengths), kv_heads, head_dim, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for n in lengths:
        k = k_all[:, :n]
        scores = torch.einsum("bqhgd,bkhd->bhgqk", q, k)
        torch.einsum("bhgqk,bkhd->bqhgd", scores, k)
    torch.cuda.synchronize()
    return time.perf_counter() - start


def engine_passes(model: str, new_tokens: int) -> list[dict]:
    from aios import LLM, SamplingParams
    from aios.course.stages import stage_options
    llm = LLM(model, **stage_options(5, "cuda"))
    llm.warm_up()
    g = torch.Generator().manual_seed(7)
    vocab = llm.config.hf_config.vocab_size
    prompts = {n: torch.randint(0, vocab, (n,), generator=g).tolist() for n in (700, 1300)}
    params = SamplingParams(temperature=0.0, max_tokens=new_tokens, ignore_eos=True)
    rows = []
    for label, n in [("first visit", 700), ("same shapes again", 700),
                     ("longer prompt: new shapes", 1300), ("same shapes again", 1300)]:
        torch.cuda.synchronize()
        start = time.perf_counter()
        llm.generate([prompts[n]], params, use_tqdm=False)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        rows.append(dict(pass_=label, prompt=n, tok_s=new_tokens / seconds))
        print(f"  lesson 5's engine, prompt {n}, {label:<28} {new_tokens / seconds:7.1f} tok/s", flush=True)
    llm.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="random:Qwen3-8B")
    p.add_argument("--new-tokens", type=int, default=200)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("first_visit.py probes GPU libraries: it needs a CUDA device")
    result = dict(device=torch.cuda.get_device_name(), torch=torch.__version__)
    lengths = list(range(512, 2048))
    attention_products(list(range(16, 64)))   # load the libraries, outside the timing
    passes = [attention_products(lengths) for _ in range(3)]
    result["attention_products_us_per_length"] = [s / len(lengths) * 1e6 for s in passes]
    print("attention products, host µs per length (pass 1, 2, 3):",
          ", ".join(f"{s / len(lengths) * 1e6:.1f}" for s in passes), flush=True)
    result["engine"] = engine_passes(args.model, args.new_tokens)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
