"""The course keeps its promises about itself.

- Every lesson's checks pass on solutions/ and fail on the lessons' TODO stubs,
  each test with the stub's NotImplementedError (so no check is vacuous).
- Every run_lessonN.py runs on the solutions (--tiny) and writes its JSON, and
  stops at a stub with exactly its one line and exit code 1.
- Each solution is the engine's own function (one source of truth).
- lessons/make_table.py turns results into the README table and chart.

The checks and the run scripts run as subprocesses, two at a time. Once you
start a lesson its stubs are gone, and the stub tests of that lesson skip.
"""
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest

from aios.course import load_exercise
from aios.course.exercise import REPO_ROOT, exercise_path
from aios.course.plugin import PLUG_POINTS, _locate, _raw, pieces
from aios.course.stages import LESSONS

EXERCISES = {n: lesson.exercise for n, lesson in LESSONS.items() if lesson.exercise}
ALL_LESSONS = sorted(int(p.name.removeprefix("lesson")) for p in (REPO_ROOT / "lessons").glob("lesson[0-9][0-9]"))
STUB_LINE = re.compile(r"^lesson (\d\d), step \d+: \w+\(\) is yours to write "
                       r"— see lessons/lesson\1/README\.md, or run with --solution$")


def still_stubs(lesson: int) -> bool:
    """Is every exercise function of this lesson still its TODO stub?"""
    text = exercise_path(lesson, EXERCISES[lesson]).read_text()
    return text.count("is yours to write") == len(PLUG_POINTS[lesson])


