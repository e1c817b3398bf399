# Session 10, call 2 (2x H200): the all-reduce at prefill sizes (NCCL vs the P2P kernel in chunks), the
# rest of the TP test file over NCCL, then nano + table at TP=1 and TP=2 (P2P chunked / not), and with
# the decode split merge inside the split kernel (AIOS_DECODE_FUSED_MERGE=1).
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=$PWD; M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt scratch/s10c2.sh $M/
C=/tmp/clean; mkdir -p $C && tar xf scratch/head.tar -C $C && cd $C
export PYTHONPATH=$C
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
timeout -k 5 110 python benchmarks/all_reduce.py --modes nccl,p2p,p2p-64x16384 --rows 256,2048,16384 \
  --json $M/all_reduce.json > $M/all_reduce.log 2>&1; el "allreduce $?"; grep "us (" $M/all_reduce.log; pk
AIOS_TP_TEST_DEVICE=cuda AIOS_TP_TIMEOUT_S=50 AIOS_TP_TEST_TIMEOUT_S=60 timeout -k 5 90 python -m pytest -v -s --durations=0 \
  tests/test_tensor_parallel.py -k "no_worker or checkpoint or channel or choice or abort or group_name or gave_up" > $M/tests-rest.log 2>&1
el "tests-rest $?"; grep -E "passed|failed" $M/tests-rest.log | tail -1; pk
sc() { timeout -k 5 $1 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp $2 --workloads nano,table --profile-batches "" --out $M/$3 > $M/$3.log 2>&1; el "$3 $?"; pk; }
sc 75 1 tp1
AIOS_TP_ALL_REDUCE=p2p sc 75 2 tp2-p2p-chunked
AIOS_TP_ALL_REDUCE=p2p AIOS_P2P_CHUNKED=0 PYTHONPATH=$R/scratch/trace:$C sc 75 2 tp2-p2p-nochunk
AIOS_DECODE_FUSED_MERGE=1 sc 75 1 tp1-fusedmerge
AIOS_DECODE_FUSED_MERGE=1 AIOS_TP_ALL_REDUCE=p2p sc 75 2 tp2-p2p-chunked-fusedmerge
for f in $M/*/*-tp*.json; do python -c "import json; r=json.load(open('$f'))['results'][0]; print('$f', round(r['output_tokens_per_s']))"; done | tee $M/summary.txt
pk
