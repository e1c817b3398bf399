#!/usr/bin/env bash
# The GPU measurements, in one call of the device tool (see BENCHMARKS.md).
#
#   bash benchmarks/gpu_suite.sh kernels engine hf     # pick the parts to run
#
# Logs and JSON go to $OUT/results (tarred at the end: the device tool
# returns at most 8 files). Wheels the GPU machine lacks travel in .whl/.
set -u
OUT=${OUT:-/tmp/aios-out}
RES=/tmp/aios-results
mkdir -p "$OUT" "$RES"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
MODEL=${MODEL:-random:Qwen3-0.6B}
pack() { tar czf "$OUT/results.tgz" -C "$RES" .; }   # after every part: a cut-off call keeps the rest
log() { echo "== $* ==" | tee -a "$RES/summary.log"; }
# Every line also goes straight to $OUT/suite.log, so a call that runs out of
# time still brings back what it measured (the tarball is made only at the end).
run() {
  local name=$1; shift; log "$name: $*"
  timeout "${PART_TIMEOUT:-480}" "$@" 2>&1 | tr '\r' '\n' | grep --line-buffered -v '^Generating' \
    | tee "$RES/$name.log" | tee -a "$OUT/suite.log" | tail -25
  pack
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$RES/gpu.txt"
python3 -c "import torch, triton, transformers; print('torch', torch.__version__, 'triton', triton.__version__, 'transformers', transformers.__version__)" | tee -a "$RES/gpu.txt"

for part in "$@"; do
  case $part in
    kernels)
      run kernel_tests python3 -m pytest -q -x tests/test_kernels.py
      run kernel_bench python3 benchmarks/kernels.py --json "$RES/kernels.json" ;;
    pointwise)  # the small kernels only (fused layers), with their correctness checks
      run pointwise_bench python3 benchmarks/kernels.py --only pointwise --json "$RES/pointwise.json" ;;
    profile)    # host phases, the kernel table and a per-batch-size timeline of `table`
      run profile_table python3 benchmarks/profile_step.py --model "$MODEL" --workload table --timeline
      for b in ${PROFILE_BATCHES:-4 32}; do
        run "profile_b$b" python3 benchmarks/profile_step.py --model "$MODEL" --workload table --batch "$b"
      done ;;
    quicktests)
      run quick_tests python3 -m pytest -q -x tests/test_sampling_kernel.py tests/test_kernels.py -k "decode or sampl" ;;
    serve)     # the client spread over 4 processes, so that 128+ streams measure the server
      run serve_bench python3 benchmarks/serve.py --model "$MODEL" --concurrency 1,8,32,128,256 \
        --input-len 256 --output-len 128 --client-processes 4 --json "$RES/serve.json"
      python3 benchmarks/plot_serve.py "$RES/serve.json" -o "$RES/serve.png" ;;
    lessons)   # one part per lesson, so a lesson cut off by the limit loses only itself
      mkdir -p "$RES/lesson-results"
      for n in ${LESSONS:-1 2 3 4 5 6 7 8 9 10 11 12 13 15}; do
        json=$(printf "lessons/results/lesson%02d.json" "$n")
        run "lesson$n" python3 lessons/lesson$(printf %02d "$n")/run_lesson$n.py --solution --device cuda --json "$json"
        cp "$json" "$RES/lesson-results/" 2>/dev/null; pack
      done ;;
    lesson-profile)
      run lesson_profile python3 benchmarks/profile_lesson.py --lessons 3,4,6,8,9,10,11 ;;
    tp1)
      run tp1_check python3 benchmarks/tp_check.py --model "$MODEL" --workload table ;;
    graphs)     # engine rows with CUDA graphs only
      for wl in table nano; do
        run "$wl-triton-graphs" python3 benchmark.py --model "$MODEL" --workload $wl --json "$RES/$wl-triton-graphs.json"
      done ;;
    sync)       # CUDA graphs, async scheduling off: what the overlap buys
      for wl in table nano; do
        run "$wl-triton-graphs-sync" python3 benchmark.py --model "$MODEL" --workload $wl --no-async-scheduling --json "$RES/$wl-triton-graphs-sync.json"
      done ;;
    eager)
      for wl in table nano; do
        run "$wl-triton-eager" python3 benchmark.py --model "$MODEL" --workload $wl --enforce-eager --json "$RES/$wl-triton-eager.json"
      done ;;
    skinny)     # the skinny GEMM: its tests on the GPU, then cuBLAS vs it (< 3 min; prints its CONFIGS)
      run skinny_tests python3 -m pytest -q tests/test_kernels.py -k skinny
      run skinny_bench python3 benchmarks/skinny_gemm.py --json "$RES/skinny_gemm.json"
      cp "$RES/skinny_gemm.json" "$OUT/" 2>/dev/null || true ;;
    fused-merge)  # decode's split merge inside the split kernel (opt-in), its tests, then the engine both ways
      run fused_merge_tests python3 -m pytest -q tests/test_kernels.py -k "fused_merge or decode"
      for wl in table nano; do
        run "$wl-merge-kernel" python3 benchmark.py --model "$MODEL" --workload $wl --json "$RES/$wl-merge-kernel.json"
        run "$wl-fused-merge" env AIOS_DECODE_FUSED_MERGE=1 python3 benchmark.py --model "$MODEL" \
          --workload $wl --json "$RES/$wl-fused-merge.json"
      done ;;
    pdl)        # programmatic dependent launch (the default on Hopper) against AIOS_PDL=0
      for wl in table nano; do
        run "$wl-pdl" python3 benchmark.py --model "$MODEL" --workload $wl --json "$RES/$wl-pdl.json"
        run "$wl-no-pdl" env AIOS_PDL=0 python3 benchmark.py --model "$MODEL" --workload $wl \
          --json "$RES/$wl-no-pdl.json"
      done ;;
    fused-decode)  # the norms folded into the skinny GEMMs (opt-in): tests, chains, the engine both ways
      run fused_decode_tests python3 -m pytest -q tests/test_fused_decode.py
      run fused_decode_bench python3 benchmarks/fused_decode.py --json "$RES/fused_decode.json"
      for wl in table nano; do
        run "$wl-fused-decode" env AIOS_FUSED_DECODE=1 python3 benchmark.py --model "$MODEL" \
          --workload $wl --json "$RES/$wl-fused-decode.json"
        run "$wl-layers" env AIOS_FUSED_DECODE=0 python3 benchmark.py --model "$MODEL" --workload $wl \
          --json "$RES/$wl-layers.json"
      done ;;
    skinny-e2e) # the engine with the skinny GEMM (default) and without it
      for wl in table nano; do
        run "$wl-skinny" python3 benchmark.py --model "$MODEL" --workload $wl --json "$RES/$wl-skinny.json"
        run "$wl-no-skinny" python3 benchmark.py --model "$MODEL" --workload $wl --no-skinny-gemm --json "$RES/$wl-no-skinny.json"
      done ;;
    sampling)   # top-k/top-p: the GPU checks, then throughput per run and the sampler alone
      run sampling_tests python3 -m pytest -q -x tests/test_sampling_kernel.py -k "threshold or sampler"
      run sampling_suite python3 benchmarks/sampling_suite.py --model "$MODEL" --out-dir "$RES/sampling" ;;
    splits)
      run decode_splits python3 benchmarks/decode_splits.py --json "$RES/decode_splits.json" ;;
    gputests)   # the tests that take another path on a GPU
      run gpu_tests python3 -m pytest -q tests/test_async_scheduling.py tests/test_sampling_kernel.py ;;
    engine)
      for wl in table nano; do
        run "$wl-triton-graphs" python3 benchmark.py --model "$MODEL" --workload $wl --json "$RES/$wl-triton-graphs.json"
        run "$wl-triton-eager" python3 benchmark.py --model "$MODEL" --workload $wl --enforce-eager --json "$RES/$wl-triton-eager.json"
      done ;;
    torch)
      run table-torch-eager python3 benchmark.py --model "$MODEL" --workload table --attention-backend torch --json "$RES/table-torch-eager.json" ;;
    flash)      # the flash_attn backend (issue 19): flash-attn from .whl/flash-attn (build.sh
                # unpacks a carried build, else builds it in ~2 min), its GPU tests, the attention
                # kernels side by side, and the engine at block size 256 beside Triton at 256 and 16
      run flash_build bash .whl/flash-attn/build.sh
      export PYTHONPATH=/tmp/flash-attn/src:$PYTHONPATH
      if ! python3 -c "import flash_attn" >> "$OUT/suite.log" 2>&1; then
        log "flash_attn does not import: the flash part stops here"; continue
      fi
      run flash_tests python3 -m pytest -q -rs tests/test_flash_attn_backend.py
      run flash_kernels python3 benchmarks/kernels.py --only attention --json "$RES/kernels-flash.json"
      for wl in ${FLASH_WORKLOADS:-table nano}; do   # the pairs first, the default block size last
        run "$wl-flash-bs256" python3 benchmark.py --model "$MODEL" --workload $wl --attention-backend flash_attn --block-size 256 --json "$RES/$wl-flash-bs256.json"
        run "$wl-triton-bs256" python3 benchmark.py --model "$MODEL" --workload $wl --block-size 256 --json "$RES/$wl-triton-bs256.json"
      done
      for wl in ${FLASH_WORKLOADS:-table nano}; do
        run "$wl-triton-bs16" python3 benchmark.py --model "$MODEL" --workload $wl --json "$RES/$wl-triton-bs16.json"
      done ;;
    hf)
      run table-hf python3 benchmark.py --model "$MODEL" --workload table --compare-hf --hf-runs "${HF_RUNS:-static,continuous}" --json "$RES/table-hf.json" ;;
    hf-nano)
      run nano-hf python3 benchmark.py --model "$MODEL" --workload nano --compare-hf --json "$RES/nano-hf.json" ;;
    *)
      echo "unknown part $part" ;;
  esac
done
pack
cp "$RES/summary.log" "$OUT/" 2>/dev/null || true
