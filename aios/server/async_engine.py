"""The engine, driven by one background thread, fed from asyncio.

The engine is not thread-safe, and its step() blocks for as long as the
model runs. So one thread, and only that thread, owns it:

    HTTP handlers (asyncio)              engine thread
    -----------------------              -------------
    add(...)   --("add", handle)-->      tokenize, check, engine.add_request
    abort(h)   --("abort", handle)-->    engine.abort: blocks freed at once
                                         loop: engine.step()
    handle.queue  <--call_soon_threadsafe--  new text of each sequence

Commands go in through one thread-safe queue, in order, so an abort can
never overtake the add it cancels. Results come back through the event
loop's call_soon_threadsafe into a per-request asyncio.Queue, once per step
for all sequences together (one wake-up of the loop, not one per token).

When there is no work the thread sleeps on the command queue: an idle server
uses no CPU.
"""
import logging
import queue
import threading
import time

from aios.server import logprobs as lp
from aios.server.handle import Delta, RequestHandle
from aios.server.metrics import ServerMetrics
from aios.server.protocol import APIError

logger = logging.getLogger("aios.server")


class AsyncEngine:
    def __init__(self, engine, max_queue: int = 1024):
        self.engine = engine
        self.max_queue = max_queue
        self.metrics = ServerMetrics()
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._live: dict[int, RequestHandle] = {}     # seq_id -> handle (engine thread)
        self._lock = threading.Lock()                 # guards _accepting
        self._accepting = False
        self._stats = self._read_stats()
        self._thread = threading.Thread(target=self._run, name="aios-engine", daemon=True)
        self.error: str | None = None                 # why the engine thread died

    # ------------------------------------------------ the asyncio side ---
    def start(self) -> None:
        self._accepting = True
        self._thread.start()

    def add(self, handle: RequestHandle) -> RequestHandle:
        """Queue a request; `await handle.accepted` says if the engine took it."""
        with self._lock:
            if not self._accepting:
                why = f"the engine failed: {self.error}" if self.error else "the server is shutting down"
                raise APIError(503, f"Service unavailable: {why}.", code="engine_unavailable",
                               type="server_error")
            self._commands.put(("add", handle))
        return handle

    def abort(self, handle: RequestHandle) -> None:
        """Stop a request and free its KV blocks (a no-op once it is done)."""
        if not handle.done:
            self._commands.put(("abort", handle))

    def stats(self) -> dict:
        return self._stats

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive() and self.error is None

    def shutdown(self, timeout: float = 30.0) -> None:
        """Abort what is still running and stop the engine thread."""
        with self._lock:
            self._accepting = False
            self._commands.put(("stop", None))
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ------------------------------------------------- the engine thread ---
    def _run(self) -> None:
        try:
            while self._handle_commands(block=self.engine.is_finished()):
                if not self.engine.is_finished():
                    seqs, _ = self.engine.step()
                    self._deliver([self._delta(self._live[s.seq_id], s)
                                   for s in seqs if s.seq_id in self._live])
                self._stats = self._read_stats()
            self._finish_all("abort")
        except Exception as e:                     # a bug or an out-of-memory: say so, stop
            logger.exception("the engine thread failed")
            self.error = f"{type(e).__name__}: {e}"
            with self._lock:
                self._accepting = False
            self._finish_all("error")
        self._reject_pending()
        self._stats = self._read_stats()

    def _handle_commands(self, block: bool) -> bool:
        """Apply every queued command; wait for one first if block. False = stop."""
        try:
            command = self._commands.get(block=block)
        except queue.Empty:
            return True
        while True:
            kind, handle = command
            if kind == "stop":
                return False
            if kind == "add":
                self._add(handle)
            elif kind == "abort" and handle.seq is not None and handle.seq.seq_id in self._live:
                self.engine.abort(handle.seq)
                self._deliver([self._delta(handle, handle.seq)])
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return True

    def _add(self, handle: RequestHandle) -> None:
        try:
            if len(self.engine.scheduler.waiting) >= self.max_queue:
                raise APIError(503, f"The server is busy: {self.max_queue} requests are already "
                                    f"waiting (--max-queue). Retry later.",
                               code="queue_full", type="server_error")
            if handle.messages is not None:
                token_ids = self.engine.apply_chat_template(handle.messages)
            else:
                token_ids = self.engine.tokenize(handle.prompt)
            handle.params.max_tokens = self._max_tokens(handle, len(token_ids))
            if handle.echo:
                handle.prompt_text = self._prompt_text(handle.prompt, token_ids)
            handle.seq = self.engine.add_request(token_ids, handle.params, detokenize=True)
        except APIError as e:
            self._resolve(handle, error=e)
        except ValueError as e:                     # the engine's own checks
            self._resolve(handle, error=APIError(400, str(e), self._prompt_param(handle)))
        except Exception as e:                      # e.g. the chat template refused the roles
            # Nothing reached the scheduler yet, so the engine is unharmed.
            self._resolve(handle, error=APIError(
                400, f"Could not build the prompt: {type(e).__name__}: {e}",
                self._prompt_param(handle)))
        else:
            self._live[handle.seq.seq_id] = handle
            self.metrics.prompt_tokens += len(token_ids)
            self._resolve(handle, result=len(token_ids))

    def _max_tokens(self, handle: RequestHandle, num_prompt: int) -> int:
        limit = self.engine.config.max_model_len
        if num_prompt >= limit:
            raise APIError(400, f"This model's maximum context length is {limit} tokens, "
                                f"but the prompt has {num_prompt} tokens. Shorten the prompt.",
                           self._prompt_param(handle), "context_length_exceeded")
        room = limit - num_prompt
        if handle.max_tokens is None:
            # Fill the context, but never ask for more KV cache than exists.
            return max(1, min(room, self.engine.kv_capacity_tokens - num_prompt))
        if handle.max_tokens > room:
            raise APIError(400, f"This model's maximum context length is {limit} tokens. "
                                f"However, you requested {num_prompt + handle.max_tokens} tokens "
                                f"({num_prompt} in the prompt, {handle.max_tokens} for the "
                                f"completion). Reduce the prompt or max_tokens (at most {room}).",
                           "max_tokens", "context_length_exceeded")
        return handle.max_tokens

    def _prompt_text(self, prompt, token_ids: list[int]) -> str:
        if isinstance(prompt, str):
            return prompt
        if self.engine.tokenizer is None:
            return "".join(f"<{t}>" for t in token_ids)
        return self.engine.tokenizer.decode(token_ids)

    @staticmethod
    def _prompt_param(handle: RequestHandle) -> str:
        return "messages" if handle.messages is not None else "prompt"

    def _delta(self, handle: RequestHandle, seq) -> tuple[RequestHandle, Delta]:
        """The text of seq not yet sent (minus the hold-back), and metrics."""
        now = time.perf_counter()
        if seq.is_finished:
            end = len(seq.output_text)
            self._live.pop(seq.seq_id, None)
            self.metrics.request_finished(seq.finish_reason)
            self.metrics.e2e.observe(now - handle.arrival_time)
        else:
            end = len(seq.output_text) - handle.holdback
            if handle.last_token_time is None:
                self.metrics.ttft.observe(now - handle.arrival_time)
            else:
                self.metrics.itl.observe(now - handle.last_token_time)
            handle.last_token_time = now
        text = seq.output_text[handle.num_sent_chars:end]
        handle.num_sent_chars = max(handle.num_sent_chars, end)
        reason = seq.finish_reason if seq.is_finished else None
        return handle, Delta(handle.index, text, seq.num_completion_tokens, reason,
                             *self._new_logprobs(handle, seq))

    def _new_logprobs(self, handle: RequestHandle, seq) -> tuple:
        """(entries of the tokens not sent yet, the prompt's entries once, else None)."""
        tokenizer = self.engine.tokenizer
        new = []
        if seq.logprobs is not None:
            new = lp.entries(tokenizer, seq.logprobs[handle.num_sent_logprobs:])
            handle.num_sent_logprobs = len(seq.logprobs)
        if seq.prompt_logprobs is None or handle.sent_prompt_logprobs:
            return new, None
        handle.sent_prompt_logprobs = True
        return new, lp.prompt_entries(tokenizer, seq.prompt_token_ids, seq.prompt_logprobs)

    def _finish_all(self, reason: str) -> None:
        """Abort every live sequence and tell its client why."""
        deltas = []
        for handle in list(self._live.values()):
            if reason == "abort":
                self.engine.abort(handle.seq)
            self._live.pop(handle.seq.seq_id)
            deltas.append((handle, Delta(handle.index, "", handle.seq.num_completion_tokens,
                                         reason)))
        self._deliver(deltas)

    def _reject_pending(self) -> None:
        """Answer adds that arrived after the loop stopped, so nobody waits forever."""
        error = APIError(503, "Service unavailable: the engine stopped.",
                         code="engine_unavailable", type="server_error")
        while True:
            try:
                kind, handle = self._commands.get_nowait()
            except queue.Empty:
                return
            if kind == "add":
                self._resolve(handle, error=error)

    def _read_stats(self) -> dict:
        scheduler = self.engine.scheduler
        blocks = scheduler.block_manager
        return {"num_running": len(scheduler.running), "num_waiting": len(scheduler.waiting),
                "num_free_blocks": blocks.num_free_blocks, "num_blocks": blocks.num_blocks,
                "num_generated_tokens": self.engine.num_generated_tokens,
                "num_preemptions": scheduler.num_preemptions}

    # ------------------------------------------- crossing back to asyncio ---
    @staticmethod
    def _call_in_loop(loop, fn, *args) -> None:
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:                        # the loop is closed: nobody is listening
            pass

    def _resolve(self, handle: RequestHandle, result=None, error=None) -> None:
        self._call_in_loop(handle.loop, _settle, handle, result, error)

    def _deliver(self, deltas: list[tuple[RequestHandle, Delta]]) -> None:
        by_loop: dict = {}
        for handle, delta in deltas:
            by_loop.setdefault(handle.loop, []).append((handle, delta))
        for loop, batch in by_loop.items():
            self._call_in_loop(loop, _put_all, batch)


# These run in the event loop, never in the engine thread.
def _settle(handle: RequestHandle, result, error) -> None:
    if handle.accepted.done():
        return
    if error is not None:
        handle.accepted.set_exception(error)
    else:
        handle.num_prompt_tokens = result
        handle.accepted.set_result(result)


def _put_all(batch: list[tuple[RequestHandle, Delta]]) -> None:
    for handle, delta in batch:
        if delta.finish_reason is not None:
            handle.done = True
        handle.out.put_nowait(delta)
