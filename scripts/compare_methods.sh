#!/bin/sh
# Trains the default recipe (ResNet9 width 0.25, 3 epochs, Fashion-MNIST)
# with each method at 2:8 and prints a Markdown table of final test accuracy,
# wall time and images/s; runs/compare/<method>/ keeps each run's logs.
#   scripts/compare_methods.sh [methods...]     (default: dense srste bdwp)
set -e
cd "$(dirname "$0")/.."
methods=${*:-dense srste bdwp}
make -s all
echo "| method | N:M | test accuracy | train loss | seconds | images/s | command |"
echo "|---|---|--:|--:|--:|--:|---|"
for m in $methods; do
    cmd="build/nmtrain train --method $m --nm 2:8 --out runs/compare/$m --quiet"
    $cmd > /dev/null
    nm=2:8
    [ "$m" = dense ] && nm=-
    tail -n 1 "runs/compare/$m/log.csv" | awk -F, -v m="$m" -v nm="$nm" -v c="$cmd" \
        '{ printf "| %s | %s | %.2f%% | %.4f | %.0f | %.0f | `%s` |\n", m, nm, 100 * $7, $4, $8, $9, c }'
done
