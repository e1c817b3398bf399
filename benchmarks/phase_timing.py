"""Host time per phase of a step: time the functions each phase runs in, for a while.

    totals = collections.defaultdict(float)
    with phase_timers([(Scheduler, "schedule", "schedule"), ...], totals):
        llm.step()                      # totals["schedule"] += seconds spent in schedule()

Each (owner, attribute, label) is wrapped while the block runs (unittest.mock
puts the original back after it); the time spent inside it is added to
totals[label]. Several attributes may share a label.
"""
import time
from contextlib import ExitStack, contextmanager
from unittest import mock


@contextmanager
def phase_timers(phases: list[tuple[object, str, str]], totals: dict):
    def timer(original, label):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                totals[label] += time.perf_counter() - start
        return wrapper

    with ExitStack() as stack:
        for owner, name, label in phases:
            stack.enter_context(mock.patch.object(owner, name, timer(getattr(owner, name), label)))
        yield
