"""Find the code under test: the learner's exercise file, or the solution.

    lessons/lesson06/block_manager.py     yours: TODO stubs until you fill them in
    solutions/lesson06/block_manager.py   the completed file (the engine's own functions)

The checks and the run scripts import an exercise only through
`load_exercise`, so one switch moves all of them to the solutions:
AIOS_USE_SOLUTIONS=1 (checks) or --solution (run scripts).
"""
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

# The repository that holds lessons/ and solutions/ (aios is installed editable).
REPO_ROOT = Path(__file__).resolve().parents[2]
# The modules load_file imported, and from which file. An import statement need not
# find them by their names, so another process (a tensor-parallel worker) that wants
# one loads its file again.
LOADED_FILES: dict[str, Path] = {}


def use_solutions() -> bool:
    return os.environ.get("AIOS_USE_SOLUTIONS", "") not in ("", "0")


def exercise_path(lesson: int, module: str, solution: bool = False) -> Path:
    folder = "solutions" if solution else "lessons"
    return REPO_ROOT / folder / f"lesson{lesson:02d}" / f"{module}.py"


def load_exercise(lesson: int, module: str, solution: bool | None = None) -> ModuleType:
    """Import lessons/lessonNN/<module>.py, or solutions/lessonNN/<module>.py.

    solution=None follows AIOS_USE_SOLUTIONS. Each file is imported under its
    own name (e.g. `lessons.lesson06.block_manager`), so two lessons' files of
    the same name never clash.
    """
    if solution is None:
        solution = use_solutions()
    path = exercise_path(lesson, module, solution)
    if not path.is_file():
        raise FileNotFoundError(f"no exercise file {path}")
    name = f"{path.parent.parent.name}.{path.parent.name}.{module}"
    return load_file(name, path)


def load_file(name: str, path: Path) -> ModuleType:
    """Import the Python file at `path` as the module `name`, once per process."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            del sys.modules[name]
            raise
        LOADED_FILES[name] = Path(path)
    return sys.modules[name]
