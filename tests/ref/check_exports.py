#!/usr/bin/env python3
"""Models leaving nmtrain, checked against real peers (run by `make check`):

PyTorch round trip: for every method (dense, srste, bdwp, sdgp, tnm) a small
ResNet9 is trained for a few steps on a slice of Fashion-MNIST, exported, and
both the checkpoint and the export go through scripts/torch_roundtrip.py. For
the sparse methods the test also requires that the dense weights alone give
different logits, so it would catch PyTorch running the unmasked network.

ONNX: the same checkpoints, ResNet18, ResNet50 (ImageNet stem) and VGG19
trained with bdwp 2:8 on generated CIFAR-10-format files, and small ViTs
(dense, bdwp 2:4, tnm 2:8) trained a few steps on the Fashion-MNIST slice,
are exported with
`--format onnx`; Debian's onnx checker (full check, with shape inference)
must accept each model, its initializers must equal the safetensors export's
weights, and tests/ref/onnx_run.py must reproduce `nmtrain eval`'s logits of
the first test images within 1e-4. The 2:4 semi-structured side file is
decoded and compared with the float16 masked weights, and re-encoded by an
independent numpy version of PyTorch's CUTLASS conversion. The ViTs'
initializers also load by name into tests/ref/reference.py's timm-layout
ViT, whose PyTorch logits must match the ONNX runtime's, and the sparse
ViTs' block linear weights must hold the N:M pattern.

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
import onnx  # noqa: E402
import onnx_run  # noqa: E402
import reference  # noqa: E402
import semi_structured  # noqa: E402
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


def cifar_like(out_dir):
    """CIFAR-10-format files (3x32x32) for the zoo models: class-dependent
    stripes plus noise, so a few steps of training move the weights."""
    rng = np.random.default_rng(0)
    for name, count in [("data_batch_%d.bin" % i, 32) for i in range(1, 6)] + [("test_batch.bin", TEST_IMAGES)]:
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        images = rng.integers(0, 96, (count, 3, 32, 32), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, label % 3, 3 * label:3 * label + 3, :] += 150
        records = np.concatenate([labels[:, None], images.reshape(count, -1)], axis=1)
        records.astype(np.uint8).tofile(os.path.join(out_dir, name))


def check_onnx(nmtrain, checkpoint, data_args, what):
    """Exports `checkpoint` as ONNX and checks it against nmtrain eval and the safetensors export."""
    out = os.path.dirname(checkpoint)
    path = os.path.join(out, "model.onnx")
    run(nmtrain, "export", "--checkpoint", checkpoint, "--export", path, "--format=onnx")
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
        checked = "passes onnx.checker"
    except onnx.checker.ValidationError as e:
        checked = "onnx.checker: %s" % str(e).splitlines()[0]
    check(checked == "passes onnx.checker", "%s: %s (%d nodes: %s)" % (what, checked, len(model.graph.node),
          " ".join(sorted({n.op_type for n in model.graph.node}))))
    export = os.path.join(out, "inference.safetensors")
    run(nmtrain, "export", "--checkpoint", checkpoint, "--export", export)
    weights, _ = load(export)
    initializers = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    differ = [k for k, v in weights.items() if v.dtype == np.float32 and not k.endswith(".nm_values")
              and not np.array_equal(initializers.get(k), v)]
    check(not differ, "%s: ONNX initializers equal the inference export's weights%s"
          % (what, " (not: %s)" % differ[:3] if differ else ""))
    dump = os.path.join(out, "onnx_logits.safetensors")
    run(nmtrain, "eval", "--checkpoint", checkpoint, "--batch", str(TEST_IMAGES), "--dump-logits", dump, *data_args)
    tensors, _ = load(dump)
    logits = onnx_run.run(model, {"input": tensors["x"]})["logits"]
    err = float(np.abs(logits - tensors["logits"]).max())
    check(err <= 1e-4, "%s: reference ONNX runtime vs nmtrain eval: max |logit difference| %.2e over %s (logits up "
          "to %.2f)" % (what, err, logits.shape, float(np.abs(tensors["logits"]).max())))
    side = os.path.join(out, "model.semi_structured.safetensors")
    if os.path.exists(side):
        for problem, layers in [semi_structured.check_file(side, initializers)]:
            check(not problem, "%s: %d weights in the 2:4 semi-structured layout decode to the float16 masked "
                  "weights and match an independent encoding%s" % (what, layers, ": " + problem if problem else ""))
    return os.path.exists(side)


def onnx_exports(nmtrain, tmp, fashion, cifar):
    sides = 0
    for method in METHODS:
        checkpoint = os.path.join(tmp, method, "checkpoint.safetensors")
        sides += check_onnx(nmtrain, checkpoint, ["--data-dir", fashion], "resnet9 %s 2:4" % method)
    for arch, width, extra in (("resnet18", "0.125", []), ("resnet50", "0.0625", ["--imagenet-stem"]),
                               ("vgg19", "0.125", [])):
        out = os.path.join(tmp, arch)
        run(nmtrain, "train", "--model", arch, "--width", width, *extra, "--method", "bdwp", "--nm", "2:8",
            "--data", "cifar10", "--data-dir", cifar, "--epochs", "1", "--batch", "32", "--lr", "0.01", "--quiet",
            "--out", out)
        sides += check_onnx(nmtrain, os.path.join(out, "checkpoint.safetensors"),
                            ["--data", "cifar10", "--data-dir", cifar], "%s bdwp 2:8" % arch)
    sides += vit_exports(nmtrain, tmp, fashion)
    check(sides >= 6, "%d exports carried a 2:4 semi-structured side file" % sides)


# (method, N:M, ViT shape, more train options): the tiny shape is fast; the
# dim-64 one has block linear weights PyTorch's 2:4 layout takes (rows % 32,
# K % 64), so the semi-structured side file covers them. Dropout is a
# training-time layer: the exported model has none, as nmtrain eval.
TINY_VIT = ("--patch", "7", "--dim", "16", "--depth", "2", "--heads", "2", "--mlp-dim", "32")
VIT_RUNS = (("dense", "2:4", TINY_VIT, ()),
            ("bdwp", "2:4", ("--patch", "7", "--dim", "64", "--depth", "2", "--heads", "4", "--mlp-dim", "128"), ()),
            ("tnm", "2:8", TINY_VIT, ("--dropout", "0.1")))


def vit_exports(nmtrain, tmp, fashion):
    sides = 0
    for method, nm, shape, extra in VIT_RUNS:
        what = "vit " + (method if method == "dense" else "%s %s" % (method, nm)) + (" " + " ".join(extra)
                                                                                    if extra else "")
        out = os.path.join(tmp, "vit-" + method)
        run(nmtrain, "train", "--model", "vit", *shape, *extra, "--method", method, "--nm", nm, "--epochs", "1",
            "--batch", "32", "--optimizer", "adamw", "--lr", "0.01", "--threads", "1", "--data-dir", fashion,
            "--quiet", "--out", out)
        side = check_onnx(nmtrain, os.path.join(out, "checkpoint.safetensors"), ["--data-dir", fashion], what)
        sides += side
        model = onnx.load(os.path.join(out, "model.onnx"))
        initializers = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
        config = dict(zip(shape[::2], (int(v) for v in shape[1::2])))
        vit = reference.ViT(1, 10, 28, config["--patch"], config["--dim"], config["--depth"], config["--heads"],
                            config["--mlp-dim"])
        missing = [k for k in vit.state_dict() if k not in initializers]
        check(not missing, "%s: the ONNX initializers hold every timm ViT parameter by name%s"
              % (what, " (not: %s)" % missing[:3] if missing else ""))
        if missing:
            continue
        vit.load_state_dict({k: torch.from_numpy(initializers[k].copy()) for k in vit.state_dict()})
        vit.eval()
        tensors, _ = load(os.path.join(out, "onnx_logits.safetensors"))
        with torch.no_grad():
            theirs = vit(torch.from_numpy(tensors["x"])).numpy()
        ours = onnx_run.run(model, {"input": tensors["x"]})["logits"]
        err = float(np.abs(ours - theirs).max())
        check(err <= 1e-4, "%s: PyTorch's timm-layout ViT on the ONNX initializers vs the ONNX runtime: max |logit "
              "difference| %.2e" % (what, err))
        if method != "dense":
            n, m = (int(v) for v in nm.split(":"))
            linear = [k for k in initializers if k.startswith("blocks.") and k.endswith("weight")
                      and ".norm" not in k]
            kept = max(int(np.count_nonzero(initializers[k].reshape(-1, m), axis=1).max()) for k in linear)
            check(len(linear) == 4 * config["--depth"] and kept == n,
                  "%s: the %d block linear weights keep at most %d of every %d along in-features (most kept: %d)"
                  % (what, len(linear), n, m, kept))
    check(sides == 1, "the vit bdwp 2:4 export carried the semi-structured side file (%d vit exports did)" % sides)
    return sides


def cli_errors(nmtrain, tmp):
    checkpoint = os.path.join(tmp, "bdwp", "checkpoint.safetensors")
    result = subprocess.run([nmtrain, "export", "--checkpoint", checkpoint, "--export", "x", "--format", "tflite"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(result.returncode == 2 and "tflite" in result.stderr and len(result.stderr.splitlines()) == 1,
          "export --format tflite: exit %d, %s" % (result.returncode, result.stderr.strip()))
    bad = os.path.join(tmp, "missing", "model.onnx")
    result = subprocess.run([nmtrain, "export", "--checkpoint", checkpoint, "--export", bad, "--format", "onnx"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(result.returncode == 1 and bad in result.stderr and len(result.stderr.splitlines()) == 1,
          "export to a missing folder: exit %d, %s" % (result.returncode, result.stderr.strip()))


def dense_logits(path, x):
    """Logits of the file's weights with no method applied (what the round
    trip ran before it applied the masks)."""
    tensors, meta = load(path)
    import json
    config = json.loads(meta["config"])
    model = reference.build(config["arch"], config["in_c"], config["classes"], config["width"])
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()
                           if not k.startswith(("optimizer.", "method.mask_"))
                           and not k.endswith((".nm_values", ".nm_index"))})
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
        cifar = os.path.join(tmp, "cifar")
        os.mkdir(cifar)
        cifar_like(cifar)
        onnx_exports(nmtrain, tmp, data, cifar)
        cli_errors(nmtrain, tmp)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all export checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
