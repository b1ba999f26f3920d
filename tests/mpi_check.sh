#!/bin/sh
# Data-parallel training against one process, on the first 480
# Fashion-MNIST images (Debian's dataset-fashion-mnist) at global batch 24,
# with mpirun -np 2 and -np 3 (oversubscribed). Weights, buffers and momenta
# are compared relative to max(1, |one process's value|).
#
# - ViT (no batch norm: 2 blocks of width 32, patch 7, BDWP 2:8, SGD at a
#   constant lr 0.05), 20 steps, tolerance 1e-5. Its layers (LayerNorm,
#   GELU, softmax) are smooth, so the ranks' other summation order of the
#   weight gradients stays at a few fp32 ulp (1.2e-7): measured 1.2e-7 to
#   2.5e-7 at every step of this recipe, at most 1.3e-6 (a momentum that is
#   a cancelling sum) in any ViT setting tried with SGD. 1e-5 (84 ulp) leaves
#   8x margin for other BLAS kernels; a parameter left out of the sum gives
#   0.14 (the class token, before it was summed). In 10 KB buckets (5 a
#   step), as a large model's 1 MB buckets go, started during backward.
# - ResNet9 (width 0.125, BDWP 2:8, --sync-bn, constant lr 0.02), 5 steps,
#   tolerance 1e-5 (measured 1.1e-6), and two runs at 2 ranks bit for bit.
#   Not 20 steps: ReLU's and max pooling's backward are discontinuous, and a
#   pre-activation or pooling window within the ranks' last-bit difference
#   of a tie routes a gradient differently (a 1e-4 jump), which happens in
#   this recipe at step 3 to 15 (docs/data-parallel.md).
# - Resume with another rank count: the ViT 10 steps at 2 ranks, then to 20
#   at 3 ranks and at one process (against one process, 1e-5), and at 2
#   ranks (bit for bit against 20 steps at 2 ranks).
# - Dropout 0.1 on the ViT, 10 steps: 2 and 3 ranks against one process, 1e-5.
# - An image folder with a truncated PNG in its first batches (ViT at
#   16x16, 3 steps): 2 and 3 ranks against one process, 1e-5 (each rank's
#   loss gradient is averaged over the images all ranks kept; over the
#   nominal batch it was 0.27 off).
# - A rank that fails stops the others: a truncated PNG under --strict-data
#   (2 and 3 ranks stop at the step), and rank 0 refusing to overwrite a run
#   (it ends the job from its exit, 10 s later). A batch smaller than the
#   ranks is refused; a rank whose whole share of a batch is unreadable fails.
# Needs nmtrain built with mpicc. About 22 s on the project's 2-core VM.
set -e
NMTRAIN=${NMTRAIN:-build/nmtrain}
dir=$(mktemp -d /tmp/nmt_mpi_XXXXXX)
trap 'rm -rf "$dir"' EXIT
# mpirun refuses root unless told (CI runs as root).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
/usr/bin/python3 - "$dir" <<'PY'
import gzip, sys
src, out = "/usr/share/datasets/fashion-mnist/", sys.argv[1]
def subset(name, count, header, record):
    data = gzip.open(src + name + ".gz").read()
    head = bytearray(data[:header])
    head[4:8] = count.to_bytes(4, "big")
    open(out + "/" + name, "wb").write(bytes(head) + data[header:header + count * record])
subset("train-images-idx3-ubyte", 480, 16, 784)
subset("train-labels-idx1-ubyte", 480, 8, 1)
subset("t10k-images-idx3-ubyte", 48, 16, 784)
subset("t10k-labels-idx1-ubyte", 48, 8, 1)
PY
# An image folder whose first global batches hold a truncated PNG: 2
# classes of random-pixel PNGs of odd sizes (Debian's python3-pil).
/usr/bin/python3 - "$dir/images" <<'PY'
import os, random, sys
from PIL import Image
random.seed(1)
for split, count in (("train", 12), ("val", 3)):
    for label in ("a", "b"):
        os.makedirs("%s/%s/%s" % (sys.argv[1], split, label))
        for i in range(count - ((split, label) == ("train", "a"))):  # 11 + the broken one
            size = (20 + i, 18 + i)
            Image.frombytes("RGB", size, bytes(random.randrange(256) for _ in range(3 * size[0] * size[1]))).save(
                "%s/%s/%s/%d.png" % (sys.argv[1], split, label, i))
