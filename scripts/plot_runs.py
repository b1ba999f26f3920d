#!/usr/bin/env python3
"""Plots training runs from their log.csv files: test accuracy and train loss
per epoch, one line per run, into a PNG.

    python3 scripts/plot_runs.py OUT.png runs/compare/dense runs/compare/srste runs/compare/bdwp

Uses Debian's python3-matplotlib."""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: plot_runs.py OUT.png RUN_DIR [RUN_DIR...]")
    out, runs = sys.argv[1], sys.argv[2:]
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for run in runs:
        path = os.path.join(run, "log.csv")
        try:
            with open(path) as f:
                rows = list(csv.DictReader(f))
        except OSError as e:
            sys.exit("plot_runs.py: %s: %s" % (path, e.strerror))
        if not rows:
            sys.exit("plot_runs.py: %s: no epochs logged" % path)
        epochs = [int(r["epoch"]) for r in rows]
        label = os.path.basename(os.path.normpath(run))
        acc_ax.plot(epochs, [100 * float(r["test_acc"]) for r in rows], marker="o", label=label)
        loss_ax.plot(epochs, [float(r["train_loss"]) for r in rows], marker="o", label=label)
    acc_ax.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    loss_ax.set(xlabel="epoch", ylabel="train loss (with label smoothing)", title="train loss")
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print("wrote %s" % out)


if __name__ == "__main__":
    main()
