"""Tensor parallelism on the CPU: N processes joined by gloo.

What must hold, whatever the number of ranks:
- greedy outputs equal the single-process ones (the ranks' shards add up to
  the whole model), including with fewer KV heads than ranks (replicated);
- a worker that dies makes the engine raise a clear error, not hang, and no
  process is left behind; neither after close(), the program's exit or Ctrl-C;
- a function plugged in (aios/course/plugin.py) runs in the workers too.

On the CPU (the default) the ranks talk through gloo. On a machine with GPUs,
AIOS_TP_TEST_DEVICE=cuda runs the same checks over NCCL, rank r on cuda:r
(float32 there too, so that greedy choices are not decided by rounding).

No test may hang: each has AIOS_TP_TEST_TIMEOUT_S seconds (default 300), after
which its worker processes are killed (the engine then fails with a clear
error), and 60 s later the whole run stops with every thread's traceback.
"""
import faulthandler
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import save_file

from aios import LLM, SamplingParams
from aios.course.plugin import plugged
from aios.engine.tp_group import WORKER_SETUP, WorkerDiedError
from aios.layers.linear import RowParallelLinear
from aios.utils.loader import CheckpointSlice
from conftest import generate_ids, greedy, random_prompts

DEVICE = os.environ.get("AIOS_TP_TEST_DEVICE", "cpu")
# A small fixed KV cache and few graphs: on a GPU, engines of successive tests
# (and the TP=1 reference beside a TP engine) share the GPUs' memory.
OPTS = dict(device=DEVICE, dtype="float32", num_kv_blocks=256, max_num_seqs=16)


TEST_TIMEOUT_S = float(os.environ.get("AIOS_TP_TEST_TIMEOUT_S", 300))


@pytest.fixture(autouse=True)
def bounded_time(request):
    """Fail a test that runs too long instead of hanging the run (see the top)."""
    def kill_workers():
        print(f"\n{request.node.name} ran past {TEST_TIMEOUT_S:.0f} s (AIOS_TP_TEST_TIMEOUT_S): "
              f"killing its worker processes; where every thread was:", file=sys.__stderr__, flush=True)
        faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)  # past pytest's capture
        for child in psutil.Process().children(recursive=True):
            child.kill()

    timer = threading.Timer(TEST_TIMEOUT_S, kill_workers)
    timer.daemon = True
    timer.start()
    faulthandler.dump_traceback_later(TEST_TIMEOUT_S + 60, exit=True, file=sys.__stderr__)  # last resort
    yield
    timer.cancel()
    faulthandler.cancel_dump_traceback_later()


def needs_ranks(n: int):
    return pytest.mark.skipif(DEVICE == "cuda" and torch.cuda.device_count() < n,
                              reason=f"needs {n} GPUs")


def alive(pid: int) -> bool:
    """Running, not even a zombie (a zombie's parent has not reaped it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pids, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(p) for p in pids)


@pytest.fixture(scope="module")
def one_kv_head_qwen3(tmp_path_factory):
    """A random Qwen3 with 4 query heads and 1 KV head: at TP=2 each rank
    holds 2 query heads and a copy of the KV head."""
    from transformers import Qwen3Config, Qwen3ForCausalLM
    config = Qwen3Config(vocab_size=512, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                         head_dim=16, max_position_embeddings=512, tie_word_embeddings=False,
                         initializer_range=0.2,  # clear winners: greedy is not a coin toss
                         architectures=["Qwen3ForCausalLM"])
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("qwen3-1kv")
    Qwen3ForCausalLM(config).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def odd_vocab_qwen3(tmp_path_factory):
    """A random Qwen3 whose 509 tokens do not split evenly: at TP=2 the last rank's
    slice of the LM head is one token short (its last row is padding)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM
    config = Qwen3Config(vocab_size=509, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         head_dim=16, max_position_embeddings=512, tie_word_embeddings=False,
                         initializer_range=0.2, architectures=["Qwen3ForCausalLM"])
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("qwen3-odd-vocab")
    Qwen3ForCausalLM(config).save_pretrained(path)
    return str(path)


def _prompts():
    # Two share a 40-token prefix: the second generate() reuses its cached blocks.
    shared = random_prompts([40], seed=3)[0]
    return random_prompts([5, 23], seed=4) + [shared + [7, 8], shared + [9]]


