"""Lesson 08 checks: admit, step, preempt, retire, and continuous batching in the engine.

    python -m pytest lessons/lesson08            # your lessons/lesson08/scheduler.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson08
"""
import pytest

from aios import SamplingParams
from aios.config import Config
from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, random_prompts
from aios.course.plugin import pieces, plugged
from aios.course.stages import stage_options
from aios.engine.scheduler import Scheduler
from aios.engine.sequence import Sequence, SequenceStatus

scheduler_exercise = load_exercise(8, "scheduler")
BLOCK = 16


@pytest.fixture
def make_scheduler(tiny_qwen3):
    """Schedulers running your methods: make_scheduler(num_blocks, **options)."""
    def make(num_blocks: int, **options) -> Scheduler:
        config = Config(tiny_qwen3, **{**stage_options(8, "cpu"), **options})
        return Scheduler(config, num_blocks, eos_token_ids={2})
    with plugged(pieces(8, scheduler_exercise)):
        yield make


def _seq(num_tokens: int) -> Sequence:
    return Sequence(list(range(num_tokens)), SamplingParams(max_tokens=100), BLOCK, max_len=256)


def _add(scheduler, *lengths) -> list[Sequence]:
    seqs = [_seq(n) for n in lengths]
    for seq in seqs:
        scheduler.add(seq)
    return seqs


def _grow(seqs) -> None:
    for seq in seqs:
        seq.append_token(7)


# ------------------------------------------------------- steps 1 and 2 ---
def test_prefill_comes_first_and_admits_what_fits(make_scheduler):
    scheduler = make_scheduler(num_blocks=10, max_num_seqs=3)
    a, b, c, d = _add(scheduler, 20, 20, 20, 20)
    assert scheduler.schedule() == ([a, b, c], True)          # max_num_seqs
    assert all(s.status == SequenceStatus.RUNNING and len(s.block_table) == 2 for s in (a, b, c))
    assert list(scheduler.waiting) == [d]
    _grow([a, b, c])
    assert scheduler.schedule() == ([a, b, c], False)         # d does not fit: decode


def test_admission_stops_when_blocks_run_out(make_scheduler):
    scheduler = make_scheduler(num_blocks=5)
    a, b, c = _add(scheduler, 40, 40, 10)                     # 3 + 3 + 1 blocks
    assert scheduler.schedule() == ([a], True)
    assert list(scheduler.waiting) == [b, c], "oldest first: c waits behind b"


def test_admission_respects_the_token_budget(make_scheduler):
    scheduler = make_scheduler(num_blocks=50, max_num_batched_tokens=256)
    a, b, c = _add(scheduler, 200, 50, 10)
    assert scheduler.schedule() == ([a, b], True)             # 200 + 50 + 10 > 256


def test_a_static_batch_admits_nobody_while_it_runs(make_scheduler):
    scheduler = make_scheduler(num_blocks=50, scheduling="static", max_num_seqs=8)
    [a] = _add(scheduler, 5)
    assert scheduler.schedule() == ([a], True)
    _grow([a])
    assert scheduler.schedule() == ([a], False)               # the batch has begun to decode
    [b] = _add(scheduler, 5)
    _grow([a])
    assert scheduler.schedule() == ([a], False), "b waits for the batch to end"
    scheduler.finish(a, "length")
    assert scheduler.schedule() == ([b], True), "then the next batch forms"


def test_a_static_batch_fills_its_seats_over_several_prefills(make_scheduler):
    # The token budget admits one 200-token prompt per prefill: the batch still
    # forms with all three before it decodes, and then admits nobody.
    scheduler = make_scheduler(num_blocks=60, scheduling="static", max_num_seqs=3,
                               max_num_batched_tokens=256)
    a, b, c, d = _add(scheduler, 200, 200, 200, 200)
    assert scheduler.schedule() == ([a], True)
    assert scheduler.schedule() == ([b], True)
    assert scheduler.schedule() == ([c], True)                # the seats are full
    assert scheduler.schedule() == ([a, b, c], False)
    _grow([a, b, c])
    scheduler.finish(a, "length")
    assert scheduler.schedule() == ([b, c], False), "d waits for the whole batch, not a seat"


# ------------------------------------------------------- steps 3 and 4 ---
def test_decode_preempts_the_newest_when_blocks_run_out(make_scheduler):
    scheduler = make_scheduler(num_blocks=4)
    a, b, c = _add(scheduler, 32, 31, 10)                     # 2 full blocks + 2 blocks; c waits
    assert scheduler.schedule() == ([a, b], True)
    _grow([a, b])                                             # a needs a 5th block: none free
    assert scheduler.schedule() == ([a], False)
    assert scheduler.num_preemptions == 1
    assert b.status == SequenceStatus.WAITING and b.block_table == []
    assert list(scheduler.waiting) == [b, c], "the preempted one goes first when there is room"
    assert list(scheduler.running) == [a] and len(a.block_table) == 3


def test_a_lone_sequence_that_cannot_grow_is_preempted(make_scheduler):
    scheduler = make_scheduler(num_blocks=2)
    [a] = _add(scheduler, 32)
    scheduler.schedule()
    _grow([a])
    assert scheduler.schedule() == ([], False)
    assert list(scheduler.waiting) == [a] and scheduler.num_preemptions == 1


# ------------------------------------------------------------- step 5 ---
def test_finish_retires_from_anywhere_once(make_scheduler):
    scheduler = make_scheduler(num_blocks=10, max_num_seqs=1)
    a, b = _add(scheduler, 20, 20)
    scheduler.schedule()
    scheduler.finish(a, "stop")
    scheduler.finish(b, "abort")                               # still waiting
    assert (a.status, a.finish_reason, b.finish_reason) == (SequenceStatus.FINISHED, "stop", "abort")
    assert scheduler.is_finished() and scheduler.block_manager.num_free_blocks == 10
    scheduler.finish(a, "length")
    assert a.finish_reason == "stop" and scheduler.block_manager.num_free_blocks == 10


# ------------------------------------------------------------ together ---
def test_the_engine_runs_on_your_scheduler_through_preemptions(tiny_qwen3):
    prompts = random_prompts([30, 5, 47, 18, 33, 9])
    llm = assert_same_tokens_as_engine(tiny_qwen3, 8, pieces(8, scheduler_exercise), prompts, 24,
                                       num_kv_blocks=9)
    assert llm.scheduler.num_preemptions > 0, "a small cache must force preemptions"
    assert llm.scheduler.block_manager.num_free_blocks == 9