whole = open(sys.argv[1] + "/train/a/0.png", "rb").read()
open(sys.argv[1] + "/train/a/broken.png", "wb").write(whole[:60])
PY
vit="train --data fashion-mnist --data-dir $dir --batch 24 --lr 0.05 --schedule constant --threads 1 --quiet --model vit --patch 7 --dim 32 --depth 2 --heads 2 --mlp-dim 64"
resnet="train --data fashion-mnist --data-dir $dir --width 0.125 --batch 24 --max-steps 5 --lr 0.02 --schedule constant --threads 1 --sync-bn --quiet"
ranks() { # ranks K NAME ARGS...: mpirun -np K, output in $dir/NAME
    k=$1 name=$2
    shift 2
    mpirun -np $k --bind-to none "$NMTRAIN" "$@" --out "$dir/$name" > "$dir/$name.log" 2>&1 || { cat "$dir/$name.log"; exit 1; }
    grep -q "data parallel: $k ranks" "$dir/$name.log" || { cat "$dir/$name.log"; exit 1; }
    grep -q "gradient sums: .* a step in [0-9]* buckets" "$dir/$name.log" || { cat "$dir/$name.log"; exit 1; }
}
"$NMTRAIN" $vit --max-steps 20 --out "$dir/vit1" > /dev/null
"$NMTRAIN" $resnet --out "$dir/resnet1" > /dev/null
for k in 2 3; do
    ranks $k vit$k $vit --max-steps 20 --bucket-mb 0.01
    ranks $k resnet$k $resnet
done
ranks 2 again2 $resnet
# Resume under another rank count: 10 steps at 2 ranks, then on to 20 at 3
# ranks, at one process, and at 2 ranks again.
ranks 2 half $vit --max-steps 10 --bucket-mb 0.01
for run in to3 to1 to2; do cp -r "$dir/half" "$dir/$run"; done
ranks 3 to3 $vit --max-steps 20 --resume "$dir/to3/checkpoint.safetensors"
"$NMTRAIN" $vit --max-steps 20 --resume "$dir/to1/checkpoint.safetensors" --out "$dir/to1" > "$dir/to1.log" 2>&1 ||
    { cat "$dir/to1.log"; exit 1; }
ranks 2 to2 $vit --max-steps 20 --bucket-mb 0.01 --resume "$dir/to2/checkpoint.safetensors"
for run in to3 to1 to2; do
    grep -q "final test accuracy" "$dir/$run.log" || { cat "$dir/$run.log"; exit 1; }
done
# An image folder's skipped image: the ranks average over the images kept.
folder="train --data imagefolder --data-dir $dir/images --image-size 16 --batch 8 --lr 0.05 --schedule constant --threads 1 --quiet --model vit --patch 4 --dim 32 --depth 2 --heads 2 --mlp-dim 64 --max-steps 3 --workers 1"
"$NMTRAIN" $folder --out "$dir/folder1" > "$dir/folder1.log" 2>&1 || { cat "$dir/folder1.log"; exit 1; }
for k in 2 3; do
    ranks $k folder$k $folder
done
for run in folder1 folder2 folder3; do
    tail -1 "$dir/$run/log.csv" | grep -q ',1$' || { echo "$run: not 1 skipped image"; cat "$dir/$run/log.csv"; exit 1; }
