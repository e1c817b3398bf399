"""What passes between the HTTP side and the engine thread, per sequence.

A `RequestHandle` is made by a route (asyncio) for each sequence a request
asks for, and handed to the engine thread (async_engine.py), which fills in
its state; a `Delta` is what one engine step did for that sequence, sent back
to the route through the handle's queue.
"""
import asyncio
import time
from dataclasses import dataclass, field

from aios.sampling_params import SamplingParams


@dataclass
class Delta:
    """What one step did for one sequence, as the HTTP side sees it."""
    index: int                  # the choice this sequence is, within its request
    text: str                   # new text, safe to show (never taken back)
    num_tokens: int             # completion tokens so far
    finish_reason: str | None   # None while running; "stop", "length", "abort", "error"
    # Log-probabilities asked for (aios/server/logprobs.py entries): of the
    # tokens new since the last Delta, and of the prompt, once, in the first.
    logprobs: list[dict] = field(default_factory=list)
    prompt_logprobs: list[dict] | None = None


class RequestHandle:
    """One sequence in flight. Built on the asyncio side, then handed over."""

    def __init__(self, index: int, out: asyncio.Queue, params: SamplingParams,
                 prompt=None, messages=None, max_tokens: int | None = None, echo: bool = False):
        self.loop = asyncio.get_running_loop()
        self.index, self.out, self.params = index, out, params
        self.prompt, self.messages = prompt, messages
        self.echo = echo
        self.prompt_text = ""                   # with echo: set once accepted
        self.max_tokens = max_tokens            # None: fill what the context has left
        self.accepted = self.loop.create_future()   # -> prompt token count, or an APIError
        self.num_prompt_tokens = 0
        self.done = False                       # the final Delta was delivered
        # Engine-thread state:
        self.seq = None
        self.num_sent_chars = 0
        self.num_sent_logprobs = 0
        self.sent_prompt_logprobs = False
        # A stop string is cut from the text only once it is complete, and it
        # may have begun in text we already showed. Holding back its length
        # minus one characters means we never show what may be taken back.
        self.holdback = max((len(s) for s in params.stop), default=1) - 1
        self.arrival_time = time.perf_counter()
        self.last_token_time: float | None = None
