#!/usr/bin/env python3
"""nmtrain beside PyTorch 1.13 (Debian's python3-torch) on the same models,
batch, optimiser, thread count and instruction set, in one invocation.

    python3 bench/compare_torch.py [--models resnet9,resnet18,vgg19 (or vit, resnet50)] [--methods dense,dense-lowered,bdwp:2:8,bdwp+g2:4:2:8]
                                   [--batch 128] [--threads 2] [--isa avx2|avx512] [--rounds 3] [--csv FILE]

--isa caps both sides: nmtrain's OpenBLAS core and N:M path (bench_train
--isa), and oneDNN inside PyTorch (ONEDNN_MAX_CPU_ISA). avx2 is the class
TARGETS.md was written for (Zen 3). Rounds alternate the two programs, model
by model, and each row keeps its fastest round: on a shared VM noise only ever
slows a run down, and alternating spreads a slow spell over both sides.
--csv FILE writes the table's rows to FILE too (scripts/plot_bench.py draws
it)."""
import argparse
import csv
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
ONEDNN_ISA = {"avx2": "AVX2", "avx512": "AVX512_CORE"}


def ours(model, methods, a):
    out = subprocess.run([os.path.join(ROOT, "build", "bench", "bench_train"), "--models", model, "--methods",
                          methods, "--rounds", "1", "--batch", str(a.batch), "--threads", str(a.threads), "--isa",
                          a.isa, "--reps", str(a.reps)], capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 9 and f[0] == model:
            rows[(f[1], f[2])] = (float(f[3]), float(f[7]))
    return out.splitlines()[0], rows


def torch_side(model, a):
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA=ONEDNN_ISA[a.isa], OMP_NUM_THREADS=str(a.threads))
    out = subprocess.run([sys.executable, os.path.join(HERE, "torch_train.py"), "--child", model, "--batch",
                          str(a.batch), "--reps", str(a.reps), "--threads", str(a.threads)],
                         capture_output=True, text=True, check=True, env=env).stdout.split()
    return float(out[1]), float(out[2])


def main():
    try:
        import torch
    except ImportError:  # a python3 ahead of Debian's on PATH: rerun under the one with python3-torch
        debian = "/usr/bin/python3"
        if os.path.exists(debian) and os.path.realpath(sys.executable) != os.path.realpath(debian):
            os.execv(debian, [debian] + sys.argv)
        raise
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet9,resnet18,vgg19")
    ap.add_argument("--methods", default="dense,dense-lowered,bdwp:2:8")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--isa", choices=sorted(ONEDNN_ISA), default="avx2")
    ap.add_argument("--csv", help="also write the rows to this CSV file")
    a = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    subprocess.run(["make", "-s", "-C", ROOT, "build/bench/bench_train"], check=True)
    with open("/proc/cpuinfo") as f:
        cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    best_ours, best_torch, header = {}, {}, ""
    for r in range(a.rounds):
        for model in a.models.split(","):
            header, rows = ours(model, a.methods, a)
            for key, val in rows.items():
                k = (model,) + key
                if k not in best_ours or val[0] > best_ours[k][0]:
                    best_ours[k] = val
            val = torch_side(model, a)
            if model not in best_torch or val[0] > best_torch[model][0]:
                best_torch[model] = val
            print("round %d/%d %s done" % (r + 1, a.rounds, model), file=sys.stderr, flush=True)
    print("machine: %s, %d cores; isa %s on both sides; best of %d alternating rounds" % (cpu, os.cpu_count(), a.isa,
                                                                                           a.rounds))
    print("nmtrain: " + header)
    print("PyTorch %s, oneDNN capped at %s (ONEDNN_MAX_CPU_ISA)" % (torch.__version__, ONEDNN_ISA[a.isa]))
    print("| model | method | N:M | nmtrain images/s | PyTorch images/s | vs PyTorch | nmtrain peak MB | PyTorch peak MB |")
    print("|---|---|---|--:|--:|--:|--:|--:|")
    rows = []
    for (model, method, nm), (ips, mb) in best_ours.items():
        t_ips, t_mb = best_torch[model]
        print("| %s | %s | %s | %.1f | %.1f | %.2fx | %.0f | %.0f |" % (model, method, nm, ips, t_ips, ips / t_ips, mb,
                                                                         t_mb))
        rows.append([model, method, "" if nm == "-" else nm, a.batch, a.threads, a.isa, "%.2f" % ips, "%.2f" % t_ips,
                     "%.4f" % (ips / t_ips), "%.0f" % mb, "%.0f" % t_mb])
    if a.csv:
        write_csv(a.csv, rows)


def write_csv(path, rows):
    """Writes FILE.tmp, then renames it: a reader never sees half a table."""
    temp = path + ".tmp"
    try:
        with open(temp, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["model", "method", "nm", "batch", "threads", "isa", "nmtrain_images_per_s",
                          "pytorch_images_per_s", "vs_pytorch", "nmtrain_peak_mb", "pytorch_peak_mb"])
            out.writerows(rows)
        os.replace(temp, path)
    except OSError as e:
        sys.exit("compare_torch.py: --csv %s: %s" % (path, e.strerror))


if __name__ == "__main__":
    main()
