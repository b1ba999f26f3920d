#!/usr/bin/env python3
"""Moves an nmtrain checkpoint through PyTorch and back, comparing logits.

    python3 scripts/torch_roundtrip.py runs/default/checkpoint.safetensors [build/nmtrain]

1. nmtrain -> PyTorch: loads the checkpoint into the reference model
   (tests/ref/reference.py, strict names and shapes) and compares its logits
   on the first test batch with the logits nmtrain computes.
2. PyTorch -> nmtrain: takes one SGD step in PyTorch, saves the state_dict
   as safetensors, evaluates it with nmtrain and compares the logits again.
Needs Debian's python3-torch. Prints the max abs error of each direction and
exits non-zero when either exceeds 1e-4."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
import reference  # noqa: E402
from safetensors_io import load, save  # noqa: E402


def nmtrain_logits(binary, checkpoint, data_args, out):
    subprocess.run([binary, "eval", "--checkpoint", checkpoint, "--dump-logits", out] + data_args,
                   check=True, stdout=subprocess.DEVNULL)
    dump, _ = load(out)
    return torch.from_numpy(dump["x"]), torch.from_numpy(dump["logits"])


def main():
    checkpoint = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build", "nmtrain")
    tensors, meta = load(checkpoint)
    config = json.loads(meta["config"])
    if config["method"] != "dense":
        print("note: %s was trained with %s; PyTorch runs its dense weights, so compare an export "
              "(nmtrain export) or a dense run for identical logits" % (checkpoint, config["method"]))
    model = reference.build(config["arch"], config["in_c"], config["classes"], config["width"])
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()
             if not k.startswith("optimizer.") and not k.endswith((".nm_values", ".nm_index"))}
    model.load_state_dict(state, strict=True)
    model.eval()
    data_args = ["--data", config["data"]] if config.get("data") else []
    with tempfile.TemporaryDirectory() as tmp:
        x, ours = nmtrain_logits(binary, checkpoint, data_args, os.path.join(tmp, "a.safetensors"))
        with torch.no_grad():
            theirs = model(x)
        err_in = (ours - theirs).abs().max().item()
        print("nmtrain -> PyTorch: max |logit difference| %.3e over %s" % (err_in, tuple(ours.shape)))

        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss = torch.nn.functional.cross_entropy(model(x), theirs.argmax(1))
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            theirs = model(x)
        path = os.path.join(tmp, "from_torch.safetensors")
        save(path, {k: v.detach().numpy() for k, v in model.state_dict().items()}, {"config": meta["config"]})
        _, ours = nmtrain_logits(binary, path, data_args, os.path.join(tmp, "b.safetensors"))
        err_out = (ours - theirs).abs().max().item()
        print("PyTorch -> nmtrain: max |logit difference| %.3e after one PyTorch SGD step" % err_out)
    ok = err_in <= 1e-4 and err_out <= 1e-4
    print("round trip %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
