"""Grid and block sizes for the kernels' Python wrappers, in plain Python.

triton.cdiv and triton.next_power_of_2 also work inside a kernel (as
constexpr functions), and the wrapper that allows it costs the host ~1.5 us
a call (this repository's CPU; more on a GPU machine's). A wrapper calls them
a few times per launch, and an eager decode step of Qwen3-8B launches ~250
Triton kernels: ~1 ms a step for two lines of arithmetic. These compute the
same numbers in a tenth of the time; tests/test_kernels.py holds them to
Triton's. And the GPU's SM count, which the wrappers size their grids by.
"""
import functools

import torch


def cdiv(a: int, b: int) -> int:
    """ceil(a / b) for ints."""
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    """The smallest power of two >= n (0 for n = 0, as Triton's)."""
    return 1 << (n - 1).bit_length() if n > 0 else 0


@functools.lru_cache(maxsize=None)
def sm_count(device: torch.device, on_cpu: int = 4) -> int:
    """The GPU's streaming multiprocessors; on a CPU (Triton's interpreter in the
    tests) `on_cpu` stands in: small by default, so that the tests see several splits."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return on_cpu
