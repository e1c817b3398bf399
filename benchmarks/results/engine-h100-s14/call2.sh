#!/usr/bin/env bash
# Session 14, call 2 (one H100): call 1 measured the fused decode layers 19% slower on
# `table`; where the time goes: the 28 layers' chains (no attention) four ways, and each
# GEMM plain and fused, with a sweep of the fused GEMMs' tiles.
set -u
source benchmarks/device_rows.sh
row fused-bench 420 python3 benchmarks/fused_decode.py --json $RES/fused_decode.json