# ------------------------------------------------------ same outputs as TP=1 --
@needs_ranks(2)
@pytest.mark.parametrize("model", ["one_kv_head_qwen3", "tiny_qwen2_dir"])
def test_tp2_matches_single_process(model, request):
    """TP=2 == one process: a Qwen3 with 1 KV head (replicated on both ranks),
    and a Qwen2 (q/k/v biases, tied embeddings), with prefix-cache hits."""
    path = request.getfixturevalue(model)
    prompts, params = _prompts(), greedy(24)
    single = LLM(path, **OPTS)
    expected = [generate_ids(single, prompts, params) for _ in range(2)]
    assert single.model_runner.all_reduce is None
    del single
    with LLM(path, tensor_parallel_size=2, **OPTS) as llm:
        pids = llm.workers.pids
        assert all(alive(p) for p in pids)
        # How the ranks meet: gloo on a CPU; on GPUs our P2P all-reduce where the GPUs
        # allow it and it is this process's first TP engine, else NCCL.
        assert llm.model_runner.all_reduce in (("gloo",) if DEVICE == "cpu" else ("p2p", "nccl"))
        got = [generate_ids(llm, prompts, params) for _ in range(2)]
        assert llm.scheduler.block_manager.num_free_blocks == llm.num_kv_blocks
    assert got == expected
    assert not any(alive(p) for p in pids), "close() left a worker running"
    assert not dist.is_initialized()
    llm.close()  # a second close() is harmless
    with pytest.raises(RuntimeError, match="shut down"):
        llm.generate([[1, 2, 3]], greedy(2), use_tqdm=False)


@needs_ranks(2)
def test_tp2_async_scheduling_matches_single_process(one_kv_head_qwen3):
    """Async scheduling under TP: each worker fills a pending row from its own copy of
    rank 0's sampled tokens. 8 requests ending at different steps (so pending rows move
    to other rows), greedy and seeded sampling, prefix-cache hits on the second round."""
    prompts = _prompts() + random_prompts([3, 17, 30, 9], seed=5)
    params = [greedy(8 + 3 * i) if i % 2 else SamplingParams(temperature=0.8, seed=i, max_tokens=20 - i)
              for i in range(len(prompts))]
    single = LLM(one_kv_head_qwen3, **OPTS, async_scheduling=False)
    expected = [generate_ids(single, prompts, params) for _ in range(2)]
    del single
    with LLM(one_kv_head_qwen3, tensor_parallel_size=2, async_scheduling=True, **OPTS) as llm:
        assert llm.model_runner.share_sampled
        got = [generate_ids(llm, prompts, params) for _ in range(2)]
        assert llm.scheduler.block_manager.num_free_blocks == llm.num_kv_blocks
    assert got == expected


@needs_ranks(2)
@pytest.mark.parametrize("model, how", [("one_kv_head_qwen3", "slices"), ("one_kv_head_qwen3", "slices+cuts"),
                                        ("one_kv_head_qwen3", "gather"), ("odd_vocab_qwen3", "slices+cuts")])
def test_tp2_sampling_matches_single_process(model, how, monkeypatch, request):
    """Sampled rows, seed for seed: each rank samples its slice of the vocabulary and the
    ranks keep the best (score, token id), with slices+cuts the top-k / top-p cuts too,
    from every rank's candidates; or rank 0 gathers the logits and samples alone
    (AIOS_TP_SAMPLING=gather; with slices, the steps that have a top-k / top-p row; with
    slices+cuts those with a top-p row without top_k: here the first four). The same
    tokens as one process every way, and with a vocabulary that does not split evenly."""
    one_kv_head_qwen3 = request.getfixturevalue(model)
    monkeypatch.setenv("AIOS_TP_SAMPLING", how)
    prompts = random_prompts([5, 9, 14, 20, 7, 11, 6], seed=6)
    params = [SamplingParams(temperature=1.0, seed=i, max_tokens=16) for i in range(4)]
    params += [SamplingParams(temperature=0.9, top_p=0.8, seed=7, max_tokens=4),
               SamplingParams(temperature=0.7, top_k=20, seed=8, max_tokens=12),
               SamplingParams(temperature=1.0, top_k=20, top_p=0.6, seed=9, max_tokens=16)]
    expected = generate_ids(LLM(one_kv_head_qwen3, **OPTS), prompts, params)
    with LLM(one_kv_head_qwen3, tensor_parallel_size=2, **OPTS) as llm:
        assert llm.model_runner.slice_sampling == (how != "gather")
        assert llm.model_runner.slice_cuts == (how == "slices+cuts")
        assert generate_ids(llm, prompts, params) == expected


