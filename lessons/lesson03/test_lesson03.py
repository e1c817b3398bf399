"""Lesson 03 checks: when a sequence stops, and the loop in the engine.

    python -m pytest lessons/lesson03            # your lessons/lesson03/loop.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson03
"""
import pytest

from aios import LLM, SamplingParams
from aios.config import Config
from aios.course import load_exercise
from aios.course.checks import assert_same_tokens_as_engine, random_prompts, run_engine
from aios.course.plugin import pieces, plugged
from aios.course.stages import stage_options
from aios.engine.scheduler import Scheduler
from aios.engine.sequence import Sequence, SequenceStatus

loop = load_exercise(3, "loop")
EOS = 2


@pytest.fixture
def scheduler(tiny_qwen3):
    config = Config(tiny_qwen3, **{**stage_options(3, "cpu"), "max_num_seqs": 4})
    return Scheduler(config, num_blocks=64, eos_token_ids={EOS})


def _seq(num_prompt=5, num_generated=0, max_len=256, **params) -> Sequence:
    seq = Sequence(list(range(10, 10 + num_prompt)), SamplingParams(**params), 16, max_len)
    for t in range(num_generated):
        seq.append_token(100 + t)
    return seq


# ------------------------------------------------------------- step 1 ---
@pytest.mark.parametrize("seq, token, reason", [
    (_seq(num_generated=1, max_tokens=10), 100, None),
    (_seq(num_generated=1, max_tokens=10), EOS, "stop"),
    (_seq(num_generated=1, max_tokens=10, ignore_eos=True), EOS, None),
    (_seq(num_generated=1, max_tokens=10, stop_token_ids=[77]), 77, "stop"),
    (_seq(num_generated=10, max_tokens=10), 100, "length"),
    (_seq(num_generated=3, max_tokens=10, max_len=8), 100, "length"),
    (_seq(num_generated=3, max_tokens=10, max_len=9), 100, None),
])
def test_finish_reason(scheduler, seq, token, reason):
    assert loop.finish_reason(scheduler, seq, token) == reason


# ------------------------------------------------------------- step 2 ---
def test_postprocess_appends_and_retires(scheduler, monkeypatch):
    monkeypatch.setattr(Scheduler, "_finish_reason", loop.finish_reason)
    going, ending = _seq(max_tokens=5), _seq(max_tokens=1)
    for seq in (going, ending):
        scheduler.add(seq)
    assert scheduler.schedule() == ([going, ending], True)   # both prefilled: they run
    loop.postprocess(scheduler, [going, ending], [41, 42])
    assert going.completion_token_ids == [41] and ending.completion_token_ids == [42]
    assert going.status == SequenceStatus.RUNNING and list(scheduler.running) == [going]
    assert ending.status == SequenceStatus.FINISHED and ending.finish_reason == "length"
    assert ending.block_table == [], "a finished sequence gives its KV blocks back"


# ------------------------------------------------------------ the loop ---
def test_the_engine_generates_with_your_loop(tiny_qwen3):
    llm = assert_same_tokens_as_engine(tiny_qwen3, 3, pieces(3, loop), random_prompts([3, 12, 30]), 7)
    assert llm.is_finished()


def test_a_stop_token_ends_the_sequence_at_once(tiny_qwen3):
    prompt = random_prompts([10])[0]
    [tokens], _ = run_engine(tiny_qwen3, 3, [prompt], 4)
    with plugged(pieces(3, loop)):
        llm = LLM(tiny_qwen3, **stage_options(3, "cpu"))
        params = SamplingParams(temperature=0, max_tokens=4, stop_token_ids=[tokens[0]])
        out = llm.generate([prompt], params, use_tqdm=False)[0]
    assert out["token_ids"] == tokens[:1] and out["finish_reason"] == "stop"
