#!/usr/bin/env python3
"""Dumps the PyTorch fixtures the C tests compare against (llm.c style).

    python3 tests/ref/make_fixtures.py tests/fixtures [GROUP...]

(all groups, or those named: FIXTURES below, e.g. `grad_nm`).

Every tensor is stored in PyTorch's own layout (NCHW activations, OIHW
weights); the C tests convert. Loss of a layer case is sum(y * dy) for a
random dy, so dx and the parameter gradients are exact vector-Jacobian
products. Rerunning gives the same files (seeded)."""
import os
import sys
import types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import methods  # noqa: E402
import mvue  # noqa: E402
import reference  # noqa: E402
from safetensors_io import load, save  # noqa: E402

torch.set_num_threads(1)


def t(x):
    return x.detach().contiguous().numpy().copy()  # a copy: in-place updates must not reach it


def layer_case(out, name, module, x, extra_inputs=()):
    x = x.clone().requires_grad_(True)
    y = module(x)
    dy = torch.randn(y.shape)
    (y * dy).sum().backward()
    out[name + ".x"] = t(x)
    out[name + ".y"] = t(y)
    out[name + ".dy"] = t(dy)
    out[name + ".dx"] = t(x.grad)
    for pname, p in module.named_parameters():
        out[name + "." + pname] = t(p)
        out[name + ".d" + pname] = t(p.grad)
    for bname, b in module.named_buffers():
        if b.dtype == torch.float32:
            out[name + "." + bname] = t(b)


def layers(path):
    torch.manual_seed(1)
    out = {}
    layer_case(out, "conv_k3s1", nn.Conv2d(8, 6, 3, 1, 1, bias=True), torch.randn(2, 8, 7, 7))
    layer_case(out, "conv_k3s2", nn.Conv2d(5, 4, 3, 2, 1, bias=False), torch.randn(2, 5, 9, 9))
    layer_case(out, "conv_k1", nn.Conv2d(4, 8, 1, 1, 0, bias=True), torch.randn(3, 4, 6, 6))
    layer_case(out, "conv_k5s2", nn.Conv2d(3, 4, 5, 2, 2, bias=False), torch.randn(2, 3, 8, 8))
    layer_case(out, "conv_k1s2", nn.Conv2d(4, 6, 1, 2, 0, bias=False), torch.randn(2, 4, 6, 6))
    layer_case(out, "linear", nn.Linear(12, 7), torch.randn(5, 12))
    bn = nn.BatchNorm2d(6)
    with torch.no_grad():
        bn.weight.copy_(1 + 0.2 * torch.randn(6))
        bn.bias.copy_(0.2 * torch.randn(6))
    layer_case(out, "bn_train", bn, 3 + 2 * torch.randn(4, 6, 5, 5))
    bn_eval = nn.BatchNorm2d(6)
    with torch.no_grad():
        bn_eval.weight.copy_(1 + 0.2 * torch.randn(6))
        bn_eval.bias.copy_(0.2 * torch.randn(6))
        bn_eval.running_mean.copy_(torch.randn(6))
        bn_eval.running_var.copy_(0.5 + torch.rand(6))
    bn_eval.eval()
    layer_case(out, "bn_eval", bn_eval, torch.randn(4, 6, 5, 5))
    layer_case(out, "relu", nn.ReLU(), torch.randn(2, 3, 4, 4))
    layer_case(out, "maxpool_k2", nn.MaxPool2d(2), torch.randn(2, 3, 7, 7))
    layer_case(out, "maxpool_k3s2p1", nn.MaxPool2d(3, 2, 1), torch.randn(2, 3, 7, 7))
    layer_case(out, "adaptive_max1", nn.AdaptiveMaxPool2d(1), torch.randn(2, 3, 5, 5))
    layer_case(out, "adaptive_max2", nn.AdaptiveMaxPool2d(2), torch.randn(2, 3, 5, 5))
    layer_case(out, "avgpool", nn.AdaptiveAvgPool2d(1), torch.randn(2, 3, 4, 4))
    layer_case(out, "flatten", nn.Flatten(), torch.randn(2, 3, 2, 2))
    logits = torch.randn(6, 10, requires_grad=True)
    labels = torch.randint(0, 10, (6,))
    loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward()
    out["ce.logits"] = t(logits)
    out["ce.labels"] = labels.numpy()
    out["ce.loss"] = t(loss.reshape(1))
    out["ce.dlogits"] = t(logits.grad)
    # wide enough for Winograd F(2x2, 3x3), on a plane with an odd side
    layer_case(out, "conv_k3s1_wide", nn.Conv2d(16, 20, 3, 1, 1, bias=True), torch.randn(3, 16, 5, 6))
    save(path, out, {"generator": "tests/ref/make_fixtures.py", "torch": torch.__version__})