@needs_ranks(2)
def test_tp2_logprobs_match_single_process(tiny_qwen2_dir):
    """Prompt logprobs make every rank compute the LM head on all prompt rows
    (and recompute a cached prefix) together; the numbers equal one process's."""
    prompts = _prompts()
    params = greedy(4, logprobs=3, prompt_logprobs=2)

    def run(llm):
        llm.generate(prompts[2:3], greedy(2), use_tqdm=False)   # a prefix for prompts[3] to hit
        outs = llm.generate(prompts, params, use_tqdm=False)
        entries = [e for o in outs for e in o["logprobs"] + o["prompt_logprobs"][1:]]
        return [o["token_ids"] for o in outs], entries

    single_ids, single = run(LLM(tiny_qwen2_dir, **OPTS))
    with LLM(tiny_qwen2_dir, tensor_parallel_size=2, **OPTS) as llm:
        ids, got = run(llm)
    assert ids == single_ids and len(got) == len(single)
    for a, b in zip(got, single):
        assert a.token_id == b.token_id and abs(a.logprob - b.logprob) < 1e-4
        assert [t for t, _ in a.top] == [t for t, _ in b.top]


@needs_ranks(3)
def test_default_model_tp3_matches_single_process():
    """SmolLM2-135M, 8 prompts: 9 query heads and 3 KV heads divide over 3 ranks, not 2
    (TP=2 cannot split the default model: test_unsplittable_model_is_refused...)."""
    prompts = ["The capital of France is", "Write a haiku about the sea.", "1, 2, 3, 4,",
               "def fibonacci(n):", "The opposite of hot is", "Once upon a time, there was",
               "Translate to French: good morning", "The largest planet in the solar system is"]
    expected = generate_ids(LLM(**OPTS), prompts, greedy(16))
    with LLM(tensor_parallel_size=3, **OPTS) as llm:
        assert generate_ids(llm, prompts, greedy(16)) == expected


@needs_ranks(2)
def test_unsplittable_model_is_refused_before_starting(tmp_path):
    """The default model's shapes (9 query heads, 3 KV heads), saved small: the GPU
    machines cannot download the default model itself."""
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(vocab_size=256, hidden_size=72, intermediate_size=1536, num_hidden_layers=1,
                         num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=256)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"9 attention heads.*sizes that fit: \[1, 3\]"):
        LLM(str(tmp_path), tensor_parallel_size=2, **OPTS)
    assert not dist.is_initialized()


# ------------------------------------------------- plug-ins reach the workers --
ROW_FORWARD = "aios.layers.linear.RowParallelLinear.forward"
_ENGINE_ROW_FORWARD = RowParallelLinear.forward


def row_forward_leaving_a_mark(self, x):
    """The engine's own RowParallelLinear.forward, which also marks the process running it.
    A module's own function: a worker imports this file to find it."""
    (Path(os.environ["AIOS_TEST_MARKS"]) / str(os.getpid())).touch()
    return _ENGINE_ROW_FORWARD(self, x)


@needs_ranks(2)
def test_plugged_function_runs_in_the_worker(one_kv_head_qwen3, tmp_path, monkeypatch):
    monkeypatch.setenv("AIOS_TEST_MARKS", str(tmp_path))  # the workers inherit it
    prompts, params = _prompts(), greedy(8)
    expected = generate_ids(LLM(one_kv_head_qwen3, **OPTS), prompts, params)
    for mark in tmp_path.iterdir():  # the one-process engine ran it unplugged: no mark
        raise AssertionError(f"unexpected mark {mark.name}")
    with plugged({ROW_FORWARD: row_forward_leaving_a_mark}):
        with LLM(one_kv_head_qwen3, tensor_parallel_size=2, **OPTS) as llm:
            worker = llm.workers.pids[0]
            got = generate_ids(llm, prompts, params)
    assert not WORKER_SETUP, "leaving plugged() must take its note back"
    marks = {int(mark.name) for mark in tmp_path.iterdir()}
    assert marks == {os.getpid(), worker}, f"marks {marks}: rank 0 is {os.getpid()}, rank 1 {worker}"
    assert got == expected


