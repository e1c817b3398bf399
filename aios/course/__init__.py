"""The course's machinery: what lessons/ and solutions/ run on.

    exercise.py       load_exercise(lesson, module): your file, or the solution's
    stages.py         the lessons, their promises, and each lesson's engine options
    plugin.py         plug your functions into the running engine
    measure.py        what every run_lessonN.py does: run, measure, compare
    report.py         the printed table of the runs, and their results for --json
    kernel_checks.py  lessons 9-11: the kernels and CUDA-graph buckets checked on their own
    checks.py         helpers for the lessons' checks (tiny models, engine runs)
"""
from aios.course.exercise import REPO_ROOT, load_exercise

__all__ = ["REPO_ROOT", "load_exercise"]
