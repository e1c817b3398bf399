#!/usr/bin/env bash
# Session 14, call 3: the norms folded into the GEMMs around them without touching the
# GEMM's loop (the GEMM before stores s * g and its tiles' sums of s^2; the GEMM after
# scales its rows by 1 / rms); AIOS_FUSED_DECODE=0 is session 13's default. `table`
# twice each way (interleaved); the GPU tests; benchmarks/fused_decode.py; `nano` once each
# way; greedy tokens both ways; the profile at 32 sequences; benchmarks/l2_prefetch.py.
# Most important first: a call cut off at its limit keeps the rows done (~6 minutes in all).
set -u
source benchmarks/device_rows.sh
B="python3 benchmark.py --model random:Qwen3-0.6B"
for i in 1 2; do
  row table-fused$i 60 env AIOS_FUSED_DECODE=1 $B --workload table --json $RES/table-fused$i.json
  row table-off$i   60 env AIOS_FUSED_DECODE=0 $B --workload table --json $RES/table-off$i.json
done
row gpu-tests 240 python3 -m pytest -q tests/test_fused_decode.py tests/test_pdl.py tests/test_kernels.py tests/test_sampling_kernel.py -k "fused or skinny or pdl or norm or threshold or top"
row fused-bench 150 python3 benchmarks/fused_decode.py --json $RES/fused_decode.json
row nano-fused 60 env AIOS_FUSED_DECODE=1 $B --workload nano --json $RES/nano-fused.json
row nano-off   60 env AIOS_FUSED_DECODE=0 $B --workload nano --json $RES/nano-off.json
row greedy-off 90 env AIOS_FUSED_DECODE=0 python3 benchmarks/greedy_tokens.py --out $RES/greedy-off.json
row greedy-on 90 env AIOS_FUSED_DECODE=1 python3 benchmarks/greedy_tokens.py --out $RES/greedy-on.json --compare $RES/greedy-off.json
row profile-b32 120 env AIOS_FUSED_DECODE=1 python3 benchmarks/profile_step.py --batch 32
row l2-prefetch 120 python3 benchmarks/l2_prefetch.py --json $RES/l2_prefetch.json
