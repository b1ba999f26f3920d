#!/usr/bin/env python3
"""Moves an nmtrain checkpoint or export through PyTorch and back, comparing logits.

    python3 scripts/torch_roundtrip.py runs/default/checkpoint.safetensors [build/nmtrain]
                                       [--data-dir DIR] [--batch B]

1. nmtrain -> PyTorch: loads the file into the reference model
   (tests/ref/reference.py, strict names and shapes; a ViT into the timm-layout
   VisionTransformer there), trained with the file's
   method (tests/ref/methods.py: the forward runs W*m_in for srste and bdwp,
   W*m_t for tnm, masks computed from the loaded weights as nmtrain does, with
   the same exemptions), and compares its logits on the first test batch with
   the logits nmtrain computes.
2. PyTorch -> nmtrain: takes one SGD step in PyTorch with the method's
   gradients, regenerates the masks from the updated weights, saves the
   state_dict as safetensors, evaluates it with nmtrain and compares again.
Needs Debian's python3-torch. Prints the max abs error of each direction and
exits non-zero when either exceeds 1e-4."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
import methods  # noqa: E402
import reference  # noqa: E402
from safetensors_io import load, save  # noqa: E402

TOLERANCE = 1e-4


def nmtrain_logits(binary, checkpoint, eval_args, out):
    subprocess.run([binary, "eval", "--checkpoint", checkpoint, "--dump-logits", out] + eval_args,
                   check=True, stdout=subprocess.DEVNULL)
    dump, _ = load(out)
    return torch.from_numpy(dump["x"]), torch.from_numpy(dump["logits"])


MASK_PREFIX = "method.mask_"


def held_mask(bits, weight):
    """A checkpoint's held mask ("method.mask_<in|out|t>.<weight>", one bit
    per weight, little-endian within each byte, in nmtrain's layout: m_in and
    m_t are c_out x (kh, kw, ci), m_out its transpose) in PyTorch's layout."""
    import numpy as np
    flat = np.unpackbits(bits, bitorder="little")[:weight.numel()].astype(np.float32)
    co, ci = weight.shape[0], weight.shape[1]
    kh, kw = (weight.shape[2], weight.shape[3]) if weight.dim() == 4 else (1, 1)
    return flat, (co, ci, kh, kw)


def apply_held_masks(model, tensors, method):
    """The masks training last used, where the checkpoint holds them (mask
    intervals above 1, tnm), in place of masks recomputed from the weights."""
    modules = dict(model.named_modules())
    for name, bits in tensors.items():
        if not name.startswith(MASK_PREFIX):
            continue
        kind, param = name[len(MASK_PREFIX):].split(".", 1)
        layer = modules[param.rsplit(".", 1)[0]]
        flat, (co, ci, kh, kw) = held_mask(bits, layer.weight)
        if kind == "out":
            mask = torch.from_numpy(flat.reshape(kh, kw, ci, co)).permute(3, 2, 0, 1)
        else:
            mask = torch.from_numpy(flat.reshape(co, kh, kw, ci)).permute(0, 3, 1, 2)
        mask = mask.contiguous().reshape(layer.weight.shape)
        if kind == "in":
            layer.plan.fw = layer.plan.decay_mask = mask
            if method == "srste":
                layer.plan.bw = mask
        elif kind == "out":
            layer.plan.bw = mask
        else:
            layer.plan.fw = layer.plan.bw = mask


def method_model(config, tensors):
    """The reference model of a run configuration with `tensors` loaded and
    the run's method applied (the checkpoint's held masks, else masks from
    the loaded weights)."""
    if config["arch"] == "vit":  # timm's VisionTransformer layout; 0 = nmtrain's default
        shape = {k: config.get(k) or default for k, default in
                 (("patch", 4), ("dim", 192), ("depth", 6), ("heads", 3), ("mlp_dim", 384))}
        model = reference.ViT(config["in_c"], config["classes"], config["in_h"], shape["patch"], shape["dim"],
                              shape["depth"], shape["heads"], shape["mlp_dim"])
    else:
        model = reference.build(config["arch"], config["in_c"], config["classes"], config["width"])
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()
             if not k.startswith(("optimizer.", MASK_PREFIX)) and not k.endswith((".nm_values", ".nm_index"))}
    model.load_state_dict(state, strict=True)
    n, m = (int(v) for v in config["nm"].split(":"))
    layers = methods.convert(model, config["method"], n, m, config["decay"], bool(config["sparse_classifier"]))
    apply_held_masks(model, tensors, config["method"])
    return model, layers


def roundtrip(checkpoint, binary, data_dir=None, batch=None):
    """Returns the max |logit difference| of both directions."""
    tensors, meta = load(checkpoint)
    config = json.loads(meta["config"])
    model, layers = method_model(config, tensors)
    model.eval()
    eval_args = ["--data", config["data"]] if config.get("data") else []
    eval_args += ["--data-dir", data_dir] if data_dir else []
    eval_args += ["--batch", str(batch)] if batch else []
    with tempfile.TemporaryDirectory() as tmp:
        x, ours = nmtrain_logits(binary, checkpoint, eval_args, os.path.join(tmp, "a.safetensors"))
        with torch.no_grad():
            theirs = model(x)
        err_in = (ours - theirs).abs().max().item()

        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss = torch.nn.functional.cross_entropy(model(x), theirs.argmax(1))
        loss.backward()
        opt.step()
        for layer in layers:
            layer.refresh()
        model.eval()
        with torch.no_grad():
            theirs = model(x)
        path = os.path.join(tmp, "from_torch.safetensors")
        save(path, {k: v.detach().numpy() for k, v in model.state_dict().items()}, {"config": meta["config"]})
        _, ours = nmtrain_logits(binary, path, eval_args, os.path.join(tmp, "b.safetensors"))
        err_out = (ours - theirs).abs().max().item()
    return err_in, err_out, tuple(ours.shape), config["method"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("nmtrain", nargs="?", default=os.path.join(ROOT, "build", "nmtrain"))
    ap.add_argument("--data-dir", help="passed to nmtrain eval")
    ap.add_argument("--batch", type=int, help="test batch compared (nmtrain eval --batch)")
    args = ap.parse_args()
    err_in, err_out, shape, method = roundtrip(args.checkpoint, args.nmtrain, args.data_dir, args.batch)
    print("%s (%s): nmtrain -> PyTorch: max |logit difference| %.3e over %s" % (args.checkpoint, method, err_in, shape))
    print("%s (%s): PyTorch -> nmtrain: max |logit difference| %.3e after one PyTorch SGD step"
          % (args.checkpoint, method, err_out))
    ok = err_in <= TOLERANCE and err_out <= TOLERANCE
    print("round trip %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
