#!/usr/bin/env bash
# Session 15, call 2: session 14's second form of the fused
# decode (AIOS_FUSED_DECODE=1) against the default, two more `table` rounds and `nano`; the
# GPU tests of the fused decode (their first GPU run).
set -u
source benchmarks/device_rows.sh
B="python3 benchmark.py --model random:Qwen3-0.6B"
for round in 3 4; do
  row table-base-$round 60 env AIOS_FUSED_DECODE=0 $B --workload table --json $RES/table-base-$round.json
  row table-fused2-$round 60 env AIOS_FUSED_DECODE=1 $B --workload table --json $RES/table-fused2-$round.json
done
row fused-tests 120 python3 -m pytest -q tests/test_fused_decode.py
row nano-fused2 60 env AIOS_FUSED_DECODE=1 $B --workload nano --json $RES/nano-fused2.json
row nano-base-2 60 env AIOS_FUSED_DECODE=0 $B --workload nano --json $RES/nano-base-2.json
row greedy-fused2 90 env AIOS_FUSED_DECODE=1 python3 benchmarks/greedy_tokens.py --out $RES/greedy-fused2.json
row profile-b32 60 env AIOS_FUSED_DECODE=1 python3 benchmarks/profile_step.py --batch 32
