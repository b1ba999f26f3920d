#!/bin/sh
# Training throughput and peak memory of nmtrain (dense and every method)
# and of PyTorch 1.13 on the same models, batch and threads, in one run.
#   bench/compare_torch.sh [threads] [batch] [models]
set -e
cd "$(dirname "$0")/.."
threads=${1:-2}
batch=${2:-128}
models=${3:-resnet9,resnet18,vgg19}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(date -u +%Y-%m-%d)"
make -s build/bench/bench_train
build/bench/bench_train --threads "$threads" --batch "$batch" --models "$models"
/usr/bin/python3 bench/torch_train.py --threads "$threads" --batch "$batch" --models "$models"
