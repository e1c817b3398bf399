"""run_both's turns: two one-at-a-time engines share the host's drift.

An eager decode step is bound by the host, whose speed drifts within a run;
lessons 4 to 6 therefore step both engines in turns (aios/course/stage_run.py).
These check the turns themselves on stand-in engines, and a real pair of
lesson engines on the CPU.
"""
from aios.course import stage_run
from aios.course.stage_run import run_both


class FakeEngine:
    """Stands in for StageEngine: `steps` steps of work, logged as they run."""

    def __init__(self, name, steps, log):
        self.name, self.left, self.log, self.requests = name, steps, log, ["r"]

    def add(self, requests):
        self.log.append((self.name, "add"))

    def run_steps(self, max_steps=None):
        ran = self.left if max_steps is None else min(max_steps, self.left)
        self.left -= ran
        self.log.append((self.name, ran))
        return self.left > 0

    def finish(self):
        return self.name


def test_turns_alternate_who_goes_first_until_both_are_done(monkeypatch):
    monkeypatch.setattr(stage_run, "TURN_STEPS", 2)
    log = []
    runs = run_both(lambda: FakeEngine("this", 5, log), lambda: FakeEngine("before", 3, log),
                    previous_first=False, take_turns=True)
    assert runs == ["this", "before"]
    turns = [entry for entry in log if entry[1] != "add"]
    assert turns == [("this", 2), ("before", 2),      # round 0: this lesson first
                     ("before", 1), ("this", 2),      # round 1: the other first; "before" is done
                     ("this", 1)]
    assert [entry for entry in log if entry[1] == "add"] == [("this", "add"), ("before", "add")]


def test_previous_first_still_returns_this_lesson_first():
    log = []
    runs = run_both(lambda: FakeEngine("this", 1, log), lambda: FakeEngine("before", 1, log),
                    previous_first=True, take_turns=False)
    assert runs == ["this", "before"]
    assert log == [("before", "add"), ("before", 1), ("this", "add"), ("this", 1)]


def test_lesson_engines_taking_turns_give_the_tokens_of_a_run_alone():
    """Stepping two engines in turns changes nothing in what either computes."""
    from aios.course.measure import WORKLOADS
    from aios.course.stage_run import StageEngine, run_stage
    workload = WORKLOADS["tiny"]
    alone = run_stage(5, None, "cpu", workload, {}, "engine")
    this, before = run_both(lambda: StageEngine(5, None, "cpu", workload, {}, "engine"),
                            lambda: StageEngine(4, None, "cpu", workload, {}, "engine"),
                            previous_first=False, take_turns=True)
    assert this.token_ids == alone.token_ids == before.token_ids
    assert this.output_tokens == alone.output_tokens
