"""The engine as shipped (default options) on the course workload: the course table's last row.

    python lessons/run_engine.py                 # flags: --tiny, --model PATH, --device cpu|cuda, --json PATH

See aios/course/shipped.py.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from aios.course import shipped  # noqa: E402

if __name__ == "__main__":
    sys.exit(shipped.main())