def _python(args: list[str], solutions: bool = False) -> subprocess.CompletedProcess:
    # One thread each: two runs share the cores, and oversubscribed threads crawl.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AIOS_USE_SOLUTIONS": "1" if solutions else "0"}
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Everything this file runs, run up front, two at a time: {name: CompletedProcess}."""
    out = tmp_path_factory.mktemp("lesson-runs")
    jobs = {
        "checks:solutions": (["-m", "pytest", "-q", "-p", "no:cacheprovider", "lessons",
                              f"--junitxml={out / 'solutions.xml'}"], True),
        "checks:stubs": (["-m", "pytest", "-q", "-p", "no:cacheprovider", "lessons",
                          f"--junitxml={out / 'stubs.xml'}"], False),
    }
    for n in ALL_LESSONS:
        script = f"lessons/lesson{n:02d}/run_lesson{n}.py"
        jobs[f"run:{n}:solution"] = ([script, "--solution", "--tiny", "--json", str(out / f"{n}.json")], False)
        if n in EXERCISES and still_stubs(n):
            jobs[f"run:{n}:stub"] = ([script, "--tiny"], False)
    jobs["run:engine"] = (["lessons/run_engine.py", "--tiny", "--json", str(out / "engine.json")], False)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_python, args, solutions) for name, (args, solutions) in jobs.items()}
    results = {name: f.result() for name, f in futures.items()}
    results["out"] = out
    return results


def _cases(xml_path) -> dict[int, list[ET.Element]]:
    """JUnit test cases by lesson."""
    by_lesson = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        lesson = int(re.search(r"lesson(\d\d)", case.get("classname")).group(1))
        by_lesson.setdefault(lesson, []).append(case)
    return by_lesson


# ---------------------------------------------------------------- layout --
@pytest.mark.parametrize("lesson", ALL_LESSONS)
def test_every_lesson_has_its_files(lesson):
    folder = REPO_ROOT / "lessons" / f"lesson{lesson:02d}"
    for name in ("README.md", f"run_lesson{lesson}.py", "requirements.txt", f"test_lesson{lesson:02d}.py"):
        assert (folder / name).is_file(), f"{folder / name} is missing"
    if lesson in EXERCISES:
        assert exercise_path(lesson, EXERCISES[lesson]).is_file()
        assert exercise_path(lesson, EXERCISES[lesson], solution=True).is_file()


# ---------------------------------------------------------------- checks --
def test_every_check_passes_on_the_solutions(runs):
    result = runs["checks:solutions"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert set(_cases(runs["out"] / "solutions.xml")) == set(ALL_LESSONS)


@pytest.mark.parametrize("lesson", sorted(EXERCISES))
def test_every_check_fails_on_the_stubs(runs, lesson):
    if not still_stubs(lesson):
        pytest.skip(f"lesson {lesson:02d} is under way: its stubs are gone")
    cases = _cases(runs["out"] / "stubs.xml")[lesson]
    for case in cases:
        failure = case.find("failure")
        assert failure is not None, f"{case.get('name')} passes on the stubs: it checks nothing of the exercise"
        assert f"lesson {lesson:02d}, step" in failure.get("message", ""), failure.get("message")


# ----------------------------------------------------------- run scripts --
@pytest.mark.parametrize("lesson", ALL_LESSONS)
def test_run_script_runs_the_solution(runs, lesson):
    result = runs[f"run:{lesson}:solution"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    if lesson == 0:
        return
    data = json.loads((runs["out"] / f"{lesson}.json").read_text())
    for key in ("lesson", "stage", "tok_s", "previous_tok_s", "ratio", "device", "model", "command"):
        assert key in data, key
    assert data["lesson"] == lesson and data["tok_s"] > 0 and "--solution" in data["command"]
    if lesson >= 4:
        # Lesson 15 compares its HTTP throughput with the same engine offline: no previous stage.
        assert data["previous_stage"] == (None if lesson == 15 else lesson - 1) and data["ratio"] > 0


@pytest.mark.parametrize("lesson", sorted(EXERCISES))
def test_run_script_stops_at_a_stub_with_one_line(runs, lesson):
    if not still_stubs(lesson):
        pytest.skip(f"lesson {lesson:02d} is under way: its stubs are gone")
    result = runs[f"run:{lesson}:stub"]
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert STUB_LINE.match(last_line) and last_line.startswith(f"lesson {lesson:02d}"), last_line


# ------------------------------------------------------ one source of truth --
@pytest.mark.parametrize("lesson", sorted(EXERCISES))
def test_each_solution_is_the_engines_own_function(lesson):
    solution = load_exercise(lesson, EXERCISES[lesson], solution=True)
    for target, function in pieces(lesson, solution).items():
        engine = _raw(*_locate(target))
        engine = engine.__func__ if isinstance(engine, staticmethod) else engine
        assert function is engine, f"solutions/lesson{lesson:02d}: {target} is a copy, not the engine's"


# ------------------------------------------------------------- the table --
def test_make_table_writes_the_readme_table_and_chart(runs, tmp_path):
    sys.path.insert(0, str(REPO_ROOT / "lessons"))
    try:
        import make_table
    finally:
        sys.path.pop(0)
    results = tmp_path / "results"
    results.mkdir()
    for n in (3, 6, 13):
        (results / f"lesson{n:02d}.json").write_text((runs["out"] / f"{n}.json").read_text())
    (results / "engine.json").write_text((runs["out"] / "engine.json").read_text())
    gpu = json.loads((runs["out"] / "8.json").read_text()) | {"device": "cuda", "device_name": "GPU X"}
    (results / "lesson08.json").write_text(json.dumps(gpu))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{make_table.START}\nold\n{make_table.END}\nrest\n")
    assert make_table.main(["--results", str(results), "--readme", str(readme),
                            "--chart", str(tmp_path / "progress.png")]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old" not in text
    rows = {int(line.split("|")[1]): line for line in text.splitlines() if re.match(r"\| \d+ \|", line)}
    assert "not yet measured on a GPU; on a CPU:" in rows[3] and "KV held" in rows[6]
    assert rows[5].count("not yet measured") == 1 and "GPU X" in rows[8]
    assert "prefill tokens from the cache" in rows[13] and "time to first token" in rows[13]
    assert f"{gpu['tok_s']:.1f} tok/s" in rows[8] and "not yet" not in rows[8]
    engine = next(line for line in text.splitlines() if line.startswith("| engine |"))
    assert "on a CPU:" in engine and "x lesson 13's engine on the same requests" in engine, engine
    assert "kernel launches a decode step" in rows[3]
    assert (tmp_path / "progress.png").stat().st_size > 0
