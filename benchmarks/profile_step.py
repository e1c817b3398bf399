"""Where does a step's time go? Host phases and GPU kernels, on one workload.

    python benchmarks/profile_step.py --model random:Qwen3-0.6B --workload table

Prints (1) the host time of each phase of a step (schedule, prepare inputs,
launch the model, sample + wait for the GPU, postprocess), averaged over
decode steps, and (2) a torch.profiler table of the busiest kernels and ops
for a window of decode steps, with the GPU's busy time against the wall time.
"""
import argparse
import collections
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from aios import LLM
from aios.engine.model_runner import ModelRunner
from aios.engine.scheduler import Scheduler
from benchmarks.phase_timing import phase_timers
from benchmarks.workloads import WORKLOADS

# (owner, attribute, phase): the functions each phase's host time is measured in.
PHASES = [(Scheduler, "schedule", "schedule"),
          (ModelRunner, "prepare_decode", "prepare inputs"),
          (ModelRunner, "prepare_sampling", "prepare sampling"),
          (ModelRunner, "run_model", "launch model"),
          (Scheduler, "postprocess", "postprocess")]


def timeline(llm, prompts, params):
    """Run the whole workload, timing every step: where does the total go?"""
    llm.warm_up()
    for prompt, param in zip(prompts, params):
        llm.add_request(prompt, param)
    buckets = collections.defaultdict(lambda: [0, 0.0, 0])   # steps, seconds, tokens
    total = time.perf_counter()
    while not llm.is_finished():
        start = time.perf_counter()
        seqs, is_prefill = llm.step()
        dt = time.perf_counter() - start
        b = len(seqs)
        key = "prefill" if is_prefill else f"decode b<={next(x for x in (1, 4, 16, 32, 64, 128, 256, 10**9) if b <= x)}"
        buckets[key][0] += 1
        buckets[key][1] += dt
        buckets[key][2] += b
    total = time.perf_counter() - total
    print(f"\nwhole workload: {total:.3f} s")
    for key, (steps, secs, toks) in sorted(buckets.items()):
        print(f"  {key:<16}{steps:6d} steps {secs:8.3f} s  {1e3 * secs / steps:7.3f} ms/step  {toks:8d} seqs")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="random:Qwen3-0.6B")
    p.add_argument("--workload", default="table")
    p.add_argument("--enforce-eager", action="store_true")
    p.add_argument("--profile-steps", type=int, default=30)
    p.add_argument("--timeline", action="store_true", help="time every step of the whole workload")
    p.add_argument("--batch", type=int, help="profile decode steps at this batch size: the "
                   "workload's first BATCH requests, each generating 512 tokens")
    args = p.parse_args()
    llm = LLM(args.model, enforce_eager=args.enforce_eager)
    workload = WORKLOADS[args.workload]
    if args.batch:
        workload = dataclasses.replace(workload, num_seqs=args.batch, min_output_len=512,
                                       max_output_len=512)
    prompts, params = workload.build(llm.config.hf_config.vocab_size, llm.config.max_model_len)
    if args.timeline:
        return timeline(llm, prompts, params)
    for prompt, param in zip(prompts, params):
        llm.add_request(prompt, param)
    llm.step()  # the prefill(s), outside the averages
    while llm.scheduler.waiting:
        llm.step()
    totals = collections.defaultdict(float)
    steps = 100
    with phase_timers(PHASES, totals):
        start = time.perf_counter()
        for _ in range(steps):
            llm.step()
        wall = time.perf_counter() - start
    batch = len(llm.scheduler.running)
    print(f"\n{steps} decode steps, batch ~{batch}: {1e3 * wall / steps:.3f} ms/step")
    named = sum(totals.values())
    for label, t in totals.items():
        print(f"  {label:<18}{1e3 * t / steps:8.3f} ms")
    print(f"  {'sample + GPU wait':<18}{1e3 * (wall - named) / steps:8.3f} ms  (the rest of step())")

    acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=acts) as prof:
        t0 = time.perf_counter()
        for _ in range(args.profile_steps):
            llm.step()
        torch.cuda.synchronize()
        wall = time.perf_counter() - t0
    events = prof.key_averages()
    gpu_us = sum(e.self_device_time_total for e in events)
    print(f"\nprofiled {args.profile_steps} steps: wall {1e3 * wall / args.profile_steps:.3f} ms/step, "
          f"GPU busy {gpu_us / 1e3 / args.profile_steps:.3f} ms/step")
    print(events.table(sort_by="self_device_time_total", row_limit=15))
    print(events.table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
