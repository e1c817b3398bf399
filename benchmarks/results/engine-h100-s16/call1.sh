#!/usr/bin/env bash
# Session 16, call 1: decode attention's grid inside a CUDA graph. Each (sequence, KV head)
# gets a few programs per SM, each taking every P-th split (AIOS_DECODE_PROGRAMS_PER_SM,
# default 4), against one program a split over the whole block table (=0, the engine before);
# then `table` with kernels left out (benchmarks/ablate.py): what fusing each could buy at most.
set -u
source benchmarks/device_rows.sh
B="python3 benchmark.py --model random:Qwen3-0.6B"
for round in 1 2; do
  row table-base-$round 60 env AIOS_DECODE_PROGRAMS_PER_SM=0 $B --workload table --json $RES/table-base-$round.json
  row table-looped-$round 60 env AIOS_DECODE_PROGRAMS_PER_SM=4 $B --workload table --json $RES/table-looped-$round.json
done
row decode-tests 120 python3 -m pytest -q tests/test_kernels.py -k decode
row greedy-base 90 env AIOS_DECODE_PROGRAMS_PER_SM=0 python3 benchmarks/greedy_tokens.py --out $RES/greedy-base.json
row greedy-looped 90 python3 benchmarks/greedy_tokens.py --out $RES/greedy-looped.json --compare $RES/greedy-base.json
row nano-looped 60 $B --workload nano --json $RES/nano-looped.json
row nano-base 60 env AIOS_DECODE_PROGRAMS_PER_SM=0 $B --workload nano --json $RES/nano-base.json
row decode-grid 120 python3 benchmarks/decode_grid.py --json $RES/decode_grid.json
row table-looped-pdl-early 60 env AIOS_PDL=early $B --workload table --json $RES/table-looped-pdl-early.json
row table-looped-fusedmerge 60 env AIOS_DECODE_FUSED_MERGE=1 $B --workload table --json $RES/table-looped-fusedmerge.json
for skip in merge qk_norm rms_norm silu attention; do
  row table-skip-$skip 60 python3 benchmarks/ablate.py --skip $skip -- --model random:Qwen3-0.6B --workload table --json $RES/table-skip-$skip.json
done
row profile-b32 60 python3 benchmarks/profile_step.py --batch 32
row nano-skip-attention 60 python3 benchmarks/ablate.py --skip attention -- --model random:Qwen3-0.6B --workload nano --json $RES/nano-skip-attention.json
row profile-nano-b128 60 python3 benchmarks/profile_step.py --workload nano --batch 128
row l2-prefetch 60 python3 benchmarks/l2_prefetch.py --json $RES/l2_prefetch.json
