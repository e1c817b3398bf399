"""The tensor-parallel code path on one GPU: a one-rank NCCL group.

    python benchmarks/tp_check.py --model random:Qwen3-0.6B --workload table

Builds the engine twice in one process: plainly, then inside a one-rank
NCCL process group, where every row-parallel layer all-reduces, the
embedding all-reduces and the LM head gathers (all no-ops for one rank, but
the real NCCL calls, captured in the CUDA graphs). Checks that greedy tokens
are equal and compares throughput on the workload.
"""
import argparse
import gc
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aios import LLM, SamplingParams  # noqa: E402
from aios.utils.distributed import create_store, join_process_group, leave_process_group  # noqa: E402
from benchmark import run_aios  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402


def measure(model: str, workload: str) -> dict:
    llm = LLM(model)
    prompts, params = WORKLOADS[workload].build(llm.config.hf_config.vocab_size, llm.config.max_model_len)
    greedy = llm.generate([p[:200] for p in prompts[:8]], SamplingParams(temperature=0, max_tokens=64),
                          use_tqdm=False)
    result = run_aios(llm, prompts, params, warmup=True)
    result["greedy"] = [o["token_ids"] for o in greedy]
    result["cuda_graphs"] = llm.model_runner.graph_runner is not None
    llm.close()
    llm.model_runner.release_cuda_graphs()  # before the group is left: NCCL waits for them
    del llm
    gc.collect()
    torch.cuda.empty_cache()
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="random:Qwen3-0.6B")
    p.add_argument("--workload", default="table")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("this check needs a CUDA GPU (NCCL)")
    plain = measure(args.model, args.workload)
    join_process_group(0, 1, "cuda", store=create_store(1))
    try:
        tp1 = measure(args.model, args.workload)
    finally:
        leave_process_group()
    same = plain["greedy"] == tp1["greedy"]
    print(f"\n{'engine':<26}{'output tok/s':>14}{'seconds':>10}{'cuda graphs':>13}")
    for name, r in (("plain", plain), ("TP path, 1-rank NCCL", tp1)):
        print(f"{name:<26}{r['output_tokens_per_s']:>14.1f}{r['seconds']:>10.2f}{str(r['cuda_graphs']):>13}")
    print(f"ratio TP1/plain: {tp1['output_tokens_per_s'] / plain['output_tokens_per_s']:.3f}")
    print(f"greedy tokens equal on 8 prompts x 64 tokens: {same}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
