"""The kernel-launch counter, and what it says of the engine's eager decode step.

An eager decode step of one sequence is bound by the kernels it launches, one
by one from Python (aios/utils/launch_count.py). The index math and masks
that only depend on the step are made once per step (aios/utils/context.py:
per_step), not in every layer; so a cached step launches no more than a full
recompute, and a layer launches the same count whatever the step's batch.
"""
import torch
import triton.language as tl
from triton.runtime.jit import JITFunction

from aios import LLM
from aios.course.stages import stage_options
from aios.utils.context import per_step, reset_context, set_context
from aios.utils.launch_count import LaunchCounter, count_decode_step


def test_counts_computing_ops_not_views_and_sees_syncs():
    x, w = torch.randn(4, 8), torch.randn(6, 8)
    with LaunchCounter() as count:
        y = torch.nn.functional.linear(x, w)     # one mm (the transpose is a view)
        y.view(2, 12).t()[0]                     # views: nothing
        y[y > 0]                                  # a compare, and an index by a mask: a sync
    assert dict(count.ops) == {"mm.default": 1, "gt.Scalar": 1, "index.Tensor": 1}
    assert count.syncs == 1


def test_device_only_leaves_out_host_tensors():
    """A GPU engine's host-side tensor work (reading a status copied to pinned memory)
    launches nothing and waits for nobody: with device_only it is not counted. Meta
    tensors stand in for a GPU's here."""
    status, x = torch.zeros(1, dtype=torch.int32), torch.randn(4, 8, device="meta")
    with LaunchCounter(device_only=True) as count:
        int(status[0])                          # host tensor: not a launch, not a sync
        x * 2                                   # a device tensor: one launch
        torch.ones(3, device="meta")            # made on the device: one launch (a fill)
    assert dict(count.ops) == {"mul.Tensor": 1, "ones.default": 1} and count.syncs == 0
    with LaunchCounter() as count:
        int(status[0])                          # a CPU engine stands in for a GPU: counted
    assert count.syncs == 1


def test_rms_norm_counts_as_the_one_kernel_a_gpu_runs():
    x, w = torch.randn(4, 8, dtype=torch.bfloat16), torch.ones(8, dtype=torch.bfloat16)
    with torch.inference_mode(), LaunchCounter() as count:   # as the engine runs its steps
        torch.nn.functional.rms_norm(x, (8,), w, 1e-6)
    assert dict(count.ops) == {"rms_norm.default": 1}


def test_per_step_computes_once_in_a_step_and_every_time_outside():
    calls = []

    def slots(t):
        calls.append(1)
        return t + 1

    t = torch.arange(3)
    set_context(is_prefill=False)
    try:
        assert per_step(slots, t) is per_step(slots, t) and len(calls) == 1
        per_step(slots, torch.arange(3))          # another tensor: computed again
        assert len(calls) == 2
    finally:
        reset_context()
    per_step(slots, t), per_step(slots, t)        # no step: no keeping
    assert len(calls) == 4


def test_a_cached_decode_step_launches_no_more_than_a_recompute(tiny_qwen3_dir):
    counts = {}
    for lesson in (3, 4, 6):
        llm = LLM(tiny_qwen3_dir, **stage_options(lesson, "cpu"))
        counts[lesson] = count_decode_step(llm, prompt_len=24)
        llm.close()
    assert counts[4]["launches_per_step"] <= counts[3]["launches_per_step"], counts
    assert counts[4]["launches_per_layer"] <= counts[3]["launches_per_layer"], counts
    # A layer of a cached step: four norms (one kernel each), four matmuls, RoPE, the
    # cache's store and gather, attention, the MLP's activation; no step's index math.
    assert counts[6]["launches_per_layer"] <= 40, counts
    assert counts[6]["syncs_per_step"] <= 1, counts


def _empty_kernel(x_ptr, BLOCK: tl.constexpr):
    pass


def test_counts_a_triton_launch_and_unwraps_after():
    """A Triton kernel launches without an aten op: counted under its name. On a
    machine without a GPU the launch itself then fails, after the count."""
    kernel = JITFunction(_empty_kernel)   # not the interpreter's: the launch path a GPU takes
    run_before = JITFunction.run
    x = torch.zeros(4)
    with LaunchCounter() as count:
        try:
            kernel[(1,)](x, BLOCK=4)
        except RuntimeError:
            assert not torch.cuda.is_available()
    assert count.ops["triton:_empty_kernel"] == 1
    assert JITFunction.run is run_before
