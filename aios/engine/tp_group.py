"""Tensor parallelism, rank 0's side: start the workers, feed them, stop them.

    rank 0 (this process: the engine)     ranks 1..N-1 (tp_worker.py)
    ---------------------------------     ---------------------------
    spawn the workers  ------------------> make the WORKER_SETUP calls (plug-ins),
                                          report "started"
    join the process group <-------------> join the process group
    build its shard of the model          build theirs (their collectives meet:
                                          KV-cache size, CUDA graph capture)
    every step: schedule, prepare, then
      send the step  --------------------> run the same step
      run the step  <--- all-reduces inside the model meet --->
      sample its slice of the vocabulary  sample theirs; each row's best
        <--- (score, token id) meet --->  (score, id) wins on every rank
      (logprobs, or top-p with no top_k: gather the logits, sample alone,
       and with async scheduling broadcast the tokens --> keep them)
    close(): destroy its CUDA graphs,
      send "exit"  ----------------------> destroy its CUDA graphs,
      leave the group                     leave the group, exit

What can go wrong, and what rank 0 does about it:
- A worker fails to start or dies (an exception, the OOM killer, kill -9):
  a watchdog thread sees its process end and stops the other workers, and
  the engine raises WorkerDiedError naming the rank and the cause. A
  collective still waiting for the dead worker fails as well (gloo: its
  socket closes; NCCL: the watchdog aborts the group), so rank 0 never hangs.
  (An NCCL abort is not over until rank 0 has destroyed its CUDA graphs, so
  no collective may wait on it meanwhile: utils/distributed._collective.)
- Rank 0 fails mid-step (or gets Ctrl-C): the workers may be stuck in a
  collective that rank 0 will never join, so they are killed.
- Rank 0 dies: every worker watches its parent and exits with it.
- The program ends without close(): the engine's finalizer closes the group.
- Leaving the group: NCCL will not destroy a communicator that a live CUDA
  graph has captured (it waits for the graph, forever), so every rank destroys
  its graphs first (`release_graphs`); and the teardown itself is waited for
  a bounded time (utils/distributed.leave_process_group).
"""
import atexit
import multiprocessing
import signal
import threading
from contextlib import contextmanager
from multiprocessing.connection import wait
from typing import Callable

import torch
import torch.distributed as dist

from aios.config import Config
from aios.engine.sequence import Sequence
from aios.engine.tp_channel import StepChannel
from aios.engine.tp_worker import StepSequence, worker_main
from aios.utils.distributed import TIMEOUT, create_store, join_process_group, leave_process_group


# Calls each worker makes before it builds its shard of the model, as (function, args):
# how code outside the engine changes the workers the way it changed this process
# (the course's plug-ins: aios/course/plugin.py). A spawned worker imports each function
# by its module and name, so it must be a module's own, and the args picklable.
WORKER_SETUP: list[tuple[Callable, tuple]] = []


class WorkerDiedError(RuntimeError):
    """A tensor-parallel worker failed; the engine has stopped all its processes."""


def check_tp_shapes(hf_config, tp: int) -> None:
    """Fail before starting anything when the model cannot be split `tp` ways."""
    heads = hf_config.num_attention_heads
    kv_heads = getattr(hf_config, "num_key_value_heads", None) or heads
    inter = hf_config.intermediate_size

    def fits(n: int) -> bool:  # fewer KV heads than ranks: each is replicated
        return heads % n == 0 and inter % n == 0 and (kv_heads % n == 0 or n % kv_heads == 0)

    if not fits(tp):
        sizes = [n for n in range(1, heads + 1) if fits(n)]
        raise ValueError(f"tensor_parallel_size={tp} cannot split this model: it must divide its "
                         f"{heads} attention heads and MLP size {inter}, and divide its {kv_heads} "
                         f"KV heads or be a multiple of them; sizes that fit: {sizes}")


