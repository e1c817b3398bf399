"""`aios chat`: a terminal chat, with the engine in this process.

Each turn renders the whole conversation with the model's chat template and
runs it as one request, printing text as each engine step decodes it. The
engine's prefix cache makes the repeated history cheap: its KV blocks are
still in the cache from the previous turn, so only the new turn is prefilled.

Ctrl-C during an answer must not land in the middle of engine.step() (that
could leave a half-updated scheduler), so while generating we swap in a
SIGINT handler that only raises a flag; the loop checks it between steps.
"""
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import replace

from aios.sampling_params import SamplingParams

PROMPT = "you> "
HELP = "/reset clears the conversation, /exit quits, Ctrl-C stops an answer"


@contextmanager
def sigint_flag():
    """While inside, Ctrl-C sets the yielded Event instead of raising."""
    flag = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


class ChatSession:
    def __init__(self, llm, params: SamplingParams, system: str | None = None, out=sys.stdout):
        self.llm, self.params, self.system, self.out = llm, params, system, out
        self.reset()

    def reset(self) -> None:
        self.history = [{"role": "system", "content": self.system}] if self.system else []

    def ask(self, text: str) -> str:
        """Answer one user turn, streaming it to out. Raises ValueError if it cannot."""
        conversation = self.history + [{"role": "user", "content": text}]
        prompt = self.llm.apply_chat_template(conversation)
        room = self.llm.config.max_model_len - len(prompt)
        if room < 1:
            raise ValueError(f"the conversation fills the context ({len(prompt)} tokens); "
                             f"/reset to start over")
        params = replace(self.params, max_tokens=min(self.params.max_tokens, room))
        answer, stopped = self._stream(prompt, params)
        # What the user saw is what the model said, even if stopped early.
        self.history = conversation + [{"role": "assistant", "content": answer}]
        self.out.write(" [stopped]\n" if stopped else "\n")
        self.out.flush()
        return answer

    def _stream(self, prompt: list[int], params: SamplingParams) -> tuple[str, bool]:
        seq = self.llm.add_request(prompt, params, detokenize=True)
        shown = 0
        with sigint_flag() as interrupted:
            while not seq.is_finished:
                if interrupted.is_set():
                    self.llm.abort(seq)     # frees its KV blocks now
                    break
                self.llm.step()
                self.out.write(seq.output_text[shown:])
                self.out.flush()
                shown = len(seq.output_text)
        return seq.output_text, interrupted.is_set()


def read_line() -> str | None:
    """The next user line; None at end of input. Ctrl-C at the prompt only clears it."""
    while True:
        try:
            return input(PROMPT)
        except EOFError:
            print()
            return None
        except KeyboardInterrupt:
            print(f"\n({HELP})")


def run_chat(args, load_llm) -> int:
    """The REPL. load_llm(args) -> LLM is called after the options are checked."""
    params = SamplingParams(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                            max_tokens=args.max_tokens)
    llm = load_llm(args)
    try:
        return _repl(llm, params, args.system)
    finally:
        if hasattr(llm, "close"):
            llm.close()             # tensor-parallel worker processes, if any


def _repl(llm, params: SamplingParams, system: str | None) -> int:
    if llm.tokenizer is None or not llm.tokenizer.chat_template:
        print("aios chat: this model has no chat template; use `aios generate --raw`",
              file=sys.stderr)
        return 2
    try:
        import readline  # noqa: F401  (line editing and history for input(), where available)
    except ImportError:
        pass
    session = ChatSession(llm, params, system)
    print(f"aios chat with {llm.config.model_name}: {HELP}", flush=True)
    while (line := read_line()) is not None:
        text = line.strip()
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            session.reset()
            print("(conversation cleared)", flush=True)
        elif text.startswith("/"):
            print(f"(unknown command {text.split()[0]}; {HELP})", flush=True)
        elif text:
            try:
                session.ask(text)
            except ValueError as e:
                print(f"(error: {e})", flush=True)
    return 0
