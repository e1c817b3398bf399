# Session 8, call 2 (2x H200): where the P2P all-reduce hangs an 8B TP=2 engine (trace fixed: layers bound all_reduce).
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
eng() {  # name limit extra-env... : an 8B TP=2 engine with P2P, traced
  local name=$1 lim=$2; shift 2
  mkdir -p $M/$name
  env "$@" AIOS_TP_ALL_REDUCE=p2p AIOS_TP_TIMEOUT_S=45 AIOS_TRACE_DIR=$M/$name PYTHONPATH=$PWD/scratch/trace:$PWD \
    timeout -k 5 $lim python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --workloads table \
    --profile-batches "" ${FIXED:-} --out $M/$name > $M/$name/run.log 2>&1
  el "$name exit $?"; grep -h STALL $M/$name/trace-*.log | cut -c1-400; pk
}
eng default 110
if grep -qs STALL $M/default/trace-*.log; then
  FIXED="--num-kv-blocks 20000" eng fixedkv 80 X=1
  eng programs32 80 AIOS_TRACE_PROGRAMS=32
fi
