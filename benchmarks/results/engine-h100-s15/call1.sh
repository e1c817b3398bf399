#!/usr/bin/env bash
# Session 15, call 1. The GEMMs asking the L2 for their weights before their PDL wait
# (AIOS_SKINNY_PREFETCH=1), with AIOS_PDL=1 (the default) and early; the decode splits
# asking for their first 128 positions the same way (AIOS_DECODE_PREFETCH=128); session 14's second
# form of the fused decode (AIOS_FUSED_DECODE=1, never measured). `table` in two
# interleaved rounds; benchmarks/l2_prefetch.py under both PDL modes; `nano`; greedy
# tokens; the GPU tests of the fused decode and the sampling thresholds; a profile.
# Most important first: a call cut off at its limit keeps the rows done.
set -u
source benchmarks/device_rows.sh
B="python3 benchmark.py --model random:Qwen3-0.6B"
declare -A V=(
  [base]="AIOS_PDL=1 AIOS_SKINNY_PREFETCH=0 AIOS_DECODE_PREFETCH=0 AIOS_FUSED_DECODE=0"
  [pf]="AIOS_PDL=1 AIOS_SKINNY_PREFETCH=1 AIOS_DECODE_PREFETCH=0 AIOS_FUSED_DECODE=0"
  [early-pf]="AIOS_PDL=early AIOS_SKINNY_PREFETCH=1 AIOS_DECODE_PREFETCH=0 AIOS_FUSED_DECODE=0"
  [early-pf-dpf]="AIOS_PDL=early AIOS_SKINNY_PREFETCH=1 AIOS_DECODE_PREFETCH=128 AIOS_FUSED_DECODE=0"
  [pf-dpf]="AIOS_PDL=1 AIOS_SKINNY_PREFETCH=1 AIOS_DECODE_PREFETCH=128 AIOS_FUSED_DECODE=0"
  [early]="AIOS_PDL=early AIOS_SKINNY_PREFETCH=0 AIOS_DECODE_PREFETCH=0 AIOS_FUSED_DECODE=0"
  [fused2]="AIOS_PDL=1 AIOS_SKINNY_PREFETCH=0 AIOS_DECODE_PREFETCH=0 AIOS_FUSED_DECODE=1"
)
row pdl-tests 150 python3 -m pytest -q tests/test_pdl.py tests/test_kernels.py -k "pdl or prefetch"
for round in 1 2; do
  for v in base pf early-pf early-pf-dpf fused2; do
    row table-$v-$round 60 env ${V[$v]} $B --workload table --json $RES/table-$v-$round.json
  done
done
for v in base pf early-pf-dpf; do
  row nano-$v 60 env ${V[$v]} $B --workload nano --json $RES/nano-$v.json
done
row greedy-base 90 env ${V[base]} python3 benchmarks/greedy_tokens.py --out $RES/greedy-base.json
row greedy-pf 90 env ${V[early-pf-dpf]} python3 benchmarks/greedy_tokens.py --out $RES/greedy-pf.json --compare $RES/greedy-base.json
row l2-pdl1 120 env AIOS_PDL=1 python3 benchmarks/l2_prefetch.py --programs 16 --json $RES/l2-pdl1.json
row l2-early 120 env AIOS_PDL=early python3 benchmarks/l2_prefetch.py --programs 16 --json $RES/l2-early.json
for v in early pf-dpf; do
  row table-$v-1 60 env ${V[$v]} $B --workload table --json $RES/table-$v-1.json
done
row gpu-tests 200 python3 -m pytest -q tests/test_fused_decode.py tests/test_kernels.py tests/test_sampling_kernel.py -k "fused or skinny or norm or threshold or top"
row profile-b32 90 env ${V[early-pf-dpf]} python3 benchmarks/profile_step.py --batch 32