@needs_ranks(2)
def test_plugged_lambda_stops_the_workers_with_a_reason(one_kv_head_qwen3):
    """A worker cannot find a lambda by name: it says so instead of running the engine's own."""
    with plugged({ROW_FORWARD: lambda self, x: _ENGINE_ROW_FORWARD(self, x)}):
        with pytest.raises(WorkerDiedError, match=r"(?s)rank 1 .* cannot plug in <function .*lambda"):
            LLM(one_kv_head_qwen3, tensor_parallel_size=2, **OPTS)
    assert not dist.is_initialized()


# ------------------------------------------------------------------- leaving --
@needs_ranks(2)
def test_close_destroys_cuda_graphs_before_leaving_the_group(one_kv_head_qwen3, monkeypatch):
    """NCCL waits forever to destroy a communicator that a live CUDA graph captured:
    the engine's close() hung on two GPUs. Rank 0 must drop its graphs first."""
    import aios.engine.tp_group as tp_group
    from aios.engine.model_runner import ModelRunner
    calls = []
    release, leave = ModelRunner.release_cuda_graphs, tp_group.leave_process_group
    monkeypatch.setattr(ModelRunner, "release_cuda_graphs",
                        lambda self: calls.append("release graphs") or release(self))
    monkeypatch.setattr(tp_group, "leave_process_group",
                        lambda *a, **k: calls.append("leave group") or leave(*a, **k))
    with LLM(one_kv_head_qwen3, tensor_parallel_size=2, **OPTS) as llm:
        generate_ids(llm, [[1, 2, 3]], greedy(4))
        assert calls == []
    assert calls[0] == "release graphs" and "leave group" in calls
    assert llm.model_runner.graph_runner is None
    assert not dist.is_initialized()


def test_leaving_the_group_is_bounded(monkeypatch):
    """A teardown that does not end (NCCL waiting on a graph) is given up with a warning."""
    from aios.utils import distributed
    done = threading.Event()
    monkeypatch.setattr(distributed, "_leave", lambda abort: done.wait(10))
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    start = time.monotonic()
    with pytest.warns(RuntimeWarning, match="not torn down within"):
        assert distributed.leave_process_group(wait_s=0.2) is False
    assert time.monotonic() - start < 5
    done.set()
    assert distributed.leave_process_group(wait_s=5) is True  # joins the teardown under way


# ------------------------------------------------------------------ failures --
@needs_ranks(2)
@pytest.mark.parametrize("when, overlap", [("between steps", False), ("inside a step", False),
                                           ("inside a step", True)])
def test_killed_worker_raises_and_leaves_no_process(one_kv_head_qwen3, when, overlap):
    """overlap: async scheduling, where rank 0 has two steps in flight."""
    llm = LLM(one_kv_head_qwen3, tensor_parallel_size=2, async_scheduling=overlap, **OPTS)
    pid = llm.workers.pids[0]
    for prompt in random_prompts([8, 12, 16]):
        llm.add_request(prompt, greedy(200))
    llm.step()
    llm.step()
    if when == "between steps":
        os.kill(pid, signal.SIGKILL)
    else:  # rank 0 then waits in an all-reduce for a peer that is gone
        run_model = llm.model_runner.run_model

        def kill_then_run(*args, **kwargs):
            os.kill(pid, signal.SIGKILL)
            return run_model(*args, **kwargs)
        llm.model_runner.run_model = kill_then_run
    start = time.monotonic()
    with pytest.raises(WorkerDiedError, match=r"rank 1 \(pid \d+\) was killed by signal SIGKILL"):
        while not llm.is_finished():
            llm.step()
    assert time.monotonic() - start < 30
    assert wait_gone([pid], 5)
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="rank 1"):  # it stays shut down
        llm.step()
    llm.close()