def resnet9_training(directory):
    """One step's gradients and a 10-step loss trajectory of a small ResNet9."""
    gen = torch.Generator().manual_seed(7)
    model = reference.ResNet9(in_c=3, classes=10, w=1 / 16)
    reference.init_like_nmtrain(model, gen)
    save(os.path.join(directory, "resnet9_init.safetensors"),
         {k: t(v) for k, v in model.state_dict().items()},
         {"arch": "resnet9", "width": "0.0625", "in": "3x16x16", "classes": "10"})
    x = torch.randn(8, 3, 16, 16, generator=gen)
    labels = torch.randint(0, 10, (8,), generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, nesterov=True, weight_decay=5e-4)
    out = {"x": t(x), "labels": labels.numpy()}
    losses = []
    model.train()
    for step in range(10):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
        loss.backward()
        if step == 0:
            out["logits"] = t(logits)
            for name, p in model.named_parameters():
                out["grad." + name] = t(p.grad)
        losses.append(loss.item())
        opt.step()
    out["losses"] = torch.tensor(losses).numpy()
    for name, b in model.state_dict().items():
        if b.dtype == torch.float32:
            out["final." + name] = t(b)
    save(os.path.join(directory, "resnet9_steps.safetensors"), out,
         {"lr": "0.02", "momentum": "0.9", "nesterov": "1", "weight_decay": "5e-4", "label_smoothing": "0.1"})


def model_steps(directory):
    """One training step of small ResNet18 and VGG19 (branches, 1x1 strided
    downsamples, conv biases, average pooling): init state, logits, gradients."""
    for arch, hw in (("resnet18", 16), ("vgg19", 32)):
        gen = torch.Generator().manual_seed(5)
        model = reference.build(arch, 3, 10, 1 / 16)
        reference.init_like_nmtrain(model, gen)
        save(os.path.join(directory, "%s_init.safetensors" % arch), {k: t(v) for k, v in model.state_dict().items()},
             {"arch": arch, "width": "0.0625", "in": "3x%dx%d" % (hw, hw), "classes": "10"})
        x = torch.randn(8, 3, hw, hw, generator=gen)
        labels = torch.randint(0, 10, (8,), generator=gen)
        model.train()
        logits = model(x)
        F.cross_entropy(logits, labels, label_smoothing=0.1).backward()
        out = {"x": t(x), "labels": labels.numpy(), "logits": t(logits)}
        for name, p in model.named_parameters():
            out["grad." + name] = t(p.grad)
        save(os.path.join(directory, "%s_step.safetensors" % arch), out, {"label_smoothing": "0.1"})


class PatchTokens(nn.Module):
    """Patch embedding, class token and position embedding: ViT's input stage."""

    def __init__(self, in_c, dim, patch, patches):
        super().__init__()
        self.patch_embed = reference.PatchEmbed(in_c, dim, patch)
        self.cls_token = nn.Parameter(0.5 * torch.randn(1, 1, dim))
        self.pos_embed = nn.Parameter(0.5 * torch.randn(1, patches + 1, dim))

    def forward(self, x):
        x = self.patch_embed(x)
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed


class TokenPool(nn.Module):
    def forward(self, x):
        return x[:, 0]


