#!/usr/bin/env python3
"""Plots the benchmarks' CSV files (written with --csv) into PNGs, and prints
the whole-model GEMM ratios computed from the per-layer rows.

    python3 scripts/plot_bench.py OUT_DIR [--gemm bench_gemm.csv] [--train bench_train.csv]
                                          [--torch compare_torch.csv]

--gemm  (build/bench/bench_gemm --csv): OUT_DIR/gemm.png, the whole-model
        FW+BW time ratio of every (model, threads, batch) setting against
        OpenBLAS, one panel per N:M, beside the target and the ideal M/N.
--train (build/bench/bench_train --csv): OUT_DIR/train.png, each method's
        training-step speedup over dense (and over dense-lowered) beside its
        ideal.
--torch (bench/compare_torch.py --csv): OUT_DIR/torch.png, images/s and
        peak memory of nmtrain's rows beside PyTorch's.

Uses Debian's python3-matplotlib (reruns itself under /usr/bin/python3 when
the python3 on PATH lacks it)."""
import argparse
import csv
import os
import sys
from collections import OrderedDict

try:
    import matplotlib
except ImportError:  # a python3 ahead of Debian's on PATH
    DEBIAN = "/usr/bin/python3"
    if os.path.exists(DEBIAN) and os.path.realpath(sys.executable) != os.path.realpath(DEBIAN):
        os.execv(DEBIAN, [DEBIAN] + sys.argv)
    sys.exit("plot_bench.py: needs matplotlib (Debian: apt-get install python3-matplotlib)")

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_rows(path, needed):
    """The CSV's rows as dicts; exits with one line naming the file if it
    cannot be read or lacks a column."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in needed if c not in (reader.fieldnames or [])]
            if missing:
                sys.exit("plot_bench.py: %s: no column %s (not a benchmark CSV?)" % (path, ", ".join(missing)))
            rows = list(reader)
    except OSError as e:
        sys.exit("plot_bench.py: %s: %s" % (path, e.strerror))
    if not rows:
        sys.exit("plot_bench.py: %s: no rows" % path)
    return rows


def number(row, column, path):
    try:
        return float(row[column])
    except ValueError:
        sys.exit("plot_bench.py: %s: %s is %r, not a number" % (path, column, row[column]))


def gemm_summary(path):
    """{nm: {(model, threads, batch): (ratio, worst)}}: summed dense time
    over summed sparse time, each shape weighted by its layer count, as
    bench_gemm's summary table; and the worst single GEMM's ratio."""
    rows = read_rows(path, ["model", "layers", "batch", "threads", "dense_ms", "nm", "sparse_ms", "ratio", "ideal",
                            "target"])
    sums = OrderedDict()
    limits = {}
    for r in rows:
        key = (r["model"], int(r["threads"]), int(r["batch"]))
        weight = number(r, "layers", path)
        entry = sums.setdefault(r["nm"], OrderedDict()).setdefault(key, [0.0, 0.0, float("inf")])
        entry[0] += weight * number(r, "dense_ms", path)
        entry[1] += weight * number(r, "sparse_ms", path)
        entry[2] = min(entry[2], number(r, "ratio", path))
        limits[r["nm"]] = (number(r, "target", path), number(r, "ideal", path))
    summary = OrderedDict((nm, OrderedDict((k, (d / s, worst)) for k, (d, s, worst) in by_key.items()))
                          for nm, by_key in sums.items())
    return summary, limits


def plot_gemm(path, out_dir):
    summary, limits = gemm_summary(path)
    print("whole-model FW+BW GEMM time ratio against OpenBLAS (worst single GEMM), from %s" % path)
    fig, axes = plt.subplots(1, len(summary), figsize=(4.2 * len(summary), 4.2), squeeze=False)
    for ax, (nm, by_key) in zip(axes[0], summary.items()):
        target, ideal = limits[nm]
        labels = ["%s\n%dt b%d" % k for k in by_key]
        ratios = [v[0] for v in by_key.values()]
        met = sum(1 for v in ratios if v >= target)
        print("  %s: %s; target %.2fx met on %d of %d" % (
            nm, ", ".join("%s %dt b%d %.2fx (%.2fx)" % (k + v) for k, v in by_key.items()), target, met, len(ratios)))
        colours = ["tab:green" if v >= target else "tab:orange" for v in ratios]
        ax.bar(range(len(ratios)), ratios, color=colours)
        ax.axhline(target, color="tab:red", linestyle="--", label="target %.1fx" % target)
        ax.axhline(ideal, color="gray", linestyle=":", label="ideal %.0fx" % ideal)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=7, rotation=45)
        ax.set(title="N:M %s against OpenBLAS" % nm, ylabel="whole-model GEMM time ratio", ylim=(0, ideal * 1.1))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return save(fig, out_dir, "gemm.png")


def plot_train(path, out_dir):
    rows = read_rows(path, ["model", "method", "nm", "speedup", "ideal"])
    models = list(OrderedDict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.2), squeeze=False)
    for ax, model in zip(axes[0], models):
        mine = [r for r in rows if r["model"] == model and r["speedup"]]
        if not mine:
            sys.exit("plot_bench.py: %s: %s has no speedup column values (dense was not run)" % (path, model))
        labels = ["%s\n%s" % (r["method"], r["nm"]) if r["nm"] else r["method"] for r in mine]
        speedups = [number(r, "speedup", path) for r in mine]
        ideals = [number(r, "ideal", path) for r in mine]
        x = range(len(mine))
        ax.bar(x, speedups, color="tab:blue", label="over dense")
        lowered = [(i, number(r, "vs_lowered", path)) for i, r in enumerate(mine) if r.get("vs_lowered")]
        if lowered:
            ax.scatter([i for i, _ in lowered], [v for _, v in lowered], marker="o", facecolors="none",
                       edgecolors="tab:orange", zorder=3, label="over dense-lowered")
        ax.scatter(x, ideals, marker="_", s=300, color="black", zorder=3,
                   label="ideal (executed MACs; a ceiling over dense-lowered)")
        ax.axhline(1.0, color="gray", linewidth=0.8)
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, fontsize=7, rotation=90)
        ax.set(title="%s: training step against dense" % model, ylabel="speedup", ylim=(0, max(ideals) * 1.35))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return save(fig, out_dir, "train.png")


def plot_torch(path, out_dir):
    rows = read_rows(path, ["model", "method", "nm", "nmtrain_images_per_s", "pytorch_images_per_s",
                            "nmtrain_peak_mb", "pytorch_peak_mb"])
    models = list(OrderedDict.fromkeys(r["model"] for r in rows))
    fig, (speed_ax, memory_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / (1 + max(sum(1 for r in rows if r["model"] == m) for m in models))
    for m, model in enumerate(models):
        mine = [r for r in rows if r["model"] == model]
        bars = [("PyTorch", number(mine[0], "pytorch_images_per_s", path), number(mine[0], "pytorch_peak_mb", path))]
        bars += [("%s %s" % (r["method"], r["nm"]) if r["nm"] else r["method"], number(r, "nmtrain_images_per_s", path),
                  number(r, "nmtrain_peak_mb", path)) for r in mine]
        for b, (label, ips, mb) in enumerate(bars):
            colour = "tab:gray" if b == 0 else "C%d" % b
            speed_ax.bar(m + b * width, ips, width, color=colour, label=label if m == 0 else None)
            memory_ax.bar(m + b * width, mb, width, color=colour, label=label if m == 0 else None)
    for ax, what in ((speed_ax, "images/s"), (memory_ax, "peak RSS (MB)")):
        ax.set_xticks([m + 0.4 - width / 2 for m in range(len(models))])
        ax.set_xticklabels(models)
        ax.set(ylabel=what, title="nmtrain beside PyTorch: %s" % what)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, out_dir, "torch.png")


def save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print("wrote %s" % path)
    return path


def main():
    ap = argparse.ArgumentParser(description="Plots the benchmarks' --csv files.")
    ap.add_argument("out_dir")
    ap.add_argument("--gemm", help="bench_gemm --csv output")
    ap.add_argument("--train", help="bench_train --csv output")
    ap.add_argument("--torch", help="compare_torch.py --csv output")
    a = ap.parse_args()
    if not (a.gemm or a.train or a.torch):
        ap.error("give at least one of --gemm, --train, --torch")
    if not os.path.isdir(a.out_dir):
        sys.exit("plot_bench.py: %s: not a directory" % a.out_dir)
    if a.gemm:
        plot_gemm(a.gemm, a.out_dir)
    if a.train:
        plot_train(a.train, a.out_dir)
    if a.torch:
        plot_torch(a.torch, a.out_dir)


if __name__ == "__main__":
    main()
