"""Continuous batching: decide, every step, which sequences run.

Each step is either a prefill (new prompts, as many as the token budget and
free blocks allow) or a decode (one new token for every running sequence).
Prefill goes first, so new requests join the running batch as soon as there
is room, and finished ones leave it at once: the batch never waits for its
slowest member.

When the cache runs out of blocks during decode, the newest running sequence
is preempted: its blocks are freed and it goes back to the front of the queue
to be recomputed later. Nothing is lost; it only costs recomputation.

With scheduling="static" (lesson 7) a batch forms first, over as many prefill
steps as the token budget needs, until its seats are full or the queue is
empty; then it decodes, and nobody joins it until all of it has finished.
"""
from collections import deque

from aios.config import Config
from aios.engine.block_manager import BlockManager
from aios.engine.sequence import Sequence, SequenceStatus


class Scheduler:
    def __init__(self, config: Config, num_blocks: int, eos_token_ids: set[int]):
        self.max_num_seqs = config.max_num_seqs
        self.max_num_batched_tokens = config.max_num_batched_tokens
        self.static = config.scheduling == "static"
        self.eos_token_ids = eos_token_ids
        self.block_manager = BlockManager(num_blocks, config.block_size,
                                          config.enable_prefix_caching)
        self.waiting: deque[Sequence] = deque()
        self.running: deque[Sequence] = deque()
        self.num_preemptions = 0
        self.batch_decoding = False     # static batching: the running batch has begun to decode

    def is_finished(self) -> bool:
        return not self.waiting and not self.running

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def schedule(self) -> tuple[list[Sequence], bool]:
        """-> (sequences to run this step, is_prefill)."""
        if not self.running:
            self.batch_decoding = False   # the last batch is done: the next one forms
        scheduled = self._schedule_prefill()
        if scheduled:
            return scheduled, True
        self.batch_decoding = True
        return self._schedule_decode(), False

    def _schedule_prefill(self) -> list[Sequence]:
        scheduled, num_tokens = [], 0
        if self.static and self.batch_decoding:
            return []  # static batching: nobody joins a batch that has begun to decode
        while self.waiting and len(self.running) < self.max_num_seqs:
            seq = self.waiting[0]
            if num_tokens + len(seq) > self.max_num_batched_tokens:
                break
            if not self.block_manager.can_allocate(seq):
                break
            self.block_manager.allocate(seq)
            num_tokens += len(seq) - seq.num_cached_tokens
            seq.status = SequenceStatus.RUNNING
            self.running.append(self.waiting.popleft())
            scheduled.append(seq)
        return scheduled

    def _schedule_decode(self) -> list[Sequence]:
        scheduled = []
        while self.running and len(scheduled) < self.max_num_seqs:
            seq = self.running.popleft()
            while not self.block_manager.can_append(seq):
                if self.running:
                    self._preempt(self.running.pop())   # the newest gives way
                else:
                    self._preempt(seq)
                    break
            else:
                self.block_manager.may_append(seq)
                scheduled.append(seq)
        self.running.extendleft(reversed(scheduled))
        return scheduled

    def _preempt(self, seq: Sequence) -> None:
        self.num_preemptions += 1
        seq.status = SequenceStatus.WAITING
        self.block_manager.deallocate(seq)
        self.waiting.appendleft(seq)

    def postprocess(self, seqs: list[Sequence], token_ids: list[int]) -> None:
        """Append each sequence's new token; retire the ones that are done."""
        for seq, token_id in zip(seqs, token_ids):
            seq.append_token(token_id)
            reason = self._finish_reason(seq, token_id)
            if reason:
                self.finish(seq, reason)

    def _finish_reason(self, seq: Sequence, token_id: int) -> str | None:
        params = seq.sampling_params
        if not params.ignore_eos and token_id in self.eos_token_ids:
            return "stop"
        if token_id in params.stop_token_ids:
            return "stop"
        if seq.at_length_limit:
            return "length"
        return None

    def set_aside(self, seq: Sequence) -> None:
        """Async scheduling: the token now in flight is seq's last by its length
        limit, so it must not be scheduled again. It stays RUNNING, holding its
        blocks, until postprocess reads that token and finishes it."""
        self.running.remove(seq)

    def finish(self, seq: Sequence, reason: str) -> None:
        """Retire a sequence (done, stopped by a stop string, or aborted)."""
        if seq.is_finished:
            return
        seq.status, seq.finish_reason = SequenceStatus.FINISHED, reason
        self.block_manager.deallocate(seq)
        if seq in self.running:
            self.running.remove(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)
