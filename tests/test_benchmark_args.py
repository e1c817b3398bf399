"""benchmark.py's workload options: overrides apply, impossible lengths are refused clearly."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark import parse_args, workload_from_args  # noqa: E402


def test_overrides_replace_the_named_workloads_fields():
    w = workload_from_args(parse_args(["--workload", "nano", "--num-seqs", "4", "--max-output-len", "200"]))
    assert (w.name, w.num_seqs, w.min_input_len, w.max_output_len) == ("nano", 4, 100, 200)


def test_top_p_and_top_k_apply_to_every_request():
    w = workload_from_args(parse_args(["--workload", "small", "--top-p", "0.95", "--top-k", "20",
                                       "--temperature", "0.6"]))
    assert (w.top_p, w.top_k, w.temperature) == (0.95, 20, 0.6)
    _, params = w.build(vocab_size=100, max_model_len=512)
    assert {(p.temperature, p.top_p, p.top_k) for p in params} == {(0.6, 0.95, 20)}
    plain = workload_from_args(parse_args(["--workload", "small"]))
    assert {(p.top_p, p.top_k) for p in plain.build(100, 512)[1]} == {(1.0, -1)}


@pytest.mark.parametrize("flags, words", [
    (["--max-output-len", "8"], "output lengths need 1 <= min <= max, got min 16, max 8"),
    (["--min-input-len", "0"], "input lengths need 1 <= min <= max, got min 0"),
    (["--num-seqs", "0"], "num_seqs must be at least 1"),
])
def test_impossible_workloads_stop_with_what_was_wrong(flags, words):
    with pytest.raises(SystemExit) as e:
        workload_from_args(parse_args(["--workload", "small", *flags]))
    assert words in str(e.value)


def test_no_skinny_gemm_turns_the_kernel_off():
    from aios.engine_args import engine_kwargs
    assert engine_kwargs(parse_args([]))["skinny_gemm"] is True
    assert engine_kwargs(parse_args(["--no-skinny-gemm"]))["skinny_gemm"] is False


def test_built_workload_has_the_requested_lengths():
    w = workload_from_args(parse_args(["--workload", "small", "--num-seqs", "5"]))
    prompts, params = w.build(vocab_size=100, max_model_len=512)
    assert len(prompts) == 5
    assert all(16 <= len(p) <= 64 for p in prompts)
    assert all(16 <= sp.max_tokens <= 32 and sp.ignore_eos for sp in params)


def test_compare_hf_runs_the_transformers_baseline_asked_for(tiny_qwen3_dir, tmp_path):
    """One process, same workload: aios, then transformers' static generate, and the ratio."""
    import json

    from benchmark import main
    out = tmp_path / "r.json"
    assert main(["--model", tiny_qwen3_dir, "--device", "cpu", "--workload", "small",
                 "--num-seqs", "3", "--max-output-len", "20", "--compare-hf",
                 "--hf-runs", "static", "--top-p", "0.9", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert (record["workload"]["top_p"], record["workload"]["top_k"]) == (0.9, -1)
    results = record["results"]
    assert [r["engine"] for r in results] == ["aios", "hf generate (batch 32)"]
    # Both count the tokens the workload asked for, so the ratio compares like with like.
    assert results[0]["output_tokens"] == results[1]["output_tokens"]


def test_unknown_hf_run_is_refused(capsys):
    from benchmark import main
    assert main(["--workload", "small", "--hf-runs", "static,beam"]) == 2
    assert "--hf-runs takes static and/or continuous" in capsys.readouterr().err
