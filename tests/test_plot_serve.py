"""benchmarks/plot_serve.py draws what benchmarks/serve.py --json wrote, and refuses other files."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.plot_serve import main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_draws_the_measured_h100_run(tmp_path):
    out = tmp_path / "serve.png"
    main([str(REPO / "benchmarks/results/serve-h100.json"), "-o", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_file_without_levels_is_refused(tmp_path):
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"lesson": 15}))
    with pytest.raises(SystemExit, match="has no 'results' levels"):
        main([str(bad)])
