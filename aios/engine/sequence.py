"""One request's state as it moves through the engine.

    WAITING --(scheduled for prefill)--> RUNNING --(stop condition)--> FINISHED
       ^                                    |
       +----(preempted: blocks freed)-------+

A preempted sequence keeps its tokens and is prefilled again later, prompt and
generated tokens together ("recompute"), so nothing is lost.
"""
import time
from enum import Enum, auto
from itertools import count

from aios.sampling_params import SamplingParams


class SequenceStatus(Enum):
    WAITING = auto()
    RUNNING = auto()
    FINISHED = auto()


class Sequence:
    _ids = count()

    def __init__(self, token_ids: list[int], sampling_params: SamplingParams,
                 block_size: int, max_len: int):
        self.seq_id = next(self._ids)
        self.status = SequenceStatus.WAITING
        self.token_ids = list(token_ids)
        self.num_prompt_tokens = len(token_ids)
        # The engine fills unset fields from the model's generation config
        # first (LLMEngine.add_request); what is still unset gets the built-ins.
        self.sampling_params = sampling_params = sampling_params.with_defaults()
        # The seed of this request's sampling noise: its own, else one the
        # engine draws when the request arrives (LLMEngine.add_request).
        self.sampling_seed: int | None = sampling_params.seed
        self.block_size = block_size
        self.max_len = max_len                  # prompt + output never exceeds this
        self.block_table: list[int] = []        # physical KV blocks, in order
        self.num_cached_tokens = 0              # prefix tokens found in the cache
        # Async scheduling: a token sampled on the GPU but not read back yet
        # (0 or 1). It counts in len(seq), the length the next step computes
        # with, but it is not in token_ids until the engine reads it.
        self.num_pending_tokens = 0
        self.finish_reason: str | None = None   # "stop", "length" or "abort"
        self.streams_text = False               # text decoded as tokens arrive?
        self.output_text = ""                   # that text, when streams_text
        # Log-probabilities, when the request asks (SamplingParams.logprobs /
        # prompt_logprobs): one TokenLogprobs per completion token; per prompt
        # token, None for the first, filled by the first prefill.
        self.logprobs: list | None = [] if sampling_params.logprobs is not None else None
        self.prompt_logprobs: list | None = None
        self.arrival_time = time.perf_counter()
        self.scheduled_time: float | None = None     # when its first prefill was launched
        self.first_token_time: float | None = None

    def __len__(self) -> int:
        return len(self.token_ids) + self.num_pending_tokens

    @property
    def is_finished(self) -> bool:
        return self.status == SequenceStatus.FINISHED

    @property
    def last_token(self) -> int:
        return self.token_ids[-1]

    @property
    def prompt_token_ids(self) -> list[int]:
        return self.token_ids[:self.num_prompt_tokens]

    @property
    def completion_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens:]

    @property
    def num_completion_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def at_length_limit(self) -> bool:
        """No token may follow: max_tokens generated (pending one included) or max_len reached."""
        generated = self.num_completion_tokens + self.num_pending_tokens
        return generated >= self.sampling_params.max_tokens or len(self) >= self.max_len

    @property
    def wants_prompt_logprobs(self) -> bool:
        """Its prompt's log-probabilities are asked for and not computed yet."""
        return self.sampling_params.prompt_logprobs is not None and self.prompt_logprobs is None

    @property
    def prefill_start(self) -> int:
        """The first position a prefill computes. A cached prefix is skipped,
        unless the prompt's log-probabilities are wanted: those need the
        logits of every prompt position, so the prefix is recomputed (its K/V
        stays as cached)."""
        return 0 if self.wants_prompt_logprobs else self.num_cached_tokens

    @property
    def num_blocks(self) -> int:
        """Blocks needed to hold every token so far."""
        return (len(self) + self.block_size - 1) // self.block_size

    @property
    def num_cached_blocks(self) -> int:
        return self.num_cached_tokens // self.block_size

    def block_tokens(self, i: int) -> list[int]:
        return self.token_ids[i * self.block_size:(i + 1) * self.block_size]

    def append_token(self, token_id: int) -> None:
        if self.first_token_time is None:
            self.first_token_time = time.perf_counter()
        self.token_ids.append(token_id)