def vit_layers(path):
    """Each ViT layer alone: tokens are [batch, tokens, dim] (nmtrain holds
    dim x batch*tokens)."""
    torch.manual_seed(4)
    out = {}
    layer_case(out, "tokens", PatchTokens(3, 8, 4, 6), torch.randn(2, 3, 8, 12))
    ln = nn.LayerNorm(12, eps=1e-6)
    with torch.no_grad():
        ln.weight.copy_(1 + 0.2 * torch.randn(12))
        ln.bias.copy_(0.2 * torch.randn(12))
    layer_case(out, "layernorm", ln, 1 + 2 * torch.randn(3, 5, 12))
    layer_case(out, "gelu", nn.GELU(), 2 * torch.randn(3, 5, 12))
    layer_case(out, "attention", reference.AttentionCore(3), torch.randn(2, 7, 3 * 12))
    layer_case(out, "attention_one_head", reference.AttentionCore(1), 2 * torch.randn(3, 5, 3 * 4))
    layer_case(out, "token_pool", TokenPool(), torch.randn(3, 5, 12))
    # Whole register tiles of the attention products and their tails: 37
    # tokens (32 + 5, 16 + 16 + 5) and head_dim 20 (6 + 6 + 6 + 2).
    layer_case(out, "attention_tiles", reference.AttentionCore(2), torch.randn(2, 37, 3 * 40))
    save(path, out, {"generator": "tests/ref/make_fixtures.py", "layernorm_eps": "1e-6"})


VIT_SHAPE = dict(in_c=3, classes=10, img=8, patch=4, dim=16, depth=2, heads=2, mlp=32)


def vit_adamw(named):
    """torch.optim.AdamW as nmtrain trains a ViT, over its named_parameters():
    lr 2e-3, weight decay 0.05 but none on timm's no-decay parameters (norms,
    biases, class token, position embedding)."""
    groups = [{"params": [p for k, p in named if not reference.vit_no_decay(k)], "weight_decay": 0.05},
              {"params": [p for k, p in named if reference.vit_no_decay(k)], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=2e-3, betas=(0.9, 0.999), eps=1e-8)


def vit_training(directory):
    """A small ViT: one step's logits and every gradient, and 10 AdamW steps
    (timm's no-decay groups) with their losses and final weights."""
    gen = torch.Generator().manual_seed(9)
    model = reference.ViT(**VIT_SHAPE)
    reference.init_like_nmtrain(model, gen)
    save(os.path.join(directory, "vit_init.safetensors"), {k: t(v) for k, v in model.state_dict().items()},
         {k: str(v) for k, v in VIT_SHAPE.items()})
    x = torch.randn(6, 3, 8, 8, generator=gen)
    labels = torch.randint(0, 10, (6,), generator=gen)
    named = list(model.named_parameters())
    opt = vit_adamw(named)
    out = {"x": t(x), "labels": labels.numpy()}
    losses = []
    for step in range(10):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
        loss.backward()
        if step == 0:
            out["logits"] = t(logits)
            for name, p in named:
                out["grad." + name] = t(p.grad)
        losses.append(loss.item())
        opt.step()
    out["losses"] = torch.tensor(losses).numpy()
    for name, p in named:
        out["final." + name] = t(p)
        out["exp_avg." + name] = t(opt.state[p]["exp_avg"])
        out["exp_avg_sq." + name] = t(opt.state[p]["exp_avg_sq"])
    save(os.path.join(directory, "vit_steps.safetensors"), out,
         {"lr": "2e-3", "betas": "0.9,0.999", "eps": "1e-8", "weight_decay": "0.05", "label_smoothing": "0.1"})


METHODS = ("dense", "srste", "bdwp", "sdgp", "tnm")
RATIOS = ((2, 4), (2, 8), (1, 8), (3, 16))


def method_layers(path):
    """Per method and N:M: output, dX and dW (after the decay term) of a conv
    and a linear layer, from shared inputs."""
    torch.manual_seed(3)
    out = {}
    cases = {
        "conv": (torch.randn(2, 16, 6, 6), torch.randn(16, 16, 3, 3) * 0.1, torch.randn(16) * 0.1, (1, 1)),
        "linear": (torch.randn(4, 32), torch.randn(32, 32) * 0.1, torch.randn(32) * 0.1, None),
    }
    for layer, (x, w, b, conv) in cases.items():
        # Ties must exist to test the lower-index rule: repeat a few magnitudes.
        w.view(-1)[::7] = 0.05
        w.view(-1)[1::11] = -0.05
        out[layer + ".x"], out[layer + ".weight"], out[layer + ".bias"] = t(x), t(w), t(b)
        dy_shape = (2, 16, 6, 6) if conv else (4, 32)
        dy = torch.randn(dy_shape)
        out[layer + ".dy"] = t(dy)
        for method in METHODS:
            for n, m in RATIOS:
                plan = methods.Plan(method, w, n, m, 2e-4, True)
                xi = x.clone().requires_grad_(True)
                wi = w.clone().requires_grad_(True)
                bi = b.clone().requires_grad_(True)
                y = methods.MethodGemm.apply(xi, wi, bi, plan, *(conv if conv else (1, 0)), None)
                (y * dy).sum().backward()
                key = "%s.%s.%d_%d" % (layer, method, n, m)
                out[key + ".y"], out[key + ".dx"], out[key + ".dweight"] = t(y), t(xi.grad), t(wi.grad)
                out[key + ".dbias"] = t(bi.grad)
    save(path, out, {"generator": "tests/ref/make_fixtures.py", "decay": "2e-4"})


def method_trajectories(path):
    """10 SGD steps of a small ResNet9 per method at 2:8 and 2:4: the losses."""
    out = {}
    init_state = None
    for method in METHODS:
        for n, m in ((2, 8), (2, 4)):
            gen = torch.Generator().manual_seed(11)
            model = reference.ResNet9(in_c=3, classes=10, w=1 / 8)
            reference.init_like_nmtrain(model, gen)
            if init_state is None:
                init_state = {k: t(v) for k, v in model.state_dict().items()}
            layers = methods.convert(model, method, n, m, 2e-4)
            x = torch.randn(8, 3, 16, 16, generator=gen)
            labels = torch.randint(0, 10, (8,), generator=gen)
            opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, nesterov=True, weight_decay=5e-4)
            interval = 40 if method == "tnm" else 1
            losses = []
            for step in range(10):
                opt.zero_grad()
                loss = F.cross_entropy(model(x), labels, label_smoothing=0.1)
                loss.backward()
                losses.append(loss.item())
                opt.step()
                if (step + 1) % interval == 0:
                    for layer in layers:
                        layer.refresh()
            out["losses.%s.%d_%d" % (method, n, m)] = torch.tensor(losses).numpy()
            out["x"], out["labels"] = t(x), labels.numpy()
    save(path, out, {"lr": "0.02", "momentum": "0.9", "nesterov": "1", "weight_decay": "5e-4",
                     "label_smoothing": "0.1", "decay": "2e-4"})
    save(path.replace("_steps", "_init"), init_state, {"arch": "resnet9", "width": "0.125"})


