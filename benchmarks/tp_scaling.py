"""TP scaling rows: one engine, several workloads, then the decode profile.

    python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --workloads nano,table \
        --profile-batches 32,256 --out $OUT

benchmark.py builds the engine once per workload; an 8B engine takes a while to
build (weights, KV-cache profiling, CUDA graph capture, a worker process and
NCCL under TP), so this builds it once and measures each workload exactly as
benchmark.py does (run_aios: warm-up, then the timed generate), writing
OUT/<workload>-tp<N>.json in benchmark.py's format the moment each one ends
(<workload>-tp<N>-sync.json with --no-async-scheduling, <workload>-chat-tp<N>.json
with --chat-sampling), with the run's wall
time split by step kind ("step_seconds": prefill and decode steps; each step's
[kind, sequences, prompt tokens, ms] in OUT/steps-<workload>-tp<N>.json). Then
benchmarks/tp_profile.py's profiles, written to OUT/profile-tp<N>.json: a
prefill of 16 x 1,024 tokens (--profile-prefill) and decode at each batch size.
"""
import argparse
import collections
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from aios import LLM, SamplingParams  # noqa: E402
from benchmark import report, run_aios  # noqa: E402
from benchmarks.tp_profile import print_result, profile_decode, profile_prefill  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402


@contextlib.contextmanager
def timed_steps(llm, steps: list | None = None):
    """Sum llm.step()'s wall time by the kind of step it returns ("prefill"/"decode"),
    and append each step's [kind, sequences, prompt tokens, ms] to `steps` if given.

    Under async scheduling a call returns the step launched one call earlier and
    mostly waits for it, so its time is charged to that step's kind."""
    seconds = collections.Counter()
    step = llm.step

    def timed():
        start = time.perf_counter()
        seqs, is_prefill = step()
        took = time.perf_counter() - start
        kind = "prefill" if is_prefill else "decode"
        seconds[kind] += took
        if steps is not None:
            prompt_tokens = sum(s.num_prompt_tokens for s in seqs) if is_prefill else 0
            steps.append([kind, len(seqs), prompt_tokens, round(1e3 * took, 3)])
        return seqs, is_prefill

    llm.step = timed
    try:
        yield seconds
    finally:
        del llm.step


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="random:Qwen3-8B")
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--workloads", default="nano,table")
    p.add_argument("--profile-batches", default="32,256", help="empty: no profile")
    p.add_argument("--profile-prefill", action="store_true", help="also profile a prefill step (16 x 1,024 tokens)")
    p.add_argument("--profile-prefill-prompts", default="16",
                   help="the prefill profile's prompts of 1,024 tokens in one step (a list: one profile each)")
    p.add_argument("--no-async-scheduling", action="store_true")
    p.add_argument("--max-num-seqs", type=int, default=None, help="seats (the course's: 32)")
    p.add_argument("--num-kv-blocks", type=int, default=None,
                   help="a fixed KV cache: no profile prefill to size it from free memory")
    p.add_argument("--chat-sampling", action="store_true",
                   help="every request with top_p 0.95 and top_k 20, as chat clients and Qwen3's "
                        "generation config send (OUT/<workload>-chat-tp<N>.json)")
    p.add_argument("--profile-chat-sampling", action="store_true",
                   help="the decode profile's requests with top_p 0.95 and top_k 20 (implied by --chat-sampling)")
    p.add_argument("--profile-prompt-len", type=int, default=512, help="the decode profile's prompts")
    p.add_argument("--out", default=".")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    options = {"async_scheduling": False} if args.no_async_scheduling else {}
    if args.max_num_seqs:
        options["max_num_seqs"] = args.max_num_seqs
    if args.num_kv_blocks:
        options["num_kv_blocks"] = args.num_kv_blocks
    tag = f"tp{args.tp}" + ("-sync" if args.no_async_scheduling else "")
    with LLM(args.model, tensor_parallel_size=args.tp, **options) as llm:
        print(f"engine built in {time.perf_counter() - start:.1f} s (TP={args.tp}, "
              f"async scheduling {llm.config.async_scheduling}, all-reduce {llm.model_runner.all_reduce}, "
              f"CUDA graphs {llm.model_runner.graph_runner is not None})", flush=True)
        warm = True
        for name in filter(None, args.workloads.split(",")):
            workload = WORKLOADS[name]
            if args.chat_sampling:   # under TP: gathered, or by slices with AIOS_TP_SAMPLING=slices+cuts
                workload = dataclasses.replace(workload, top_p=0.95, top_k=20)
                name += "-chat"
            prompts, params = workload.build(llm.config.hf_config.vocab_size, llm.config.max_model_len)
            if warm:
                llm.warm_up()   # outside the step timers
            steps = []
            with timed_steps(llm, steps) as step_seconds:
                result = run_aios(llm, prompts, params, warmup=False)
            result["step_seconds"] = dict(step_seconds)
            (out / f"steps-{name}-{tag}.json").write_text(json.dumps(steps))
            warm = False  # one warm-up compiles everything for the next workloads too
            result["tensor_parallel_size"] = args.tp
            result["async_scheduling"] = llm.config.async_scheduling
            runner = llm.model_runner   # how the ranks met (None at TP=1)
            result["all_reduce"] = runner.all_reduce
            result["tp_sampling"] = (None if args.tp == 1 else "gather" if not runner.slice_sampling
                                     else "slices+cuts" if runner.slice_cuts else "slices")
            report([result], workload, llm.config, str(out / f"{name}-{tag}.json"))
        profiles = []
        profile_sampling = (SamplingParams(temperature=0.6, top_p=0.95, top_k=20, max_tokens=4096, ignore_eos=True)
                            if args.chat_sampling or args.profile_chat_sampling else None)
        if args.profile_prefill:
            for prompts in args.profile_prefill_prompts.split(","):
                profiles.append(profile_prefill(llm, prompts=int(prompts)))
                print_result(profiles[-1])
        for batch in filter(None, args.profile_batches.split(",")):
            profiles.append(profile_decode(llm, int(batch), args.profile_prompt_len, sampling=profile_sampling))
            print_result(profiles[-1])
            (out / f"profile-{tag}.json").write_text(json.dumps(profiles, indent=2))
    print(f"done in {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
