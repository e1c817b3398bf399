"""One lesson's engine on the course workload, timed: what a row of the table measures.

    run = run_stage(6, model, "cuda", workload, replacements, "solution")
    run.tok_s, run.kv_peak_mib, run.seqs_per_decode, ...

run_both measures a lesson against the lesson before in one process. Where
both engines serve one request at a time (lessons 3 to 6), both are built
first and take turns of a few steps each, the first of a round alternating:
an eager step is bound by the host, and the host's speed drifts (one op's
host time measured 61 us, then 30 us, then 38 us in three engines profiled
one after another; BENCHMARKS.md, "The course on GPUs"), which two
back-to-back runs of ~40 s would read as one engine being slower. (Times to
first token are then wall-clock times across both engines: not compared.)
"""
import gc
import time
from dataclasses import dataclass, field

import torch

from aios import LLM
from aios.course.plugin import plugged
from aios.course.stages import stage_options, workload_sampling
from aios.course.workload import Workload, build_requests
from aios.utils.compile_watch import TritonCompiles
from aios.utils.launch_count import count_decode_step

TURN_STEPS = 8   # steps per turn when two engines take turns: ~0.3 s of an eager 8B step


@dataclass
class StageRun:
    lesson: int
    pieces: str                  # "yours", "solution" or "engine"
    requests: int
    output_tokens: int
    seconds: float
    kv_peak_mib: float | None    # KV-cache memory held by sequences, at the peak
    kv_mean_mib: float | None    # ... and on average over the steps
    seqs_per_decode: float       # sequences in a decode step, on average: the seats in use
    prefill_tokens: int = 0      # prompt tokens the requests brought to their prefills
    prefix_hit_tokens: int = 0   # ... of which found in the prefix cache, not computed
    ttft_mean_s: float = 0.0     # time to first token (first_token_time - arrival_time), mean
    ttft_max_s: float = 0.0
    ttft_p90_s: float = 0.0
    # ... counted from when the request's prefill was launched (Sequence.scheduled_time):
    # the time to first token less the time it queued for a seat
    ttft_scheduled_mean_s: float = 0.0
    ttft_scheduled_p90_s: float = 0.0
    # Kernels one decode step of one sequence launches (counted on any device,
    # aios/utils/launch_count.py): per step, inside one decoder layer, host syncs
    launches: dict = field(default_factory=dict)
    token_ids: list = field(repr=False, default_factory=list)
    compiled_in_run: list = field(default_factory=list)   # Triton variants built inside the timing
    # What may have paused the host inside the timing (_pause_counts deltas): cudaMalloc
    # calls, allocator retries (a failed allocation, cached blocks freed, tried again), GC passes
    host_pauses: dict = field(default_factory=dict)
    turns: int = 1               # timed slices of steps summed (run_both's turns)
    all_reduce: str | None = None   # TP: how the ranks met (p2p, nccl or gloo)

    @property
    def tok_s(self) -> float:
        return self.output_tokens / self.seconds