def mvue_pruning(path):
    """--grad-nm's dY pruning with the counter-based draws: dY of two shapes
    (the second with an odd reduction) and what tests/ref/mvue.py keeps."""
    gen = torch.Generator().manual_seed(23)
    out, meta = {}, {}
    for case, (rows, cols, seed, step, layer) in enumerate(((32, 150, 7, 3, 5), (16, 1001, 123456789, 40000, 61))):
        dy = torch.randn(rows, cols, generator=gen).numpy()
        dy[0, :8] = 0.0  # pairs of zeros and a zero beside a value
        dy[0, 9] = 0.0
        out["dy.%d" % case] = dy
        out["pruned.%d" % case] = mvue.prune(dy, mvue.counter_key(seed, step, layer))
        meta["key.%d" % case] = "%d %d %d" % (seed, step, layer)
    save(path, out, meta)


def vit_methods(path):
    """Every method at 2:4 and 2:8 on the small ViT (qkv, proj, fc1, fc2
    sparse; patch embedding and head exempt): the first step's logits and
    every gradient, and the losses of 10 AdamW steps."""
    out = {}
    for method in METHODS:
        for n, m in ((2, 4), (2, 8)):
            gen = torch.Generator().manual_seed(9)
            model = reference.ViT(**VIT_SHAPE)
            reference.init_like_nmtrain(model, gen)
            x = torch.randn(6, 3, 8, 8, generator=gen)
            labels = torch.randint(0, 10, (6,), generator=gen)
            layers = methods.convert(model, method, n, m, 2e-4)
            named = list(model.named_parameters())
            opt = vit_adamw(named)
            interval = 40 if method == "tnm" else 1
            key = "%s.%d_%d" % (method, n, m)
            losses = []
            for step in range(10):
                opt.zero_grad()
                logits = model(x)
                loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
                loss.backward()
                if step == 0:
                    out[key + ".logits"] = t(logits)
                    for name, p in named:
                        out[key + ".grad." + name] = t(p.grad)
                losses.append(loss.item())
                opt.step()
                if (step + 1) % interval == 0:
                    for layer in layers:
                        layer.refresh()
            out[key + ".losses"] = torch.tensor(losses).numpy()
    save(path, out, {"init": "vit_init.safetensors", "decay": "2e-4", "lr": "2e-3", "weight_decay": "0.05"})


