"""Chat with a model from the command line, streaming the answer.

    python generate.py                                  # the default model, on the CPU
    python generate.py --prompt "Write a haiku about GPUs" --temperature 0.7
    python generate.py --model /path/to/Qwen3-0.6B --max-tokens 256
"""
import argparse
import sys

from aios import LLM, SamplingParams
from aios.engine_args import add_engine_args, engine_kwargs

DEFAULT_PROMPT = "Give me three tips for staying healthy."


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="HF folder, Hub id, or random:Qwen3-0.6B (default: SmolLM2-135M-Instruct)")
    p.add_argument("--prompt", default=DEFAULT_PROMPT)
    p.add_argument("--raw", action="store_true", help="send the prompt as is, without the chat template")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0 means greedy")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=-1)
    p.add_argument("--seed", type=int, default=None)
    add_engine_args(p)
    return p.parse_args(argv)


def stream(llm: LLM, prompt, params: SamplingParams) -> str:
    """Run one request, printing text as it is decoded."""
    seq = llm.add_request(prompt, params, detokenize=True)
    printed = 0
    while not seq.is_finished:
        llm.step()
        print(seq.output_text[printed:], end="", flush=True)
        printed = len(seq.output_text)
    print()
    return seq.output_text


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        params = SamplingParams(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                                max_tokens=args.max_tokens, seed=args.seed)
        llm = LLM(args.model, **engine_kwargs(args))
        if llm.tokenizer is None:
            raise ValueError(f"{args.model} has no tokenizer (random weights?): use benchmark.py")
        use_template = not args.raw and llm.tokenizer.chat_template
        messages = [{"role": "user", "content": args.prompt}]
        prompt = llm.apply_chat_template(messages) if use_template else args.prompt
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"> {args.prompt}\n")
    stream(llm, prompt, params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
