# Session 9, call 2 (2x H200): the TP tests with the P2P all-reduce (now fused with RMSNorm, 64 programs),
# then nano at TP=1 and TP=2 (fused and not) with decode profiles at 64, 128, 256 sequences.
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=$PWD; M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
C=/tmp/clean; mkdir -p $C && tar xf scratch/head.tar -C $C && cd $C
export PYTHONPATH=$C
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
TT="AIOS_TP_TEST_DEVICE=cuda AIOS_TP_TIMEOUT_S=60 AIOS_TP_TEST_TIMEOUT_S=60"
# The whole file: its first TP engine runs P2P, later ones in the process fall back to NCCL.
env $TT AIOS_TP_ALL_REDUCE=p2p timeout -k 5 170 python -m pytest -v -s -x tests/test_tensor_parallel.py > $M/tests-file.log 2>&1
el "tests whole file $?"; grep -E "passed|failed" $M/tests-file.log | tail -2; pk
# One process per test, so that each runs P2P.
for k in "async" "sampling_matches and slices" "logprobs" "killed and inside and True" "killed and between"; do
  n=$(echo "$k" | tr ' ' '_'); env $TT AIOS_TP_ALL_REDUCE=p2p timeout -k 5 60 python -m pytest -v -s -x tests/test_tensor_parallel.py -k "$k" > "$M/tests-p2p-$n.log" 2>&1
  el "p2p test [$k] $?"; grep -E "passed|failed" "$M/tests-p2p-$n.log" | tail -1; pk
done
timeout -k 5 80 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 1 --workloads nano --profile-batches 64,128,256 \
  --out $M/tp1 > $M/tp1.log 2>&1; el "tp1 $?"; pk
for fuse in 1 0; do
  PB=""; [ $fuse = 1 ] && PB=64,128,256
  AIOS_P2P_FUSE=$fuse AIOS_TP_ALL_REDUCE=p2p PYTHONPATH=$R/scratch/trace:$C \
    timeout -k 5 90 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --workloads nano --profile-batches "$PB" \
    --out $M/tp2-fuse$fuse > $M/tp2-fuse$fuse.log 2>&1; el "tp2-fuse$fuse $?"; pk
done
for f in $M/*/nano-tp*.json; do python -c "import json; r=json.load(open('$f'))['results'][0]; print('$f', round(r['output_tokens_per_s']))"; done | tee $M/summary.txt
pk