# --grad-nm fixtures: ResNet9 (SGD) and the small ViT, whose GEMMs but the
# patch embedding are linear layers (AdamW), at odd GEMM reductions (batch 7
# at 15x15 gives odd planes; the ViT's 5 tokens at batch 5 give 25 columns).
GRAD_NM_CASES = (("dense", 2, 8, False),) + tuple(
    (method, n, m, False) for method in METHODS[1:] for n, m in ((2, 4), (2, 8))) + (("bdwp", 2, 8, True),)
GRAD_NM_RESNET9_WIDTH = 1 / 32
# A draw whose u (|a| + |b|) lies this close to |a| (relative to |a| + |b|)
# could flip under the engine's other fp32 summation orders; each case's seed
# is the first that keeps every draw of its two steps farther than this.
GRAD_NM_MARGIN = 1e-4


def resnet9_node_names():
    """nmtrain's graph of ResNet9 (src/models/resnet.c), one node per op in forward order."""
    names = ["prep.0", "prep.1", "prep.2"]
    for stage, residual in (("layer1", True), ("layer2", False), ("layer3", True)):
        names += ["%s.%d" % (stage, j) for j in range(4)]
        if residual:
            res = "res" + stage[-1]
            names += ["%s.%d.%d" % (res, r, j) for r in range(2) for j in range(3)] + [res + ".add"]
    return names + ["pool", "flatten", "fc", "scale"]


def vit_node_names(depth):
    """nmtrain's graph of the ViT (src/models/vit.c); the patch embedding is one node."""
    names = ["patch_embed"]
    for i in range(depth):
        names += ["blocks.%d.%s" % (i, op) for op in ("norm1", "attn.qkv", "attn", "attn.proj", "add1", "norm2",
                                                     "mlp.fc1", "mlp.act", "mlp.fc2", "add2")]
    return names + ["norm", "pool", "head"]


def grad_nm_case(arch, init, x, labels, method, n, m, sparse_classifier, grad_m, seed):
    """Two optimiser steps (the draws keyed by steps 0 and 1) of `arch` with a
    method and --grad-nm: step 1's loss and gradients, then the weights and
    optimiser state after both steps, and the draws' smallest margin."""
    names = resnet9_node_names() if arch == "resnet9" else vit_node_names(VIT_SHAPE["depth"])
    index = {name: i for i, name in enumerate(names)}

    def node_of(module):
        return index[module] if module in index else index[module.rsplit(".", 1)[0]]  # patch_embed.proj

    if arch == "resnet9":
        model = reference.ResNet9(in_c=3, classes=10, w=GRAD_NM_RESNET9_WIDTH)
    else:
        model = reference.ViT(**VIT_SHAPE)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in init.items()})
    layers = methods.convert(model, method, n, m, 2e-4, sparse_classifier)
    clock = types.SimpleNamespace(step=0, margins=[])
    methods.enable_grad_nm(model, grad_m, seed, node_of, clock, sparse_classifier)
    named = list(model.named_parameters())
    if arch == "resnet9":
        opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, nesterov=True, weight_decay=5e-4)
    else:
        opt = vit_adamw(named)
    interval = 40 if method == "tnm" else 1
    out, losses = {}, []
    for step in range(2):
        clock.step = step
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels, label_smoothing=0.1)
        loss.backward()
        losses.append(loss.item())
        opt.step()
        if (step + 1) % interval == 0:
            for layer in layers:
                layer.refresh()
    out["losses"] = torch.tensor(losses).numpy()
    for name, p in named:
        out["grad." + name] = t(p.grad)
        out["final." + name] = t(p)
        if arch == "resnet9":
            out["momentum." + name] = t(opt.state[p]["momentum_buffer"])
        else:
            out["exp_avg." + name] = t(opt.state[p]["exp_avg"])
    pruned = sorted({mod.grad_nm.node for mod in layers if mod.grad_nm is not None})
    return out, min(clock.margins), " ".join("%s=%d" % (names[i], i) for i in pruned)


