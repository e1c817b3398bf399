"""The orchestrator: tokenizer + scheduler + model runner, one `step()` at a time.

    add_request(prompt, params)  -> a Sequence, queued
    step()                       -> schedule, run the model, append tokens
    abort(seq)                   -> free its blocks now
    close()                      -> stop the tensor-parallel workers, if any

Everything else (LLM.generate, the server) is a loop around these three.
"""
import json
import os
import random
import time
import weakref
from contextlib import nullcontext

from transformers import AutoTokenizer

from aios.config import Config
from aios.engine.detokenizer import IncrementalDetokenizer, TokenIdDetokenizer, find_stop
from aios.engine.model_runner import ModelRunner
from aios.engine.scheduler import Scheduler
from aios.engine.sequence import Sequence
from aios.engine.tp_group import TPWorkers
from aios.sampling_params import SamplingParams
from aios.utils.generation_config import sampling_defaults


class LLMEngine:
    def __init__(self, model: str | None = None, **engine_options):
        self.config = Config(model, **engine_options)
        self.tokenizer = self._load_tokenizer()
        # Tensor parallelism: this process is rank 0; ranks 1..N-1 are workers
        # that run every step with it (aios/engine/tp_group.py).
        self.workers = TPWorkers(self.config) if self.config.tensor_parallel_size > 1 else None
        self._finalizer = weakref.finalize(self, self.workers.close) if self.workers else None
        with self._guard():
            self.model_runner = ModelRunner(self.config)
        if self.workers:
            self.model_runner.workers = self.workers
            self.workers.release_graphs = self.model_runner.release_cuda_graphs
        self.scheduler = Scheduler(self.config, self.model_runner.num_kv_blocks,
                                   self._eos_token_ids())
        self.detokenizers: dict[int, IncrementalDetokenizer] = {}
        # Async scheduling: the step on the device, not read back yet (a StepOutput).
        self.in_flight = None
        self.num_generated_tokens = 0
        # Seeds for the requests that bring none: given Config.seed, the
        # engine's every output is reproducible.
        self.seed_rng = random.Random(self.config.seed)
        # temperature/top_k/top_p for requests that leave them unset: the
        # model's generation_config.json, unless Config.generation_config="none".
        self.sampling_defaults = sampling_defaults(self.config.generation_config,
                                                   self.config.model_path)

    # ---------------------------------------------------------------- setup --
    def _load_tokenizer(self):
        path = self.config.model_path
        has_tokenizer = any(os.path.isfile(os.path.join(path or "", name))
                            for name in ("tokenizer.json", "tokenizer.model", "vocab.json"))
        if self.config.is_random or not has_tokenizer:
            return None  # prompts must then be token ids
        return AutoTokenizer.from_pretrained(path)

    def _eos_token_ids(self) -> set[int]:
        ids = set()

        def add(value):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list):
                ids.update(v for v in value if isinstance(v, int))

        if self.config.is_random:
            return ids  # nothing a random model says means "stop"
        add(self.config.hf_config.eos_token_id)
        if self.tokenizer is not None:
            add(self.tokenizer.eos_token_id)
        gen_config = os.path.join(self.config.model_path, "generation_config.json")
        if os.path.isfile(gen_config):
            with open(gen_config) as f:
                add(json.load(f).get("eos_token_id"))
        return ids

    @property
    def num_kv_blocks(self) -> int:
        return self.model_runner.num_kv_blocks

    @property
    def kv_capacity_tokens(self) -> int:
        return self.num_kv_blocks * self.config.block_size

    # ------------------------------------------------------------- requests --
    def tokenize(self, prompt: str | list[int]) -> list[int]:
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise ValueError(f"model {self.config.model!r} has no tokenizer: pass token ids")
            return self.tokenizer.encode(prompt)
        if not isinstance(prompt, (list, tuple)):
            raise ValueError(f"a prompt is a string or a list of token ids, got {type(prompt).__name__}")
        return list(prompt)

    def add_request(self, prompt: str | list[int], sampling_params: SamplingParams | None = None,
                    detokenize: bool = False) -> Sequence:
        """Validate and queue one request. Raises ValueError for bad input."""
        params = (sampling_params or SamplingParams()).with_defaults(self.sampling_defaults)
        token_ids = self.tokenize(prompt)
        self._check_prompt(token_ids, params)
        max_len = min(len(token_ids) + params.max_tokens, self.config.max_model_len)
        seq = Sequence(token_ids, params, self.config.block_size, max_len)
        if seq.sampling_seed is None:
            seq.sampling_seed = self.seed_rng.getrandbits(31)
        if detokenize or params.stop:
            self.detokenizers[seq.seq_id] = (IncrementalDetokenizer(self.tokenizer) if self.tokenizer
                                             else TokenIdDetokenizer())
            seq.streams_text = True
        self.scheduler.add(seq)
        return seq

    def _check_prompt(self, token_ids: list[int], params: SamplingParams) -> None:
        n, limit = len(token_ids), self.config.max_model_len
        if n == 0:
            raise ValueError("the prompt is empty; give at least one token")
        vocab = self.config.hf_config.vocab_size
        if any(not isinstance(t, int) or not 0 <= t < vocab for t in token_ids):
            raise ValueError(f"prompt token ids must be integers in [0, {vocab})")
        if n >= limit:
            raise ValueError(f"the prompt has {n} tokens but the context holds {limit} "
                             f"(max_model_len); shorten the prompt")
        needed = min(n + params.max_tokens, limit)
        if needed > self.kv_capacity_tokens:
            raise ValueError(f"this request needs up to {needed} tokens of KV cache but the cache "
                             f"holds only {self.kv_capacity_tokens}; lower max_tokens or give the "
                             f"cache more memory (num_kv_blocks, gpu_memory_utilization)")
        for name in ("logprobs", "prompt_logprobs"):
            asked = getattr(params, name)
            if asked is not None and asked > self.config.max_logprobs:
                raise ValueError(f"SamplingParams.{name}: asks for {asked} log-probabilities per "
                                 f"token but at most {self.config.max_logprobs} are allowed "
                                 f"(max_logprobs)")
            if asked is not None and asked > vocab:
                raise ValueError(f"SamplingParams.{name}: {asked} is more than the vocabulary "
                                 f"({vocab} tokens)")
        if params.stop and self.tokenizer is None:
            raise ValueError("stop strings need a tokenizer; this model has none")

    def abort(self, seq: Sequence) -> None:
        self.scheduler.finish(seq, "abort")
        self.detokenizers.pop(seq.seq_id, None)

    # ----------------------------------------------------------------- step --
    def step(self) -> tuple[list[Sequence], bool]:
        """Run one step. -> (the sequences that got a token, was it a prefill)."""
        if self.config.async_scheduling:
            return self._step_async()
        seqs, is_prefill = self.scheduler.schedule()
        if not seqs:
            return [], is_prefill
        with self._guard():
            launched = self._launch(seqs, is_prefill)
            token_ids = launched.token_ids()
        self._take_logprobs(launched, token_ids)
        self._take_tokens(seqs, token_ids)
        return seqs, is_prefill

    def _step_async(self) -> tuple[list[Sequence], bool]:
        """Launch step N+1, then read step N's tokens while the GPU runs N+1.

        Without this, the GPU idles while the host reads a step's tokens,
        appends them, schedules and prepares the next step (~0.2-0.4 ms of a
        2-3 ms step at small batches). Step N+1 is planned before N's tokens
        are known: each sequence of step N counts one pending token, which
        step N+1 reads on the device (ModelRunner.take_pending_tokens). A
        sequence that step N's token ends (EOS, a stop string) has its row in
        N+1 computed for nothing and dropped; one that its length limit ends
        is set aside, not scheduled again. Returns step N's sequences.
        """
        seqs, is_prefill = self.scheduler.schedule()
        with self._guard():
            launched = self._launch(seqs, is_prefill) if seqs else None
        done = self._collect()
        if launched is not None:
            for seq in seqs:
                if seq.is_finished:       # ended by the step just read: its new row is dropped
                    continue
                seq.num_pending_tokens = 1
                if seq.at_length_limit:
                    self.scheduler.set_aside(seq)
            self.in_flight = launched
        return done

    def _launch(self, seqs: list[Sequence], is_prefill: bool):
        if is_prefill:   # time to first token from here leaves out the wait for a seat
            now = time.perf_counter()
            for seq in seqs:
                seq.scheduled_time = seq.scheduled_time or now
        return self.model_runner.launch(seqs, is_prefill)

    def _collect(self) -> tuple[list[Sequence], bool]:
        """Read the in-flight step's tokens and hand them to their sequences."""
        if self.in_flight is None:
            return [], False
        launched, self.in_flight = self.in_flight, None
        with self._guard():  # TP: tokens of a step a dead worker cut short are garbage
            token_ids = launched.token_ids()
        for seq in launched.seqs:
            seq.num_pending_tokens = 0
        self._take_logprobs(launched, token_ids)
        live = [(seq, t) for seq, t in zip(launched.seqs, token_ids) if not seq.is_finished]
        seqs = [seq for seq, _ in live]               # minus those aborted or stopped meanwhile
        self._take_tokens(seqs, [t for _, t in live])
        return seqs, launched.is_prefill

    @staticmethod
    def _take_logprobs(launched, token_ids: list[int]) -> None:
        """Give each sequence still running its step's log-probabilities, if it asked."""
        tokens, prompts = launched.logprobs(token_ids)
        for row, entries in prompts.items():
            seq = launched.seqs[row]
            if seq.prompt_logprobs is None:
                seq.prompt_logprobs = entries
        for row, entry in tokens.items():
            seq = launched.seqs[row]
            if not seq.is_finished:          # else its token is dropped too (_collect)
                seq.logprobs.append(entry)

    def _take_tokens(self, seqs: list[Sequence], token_ids: list[int]) -> None:
        self.scheduler.postprocess(seqs, token_ids)
        self.num_generated_tokens += len(seqs)
        for seq, token_id in zip(seqs, token_ids):
            self._detokenize(seq, token_id)

    def _detokenize(self, seq: Sequence, token_id: int) -> None:
        detok = self.detokenizers.get(seq.seq_id)
        if detok is None:
            return
        new_text = detok.push([token_id])
        stops = seq.sampling_params.stop
        if stops and new_text:
            at = find_stop(detok.text, stops, len(new_text))
            if at != -1:
                detok.text = detok.text[:at]
                self.scheduler.finish(seq, "stop")
        seq.output_text = detok.text
        if seq.is_finished:
            del self.detokenizers[seq.seq_id]

    def is_finished(self) -> bool:
        return self.scheduler.is_finished() and self.in_flight is None

    def output_text(self, seq: Sequence) -> str:
        if self.tokenizer is None:
            return ""
        if seq.streams_text:
            return seq.output_text
        return self.tokenizer.decode(seq.completion_token_ids, skip_special_tokens=True)

    # ------------------------------------------------------------- shutdown --
    def _guard(self):
        """A worker's failure becomes a clear error, never a hang (see TPWorkers.guard)."""
        return self.workers.guard() if self.workers else nullcontext()

    def close(self) -> None:
        """Stop the tensor-parallel workers; nothing to do for one process."""
        if self._finalizer is not None:
            self._finalizer()  # runs TPWorkers.close once (also at exit, or when collected)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
