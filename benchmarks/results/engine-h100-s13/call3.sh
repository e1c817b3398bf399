#!/usr/bin/env bash
# Session 13, call 3 (one H100, ~3 minutes; not run: no machine could be started): the
# final defaults (PDL on, 0.6B's qkv and gate_up on the skinny GEMM) against AIOS_PDL=0,
# one process a row, `nano` and `table` twice each; the PDL and skinny GEMM tests on the GPU.
set -u
source benchmarks/device_rows.sh
B="python3 benchmark.py --model random:Qwen3-0.6B"
for wl in nano table; do
  row $wl-default1 60 $B --workload $wl --json $RES/$wl-default1.json
  row $wl-pdl0     60 env AIOS_PDL=0 $B --workload $wl --json $RES/$wl-pdl0.json
  row $wl-default2 60 $B --workload $wl --json $RES/$wl-default2.json
done
row gpu-tests 120 python3 -m pytest -q tests/test_pdl.py tests/test_kernels.py -k "skinny or pdl"
