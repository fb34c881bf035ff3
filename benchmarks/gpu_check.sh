#!/usr/bin/env bash
# The checks that need a GPU, as one script: the tests marked with
# torch_geometric.testing.withCUDA run on cuda:0 (CI runs every test on the
# CPU), the exact full-ranking speed of HLR on Yelp2018 for several block
# sizes (benchmarks/dense_scoring.py), and short runs of the main job on
# ml-100k and Yelp2018, every step on the GPU.
#
#     HLR_GRAPH_DATA=../shared/data benchmarks/gpu_check.sh runs/gpu-check
#
# Each step's output goes to OUTDIR/STEP.log and its exit status and wall
# seconds to OUTDIR/summary.txt; a step that fails does not stop the others.
# EPOCHS (default 2) sets the epochs of the Yelp2018 runs, MODELS (default
# "cml hlr") their models.
set -uo pipefail
out=${1:?usage: benchmarks/gpu_check.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
: "${HLR_GRAPH_DATA:?set HLR_GRAPH_DATA to the folder of the data sets}"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}

step() {  # step NAME SECONDS COMMAND...: run COMMAND under a time limit.
  local name=$1 limit=$2 start=$SECONDS status
  shift 2
  echo "# $*" >"$out/$name.log"
  timeout "$limit" "$@" >>"$out/$name.log" 2>&1
  status=$?
  echo "$name: exit $status in $((SECONDS - start)) s" | tee -a "$out/summary.txt"
}

step gpu 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
step tests 90 python -m pytest -q -p no:cacheprovider -k cuda --tb=short -rfs
step scoring 60 python benchmarks/dense_scoring.py --device cuda --users 8820 \
  --blocks 16:4194304 64:16777216 256:67108864 128:134217728 \
  441:134217728 441:268435456
step ml-100k-hlr 60 python examples/train_hlr.py --dataset ml-100k \
  --model hlr --device cuda --clip-ram --no-user-slot --lr 1e-3 --margin 1 \
  --num-memories 5 --epochs 5 --no-progress --output-dir "$out/ml-100k-hlr"
for model in ${MODELS:-cml hlr}; do
  step "yelp-$model" 150 python examples/train_hlr.py --dataset yelp \
    --model "$model" --device cuda --epochs "${EPOCHS:-2}" --no-progress \
    --output-dir "$out/yelp-$model"
done
