"""Lesson 00 checks: is this machine ready for the course?

    python -m pytest lessons/lesson00
"""
import sys

import pytest
import torch

from aios import LLM, SamplingParams
from aios.config import Config
from aios.course.checks import random_prompts
from aios.course.stages import LESSONS, stage_options


def test_python_is_recent_enough():
    assert sys.version_info >= (3, 10), "the course needs Python 3.10 or newer"


def test_torch_is_the_pinned_version():
    assert torch.__version__.split("+")[0] == "2.13.0", "pip install -e . installs the pinned torch"


def test_the_engine_generates(tiny_qwen3):
    llm = LLM(tiny_qwen3)
    out = llm.generate(random_prompts([5]), SamplingParams(temperature=0, max_tokens=4, ignore_eos=True),
                       use_tqdm=False)[0]
    assert len(out["token_ids"]) == 4 and out["finish_reason"] == "length"


@pytest.mark.parametrize("lesson", [n for n in LESSONS if 1 <= n <= 8])
def test_every_lesson_has_an_engine(lesson, tiny_qwen3):
    """Each lesson's engine options are valid engine options."""
    Config(tiny_qwen3, **stage_options(lesson, "cpu"))


def test_the_default_model_is_there():
    """The course's CPU model, converted once from a PyPI wheel (aios/utils/default_model.py)."""
    from aios.utils.default_model import default_model_path
    assert default_model_path()
