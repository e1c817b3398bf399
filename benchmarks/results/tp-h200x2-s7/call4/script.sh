# Session 7, call 4: where the 8B TP2 engine with the P2P all-reduce hangs (py-spy), the NCCL path at
# this commit, and P2P at 16 seats.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/pyspy .whl/py_spy-*.whl
M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
AIOS_TP_ALL_REDUCE=p2p timeout 75 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --workloads table --profile-batches "" --out $M/p2p > $M/p2p.log 2>&1 &
sleep 55
for pid in $(pgrep -f "tp_scaling|multiprocessing.spawn"); do echo "== $pid $(tr '\0' ' ' < /proc/$pid/cmdline | cut -c1-120)"; /tmp/pyspy/bin/py-spy dump --native --pid $pid 2>&1 | head -60; done > $M/pyspy.txt 2>&1
nvidia-smi >> $M/pyspy.txt
wait; el p2p-8b; pk
AIOS_TP_ALL_REDUCE=p2p timeout 60 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --max-num-seqs 16 --workloads table --profile-batches "" --out $M/p2p16 > $M/p2p16.log 2>&1; el p2p16; pk
AIOS_TP_ALL_REDUCE=nccl timeout 80 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --profile-batches "" --out $M/nccl > $M/nccl.log 2>&1; el nccl; pk
