# Session 8, call 3 (2x H200): the P2P all-reduce with uniform waits on 16-132 programs alone;
# 8B TP=2 with it (32 programs) vs TP=1 vs TP=2 NCCL; TP tests with it; 14B TP=2 with it.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
left() { echo $(( 560 - ($(date +%s) - T0) )); }
el start
timeout -k 5 90 python benchmarks/all_reduce.py --modes p2p-16,p2p-32,p2p-64,p2p-132 --rows 32,128,256 \
  --json $M/all_reduce.json > $M/all_reduce.log 2>&1; el "allreduce $?"; grep "us (" $M/all_reduce.log; pk
AIOS_TP_ALL_REDUCE=p2p timeout -k 5 110 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 \
  --out $M/tp2-p2p > $M/tp2-p2p.log 2>&1; el "tp2-p2p $?"; pk
timeout -k 5 100 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 1 --profile-batches 256 \
  --out $M/tp1 > $M/tp1.log 2>&1; el "tp1 $?"; pk
timeout -k 5 80 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --profile-batches 256 \
  --out $M/tp2-nccl > $M/tp2-nccl.log 2>&1; el "tp2-nccl $?"; pk
for d in tp2-p2p tp1 tp2-nccl; do for w in nano table; do
  python -c "import json,sys; r=json.load(open('$M/$d/$w-tp${d:2:1}.json'))['results'][0]; print('$d $w', round(r['output_tokens_per_s']))" 2>/dev/null; done; done
t=$(left); [ $t -gt 130 ] && t=130
AIOS_TP_ALL_REDUCE=p2p AIOS_TP_TEST_DEVICE=cuda AIOS_TP_TIMEOUT_S=60 AIOS_TP_TEST_TIMEOUT_S=45 timeout -k 5 $t \
  python -m pytest -v -s -x tests/test_tensor_parallel.py -k "tp2_matches or async or killed" -p no:cacheprovider \
  > $M/tests-p2p.log 2>&1; echo "exit $?" >> $M/tests-p2p.log; el tests-p2p; grep -E "passed|failed|exit" $M/tests-p2p.log | tail -3; pk
t=$(left); [ $t -gt 90 ] && t=90
[ $t -gt 40 ] && { AIOS_TP_ALL_REDUCE=p2p timeout -k 5 $t python benchmarks/tp_scaling.py --model random:Qwen3-14B --tp 2 \
  --profile-batches 256 --out $M/tp2-14b-p2p > $M/tp2-14b-p2p.log 2>&1; el "tp2-14b-p2p $?"; pk; }
