"""Lesson 03: the token-by-token loop. Your exercise.

The loop itself is the engine's: LLM.generate() calls step() until every
request is done, and each step runs the model over every sequence it
schedules (with no KV cache yet: over every token of it, again) and samples
one new token per sequence. Then comes your part, the bookkeeping after each
step: append the token, and decide whether the sequence is finished.

    finish_reason()   Scheduler._finish_reason   aios/engine/scheduler.py
    postprocess()     Scheduler.postprocess      aios/engine/scheduler.py

Both are methods: `self` is the engine's Scheduler.

Check:  python -m pytest lessons/lesson03
Run:    python lessons/lesson03/run_lesson3.py
"""
from aios.engine.sequence import Sequence


def finish_reason(self, seq: Sequence, token_id: int) -> str | None:
    """Step 1. Is `seq` finished, now that token_id was appended to it?

    -> "stop"   token_id is an end-of-sequence token (self.eos_token_ids), unless
                seq.sampling_params.ignore_eos; or it is in sampling_params.stop_token_ids
       "length" seq.num_completion_tokens reached sampling_params.max_tokens,
                or len(seq) reached seq.max_len (the context is full)
       None     otherwise: the sequence goes on
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 03, step 1: finish_reason() is yours to write "
                              "— see lessons/lesson03/README.md, or run with --solution")


def postprocess(self, seqs: list[Sequence], token_ids: list[int]) -> None:
    """Step 2. After a step: give each sequence its new token, retire the finished ones.

    For each (seq, token_id): seq.append_token(token_id); if self._finish_reason(seq,
    token_id) gives a reason, self.finish(seq, reason) (it frees the sequence's
    KV blocks and takes it out of the running queue).
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 03, step 2: postprocess() is yours to write "
                              "— see lessons/lesson03/README.md, or run with --solution")
