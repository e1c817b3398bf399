"""Fixtures for the lessons' checks: small random models, written once per test run."""
import pytest

from aios.course.checks import tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory) -> str:
    """A 2-layer random Qwen3 (q/k norm, grouped KV heads, head_dim 32), no tokenizer."""
    return tiny_checkpoint(str(tmp_path_factory.mktemp("tiny-qwen3")), "qwen3")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    """A 2-layer random Llama (no q/k norm, tied embeddings), like the default SmolLM2."""
    return tiny_checkpoint(str(tmp_path_factory.mktemp("tiny-llama")), "llama")
