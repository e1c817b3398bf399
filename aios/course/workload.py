"""The course's workloads: how many requests, how long their prompts and outputs.

    WORKLOADS["cuda"]   what every lesson runs on a GPU (README.md, "The course")
    build_requests(...)  the requests themselves: random prompts, exact output lengths
"""
import dataclasses
from dataclasses import dataclass

import torch

from aios import SamplingParams
from aios.course.stages import MAX_BATCH


# ---------------------------------------------------------------- workload --
@dataclass(frozen=True)
class Workload:
    name: str
    num_requests: int
    input_lens: tuple[int, int]     # prompt tokens, min and max
    output_lens: tuple[int, int]    # generated tokens, min and max
    # A stage that serves one request at a time runs only the first few (8 at
    # least, so that a few long or short ones do not decide its tokens/s).
    one_at_a_time: int
    # Lesson 13 on: every prompt starts with the same shared_prefix tokens
    # (a system prompt), then its own input_lens tokens.
    shared_prefix: int = 0


WORKLOADS = {
    "cuda": Workload("gpu", 128, (512, 1536), (64, 256), one_at_a_time=8),
    "cpu": Workload("cpu", 16, (16, 64), (8, 64), one_at_a_time=8),
    "tiny": Workload("tiny", 2, (8, 16), (4, 6), one_at_a_time=1),
}
# Lesson 13's workload, per workload: every prompt starts with the same
# shared_prefix tokens (whole 16-token blocks), and there are no more requests
# than seats (stages.MAX_BATCH), so that each is scheduled as it arrives: its
# time to first token is its prefill, which the prefix cache shortens, not
# the time it waited for a seat, which the cache cannot.
SHARED_PREFIX = {"gpu": 1024, "cpu": 96, "tiny": 32}


def shared_prefix_workload(workload: Workload, device: str) -> Workload:
    seats = MAX_BATCH[device]
    return dataclasses.replace(workload, name=workload.name + "+shared-prefix",
                               num_requests=min(workload.num_requests, seats),
                               shared_prefix=SHARED_PREFIX[workload.name])


def build_requests(workload: Workload, vocab_size: int, seed: int = 0,
                   sampling: dict | None = None) -> list[tuple[list[int], SamplingParams]]:
    """Random prompts (the text does not change the speed), exact output lengths.

    sampling: SamplingParams options (stages.workload_sampling); greedy when None.
    Sampled requests get seeds 0, 1, 2, ...: the same tokens at every run.
    """
    g = torch.Generator().manual_seed(seed)

    def draw(bounds: tuple[int, int]) -> int:
        return int(torch.randint(bounds[0], bounds[1] + 1, (), generator=g))

    requests = []
    sampling = sampling or dict(temperature=0.0)
    shared = torch.randint(0, vocab_size, (workload.shared_prefix,), generator=g).tolist()
    for i in range(workload.num_requests):
        prompt = shared + torch.randint(0, vocab_size, (draw(workload.input_lens),), generator=g).tolist()
        params = SamplingParams(**sampling, max_tokens=draw(workload.output_lens), ignore_eos=True,
                                seed=None if sampling["temperature"] == 0 else i)
        requests.append((prompt, params))
    return requests
