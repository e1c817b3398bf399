"""Command-line flags for the engine options, shared by every entry point
(generate.py, benchmark.py, `aios serve`, `aios chat`)."""
import argparse

from aios.backends import BACKENDS


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("engine options")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    g.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    g.add_argument("--max-num-seqs", type=int, default=256, help="sequences per step at most")
    g.add_argument("--max-num-batched-tokens", type=int, default=16384,
                   help="prompt tokens per prefill step at most")
    g.add_argument("--max-model-len", type=int, default=None,
                   help="prompt + output tokens at most (default: the model's, capped at 8192)")
    g.add_argument("--block-size", type=int, default=16,
                   help="tokens per KV-cache block (flash_attn needs a multiple of 256)")
    g.add_argument("--num-kv-blocks", type=int, default=None,
                   help="KV-cache blocks (default: sized from free memory)")
    g.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    g.add_argument("--attention-backend", default="auto", choices=BACKENDS,
                   help="auto = triton on a GPU, torch on a CPU; flash_attn needs the "
                        "flash-attn package and --block-size 256")
    g.add_argument("--enforce-eager", action="store_true", help="no CUDA graphs")
    g.add_argument("--async-scheduling", action=argparse.BooleanOptionalAction, default=None,
                   help="plan each step while the GPU runs the last one (default: on for one GPU)")
    g.add_argument("--no-prefix-caching", action="store_true")
    g.add_argument("--no-skinny-gemm", action="store_true",
                   help="decode matmuls through cuBLAS, not the skinny Triton GEMM (GPU)")
    g.add_argument("--generation-config", default="auto", metavar="{auto,none,FOLDER}",
                   help="defaults for temperature/top_k/top_p when a request sets none: 'auto' "
                        "= the model's generation_config.json (random: models have none), "
                        "'none' (or 'vllm') = temperature 1, no top-k/top-p, or a folder "
                        "holding a generation_config.json (default: auto)")
    g.add_argument("--max-logprobs", type=int, default=20,
                   help="most log-probabilities a request may ask for per token (default: 20)")
    g.add_argument("--tensor-parallel-size", "--tp", type=int, default=1, dest="tensor_parallel_size")


def engine_kwargs(args: argparse.Namespace) -> dict:
    return dict(device=args.device, dtype=args.dtype, max_num_seqs=args.max_num_seqs,
                max_num_batched_tokens=args.max_num_batched_tokens,
                max_model_len=args.max_model_len, block_size=args.block_size,
                num_kv_blocks=args.num_kv_blocks,
                gpu_memory_utilization=args.gpu_memory_utilization,
                attention_backend=args.attention_backend, enforce_eager=args.enforce_eager,
                enable_prefix_caching=not args.no_prefix_caching,
                skinny_gemm=not args.no_skinny_gemm,
                async_scheduling=args.async_scheduling,
                tensor_parallel_size=args.tensor_parallel_size,
                generation_config=args.generation_config, max_logprobs=args.max_logprobs)
