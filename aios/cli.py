"""The `aios` command.

    aios serve [MODEL]      an OpenAI-compatible HTTP server
    aios chat [MODEL]       chat in the terminal (the engine runs in-process)
    aios generate ...       = python generate.py ...
    aios bench ...          = python benchmark.py ...

MODEL is a Hugging Face folder, a Hub id, or random:<name>; without it, the
built-in default model (SmolLM2-135M-Instruct).
"""
import argparse
import importlib.util
import os
import sys

from aios.engine_args import add_engine_args, engine_kwargs

# Subcommands that hand all their arguments to a script at the repo root.
FORWARDED = {"generate": ("generate.py", "generate text for one prompt, streaming it"),
             "bench": ("benchmark.py", "measure offline throughput")}
MODEL_HELP = ("a Hugging Face model folder, a Hub id, or random:<name> "
              "(default: the built-in SmolLM2-135M-Instruct)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aios", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve", help="serve a model over an OpenAI-compatible HTTP API",
        description="Serve MODEL over HTTP: /v1/models, /v1/completions, /v1/chat/completions "
                    "(streaming or not, with logprobs), /health and /metrics. A request that "
                    "leaves out temperature/top_p/top_k gets the model's generation_config.json "
                    "values (--generation-config none: temperature 1, no top-k/top-p). Options "
                    "the server does not implement (tools, response_format, logit_bias, "
                    "penalties, best_of) are refused with a 400. Ctrl-C or SIGTERM stops it "
                    "gracefully.")
    serve.add_argument("model", nargs="?", default=None, metavar="MODEL", help=MODEL_HELP)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--served-model-name", default=None,
                       help="the name clients put in 'model' (default: the model's name)")
    serve.add_argument("--max-queue", type=int, default=1024,
                       help="requests allowed to wait for a place in the batch; more get "
                            "HTTP 503 (default: 1024)")
    serve.add_argument("--shutdown-timeout", type=float, default=10.0,
                       help="on SIGTERM, seconds to let running requests finish before they "
                            "are aborted (default: 10)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    _add_common(serve)

    chat = commands.add_parser(
        "chat", help="chat with a model in the terminal",
        description="Chat with MODEL in the terminal, in-process (no server). Answers stream "
                    "as they are generated. /reset forgets the conversation, /exit (or Ctrl-D) "
                    "quits, Ctrl-C stops the current answer.")
    chat.add_argument("model", nargs="?", default=None, metavar="MODEL", help=MODEL_HELP)
    chat.add_argument("--system", default=None, help="a system prompt")
    chat.add_argument("--temperature", type=float, default=0.7, help="0 means greedy")
    chat.add_argument("--top-p", type=float, default=0.95)
    chat.add_argument("--top-k", type=int, default=-1)
    chat.add_argument("--max-tokens", type=int, default=512, help="tokens per answer at most")
    _add_common(chat)

    for name, (script, help_text) in FORWARDED.items():
        commands.add_parser(name, add_help=False, help=f"{help_text} (runs {script}; "
                                                       f"see: aios {name} --help)")
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for random weights and unseeded sampling (default: 0)")
    add_engine_args(parser)


def load_llm(args: argparse.Namespace):
    from aios import LLM
    return LLM(args.model, seed=args.seed, **engine_kwargs(args))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from aios.server import build_app

    if not 0 <= args.port < 65536:
        raise ValueError(f"--port must be in [0, 65535], got {args.port}")
    if args.max_queue < 1:
        raise ValueError(f"--max-queue must be at least 1, got {args.max_queue}")
    llm = load_llm(args)
    if llm.tokenizer is None:
        print(f"aios: {args.model!r} has no tokenizer: /v1/completions takes token-id prompts "
              f"and streams each token as '<id>'; chat is unavailable", file=sys.stderr)
    name = args.served_model_name or llm.config.model_name
    app = build_app(llm, name, args.max_queue)
    print(f"aios: serving {name!r} on http://{args.host}:{args.port}/v1", file=sys.stderr,
          flush=True)
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown: stop listening, let
    # running requests finish (cancelling them after --shutdown-timeout, which
    # aborts their sequences), then our lifespan hook stops the engine thread.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=args.shutdown_timeout)
    return 0


def chat(args: argparse.Namespace) -> int:
    from aios.chat_cli import run_chat
    return run_chat(args, load_llm)


def forward(command: str, argv: list[str]) -> int:
    """Run generate.py or benchmark.py's main(argv), found next to the package."""
    script, _ = FORWARDED[command]
    roots = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.getcwd()]
    path = next((os.path.join(r, script) for r in roots
                 if os.path.isfile(os.path.join(r, script))), None)
    if path is None:
        print(f"aios {command}: {script} was not found (looked in {' and '.join(roots)}). "
              f"It lives at the root of the aios repository: run from a checkout.",
              file=sys.stderr)
        return 2
    # As `python script.py` would: its folder first on sys.path, for its own imports.
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location(f"aios_{command}_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "main", None)):
        print(f"aios {command}: {path} has no main(argv) function", file=sys.stderr)
        return 2
    program, sys.argv[0] = sys.argv[0], f"aios {command}"   # so its --help says "aios generate"
    try:
        result = module.main(argv)
    finally:
        sys.argv[0] = program
    return result if isinstance(result, int) else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in FORWARDED:   # every later argument, --help included, is theirs
        return forward(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return serve(args) if args.command == "serve" else chat(args)
    except ValueError as e:             # a bad option or model: say what, no traceback
        print(f"aios {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