@needs_ranks(2)
def test_worker_exception_is_reported(one_kv_head_qwen3):
    """A worker that raises sends its traceback to rank 0 before exiting."""
    llm = LLM(one_kv_head_qwen3, tensor_parallel_size=2, **OPTS)
    pid = llm.workers.pids[0]
    llm.workers.channel.send("no_such_method")  # the worker's HANDLERS lookup fails
    assert wait_gone([pid], 10)
    llm.add_request([1, 2, 3], greedy(100))
    with pytest.raises(WorkerDiedError, match=r"(?s)rank 1 .* failed:.*KeyError: 'no_such_method'"):
        llm.step()


# The engine's program, in a child process: it prints its workers' pids, then
# either returns without close() or generates until it is interrupted.
_PROGRAM = textwrap.dedent("""
    import signal, sys
    from aios import LLM, SamplingParams

    if __name__ == "__main__":
        signal.signal(signal.SIGINT, signal.default_int_handler)  # even if launched ignoring it
        llm = LLM(sys.argv[1], tensor_parallel_size=2, device=sys.argv[3], num_kv_blocks=64,
                  max_num_seqs=4)
        print("PIDS", *llm.workers.pids, flush=True)
        while sys.argv[2] == "ctrl-c":
            llm.generate([[1, 2, 3]] * 4, SamplingParams(max_tokens=50, ignore_eos=True),
                         use_tqdm=False)
""")


@needs_ranks(2)
@pytest.mark.parametrize("how", ["exit without close", "ctrl-c"])
def test_no_worker_outlives_the_program(one_kv_head_qwen3, tmp_path, how):
    script = tmp_path / "engine_program.py"
    script.write_text(_PROGRAM)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, str(script), one_kv_head_qwen3, how.split()[0], DEVICE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PIDS"), proc.stderr.read()
        pids = [int(p) for p in line.split()[1:]]
        if how == "ctrl-c":
            time.sleep(1.0)  # mid-generation
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert wait_gone(pids), f"worker(s) {pids} outlived the program ({how})"


# ------------------------------------------------------------ shard loading --
def test_checkpoint_slice_reads_the_same_values(tmp_path):
    """What a weight_loader narrows lazily equals narrowing the whole tensor."""
    full = torch.randn(10, 6, dtype=torch.bfloat16)
    save_file({"w": full}, tmp_path / "w.safetensors")
    with safe_open(tmp_path / "w.safetensors", framework="pt") as f:
        lazy = CheckpointSlice(f.get_slice("w"), torch.float32)
        assert lazy.shape == full.shape
        assert torch.equal(lazy.narrow(0, 3, 4), full.narrow(0, 3, 4).float())
        assert torch.equal(lazy.narrow(1, 2, 3), full.narrow(1, 2, 3).float())
        assert torch.equal(lazy[8:12], full[8:12].float())  # past the end: cut, like a tensor


# ------------------------------------------------------------- step channel --
def test_step_channel_round_trip_and_overwrite_check():
    import multiprocessing

    import numpy as np
    from aios.engine.tp_channel import SLOTS, StepChannel
    channel = StepChannel(1 << 16, 1, multiprocessing.get_context("spawn"))
    reader = channel.reader(0)
    try:
        channel.send("prefill", [1, 2, 3], True)
        assert reader.recv() == ("prefill", ([1, 2, 3], True))
        for i in range(SLOTS - 1):  # a worker may lag SLOTS - 1 messages behind
            channel.send("decode", np.arange(i + 1, dtype=np.int32))
        for i in range(SLOTS - 1):
            method, (rows,) = reader.recv()
            assert method == "decode" and rows.tolist() == list(range(i + 1))
        for i in range(SLOTS + 1):  # one more: the oldest unread message is overwritten
            channel.send("prefill", [i])
        with pytest.raises(RuntimeError, match=f"expected step message {SLOTS + 1}, "
                                               f"found {2 * SLOTS + 1}"):
            reader.recv()
    finally:
        reader.shm.close()
        channel.close()
    channel.close()  # twice: harmless


# ------------------------------------------------------------ the all-reduce --
def test_all_reduce_choice_is_checked(monkeypatch):
    """AIOS_TP_ALL_REDUCE: auto (the default), p2p or nccl; anything else is an error
    that names the choices. A CPU engine never uses the P2P all-reduce."""
    from aios.utils.p2p import use_p2p_all_reduce
    for choice in (None, "auto", "p2p", "nccl"):
        if choice is None:
            monkeypatch.delenv("AIOS_TP_ALL_REDUCE", raising=False)
        else:
            monkeypatch.setenv("AIOS_TP_ALL_REDUCE", choice)
        assert use_p2p_all_reduce(16, torch.float32, torch.device("cpu")) is False
    monkeypatch.setenv("AIOS_TP_ALL_REDUCE", "symm")
    with pytest.raises(ValueError, match="auto, p2p, nccl"):
        use_p2p_all_reduce(16, torch.float32, torch.device("cpu"))


