"""Lesson 0. Introduction: check your setup, watch the finished engine run, see the road ahead.

    python lessons/lesson00/run_lesson0.py          # under a minute on a CPU
    flags: --tiny (seconds), --model PATH, --device cpu|cuda
    (--solution and --json are accepted like in every lesson, and change nothing here)

It prints what the course runs on (Python, torch, the device), runs the
finished engine, every lesson's idea switched on, on one chat prompt, and
prints the roadmap: each lesson, what it adds, what it promises.
"""
import platform
import sys
import time

import torch

from aios import LLM, SamplingParams
from aios.course.measure import parse_args, resolve_device
from aios.course.stages import LESSONS


def main(argv=None) -> int:
    args = parse_args(0, argv)
    device = resolve_device(args.device)
    gpu = f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""
    print(f"Python {platform.python_version()}, torch {torch.__version__}, device {device}{gpu}")

    llm = LLM(args.model, device=device)   # the finished engine: every option at its default
    print(f"model {llm.config.model_name}: {llm.num_kv_blocks} KV blocks of {llm.config.block_size} "
          f"tokens, attention backend {llm.model_runner.backend_name}")
    question = [{"role": "user", "content": "Give me three tips for staying healthy."}]
    params = SamplingParams(temperature=0.0, max_tokens=8 if args.tiny else 64)
    start = time.perf_counter()
    out = llm.chat(question, params)[0] if llm.tokenizer else llm.generate([[1, 2, 3]], params)[0]
    seconds = time.perf_counter() - start
    print(f"\n> {question[0]['content']}\n{out['text']}\n")
    print(f"{len(out['token_ids'])} tokens in {seconds:.2f} s: {len(out['token_ids']) / seconds:.1f} tok/s "
          f"for one request; lessons 7 and 8 show what many requests at once do.\n")

    print(f"{'lesson':<8}{'what it adds':<52}promise (output tok/s on one GPU)")
    for lesson in LESSONS.values():
        print(f"{lesson.number:<8}{lesson.title:<52}{lesson.promise}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
