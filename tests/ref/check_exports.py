#!/usr/bin/env python3
"""Models leaving nmtrain, checked against real peers (run by `make check`):

PyTorch round trip: for every method (dense, srste, bdwp, sdgp, tnm) a small
ResNet9 is trained for a few steps on a slice of Fashion-MNIST, exported, and
both the checkpoint and the export go through scripts/torch_roundtrip.py. For
the sparse methods the test also requires that the dense weights alone give
different logits, so it would catch PyTorch running the unmasked network.

    python3 tests/ref/check_exports.py build/nmtrain
"""
import gzip
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import reference  # noqa: E402
import torch_roundtrip  # noqa: E402
from safetensors_io import load  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"
METHODS = ("dense", "srste", "bdwp", "sdgp", "tnm")
TRAIN_IMAGES, TEST_IMAGES = 256, 32
failures = []


def check(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def run(*args):
    result = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        sys.exit("%s failed (%d):\n%s" % (" ".join(args), result.returncode, result.stdout))
    return result.stdout


def fashion_slice(out_dir):
    """The first images of Debian's Fashion-MNIST, as IDX files nmtrain reads."""
    for split, count in (("train", TRAIN_IMAGES), ("t10k", TEST_IMAGES)):
        for kind, header, size in (("images-idx3", 16, 784), ("labels-idx1", 8, 1)):
            name = "%s-%s-ubyte.gz" % (split, kind)
            with gzip.open(os.path.join(FASHION, name)) as f:
                data = bytearray(f.read(header + count * size))
            data[4:8] = count.to_bytes(4, "big")
            with gzip.open(os.path.join(out_dir, name), "wb") as f:
                f.write(bytes(data))


def dense_logits(path, x):
    """Logits of the file's weights with no method applied (what the round
    trip ran before it applied the masks)."""
    tensors, meta = load(path)
    import json
    config = json.loads(meta["config"])
    model = reference.build(config["arch"], config["in_c"], config["classes"], config["width"])
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()
                           if not k.startswith("optimizer.") and not k.endswith((".nm_values", ".nm_index"))})
    model.eval()
    with torch.no_grad():
        return model(x)


def torch_roundtrips(nmtrain, tmp, data):
    for method in METHODS:
        out = os.path.join(tmp, method)
        run(nmtrain, "train", "--method", method, "--nm", "2:4", "--width", "0.125", "--epochs", "1",
            "--batch", "32", "--lr", "0.2", "--data-dir", data, "--quiet", "--out", out)
        checkpoint = os.path.join(out, "checkpoint.safetensors")
        export = os.path.join(out, "export.safetensors")
        run(nmtrain, "export", "--checkpoint", checkpoint, "--export", export)
        for path in (checkpoint, export):
            err_in, err_out, shape, _ = torch_roundtrip.roundtrip(path, nmtrain, data, TEST_IMAGES)
            check(err_in <= torch_roundtrip.TOLERANCE and err_out <= torch_roundtrip.TOLERANCE,
                  "%s %s: nmtrain -> PyTorch %.2e, PyTorch -> nmtrain %.2e over %s logits"
                  % (method, os.path.basename(path), err_in, err_out, shape))
        dump = os.path.join(out, "logits.safetensors")
        run(nmtrain, "eval", "--checkpoint", checkpoint, "--data-dir", data, "--batch", str(TEST_IMAGES),
            "--dump-logits", dump)
        tensors, _ = load(dump)
        x, ours = torch.from_numpy(tensors["x"]), torch.from_numpy(tensors["logits"])
        unmasked = (dense_logits(checkpoint, x) - ours).abs().max().item()
        scale = ours.abs().max().item()
        if method in ("srste", "bdwp", "tnm"):
            check(unmasked > 1e-3, "%s: the dense weights alone are %.2e off (logits up to %.2f), so the "
                  "round trip sees the masks" % (method, unmasked, scale))


def main():
    nmtrain = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "nmtrain")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "fashion")
        os.mkdir(data)
        fashion_slice(data)
        torch_roundtrips(nmtrain, tmp, data)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all export checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
