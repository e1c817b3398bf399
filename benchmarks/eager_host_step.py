"""Do lessons 4, 5 and 6's engines cost the host the same per decode step?

    python benchmarks/eager_host_step.py            # a CPU, ~1 minute

Their engines differ only in the KV cache's block size (1 token, the whole
context, 16 tokens): the same kernels run, and what could differ is the
engine's own Python (block tables, slot mappings, the block manager). A model
as deep as Qwen3-8B (36 layers) but tiny in width makes each step nearly all
host work. All three engines are built, given the same 1,000-token prompt, and
stepped in turns, one step each, the first of a round alternating, so that a
drift in the host's speed falls on all three (BENCHMARKS.md, "The course on one
H200"). Printed: host ms per decode step, each engine.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from aios import LLM, SamplingParams
from aios.course.stages import stage_options

BLOCK_SIZES = {4: 1, 5: 4096, 6: 16}   # the lessons' KV blocks, at the GPU course's max_model_len


def deep_tiny_qwen3(path: str, layers: int) -> str:
    from transformers import Qwen3Config, Qwen3ForCausalLM
    config = Qwen3Config(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                         max_position_embeddings=4096, tie_word_embeddings=False)
    torch.manual_seed(0)
    Qwen3ForCausalLM(config).save_pretrained(path)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=36)
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = deep_tiny_qwen3(scratch, args.layers)
        engines = {}
        for lesson, block_size in BLOCK_SIZES.items():
            options = stage_options(lesson, "cpu") | dict(max_model_len=4096, block_size=block_size)
            engines[lesson] = LLM(model, **options)
        prompt = [i % 500 + 1 for i in range(1000)]
        params = SamplingParams(temperature=0.0, max_tokens=args.steps + 1, ignore_eos=True)
        for llm in engines.values():
            llm.add_request(prompt, params)
            llm.step()   # the prefill, untimed
        seconds = dict.fromkeys(engines, 0.0)
        for step in range(args.steps):
            for lesson in (list(engines) if step % 2 == 0 else list(engines)[::-1]):
                start = time.perf_counter()
                engines[lesson].step()
                seconds[lesson] += time.perf_counter() - start
    print(f"{args.layers}-layer tiny Qwen3, 1,000-token prompt, {args.steps} decode steps each, in turns:")
    for lesson, total in seconds.items():
        print(f"  lesson {lesson}'s engine (block size {BLOCK_SIZES[lesson]:>4}): "
              f"{total / args.steps * 1e3:.3f} ms a step")


if __name__ == "__main__":
    main()
