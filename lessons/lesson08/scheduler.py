"""Lesson 08: continuous batching, the scheduler. Your exercise.

Every step the scheduler decides who runs: admit waiting requests while
there is room (a prefill), else advance every running one by a token (a
decode); retire the finished; and when the cache runs out of blocks,
preempt the newest to make room. Write the five Scheduler methods below;
README.md ("The exercise") walks through them. While your code runs they
replace the engine's own (aios/engine/scheduler.py), so `self` is the
engine's Scheduler, and inside them call each other by the engine's names
(self._schedule_prefill() and so on): those are yours while your code runs.

    self.waiting, self.running       deques of Sequence, oldest on the left
    self.block_manager               lesson 6's: can_allocate, allocate,
                                     deallocate, can_append, may_append
    self.max_num_seqs                sequences in one step at most
    self.max_num_batched_tokens      prompt tokens in one prefill step at most
    self.static                      True with scheduling="static" (lesson 7)
    self.batch_decoding              (static) the running batch has begun to decode
    self.num_preemptions             a counter, for the benchmarks
    seq.status                       SequenceStatus.WAITING / RUNNING / FINISHED

Check:  python -m pytest lessons/lesson08
Run:    python lessons/lesson08/run_lesson8.py
"""
from aios.engine.sequence import Sequence, SequenceStatus


def schedule(self) -> tuple[list[Sequence], bool]:
    """Step 1. This step's sequences, and whether it is a prefill.

    When nobody is running, set self.batch_decoding = False (a static batch
    forms anew). Prefill first: if self._schedule_prefill() admits anyone, run
    them -> (admitted, True). Otherwise set self.batch_decoding = True and
    -> (self._schedule_decode(), False).
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 08, step 1: schedule() is yours to write "
                              "— see lessons/lesson08/README.md, or run with --solution")


def schedule_prefill(self) -> list[Sequence]:
    """Step 2. Admit: move waiting sequences, oldest first, to running.

    With self.static, admit nobody once self.batch_decoding (lesson 7's
    batches: one forms over as many prefills as it needs, then runs to its end).
    Stop at the first sequence that does not fit: len(self.running) reaches
    self.max_num_seqs, or the prompt tokens admitted so far plus len(seq)
    exceed self.max_num_batched_tokens, or not self.block_manager.can_allocate(seq).
    For each one admitted: allocate its blocks, count len(seq) -
    seq.num_cached_tokens tokens, set its status to RUNNING, append it to
    self.running. -> the admitted sequences.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 08, step 2: schedule_prefill() is yours to write "
                              "— see lessons/lesson08/README.md, or run with --solution")


def schedule_decode(self) -> list[Sequence]:
    """Step 3. Step: one more token for every running sequence, oldest first.

    Take the running sequences from the left, up to self.max_num_seqs. While
    one cannot append (self.block_manager.can_append(seq) is False), preempt
    the newest other running sequence (self._preempt(self.running.pop())); when
    there is none left, preempt this one and stop trying it. A sequence that
    can append gets self.block_manager.may_append(seq) and is scheduled.
    Put the scheduled ones back at the left of self.running, in order.
    -> the scheduled sequences.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 08, step 3: schedule_decode() is yours to write "
                              "— see lessons/lesson08/README.md, or run with --solution")


def preempt(self, seq: Sequence) -> None:
    """Step 4. Make room: free the sequence's blocks and send it back to wait.

    Count it (self.num_preemptions), set it WAITING, deallocate its blocks, and
    put it at the LEFT of self.waiting: it goes first when there is room again
    (and is prefilled again, prompt and generated tokens together).
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 08, step 4: preempt() is yours to write "
                              "— see lessons/lesson08/README.md, or run with --solution")


def finish(self, seq: Sequence, reason: str) -> None:
    """Step 5. Retire a sequence: done, stopped, or aborted.

    Nothing to do if it is finished already. Else set its status to FINISHED
    and seq.finish_reason = reason, deallocate its blocks, and remove it from
    self.running or self.waiting, wherever it is.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 08, step 5: finish() is yours to write "
                              "— see lessons/lesson08/README.md, or run with --solution")