class StageEngine:
    """Lesson `lesson`'s engine with `replacements` plugged in, built, warmed up and
    its launches counted outside any timing; then add() the requests and
    run_steps() as often as wanted, each call timed and added up, and finish()
    for the StageRun.

    options: engine options in place of the lesson's (the engine as shipped: {}),
    the workload still sampled as in lesson `lesson`. The replacements are plugged
    in only while this engine builds and runs, so two engines can take turns.
    """

    def __init__(self, lesson: int, model: str | None, device: str, workload: Workload,
                 replacements: dict, pieces_name: str, options: dict | None = None):
        self.lesson, self.device, self.pieces_name, self.replacements = lesson, device, pieces_name, replacements
        with plugged(replacements):
            self.llm = LLM(model, **(stage_options(lesson, device) if options is None else options))
            self.requests = build_requests(workload, self.llm.config.hf_config.vocab_size,
                                           sampling=workload_sampling(lesson))
            if self.one_at_a_time:
                self.requests = self.requests[:workload.one_at_a_time]
            whose = {"yours": "your", "solution": "the solution's", "engine": "the engine's"}[pieces_name]
            engine = f"lesson {lesson}'s engine" if options is None else "the engine as shipped"
            print(f"running {engine} with {whose} pieces on {len(self.requests)} "
                  f"request{'s' * (len(self.requests) != 1)} ...", flush=True)
            self.llm.warm_up()
            self.launches = count_decode_step(self.llm)   # untimed: the counter slows the ops it sees
        blocks = self.llm.scheduler.block_manager
        self.hits_before, self.prefill_before = blocks.num_prefix_hit_tokens, blocks.num_prefill_tokens
        self.seqs, self.used_per_step, self.decode_sizes, self.compiled = [], [], [], []
        self.seconds, self.turns = 0.0, 0
        self.host_pauses = dict.fromkeys(_pause_counts(device), 0)

    @property
    def one_at_a_time(self) -> bool:
        return self.llm.config.max_num_seqs == 1

    def add(self, requests: list) -> None:
        """Queue `requests` together (what LLM.generate does)."""
        self.seqs += [self.llm.add_request(prompt, params) for prompt, params in requests]

    def run_steps(self, max_steps: int | None = None) -> bool:
        """Step the engine, timed, max_steps times or until every request is done;
        after each step, how many KV blocks the sequences hold. False once done."""
        llm, blocks = self.llm, self.llm.scheduler.block_manager
        steps = 0
        with plugged(self.replacements):
            _sync(self.device)
            pauses_before = _pause_counts(self.device)
            start = time.perf_counter()
            with TritonCompiles() as compiles:
                while not llm.is_finished() and steps != max_steps:
                    stepped, is_prefill = llm.step()
                    steps += 1
                    self.used_per_step.append(blocks.num_blocks - blocks.num_free_blocks)
                    if not is_prefill and llm.config.enable_kv_cache:
                        self.decode_sizes.append(len(stepped))
                _sync(self.device)
            self.seconds += time.perf_counter() - start
        self.turns += 1
        for name, count in _pause_counts(self.device).items():
            self.host_pauses[name] += count - pauses_before[name]
        if compiles.names:   # the run's time includes compiling these: say so
            print(f"note: {compiles.summary()}", flush=True)
            self.compiled += compiles.names
        return not llm.is_finished()

    def finish(self) -> StageRun:
        """The run's numbers; the engine is closed and its memory given back."""
        llm, blocks, seqs = self.llm, self.llm.scheduler.block_manager, self.seqs
        kv_peak = kv_mean = None
        if llm.config.enable_kv_cache:
            mib_per_block = llm.model_runner.kv_bytes_per_block() / 2**20
            kv_peak = max(self.used_per_step) * mib_per_block
            kv_mean = sum(self.used_per_step) / len(self.used_per_step) * mib_per_block
        sizes = self.decode_sizes
        ttft = [s.first_token_time - s.arrival_time for s in seqs]
        ttft_scheduled = [s.first_token_time - s.scheduled_time for s in seqs]
        run = StageRun(self.lesson, self.pieces_name, len(seqs), sum(s.num_completion_tokens for s in seqs),
                       self.seconds, kv_peak, kv_mean, sum(sizes) / len(sizes) if sizes else 1.0,
                       blocks.num_prefill_tokens - self.prefill_before,
                       blocks.num_prefix_hit_tokens - self.hits_before, _mean(ttft), max(ttft), _p90(ttft),
                       _mean(ttft_scheduled), _p90(ttft_scheduled), self.launches,
                       [s.completion_token_ids for s in seqs], self.compiled, self.host_pauses, self.turns,
                       llm.model_runner.all_reduce)
        llm.close()
        del self.llm, llm, blocks
        free_memory()
        return run


def run_stage(lesson: int, model: str | None, device: str, workload: Workload, replacements: dict,
              pieces_name: str, options: dict | None = None) -> StageRun:
    """Lesson `lesson`'s engine on the whole workload, queued together."""
    return run_to_end(StageEngine(lesson, model, device, workload, replacements, pieces_name, options))


def run_to_end(engine: StageEngine) -> StageRun:
    """Give `engine` its requests together, step it until they are done, and finish it."""
    engine.add(engine.requests)
    engine.run_steps()
    return engine.finish()


def run_both(this_lesson, lesson_before, previous_first: bool, take_turns: bool = False) -> list[StageRun]:
    """[this lesson's run, the lesson before's]: two StageEngine factories, measured in
    that order, or with previous_first the other way round.

    take_turns: both engines built and given the workload, then stepped in turns of
    TURN_STEPS steps each, each engine going first in every other round, until both
    are done; each engine's time is the sum of its turns.
    """
    first, second = (lesson_before, this_lesson) if previous_first else (this_lesson, lesson_before)
    if take_turns:
        engines = [first(), second()]
        for engine in engines:
            engine.add(engine.requests)
        busy = list(engines)
        while busy:
            still_busy = [engine for engine in busy if engine.run_steps(TURN_STEPS)]
            busy = still_busy[::-1]   # who went second goes first next round
        runs = [engine.finish() for engine in engines]
    else:
        # One engine at a time: the batched ones fill the GPU.
        runs = [run_to_end(make()) for make in (first, second)]
    return runs[::-1] if previous_first else runs


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def free_memory() -> None:
    """After an engine is dropped: give its memory back before the next one is sized."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _pause_counts(device: str) -> dict:
    """Counters whose growth inside a timing says the host paused: the CUDA caching
    allocator's cudaMalloc calls and retries, and Python's garbage collections."""
    counts = {"gc_collections": sum(generation["collections"] for generation in gc.get_stats())}
    if device == "cuda":
        stats = torch.cuda.memory_stats()
        counts.update({k: stats.get(k, 0) for k in ("num_device_alloc", "num_alloc_retries")})
    return counts


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _p90(xs: list[float]) -> float:
    return sorted(xs)[min(len(xs) - 1, int(0.9 * len(xs)))]
