"""aios: an LLM inference engine, built from scratch as a course."""
from aios.engine.logprobs import TokenLogprobs
from aios.llm import LLM
from aios.sampling_params import SamplingParams

__all__ = ["LLM", "SamplingParams", "TokenLogprobs"]
