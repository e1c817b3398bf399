"""A tensor-parallel worker: ranks 1..N-1, each in its own process.

A worker has no scheduler, no tokenizer and no sampler. It builds its shard
of the model (the TP layers pick their slices by rank), then loops: receive a
step from rank 0, run it through the same ModelRunner path as rank 0
(prepare the inputs, `run_model`), wait for the next. Its all-reduces meet
rank 0's inside the model, so all ranks run each step together; that is also
why a decode step replays the same CUDA graph on every rank.

What a step's message holds:
- a prefill: each sequence's new tokens, lengths and block table (StepSequence);
- a decode step: the input arrays rank 0 has just filled for itself
  (DecodeInputs.message), which the worker copies as they are: no per-sequence
  work at all on this side.
- and, in steps of temperature-only (or greedy) rows, the rows' temperatures,
  seeds and positions: every rank then samples its own slice of the
  vocabulary, and the ranks agree on each row's token by exchanging one
  (score, token id) pair (Sampler.sample_vocab_parallel). In steps where a row
  wants log-probabilities or a top-k / top-p cut, rank 0 gathers the whole
  logits and samples alone (with AIOS_TP_SAMPLING=slices+cuts, the cuts of
  rows whose top_k is within the candidates come from the slices too).
With async scheduling, rank 0 launches step N+1 before it has read step N's
tokens, so a decode row may need a token nobody's host has yet. Each worker
keeps every step's tokens on its own device (those it sampled with rank 0,
or, when rank 0 sampled alone, its broadcast) and fills those rows from them,
as rank 0 does from its own (step_output.take_pending_tokens).
"""
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from multiprocessing.connection import wait

import torch

from aios.engine.model_runner import ModelRunner
from aios.engine.step_output import take_pending_tokens
from aios.engine.sequence import Sequence
from aios.engine.tp_channel import StepReader
from aios.utils.context import reset_context
from aios.utils.distributed import broadcast, join_process_group, leave_process_group


class StepSequence:
    """What a prefill reads of a Sequence; sent to the workers instead of it.

    prepare_prefill reads the tokens it computes (not those already in the KV
    cache, unless prompt log-probabilities want them again); it needs neither
    the sampling parameters nor the text. So only those tokens travel, plus the
    lengths and the block table. (A decode step sends DecodeInputs' arrays.)
    """
    __slots__ = ("new_token_ids", "num_tokens", "num_cached_tokens", "block_table",
                 "num_prompt_tokens", "wants_prompt_logprobs")

    def __init__(self, new_token_ids, num_tokens, num_cached_tokens, block_table,
                 num_prompt_tokens=0, wants_prompt_logprobs=False):
        self.new_token_ids = new_token_ids
        self.num_tokens = num_tokens
        self.num_cached_tokens = num_cached_tokens
        self.block_table = block_table
        # Prompt log-probabilities: the prefill recomputes the cached prefix and
        # the LM head computes every prompt row, on every rank alike.
        self.num_prompt_tokens = num_prompt_tokens
        self.wants_prompt_logprobs = wants_prompt_logprobs

    @classmethod
    def of(cls, seq: Sequence) -> "StepSequence":
        """A prefill's sequence (a decode step sends DecodeInputs' arrays instead)."""
        return cls(seq.token_ids[seq.prefill_start:], len(seq), seq.num_cached_tokens,
                   seq.block_table, seq.num_prompt_tokens, seq.wants_prompt_logprobs)

    def __reduce__(self):  # pickle as a bare tuple: smaller and faster
        return StepSequence, (self.new_token_ids, self.num_tokens, self.num_cached_tokens,
                              self.block_table, self.num_prompt_tokens,
                              self.wants_prompt_logprobs)

    def __len__(self) -> int:
        return self.num_tokens

    @property
    def prefill_start(self) -> int:
        return 0 if self.wants_prompt_logprobs else self.num_cached_tokens

    @property
    def last_token(self) -> int:
        return self.new_token_ids[-1]

    @property
    def token_ids(self) -> list[int]:
        # The tokens already in the cache are never read again; -1 keeps the
        # indices of the new ones right.
        return [-1] * (self.num_tokens - len(self.new_token_ids)) + self.new_token_ids


class Worker:
    """A worker rank's side of each step: its ModelRunner, and, under async
    scheduling, the tokens rank 0 sampled in the last step (the next decode
    step's pending rows read them from this rank's own device)."""

    def __init__(self, runner: ModelRunner):
        self.runner = runner
        self.last_sampled: torch.Tensor | None = None

    @torch.inference_mode()
    def prefill(self, seqs: list[StepSequence], sampling: tuple | None) -> None:
        """ModelRunner.launch, from rank 0's message."""
        input_ids, positions = self.runner.prepare_prefill(seqs)
        self._finish(self.runner.run_model(input_ids, positions, True, sampling is None),
                     len(seqs), sampling)

    @torch.inference_mode()
    def decode(self, message: tuple, pending, sampling: tuple | None) -> None:
        input_ids, positions = self.runner.decode_inputs.load_message(message)
        if pending is not None:
            take_pending_tokens(input_ids, pending, self.last_sampled)
        self._finish(self.runner.run_model(input_ids, positions, False, sampling is None),
                     input_ids.shape[0], sampling)

    def _finish(self, logits, num_seqs: int, sampling: tuple | None) -> None:
        """Sample this rank's vocabulary slice with the others (sampling: rank 0's
        SamplingInputs.message), or, when rank 0 sampled alone and async scheduling
        needs them, receive its tokens: the next step's pending rows read them."""
        if sampling is not None:
            inputs = self.runner.sampling_inputs.load_message(sampling)
            self.last_sampled = self.runner.sample_vocab_slice(logits, inputs)
        elif self.runner.share_sampled:
            self.last_sampled = torch.empty(num_seqs, dtype=torch.long, device=self.runner.device)
            broadcast(self.last_sampled, src=0)
        reset_context()


HANDLERS = {"prefill": Worker.prefill, "decode": Worker.decode}  # "exit" ends the loop


def worker_main(config, rank: int, store_port: int, reader: StepReader, conn, setup=()) -> None:
    """A worker process's entry point. `conn` reports to rank 0: ("started", None),
    then, if anything fails, ("error", traceback) just before exiting with 1.
    `setup`: the (function, args) calls to make first (tp_group.WORKER_SETUP)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is rank 0's: it shuts us down
    _exit_with_parent()
    try:
        if config.device == "cpu":
            # N processes share the cores: one thread pool each would oversubscribe them.
            torch.set_num_threads(max(1, torch.get_num_threads() // config.tensor_parallel_size))
        for function, args in setup:
            function(*args)
        conn.send(("started", None))
        join_process_group(rank, config.tensor_parallel_size, config.device, store_port=store_port)
        worker = Worker(ModelRunner(config))
        while True:
            method, args = reader.recv()
            if method == "exit":
                break
            HANDLERS[method](worker, *args)
        worker.runner.release_cuda_graphs()  # first: NCCL cannot leave while a graph holds it
        leave_process_group()
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass  # rank 0 is gone: nobody to tell
        # Exit now, without the interpreter's teardown: destroying a broken NCCL
        # group can hang, and rank 0 only notices a worker that has ended.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def _exit_with_parent() -> None:
    """Die with rank 0, even when it is killed without a chance to stop us."""
    parent = multiprocessing.parent_process()

    def watch():
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="aios-parent-watch", daemon=True).start()
