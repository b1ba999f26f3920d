#!/usr/bin/python3
"""Plots for the SAT simulator (nmtrain sim).

  sat_plot.py breakdown RUN.csv OUT.png [--top N]
      per-layer cycles, stacked by phase (FW, BW, WG, UPD, GEN) and by
      compute / memory stall / fill-drain; RUN.csv from `nmtrain sim --csv`.
  sat_plot.py sweep SWEEP.csv OUT.png
      a sweep from `nmtrain sim --sweep ... --sweep-csv`: time per iteration
      and speedup over dense against the first swept key, one line per value
      of the second key (if any); points over the VU9P budget are hollow.
"""
import csv
import sys
from collections import OrderedDict

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PHASES = ["FW", "BW", "WG", "UPD", "GEN"]


def die(msg):
    sys.stderr.write("sat_plot.py: %s\n" % msg)
    sys.exit(1)


def read_csv(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        die("%s: %s" % (path, e.strerror))
    if not rows:
        die("%s: no rows" % path)
    return rows


def breakdown(src, out, top):
    rows = read_csv(src)
    need = {"layer", "phase", "cycles", "compute", "stall", "fill"}
    if not need <= set(rows[0]):
        die("%s: not an `nmtrain sim --csv` file (needs %s)" % (src, ", ".join(sorted(need))))
    layers = OrderedDict()
    for r in rows:
        d = layers.setdefault(r["layer"], {p: 0.0 for p in PHASES + ["compute", "stall", "fill"]})
        d[r["phase"]] += float(r["cycles"])
        for k in ("compute", "stall", "fill"):
            d[k] += float(r[k])
    names = [n for n in layers if sum(layers[n][p] for p in PHASES) > 0]
    if top and len(names) > top:
        keep = set(sorted(names, key=lambda n: -sum(layers[n][p] for p in PHASES))[:top])
        names = [n for n in names if n in keep]
    x = range(len(names))
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.28 * len(names) + 2), 8), sharex=True)
    bottom = [0.0] * len(names)
    for p in PHASES:
        v = [layers[n][p] / 1e6 for n in names]
        axes[0].bar(x, v, bottom=bottom, label=p)
        bottom = [b + a for a, b in zip(v, bottom)]
    axes[0].set_ylabel("Mcycles")
    axes[0].set_title("per-layer cycles by phase (%s)" % src)
    axes[0].legend(ncol=5, fontsize=8)
    bottom = [0.0] * len(names)
    for k, label in (("compute", "compute"), ("stall", "memory stall"), ("fill", "fill/drain")):
        v = [layers[n][k] / 1e6 for n in names]
        axes[1].bar(x, v, bottom=bottom, label=label)
        bottom = [b + a for a, b in zip(v, bottom)]
    axes[1].set_ylabel("Mcycles")
    axes[1].set_title("where the time goes")
    axes[1].legend(ncol=3, fontsize=8)
    axes[1].set_xticks(list(x))
    axes[1].set_xticklabels(names, rotation=90, fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def sweep(src, out):
    rows = read_csv(src)
    cols = list(rows[0].keys())
    if "cycles" not in cols:
        die("%s: not a sweep CSV (no cycles column)" % src)
    keys = cols[: cols.index("cycles")]
    if not keys:
        die("%s: no swept keys" % src)
    rows = [r for r in rows if r["cycles"]]
    if not rows:
        die("%s: every point failed" % src)
    k1, k2 = keys[0], (keys[1] if len(keys) > 1 else None)
    groups = OrderedDict()
    for r in rows:
        groups.setdefault(r[k2] if k2 else "", []).append(r)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for g, rs in groups.items():
        rs.sort(key=lambda r: float(r[k1]))
        xs = [float(r[k1]) for r in rs]
        label = "%s=%s" % (k2, g) if k2 else None
        for ax, col, scale in ((axes[0], "seconds", 1e3), (axes[1], "speedup", 1.0)):
            ys = [float(r[col]) * scale for r in rs]
            line, = ax.plot(xs, ys, marker="o", label=label)
            over = [(x, y) for x, y, r in zip(xs, ys, rs) if r["over_budget"] == "1"]
            if over:
                ax.scatter([o[0] for o in over], [o[1] for o in over], facecolors="white",
                           edgecolors=line.get_color(), zorder=3, s=50)
    axes[0].set_ylabel("ms per iteration")
    axes[1].set_ylabel("speedup over dense")
    for ax in axes:
        ax.set_xlabel(k1)
        if len({float(r[k1]) for r in rows}) > 2 and min(float(r[k1]) for r in rows) > 0:
            vals = sorted({float(r[k1]) for r in rows})
            if vals[-1] / vals[0] >= 8:
                ax.set_xscale("log", base=2)
        if k2:
            ax.legend(fontsize=8)
    extra = " (other keys: %s)" % ", ".join(keys[2:]) if len(keys) > 2 else ""
    fig.suptitle("sweep %s%s; hollow: over the VU9P budget" % (src, extra))
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv):
    if len(argv) < 4 or argv[1] not in ("breakdown", "sweep"):
        sys.stderr.write(__doc__)
        return 2
    if argv[1] == "breakdown":
        top = 0
        if len(argv) > 4:
            if argv[4] != "--top" or len(argv) != 6 or not argv[5].isdigit():
                die("usage: breakdown RUN.csv OUT.png [--top N]")
            top = int(argv[5])
        breakdown(argv[2], argv[3], top)
    else:
        sweep(argv[2], argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