def _channel_bytes(config: Config) -> int:
    """An upper bound on one pickled step: its new tokens and block tables."""
    max_blocks = -(-config.max_model_len // config.block_size)
    ints = config.max_num_batched_tokens + config.max_num_seqs * (max_blocks + 4)
    if not getattr(config, "enable_kv_cache", True):  # every step sends whole sequences
        ints += config.max_num_seqs * config.max_model_len
    return 2**16 + 8 * ints + 64 * config.max_num_seqs  # a pickled int takes at most 5 bytes


class TPWorkers:
    """Ranks 1..N-1, as rank 0 sees them. Constructing it starts them and
    makes this process rank 0 of the group; close() stops everything."""

    def __init__(self, config: Config):
        check_tp_shapes(config.hf_config, config.tensor_parallel_size)
        if dist.is_initialized():
            raise RuntimeError("a tensor-parallel engine is already running in this process; "
                               "close() it before starting another")
        self.config, self.size = config, config.tensor_parallel_size
        self.procs: list[multiprocessing.Process] = []
        self.conns = []                      # worker -> rank 0: "started" or its traceback
        self.dead_rank: int | None = None    # set by the watchdog
        self.failure: str | None = None      # why it died, once known
        self.started: set[int] = set()       # ranks that reported "started"
        self.reports: dict[int, str] = {}    # rank -> the traceback it sent
        self.closed = False
        self._lock = threading.Lock()        # between close() and the watchdog
        self._watchdog: threading.Thread | None = None
        # Rank 0's CUDA graphs, destroyed before it leaves the group (the engine sets it).
        self.release_graphs: Callable[[], None] | None = None
        self._num_threads = torch.get_num_threads()
        if config.device == "cpu":  # the ranks share the cores (the workers do the same)
            torch.set_num_threads(max(1, self._num_threads // self.size))
        ctx = multiprocessing.get_context("spawn")  # fork is unsafe once CUDA is initialised
        self.channel = StepChannel(_channel_bytes(config), self.size - 1, ctx)
        try:
            self.store = create_store(self.size)
            for rank in range(1, self.size):
                self._spawn(ctx, rank)
            self._wait_until_started()
            join_process_group(0, self.size, config.device, store=self.store)
        except BaseException:
            self.close(graceful=False)
            raise
        # Before multiprocessing's own exit handler, which would wait for the workers forever.
        atexit.register(self.close)
        self._stop_watching, self._stop_signal = multiprocessing.Pipe(duplex=False)
        self._watchdog = threading.Thread(target=self._watch, name="aios-tp-watchdog", daemon=True)
        self._watchdog.start()

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    # -------------------------------------------------------------- startup --
    def _spawn(self, ctx, rank: int) -> None:
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=worker_main, name=f"aios-tp-rank{rank}",
                           args=(self.config, rank, self.store.port,
                                 self.channel.reader(rank - 1), sender, list(WORKER_SETUP)))
        proc.start()
        sender.close()  # the worker's end; ours then reads EOF once the worker is gone
        self.procs.append(proc)
        self.conns.append(receiver)

    def _wait_until_started(self) -> None:
        """Wait for every worker's "started", or raise for the first that died."""
        starting = {conn: rank for rank, conn in enumerate(self.conns, start=1)}
        sentinels = {proc.sentinel: rank for rank, proc in enumerate(self.procs, start=1)}
        while starting:
            ready = wait(list(starting) + list(sentinels), timeout=TIMEOUT.total_seconds())
            if not ready:
                raise WorkerDiedError(f"tensor-parallel workers (ranks {sorted(starting.values())}) "
                                      f"did not start within {TIMEOUT.total_seconds():.0f} s")
            for obj in ready:
                if obj in sentinels:
                    raise self._failure(sentinels[obj])
                rank = starting[obj]
                try:
                    kind, text = obj.recv()
                except EOFError:  # it died without a word
                    raise self._failure(rank) from None
                if kind != "started":
                    self.reports[rank] = text
                    raise self._failure(rank)
                self.started.add(starting.pop(obj))

    # ------------------------------------------------------------ each step --
    def send_prefill(self, seqs: list[Sequence], sampling: tuple | None) -> None:
        """Have the workers run this prefill; rank 0 then runs it too. sampling:
        SamplingInputs.message when every rank samples its vocabulary slice, else None."""
        self._check_running()
        self.channel.send("prefill", [StepSequence.of(seq) for seq in seqs], sampling)

    def send_decode(self, message: tuple, pending, sampling: tuple | None) -> None:
        """Have the workers run this decode step, from the rows rank 0 has filled
        (DecodeInputs.message), its pending rows (ModelRunner.pending_rows) and,
        as in send_prefill, the sampling inputs."""
        self._check_running()
        self.channel.send("decode", message, pending, sampling)

    def _check_running(self) -> None:
        if self.dead_rank is not None:
            raise self._failure(self.dead_rank)
        if self.closed:
            raise RuntimeError("the tensor-parallel workers are shut down (after close() or "
                               "an error); create a new engine")

    @contextmanager
    def guard(self):
        """Around rank 0's part of collective work: any failure stops every process.

        A failure mid-step leaves the workers in a collective that rank 0 will
        never join, so the group cannot go on; when a worker's death caused
        it, the error says which and why.
        """
        try:
            yield
        except WorkerDiedError:
            raise
        except BaseException as e:
            if self.closed and self.dead_rank is None:
                raise  # closed before this step: nothing more to explain
            rank = self._find_dead_worker(0 if isinstance(e, KeyboardInterrupt) else 5)
            if rank is None:
                self.close(graceful=False)
                raise
            raise self._failure(rank) from e
        if self.dead_rank is not None:  # NCCL returned from an aborted collective: garbage
            raise self._failure(self.dead_rank)

    def _find_dead_worker(self, timeout_s: float) -> int | None:
        """A worker that has died: gloo may raise before the watchdog has seen it."""
        ready = wait([proc.sentinel for proc in self.procs], timeout=timeout_s)
        with self._lock:
            if self.dead_rank is not None:  # the first to die, not one the watchdog stopped
                return self.dead_rank
        ranks = [rank for rank, proc in enumerate(self.procs, start=1) if proc.sentinel in ready]
        return min(ranks, default=None)

    # ------------------------------------------------------------- watchdog --
    def _watch(self) -> None:
        sentinels = {proc.sentinel: rank for rank, proc in enumerate(self.procs, start=1)}
        ready = wait(list(sentinels) + [self._stop_watching])
        with self._lock:
            if self.closed or self._stop_watching in ready:
                return  # closing: the workers are meant to exit
            self.dead_rank = min(sentinels[s] for s in ready)
            for proc in self.procs:
                proc.terminate()  # signals only: close() reaps them
        if self.config.device == "cuda":
            # NCCL does not notice a dead peer: abort, which unblocks rank 0's collectives.
            # Not waited for: it ends only once rank 0's CUDA graphs are gone (close()).
            leave_process_group(abort=True, wait_s=0)

    # ------------------------------------------------------------- shutdown --
    def _failure(self, rank: int) -> WorkerDiedError:
        """Stop everything, then describe why worker `rank` ended."""
        with self._lock:
            if self.dead_rank is None:  # found by rank 0 before the watchdog saw it
                self.dead_rank = rank
        self.close(graceful=False)
        if self.failure is None:
            self.failure = self._describe_exit(rank)
        return WorkerDiedError(self.failure)

    def _describe_exit(self, rank: int) -> str:
        proc, conn = self.procs[rank - 1], self.conns[rank - 1]
        try:
            while conn.poll():
                kind, text = conn.recv()
                if kind == "error":
                    self.reports[rank] = text
        except (EOFError, OSError):
            pass
        report = self.reports.get(rank)
        what = f"tensor-parallel worker rank {rank} (pid {proc.pid})"
        if report:
            cause = f"failed:\n{report.rstrip()}"
        elif proc.exitcode is not None and proc.exitcode < 0:
            cause = f"was killed by signal {signal.Signals(-proc.exitcode).name}"
        else:
            cause = f"exited unexpectedly with code {proc.exitcode}"
        if rank not in self.started and not report:
            cause += (" before it could start (see its output above). Workers are spawned and "
                      "import the main module: does your script guard its code with "
                      "`if __name__ == \"__main__\":`?")
        return f"{what} {cause}\nThe engine has stopped all its processes."

    def close(self, graceful: bool = True) -> None:
        """Stop the workers and leave the process group. Safe to call twice."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        atexit.unregister(self.close)
        try:
            if self.release_graphs is not None:
                self.release_graphs()  # before anything leaves the group (see the top)
            if self._watchdog is not None:
                self._stop_signal.send_bytes(b"stop")
                self._watchdog.join(timeout=10)
            graceful = graceful and self.dead_rank is None
            if graceful:
                self.channel.send("exit")
            # Start leaving now: should NCCL's teardown need every rank, the workers are at it too.
            leave_process_group(abort=not graceful, wait_s=0)
            for proc in self.procs:
                proc.join(timeout=10 if graceful else 0)
            for proc in self.procs:
                if proc.exitcode is None:  # stuck in a collective, or not graceful
                    proc.kill()
                    proc.join(timeout=10)
            leave_process_group(abort=not graceful)
        finally:
            self.channel.close()
            torch.set_num_threads(self._num_threads)
