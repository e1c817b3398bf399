"""The benchmark workloads: random prompts of random lengths, seeded.

Prompts are random token ids (the text does not change the speed) and every
request generates exactly its output length (ignore_eos), so two engines given
the same workload do exactly the same work.
"""
from dataclasses import dataclass

import numpy as np

from aios import SamplingParams
from aios.course.stages import workload_sampling
from aios.course.workload import WORKLOADS as COURSE


@dataclass
class Workload:
    name: str
    num_seqs: int
    min_input_len: int
    max_input_len: int
    min_output_len: int
    max_output_len: int
    temperature: float = 0.6
    top_p: float = 1.0             # 1 = off
    top_k: int = -1                # -1 = off
    seed: int = 0

    def __post_init__(self):
        if self.num_seqs < 1:
            raise ValueError(f"workload {self.name!r}: num_seqs must be at least 1, got {self.num_seqs}")
        for kind in ("input", "output"):
            low, high = getattr(self, f"min_{kind}_len"), getattr(self, f"max_{kind}_len")
            if not 1 <= low <= high:
                raise ValueError(f"workload {self.name!r}: {kind} lengths need 1 <= min <= max, got "
                                 f"min {low}, max {high}; set both --min-{kind}-len and --max-{kind}-len")

    def build(self, vocab_size: int, max_model_len: int):
        """-> (prompts as token-id lists, one SamplingParams per prompt)."""
        rng = np.random.default_rng(self.seed)
        in_lens = rng.integers(self.min_input_len, self.max_input_len + 1, self.num_seqs)
        out_lens = rng.integers(self.min_output_len, self.max_output_len + 1, self.num_seqs)
        prompts, params = [], []
        for n_in, n_out in zip(in_lens, out_lens):
            n_in = int(min(n_in, max_model_len - 1))
            n_out = int(min(n_out, max_model_len - n_in))
            prompts.append(rng.integers(0, vocab_size, n_in).tolist())
            params.append(SamplingParams(temperature=self.temperature, top_p=self.top_p,
                                         top_k=self.top_k, max_tokens=n_out, ignore_eos=True))
        return prompts, params


def course_workload() -> Workload:
    """The course's GPU workload, sampled as from lesson 12 (aios/course/): with
    `--max-num-seqs 32` it is lesson 13's engine without the shared prefix, and with
    `--tp 2` lesson 14's, so the course's TP=2 against TP=1 can be profiled here."""
    course, sampling = COURSE["cuda"], workload_sampling(12)
    return Workload("course", course.num_requests, *course.input_lens, *course.output_lens,
                    temperature=sampling["temperature"], top_p=sampling["top_p"], top_k=sampling["top_k"])


WORKLOADS = {
    # The course's performance table.
    "table": Workload("table", 32, 32, 1024, 64, 1024),
    # nano-vllm's benchmark: 256 requests, 100 to 1024 tokens in and out.
    "nano": Workload("nano", 256, 100, 1024, 100, 1024),
    # The course's GPU workload from lesson 12 on (course_workload() below).
    "course": course_workload(),
    # Finishes in seconds on a CPU.
    "small": Workload("small", 8, 16, 64, 16, 32),
}