def grad_nm_steps(directory):
    """Every method at 2:4 and 2:8 (dense once, bdwp 2:8 also with a sparse
    classifier) with --grad-nm on ResNet9 and the ViT. 1:2 and 2:4 prune to
    the same values (checked here), so each case is stored once and the test
    runs it at both."""
    gen = torch.Generator().manual_seed(31)
    for cols in (150, 1001):  # the torch pruning at both ratios is tests/ref/mvue.py's (numpy)
        dy = torch.randn(16, cols, generator=gen)
        key = mvue.counter_key(7, 3, cols)
        want = mvue.prune(dy.numpy(), key)
        assert all((methods.mvue_prune_rows(dy, m, key).numpy() == want).all() for m in (2, 4)), cols
    model = reference.ResNet9(in_c=3, classes=10, w=GRAD_NM_RESNET9_WIDTH)
    reference.init_like_nmtrain(model, gen)
    resnet9_init = {k: t(v) for k, v in model.state_dict().items()}
    save(os.path.join(directory, "grad_nm_resnet9_init.safetensors"), resnet9_init,
         {"arch": "resnet9", "width": "0.03125", "in": "3x15x15", "classes": "10"})
    vit_init, _ = load(os.path.join(directory, "vit_init.safetensors"))
    inputs = {"resnet9": (resnet9_init, torch.randn(7, 3, 15, 15, generator=gen), torch.randint(0, 10, (7,), generator=gen)),
              "vit": (vit_init, torch.randn(5, 3, 8, 8, generator=gen), torch.randint(0, 10, (5,), generator=gen))}
    out, meta = {}, {"margin": str(GRAD_NM_MARGIN)}
    for arch, (init, x, labels) in inputs.items():
        out[arch + ".x"], out[arch + ".labels"] = t(x), labels.numpy()
        for method, n, m, sparse_classifier in GRAD_NM_CASES:
            if arch == "vit" and sparse_classifier:
                continue
            key = "%s.%s.%d_%d%s" % (arch, method, n, m, ".sparse_classifier" if sparse_classifier else "")
            for seed in range(1, 1000):
                half, margin, nodes = grad_nm_case(arch, init, x, labels, method, n, m, sparse_classifier, 2, seed)
                if margin > GRAD_NM_MARGIN:
                    break
            else:
                raise RuntimeError("%s: no seed below 1000 keeps the draws off their thresholds" % key)
            quarter, _, _ = grad_nm_case(arch, init, x, labels, method, n, m, sparse_classifier, 4, seed)
            assert all((half[k] == quarter[k]).all() for k in half), key + ": 1:2 and 2:4 differ"
            print("%s: seed %d, smallest draw margin %.2e" % (key, seed, margin))
            meta[key + ".seed"] = str(seed)
            meta[arch + ".nodes" + (".sparse_classifier" if sparse_classifier else "")] = nodes
            out.update({key + "." + k: v for k, v in half.items()})
    save(os.path.join(directory, "grad_nm_steps.safetensors"), out, meta)


# src/train/net.c keys node i's dropout draws as layer NMT_MAX_NODES + i.
NMT_MAX_NODES = 512
DROPOUT_P, DROPOUT_SEED = 0.25, 1


class CounterDropout(nn.Module):
    """torch.nn.Dropout(p) with nmtrain's masks in place of torch's RNG
    (src/layers/dropout.c): element (n, t, c) of a [batch, tokens, dim]
    activation is kept when counter_uniform(key, (n * dim + c) * tokens + t)
    >= p, the key counter_key(seed, step, NMT_MAX_NODES + node); kept values
    are x * (1 / (1 - p)), as torch's CPU kernel scales its mask."""

    def __init__(self, p, seed, node, clock):
        super().__init__()
        self.p, self.seed, self.node, self.clock = p, seed, node, clock

    def forward(self, x):
        if not self.training:
            return x
        batch, tokens, dim = x.shape
        key = mvue.counter_key(self.seed, self.clock.step, NMT_MAX_NODES + self.node)
        counters = ((np.arange(batch, dtype=np.uint64)[:, None, None] * np.uint64(dim)
                     + np.arange(dim, dtype=np.uint64)[None, None, :]) * np.uint64(tokens)
                    + np.arange(tokens, dtype=np.uint64)[None, :, None])
        keep = mvue.counter_uniform(key, counters) >= np.float32(self.p)
        self.clock.kept.append(keep)
        scale = np.float32(1) / (np.float32(1) - np.float32(self.p))
        return x * torch.from_numpy(np.where(keep, scale, np.float32(0)).astype(np.float32))


