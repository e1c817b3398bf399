"""Where does a lesson engine's decode step spend its time? Wall, GPU busy, kernel launches.

    python benchmarks/profile_lesson.py --lessons 3,4,6,8,10,11 --device cuda

For each lesson's engine (aios/course/stages.py, the engine's own pieces), one
request (a 512-token prompt) is prefilled and then decoded; a window of
decode steps is profiled with torch.profiler. Printed per lesson: wall time
per step, the GPU's busy time per step, and kernels launched per step (on a
GPU: those the profiler saw; on any device: those counted by
aios/utils/launch_count.py, per step and inside one decoder layer). A step
whose wall time is far above its GPU time is bound by the host launching
kernels one by one from Python, not by the arithmetic a lesson saves.
"""
import argparse
import gc
import json
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from aios import LLM, SamplingParams
from aios.course.stages import LESSONS, stage_options
from aios.utils.launch_count import count_decode_step


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure_lesson(lesson: int, model: str, device: str, prompt_len: int, steps: int, top: int,
                   dtype: str | None) -> dict:
    """Decode steps of one request in lesson `lesson`'s engine: counted, timed, then profiled."""
    options = stage_options(lesson, device)
    # Room for the prompt and the steps, however long the prompt asked for.
    options["max_model_len"] = max(options["max_model_len"], prompt_len + 2 * steps + 64)
    llm = LLM(model, **options, **({"dtype": dtype} if dtype else {}))
    counted = count_decode_step(llm, prompt_len)
    prompt = list(range(100, 100 + prompt_len))
    llm.add_request(prompt, SamplingParams(temperature=0.0, max_tokens=2 * steps + 16, ignore_eos=True))
    for _ in range(8):  # the prefill and a few decode steps: compiled kernels, captured graphs
        llm.step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        llm.step()
    _sync(device)
    wall_ms = (time.perf_counter() - start) / steps * 1e3
    # Profiled apart from the timing above: the profiler adds its own cost to every op.
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            llm.step()
        _sync(device)
    llm.close()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    if top:
        sort = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
        print(prof.key_averages().table(sort_by=sort, row_limit=top))
    return dict(wall_ms=wall_ms, gpu_ms=sum(e.device_time for e in kernels) / steps / 1e3,
                kernels=len(kernels) / steps, **counted)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lessons", default="3,4,6,8,9,10,11")
    p.add_argument("--model", default=None, help="default: random:Qwen3-0.6B on a GPU, SmolLM2 on a CPU")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--prompt-len", type=int, default=512)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--top", type=int, default=0, help="also print each profile's top N ops")
    p.add_argument("--dtype", default=None, help="e.g. bfloat16: a CPU count with a GPU's casts")
    p.add_argument("--json", default=None, help="also write the rows as JSON")
    args = p.parse_args()
    model = args.model or ("random:Qwen3-0.6B" if args.device == "cuda" else None)
    print(f"{'lesson':<36}{'wall ms/step':>13}{'GPU ms/step':>12}{'kernels/step':>13}"
          f"{'counted/step':>13}{'per layer':>10}{'syncs':>6}", flush=True)
    rows = {}
    for lesson in map(int, args.lessons.split(",")):
        r = rows[lesson] = measure_lesson(lesson, model, args.device, args.prompt_len, args.steps, args.top,
                                          args.dtype)
        title = f"{lesson} {LESSONS[lesson].title}"
        print(f"{title:<36}{r['wall_ms']:>13.2f}{r['gpu_ms']:>12.2f}{r['kernels']:>13.0f}"
              f"{r['launches_per_step']:>13}{r['launches_per_layer']:>10}{r['syncs_per_step']:>6}", flush=True)
        gc.collect()
        if args.device == "cuda":
            torch.cuda.empty_cache()
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(dict(model=model or "SmolLM2-135M-Instruct", device=args.device,
                                                   prompt_len=args.prompt_len, lessons=rows), indent=2))


if __name__ == "__main__":
    main()
