"""Fixtures for the lessons' checks: small random models, written once per test run."""
import os

import pytest
import torch

if not torch.cuda.is_available():
    # Lesson 9 on: Triton kernels run in the CPU interpreter (set before triton is imported).
    os.environ.setdefault("TRITON_INTERPRET", "1")

from aios.course.checks import tiny_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory) -> str:
    """A 2-layer random Qwen3 (q/k norm, grouped KV heads, head_dim 32), no tokenizer."""
    return tiny_checkpoint(str(tmp_path_factory.mktemp("tiny-qwen3")), "qwen3")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    """A 2-layer random Llama (no q/k norm, tied embeddings), like the default SmolLM2."""
    return tiny_checkpoint(str(tmp_path_factory.mktemp("tiny-llama")), "llama")
