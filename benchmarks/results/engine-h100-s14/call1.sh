#!/usr/bin/env bash
# Session 14, call 1 (one H100): the decode layer with its norms and SiLU-and-mul folded
# into the skinny GEMMs (aios/layers/fused_decode.py; AIOS_FUSED_DECODE=0 is session 13's
# default) on `table` (twice each, interleaved) and `nano`; greedy tokens both ways; the
# GPU tests of the kernels it touches; the profile at 32 and 4 sequences with it.
set -u
source benchmarks/device_rows.sh
B="python3 benchmark.py --model random:Qwen3-0.6B"
row gpu-tests 240 python3 -m pytest -q tests/test_fused_decode.py tests/test_pdl.py tests/test_kernels.py -k "fused or skinny or pdl or norm or silu"
row greedy-off 90 env AIOS_FUSED_DECODE=0 python3 benchmarks/greedy_tokens.py --out $RES/greedy-off.json
row greedy-on 90 python3 benchmarks/greedy_tokens.py --out $RES/greedy-on.json --compare $RES/greedy-off.json
for i in 1 2; do
  row table-fused$i 60 $B --workload table --json $RES/table-fused$i.json
  row table-off$i   60 env AIOS_FUSED_DECODE=0 $B --workload table --json $RES/table-off$i.json
done
row nano-fused 60 $B --workload nano --json $RES/nano-fused.json
row nano-off   60 env AIOS_FUSED_DECODE=0 $B --workload nano --json $RES/nano-off.json
row profile-b32 120 python3 benchmarks/profile_step.py --batch 32
row profile-b4  120 python3 benchmarks/profile_step.py --batch 4
