#!/bin/sh
# The Fashion-MNIST ViT recipe of docs/results-vit-fashion-mnist.md: dense and
# BDWP 2:8, seeds 0 and 1, one run after the other; prints each run's final
# test accuracy and wall time (training and every epoch's test pass), then
# plots the curves of the runs OUT_DIR holds into OUT_DIR/curves.png
# (Debian's python3-matplotlib).
#   scripts/vit_recipe.sh [THREADS [OUT_DIR [OPTION...]]]   (default: 2, runs/vit-recipe)
# OPTIONs go to every run after the recipe's own (the last of a repeated one wins).
# SEEDS="1" runs only those seeds (default "0 1").
set -e
cd "$(dirname "$0")/.."
threads=${1:-2}
out=${2:-runs/vit-recipe}
shift $(($# < 2 ? $# : 2))
extra="$*"
vit="--model vit --patch 4 --dim 96 --depth 3 --heads 4 --mlp-dim 192
     --optimizer adamw --lr 2e-3 --wd 0.05 --schedule cosine --warmup 1
     --epochs 28 --batch 128 --crop-pad 1 --hflip 1 --label-smoothing 0.1"
make -s all
for seed in ${SEEDS:-0 1}; do
    for method in dense bdwp; do
        run=$out/$method-seed$seed
        nm=
        [ "$method" = bdwp ] && nm="--nm 2:8"
        set -- build/nmtrain train $vit --method $method $nm --seed $seed --threads "$threads" --out "$run" --quiet $extra
        echo "$*"
        start=$(date +%s)
        "$@" > /dev/null
        end=$(date +%s)
        tail -n 1 "$run/log.csv" | awk -F, -v run="$run" -v s=$((end - start)) \
            '{ printf "%s: test accuracy %.2f%% after %d epochs, wall time %d min %02d s\n", run, 100 * $7, $1, s / 60, s % 60 }'
    done
done
runs=
for run in dense-seed0 bdwp-seed0 dense-seed1 bdwp-seed1; do
    [ -f "$out/$run/log.csv" ] && runs="$runs $out/$run"
done
/usr/bin/python3 scripts/plot_runs.py "$out/curves.png" $runs
echo "curves: $out/curves.png"
