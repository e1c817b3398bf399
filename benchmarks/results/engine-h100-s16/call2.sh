#!/usr/bin/env bash
# Session 16, call 2 (not run: the session's device time was spent): the defaults at HEAD against the engine before this session's decode grid
# (AIOS_DECODE_PROGRAMS_PER_SM=0), interleaved, `table` and `nano`; then the GPU kernel tests.
set -u
source benchmarks/device_rows.sh
B="python3 benchmark.py --model random:Qwen3-0.6B"
for round in 1 2; do
  row table-head-$round 60 $B --workload table --json $RES/table-head-$round.json
  row table-before-$round 60 env AIOS_DECODE_PROGRAMS_PER_SM=0 $B --workload table --json $RES/table-before-$round.json
done
row nano-head 60 $B --workload nano --json $RES/nano-head.json
row nano-before 60 env AIOS_DECODE_PROGRAMS_PER_SM=0 $B --workload nano --json $RES/nano-before.json
row kernel-tests 240 python3 -m pytest -q -x tests/test_kernels.py tests/test_pdl.py tests/test_sampling_kernel.py
