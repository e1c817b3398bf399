"""`aios chat`, driven through a pseudo-terminal like a person would.

The child gets a real terminal (pty.fork), so Ctrl-C is the byte \\x03 that
the terminal turns into SIGINT, exactly as at a keyboard. Greedy answers
must equal LLM.chat on the same conversation.
"""
import os
import pty
import re
import select
import signal
import sys
import time

import pytest

from aios import SamplingParams

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "you> "
MAX_TOKENS = 160
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A child process on a pty, read until a marker shows up."""

    def __init__(self, argv: list[str]):
        env = dict(os.environ, TERM="dumb", OMP_NUM_THREADS="1")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:                                   # the child
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, *argv], env)
        self.buffer = ""

    def expect(self, marker: str, timeout: float = 120) -> str:
        """Everything up to and including marker (consumed); fails on timeout or EOF."""
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {marker!r}; got:\n{self.buffer}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.fd, 4096).decode("utf-8", "replace")
                except OSError:                              # the child closed the terminal
                    data = ""
                assert data, f"the chat exited while waiting for {marker!r}:\n{self.buffer}"
                self.buffer += ANSI.sub("", data).replace("\r\n", "\n").replace("\r", "")
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def answer(self, question: str) -> str:
        """Ask, wait for the next prompt, return the answer's text."""
        self.send(question + "\n")
        reply = self.expect(PROMPT).removesuffix(PROMPT)
        echoed, _, answer = reply.partition("\n")       # the terminal echoes the question
        assert echoed.strip() == question
        return answer.removesuffix("\n")

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.1)
        raise TimeoutError("the chat did not exit")

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


@pytest.fixture
def chat_terminal():
    term = Terminal(["-m", "aios.cli", "chat", "--temperature", "0",
                     "--max-tokens", str(MAX_TOKENS), "--num-kv-blocks", "256"])
    try:
        yield term
    finally:
        term.kill()


def reference(llm, conversation) -> str:
    params = SamplingParams(temperature=0, max_tokens=MAX_TOKENS)
    return llm.chat(conversation, params)[0]["text"]


def test_chat_two_turns_reset_interrupt_and_exit(chat_terminal, default_llm):
    term = chat_terminal
    banner = term.expect(PROMPT, timeout=300)            # the model loads first
    assert "/reset" in banner and "/exit" in banner

    # Two turns: the second answer sees the first (history).
    q1, q2 = "What is 2+2?", "Now add 3 to that."
    a1 = term.answer(q1)
    conversation = [{"role": "user", "content": q1}]
    assert a1 == reference(default_llm, conversation)
    a2 = term.answer(q2)
    conversation += [{"role": "assistant", "content": a1}, {"role": "user", "content": q2}]
    assert a2 == reference(default_llm, conversation)

    # /reset forgets: asking q1 again gives the first answer again.
    term.send("/reset\n")
    assert "(conversation cleared)" in term.expect(PROMPT)
    assert term.answer(q1) == a1

    # Ctrl-C during an answer stops it and returns to the prompt.
    term.send("Write a long story about a dragon who learns to cook.\n")
    term.expect("cook.\n")                               # the echo
    term.expect(" ", timeout=60)                         # some of the answer has streamed
    term.send("\x03")
    assert "[stopped]" in term.expect(PROMPT, timeout=30)

    # Ctrl-C at the prompt only reminds how to quit; /exit quits cleanly.
    # (Wait a moment as a person would: input() prints the prompt a moment
    # before it starts waiting, and a SIGINT in between waits for the next key.)
    time.sleep(1)
    term.send("\x03")
    assert "/exit" in term.expect(PROMPT, timeout=10)
    term.send("/exit\n")
    assert term.wait() == 0


@pytest.mark.parametrize("argv,expected", [
    ([], ["serve", "chat", "generate", "bench"]),
    (["serve"], ["--host", "--port", "--max-queue", "--max-num-seqs", "--tensor-parallel-size"]),
    (["chat"], ["/reset", "--temperature", "--max-tokens"]),
    (["generate"], ["aios generate", "--prompt"]),       # forwarded to generate.py
])
def test_help_is_clear(argv, expected):
    import subprocess
    result = subprocess.run([sys.executable, "-m", "aios.cli", *argv, "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for word in expected:
        assert word in result.stdout, (word, result.stdout)
