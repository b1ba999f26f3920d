#!/usr/bin/env python3
"""The PyTorch side of the training benchmark: the same models (same layers
and names, tests/ref/reference.py), batch, input size and optimiser as
build/bench/bench_train, through Debian's python3-torch on the CPU.

    python3 bench/torch_train.py [--models resnet9,resnet18,vgg19,resnet50,vit] [--batch 128] [--reps 5] [--threads 2]

Each model runs in its own process so its peak RSS is its own. Prints
images/s (median of --reps steps after one warm-up) and peak MB."""
import argparse
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(arch, batch, reps, threads):
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "ref"))
    import reference
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    if arch == "resnet50":  # torchvision's (v1.5 blocks) with nmtrain's CIFAR stem: 3x3 stride 1, no max pool
        import torchvision
        model = torchvision.models.resnet50(num_classes=10)
        model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        model.maxpool = torch.nn.Identity()
    else:
        model = reference.build(arch, 3, 10, 1.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    times = []
    for r in range(reps + 1):
        start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if r:
            times.append(time.perf_counter() - start)
    times.sort()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("%s %.3f %.1f" % (arch, batch / times[len(times) // 2], peak_mb))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet9,resnet18,vgg19")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child")
    a = ap.parse_args()
    if a.child:
        child(a.child, a.batch, a.reps, a.threads)
        return
    import torch
    print("PyTorch %s training step, 3x32x32, batch %d, %d threads, median of %d steps"
          % (torch.__version__, a.batch, a.threads, a.reps))
    print("%-9s %10s %9s" % ("model", "images/s", "peak MB"))
    for arch in a.models.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", arch, "--batch", str(a.batch), "--reps",
                              str(a.reps), "--threads", str(a.threads)], capture_output=True, text=True, check=True)
        name, ips, mb = out.stdout.split()
        print("%-9s %10.1f %9.0f" % (name, float(ips), float(mb)))


if __name__ == "__main__":
    main()