def vit_dropout(path):
    """The small ViT of vit_training with dropout DROPOUT_P at timm's four
    sites, nmtrain's counter-based masks applied (CounterDropout): two AdamW
    steps' logits, losses and every gradient, the final weights, and the
    logits in evaluation (no dropout)."""
    init, _ = load(os.path.join(os.path.dirname(path), "vit_init.safetensors"))
    gen = torch.Generator().manual_seed(17)
    x = torch.randn(6, 3, 8, 8, generator=gen)
    labels = torch.randint(0, 10, (6,), generator=gen)
    model = reference.ViT(**VIT_SHAPE, drop_rate=DROPOUT_P)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in init.items()})
    # torch's own dropout at these sites drops about p and is off in eval
    model.train()
    probe = model.pos_drop(torch.ones(4000))
    assert abs((probe == 0).float().mean().item() - DROPOUT_P) < 0.05
    model.eval()
    assert (model.pos_drop(probe) == probe).all()
    model.train()
    names = vit_node_names(VIT_SHAPE["depth"])
    clock = types.SimpleNamespace(step=0, kept=[])
    sites = [name for name, module in model.named_modules() if isinstance(module, nn.Dropout)]
    assert len(sites) == 1 + 3 * VIT_SHAPE["depth"], sites
    for name in sites:
        parent, leaf = (model, name) if "." not in name else (model.get_submodule(name.rsplit(".", 1)[0]),
                                                              name.rsplit(".", 1)[1])
        setattr(parent, leaf, CounterDropout(DROPOUT_P, DROPOUT_SEED, names.index(reference.dropout_site(name)), clock))
    named = list(model.named_parameters())
    opt = vit_adamw(named)
    out = {"x": t(x), "labels": labels.numpy()}
    losses = []
    for step in range(2):
        clock.step = step
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
        loss.backward()
        out["logits.%d" % step] = t(logits)
        for name, p in named:
            out["grad.%d.%s" % (step, name)] = t(p.grad)
        losses.append(loss.item())
        opt.step()
    kept = np.concatenate([k.ravel() for k in clock.kept])
    print("vit_dropout: p %g, %d of %d kept (%.4f)" % (DROPOUT_P, kept.sum(), kept.size, kept.mean()))
    out["losses"] = torch.tensor(losses).numpy()
    for name, p in named:
        out["final." + name] = t(p)
    model.eval()
    with torch.no_grad():
        out["logits.eval"] = t(model(x))
    save(path, out, {"init": "vit_init.safetensors", "p": str(DROPOUT_P), "seed": str(DROPOUT_SEED), "lr": "2e-3",
                     "weight_decay": "0.05", "label_smoothing": "0.1"})


FIXTURES = {
    "layers": lambda d: layers(os.path.join(d, "layers.safetensors")),
    "resnet9": resnet9_training,
    "models": model_steps,
    "methods_layers": lambda d: method_layers(os.path.join(d, "methods_layers.safetensors")),
    "methods_steps": lambda d: method_trajectories(os.path.join(d, "methods_steps.safetensors")),
    "mvue": lambda d: mvue_pruning(os.path.join(d, "mvue.safetensors")),
    "vit_layers": lambda d: vit_layers(os.path.join(d, "vit_layers.safetensors")),
    "vit": vit_training,
    "vit_methods": lambda d: vit_methods(os.path.join(d, "vit_methods.safetensors")),
    "grad_nm": grad_nm_steps,  # after "vit": reads vit_init.safetensors
    "vit_dropout": lambda d: vit_dropout(os.path.join(d, "vit_dropout.safetensors")),  # after "vit" too
}


def main():
    """make_fixtures.py [DIR [NAME...]]: all fixtures, or the named groups."""
    directory = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    wanted = sys.argv[2:] or list(FIXTURES)
    unknown = [w for w in wanted if w not in FIXTURES]
    if unknown:
        sys.exit("make_fixtures.py: unknown fixture group %s (choose from %s)" % (", ".join(unknown), ", ".join(FIXTURES)))
    os.makedirs(directory, exist_ok=True)
    for name in wanted:
        FIXTURES[name](directory)


if __name__ == "__main__":
    main()
