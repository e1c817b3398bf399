"""benchmark.py's workload options: overrides apply, impossible lengths are refused clearly."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark import parse_args, workload_from_args  # noqa: E402


def test_overrides_replace_the_named_workloads_fields():
    w = workload_from_args(parse_args(["--workload", "nano", "--num-seqs", "4", "--max-output-len", "200"]))
    assert (w.name, w.num_seqs, w.min_input_len, w.max_output_len) == ("nano", 4, 100, 200)


@pytest.mark.parametrize("flags, words", [
    (["--max-output-len", "8"], "output lengths need 1 <= min <= max, got min 16, max 8"),
    (["--min-input-len", "0"], "input lengths need 1 <= min <= max, got min 0"),
    (["--num-seqs", "0"], "num_seqs must be at least 1"),
])
def test_impossible_workloads_stop_with_what_was_wrong(flags, words):
    with pytest.raises(SystemExit) as e:
        workload_from_args(parse_args(["--workload", "small", *flags]))
    assert words in str(e.value)


def test_built_workload_has_the_requested_lengths():
    w = workload_from_args(parse_args(["--workload", "small", "--num-seqs", "5"]))
    prompts, params = w.build(vocab_size=100, max_model_len=512)
    assert len(prompts) == 5
    assert all(16 <= len(p) <= 64 for p in prompts)
    assert all(16 <= sp.max_tokens <= 32 and sp.ignore_eos for sp in params)