done
# A rank that fails stops every rank, never leaves them waiting: with
# --strict-data the rank that reads the truncated PNG fails at the first
# step, and the other stops with it; rank 0 refusing an output directory
# that holds a run (before any step) ends the job from its exit. Each must
# exit non-zero well inside the timeout (they hung before).
fails() { # fails K NAME PATTERN ARGS...: mpirun -np K must fail, its output naming PATTERN
    k=$1 name=$2 pattern=$3
    shift 3
    status=0
    timeout 120 mpirun -np $k --bind-to none "$NMTRAIN" "$@" --out "$dir/$name" > "$dir/$name.log" 2>&1 || status=$?
    if [ $status = 0 ] || [ $status = 124 ] || ! grep -q "$pattern" "$dir/$name.log"; then
        echo "mpirun -np $k $*: exit status $status (0: it did not fail; 124: it hung), wanted a failure naming '$pattern'"
        cat "$dir/$name.log"
        exit 1
    fi
}
for k in 2 3; do
    fails $k strict$k "stops with the rank that failed" $folder --strict-data
    grep -q "broken.png: corrupt PNG" "$dir/strict$k.log" || { cat "$dir/strict$k.log"; exit 1; }
done
fails 2 vit1 "already holds a run" $vit --max-steps 1
# A global batch smaller than the ranks leaves a rank with no images: refused
# (it trained no step and logged NaN before). A rank whose whole share of a
# batch is unreadable (batch 2 over 2 ranks: the broken PNG is a share) fails
# with the file (before, it passed over the batch alone, one batch ahead of
# the other rank from then on).
fails 3 small "batch 2 is smaller than the 3 ranks" $vit --batch 2 --max-steps 1
fails 2 share "broken.png: every image of this rank's share of batch" $folder --batch 2 --max-steps 0
# --grad-nm: one step of the ViT, bdwp 2:8 with dY pruned 2:4. The ranks
# draw with the global batch's column counters, so they prune as one process
# pruning the whole batch. Not more steps: once the weights differ in their
# last bit a pair whose u (|a| + |b|) lies within an ulp of |a| can flip (seen
# at step 2 on one row of qkv), which moves that row by the pair's size.
gradnm="$vit --max-steps 1 --method bdwp --nm 2:8 --grad-nm 2:4"
"$NMTRAIN" $gradnm --out "$dir/gradnm1" > /dev/null
ranks 2 gradnm2 $gradnm
ranks 3 gradnm3 $gradnm
# Dropout: each sample's masks are drawn by its place in the global batch,
# so the ranks drop what one process drops (10 ViT steps at --dropout 0.1).
drop="$vit --max-steps 10 --dropout 0.1"
"$NMTRAIN" $drop --out "$dir/drop1" > /dev/null
ranks 2 drop2 $drop
ranks 3 drop3 $drop
cd tests/ref
compare() { /usr/bin/python3 compare_checkpoints.py "$dir/$1/checkpoint.safetensors" "$dir/$2/checkpoint.safetensors" "$3" $4; }
compare vit1 vit2 1e-5
compare vit1 vit3 1e-5
compare resnet1 resnet2 1e-5
compare resnet1 resnet3 1e-5
compare resnet2 again2 0 --exact
compare vit1 to3 1e-5
compare vit1 to1 1e-5
compare vit2 to2 0 --exact
compare folder1 folder2 1e-5
compare folder1 folder3 1e-5
compare gradnm1 gradnm2 1e-6
compare gradnm1 gradnm3 1e-6
compare drop1 drop2 1e-5
compare drop1 drop3 1e-5
echo "mpi-check: 2 and 3 ranks match one process after 20 ViT steps, 5 ResNet9 (sync-bn) steps and one --grad-nm step; 2 ranks repeat bit for bit;"
echo "  10 steps at 2 ranks resume at 3 ranks and at one process to match one process, and at 2 ranks bit for bit;"
echo "  with a skipped image, and with dropout (10 ViT steps), 2 and 3 ranks match one process;"
echo "  a rank's failure (--strict-data at 2 and 3 ranks, rank 0 refusing a run's directory, a share with no readable image) ends every rank; a batch smaller than the ranks is refused"