def test_p2p_is_ruled_out_where_the_link_has_no_atomics(monkeypatch):
    """PCIe peer access mostly carries no atomics, which the P2P kernel's flags are: there
    `auto` stays on NCCL and `p2p` says why. Where the driver cannot be asked (here: no
    GPU), atomics do not rule P2P out."""
    from aios.utils import p2p
    assert p2p.peer_atomics(0, 1) is None
    monkeypatch.setattr(p2p, "get_tp_size", lambda: 2)
    monkeypatch.setattr(torch.cuda, "can_device_access_peer", lambda a, b: True)
    monkeypatch.setattr(p2p, "peer_atomics", lambda a, b: False)
    assert "no atomic operations" in p2p.p2p_supported(torch.device("cuda", 0))
    monkeypatch.setattr(p2p, "peer_atomics", lambda a, b: None)
    assert p2p.p2p_supported(torch.device("cuda", 0)) is None
    monkeypatch.setattr(torch.cuda, "can_device_access_peer", lambda a, b: False)
    assert "cannot read each other's memory" in p2p.p2p_supported(torch.device("cuda", 0))


def test_a_collective_after_an_abort_raises_instead_of_waiting():
    """Once the group is being aborted (a worker died), rank 0's next collective raises at
    once. Under NCCL the abort holds the group's lock until rank 0's CUDA graphs are
    destroyed, which rank 0's main thread does: a collective that waited for the lock
    would wait for ever (BENCHMARKS.md, session 9). A new group starts whole."""
    from aios.utils import distributed
    x = torch.ones(3)
    calls = [lambda: distributed.all_reduce(x), lambda: distributed.broadcast(x),
             lambda: distributed.all_gather([torch.empty(3)], x),
             lambda: distributed.gather(x, [torch.empty(3)])]
    for _ in range(2):
        distributed.join_process_group(0, 1, "cpu", store=distributed.create_store(1))
        try:
            for call in calls:
                call()
            distributed._break_group(wait_s=0)
            for call in calls:
                with pytest.raises(distributed.GroupBrokenError, match="a rank has died"):
                    call()
        finally:
            assert distributed.leave_process_group()
    assert not dist.is_initialized()


def test_p2p_group_name_is_shared_and_rank_0_decides():
    """Rank 0 draws the P2P all-reduce's group name and the other ranks read it from
    the engine's store. When rank 0 cannot use P2P (no peer access, or its process
    set one up for an earlier engine: fresh workers could not match PyTorch's
    per-process rendezvous numbers) it hands out "" and every rank stays on NCCL,
    whatever the others could do."""
    import torch.distributed as dist
    from aios.utils.p2p import p2p_group_name
    first = dist.HashStore()
    name = p2p_group_name(first, rank=0, available=True)
    assert name.startswith("aios-tp-") and p2p_group_name(first, rank=1, available=False) == name
    second = dist.HashStore()
    assert p2p_group_name(second, rank=0, available=False) == ""
    assert p2p_group_name(second, rank=1, available=True) == ""
    assert p2p_group_name(dist.HashStore(), rank=0, available=True) != name


def test_a_p2p_wait_that_gave_up_stops_the_step(monkeypatch):
    """The P2P kernel's wait gives up after AIOS_TP_TIMEOUT_S (status 2), and its sums
    are garbage from then on: the step that reads its tokens raises instead."""
    from types import SimpleNamespace
    from aios.engine.step_output import StepOutput
    from aios.utils import distributed
    status = torch.zeros(1, dtype=torch.int32)
    monkeypatch.setattr(distributed, "fast_all_reduce", SimpleNamespace(status=status))
    assert StepOutput([], False, torch.tensor([5, 7])).token_ids() == [5, 7]
    status.fill_(2)
    with pytest.raises(RuntimeError, match="AIOS_TP_TIMEOUT_S"):
        StepOutput([], False, torch.tensor([5, 7])).token_ids()
