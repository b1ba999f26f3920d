"""The N:M training methods of ../shared/spec/BDWP.md as PyTorch custom
autograd functions, written from the spec (not from nmtrain's C code), and
--grad-nm's unbiased pruning of dY for the weight gradient (docs/methods.md)."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import mvue


def topn_mask_last_dim(w, n, m):
    """N:M mask along the last dim: keep the N largest |w| of each group of M,
    ties to the lower index (a stable sort of -|w|)."""
    shape = w.shape
    groups = w.abs().reshape(-1, m)
    order = torch.sort(-groups, dim=1, stable=True).indices[:, :n]
    mask = torch.zeros_like(groups)
    mask.scatter_(1, order, 1.0)
    return mask.reshape(shape)


def weight_as_groups(w, along_out):
    """Moves the grouped channel dim of a conv/linear weight last:
    input channels at fixed (o, kh, kw), or output channels at fixed (i, kh, kw)."""
    if w.dim() == 2:
        return (w.t(), lambda g: g.t()) if along_out else (w, lambda g: g)
    if along_out:
        return w.permute(1, 2, 3, 0), lambda g: g.permute(3, 0, 1, 2)
    return w.permute(0, 2, 3, 1), lambda g: g.permute(0, 3, 1, 2)


def mask_in(w, n, m):
    g, back = weight_as_groups(w, False)
    return back(topn_mask_last_dim(g.contiguous(), n, m)).contiguous()


def mask_out(w, n, m):
    g, back = weight_as_groups(w, True)
    return back(topn_mask_last_dim(g.contiguous(), n, m)).contiguous()


def mask_transposable(w, n, m):
    """In every M x M block (M outputs x M inputs at fixed kh, kw) each row and
    column keeps at most N: entries by |w| descending (ties: lower row, then
    lower column), kept while their row and column hold fewer than N."""
    w4 = w if w.dim() == 4 else w[:, :, None, None]
    out_c, in_c, kh, kw = w4.shape
    mask = torch.zeros_like(w4)
    for y in range(kh):
        for x in range(kw):
            for bo in range(0, out_c, m):
                for bi in range(0, in_c, m):
                    block = w4[bo:bo + m, bi:bi + m, y, x].abs()
                    flat = block.reshape(-1)
                    order = torch.sort(-flat, stable=True).indices.tolist()
                    rows, cols = [0] * m, [0] * m
                    for idx in order:
                        r, c = divmod(idx, m)
                        if rows[r] < n and cols[c] < n:
                            rows[r] += 1
                            cols[c] += 1
                            mask[bo + r, bi + c, y, x] = 1.0
    return mask if w.dim() == 4 else mask[:, :, 0, 0]


def prune_dy(dy, n, m):
    """SDGP: per pixel (or sample), keep the N largest |g| of each group of M
    channels, rescaled so the group's L1 norm is unchanged."""
    g = dy.movedim(1, -1).contiguous()
    mask = topn_mask_last_dim(g, n, m)
    groups = g.reshape(-1, m)
    kept = (groups * mask.reshape(-1, m))
    total = groups.abs().sum(1, keepdim=True)
    kept_sum = kept.abs().sum(1, keepdim=True)
    scale = torch.where(kept_sum > 0, total / kept_sum.clamp_min(1e-30), torch.zeros_like(total))
    return (kept * scale).reshape(g.shape).movedim(-1, 1).contiguous()


def mvue_prune_rows(dy, m, key, margins=None):
    """--grad-nm N:M (1:2 or 2:4) on dy (rows x cols; rows = output channels,
    cols = the weight gradient's reduction, (image, position) image-major).
    Each row is cut in groups of M columns (the last padded with zeros); the
    pairs (0, 1) and (2, 3) of a group are independent 1:2 draws: pair (a, b)
    starting at column j of row r draws u = counter_uniform(key, r * cols + j)
    and keeps a as sign(a) (|a| + |b|) when u (|a| + |b|) < |a|, else b the
    same way; (0, 0) stays 0, and an odd last entry (paired with a pad zero)
    stays as it is. `margins`, a list, gets the draws' smallest distance to
    their threshold, |u (|a| + |b|) - |a|| / (|a| + |b|), over pairs that
    hold a value."""
    rows, cols = dy.shape
    groups = -(-cols // m)
    padded = torch.zeros(rows, groups * m, dtype=torch.float32)
    padded[:, :cols] = dy
    pairs = padded.reshape(rows, groups, m // 2, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    total = a.abs() + b.abs()
    first = np.arange(groups, dtype=np.uint64)[:, None] * np.uint64(m) + np.arange(0, m, 2, dtype=np.uint64)[None, :]
    counters = np.arange(rows, dtype=np.uint64)[:, None, None] * np.uint64(cols) + first[None]
    u = torch.from_numpy(mvue.counter_uniform(key, counters))
    keep_a = u * total < a.abs()
    zero = torch.zeros((), dtype=torch.float32)
    out = torch.stack([torch.where(keep_a, torch.copysign(total, a), zero),
                       torch.where(keep_a | (total == 0), zero, torch.copysign(total, b))], dim=-1)
    if margins is not None and bool((total > 0).any()):
        held = total > 0
        margins.append(float(((u * total - a.abs()).abs()[held] / total[held]).min()))
    return out.reshape(rows, groups * m)[:, :cols].contiguous()


class GradNM:
    """--grad-nm for one layer: its ratio's M, the network's seed, the layer's
    node index in nmtrain's graph (the draws' key: nmt_rng_counter_key(seed,
    step, node)) and a clock shared by the network's layers (.step, .margins)."""

    def __init__(self, m, seed, node, clock):
        self.m, self.seed, self.node, self.clock = m, seed, node, clock

    def prune(self, dy_rows):
        key = mvue.counter_key(self.seed, self.clock.step, self.node)
        return mvue_prune_rows(dy_rows, self.m, key, self.clock.margins)


class Plan:
    """What a method does to one layer: operands, dY transform, decay."""

    def __init__(self, method, w, n, m, decay, sparse):
        out_c, in_c = w.shape[0], w.shape[1]
        in_ok, out_ok = in_c % m == 0, out_c % m == 0
        self.fw = self.bw = None
        self.decay_mask = None
        self.prune_dy = False
        self.decay = decay
        self.n, self.m = n, m
        if not sparse or method == "dense":
            return
        if method in ("srste", "bdwp") and in_ok:
            mi = mask_in(w, n, m)
            self.fw = mi
            self.decay_mask = mi
            if method == "srste":
                self.bw = mi
        if method == "bdwp" and out_ok:
            self.bw = mask_out(w, n, m)
        if method == "sdgp" and out_ok:
            self.prune_dy = True
        if method == "tnm" and in_ok and out_ok:
            self.fw = self.bw = mask_transposable(w, n, m)


class MethodGemm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, bias, plan, stride, padding, grad_nm):
        """grad_nm: None, or the layer's GradNM (dW from the pruned dY)."""
        ctx.save_for_backward(x, w)
        ctx.plan, ctx.stride, ctx.padding, ctx.has_bias = plan, stride, padding, bias is not None
        ctx.grad_nm = grad_nm
        w_fw = w * plan.fw if plan.fw is not None else w
        if w.dim() == 4:
            return F.conv2d(x, w_fw, bias, stride, padding)
        return F.linear(x, w_fw, bias)

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        plan = ctx.plan
        w_bw = w * plan.bw if plan.bw is not None else w
        dy_bw = prune_dy(dy, plan.n, plan.m) if plan.prune_dy else dy
        # backward-data and the bias read the unpruned dy; --grad-nm prunes
        # the weight gradient's dy (output channels x (image, position)) only
        wg = ctx.grad_nm
        if w.dim() == 4:
            dx = torch.nn.grad.conv2d_input(x.shape, w_bw, dy_bw, ctx.stride, ctx.padding)
            dy_wg = dy
            if wg is not None:
                channels_first = dy.transpose(0, 1)
                dy_wg = wg.prune(channels_first.reshape(dy.shape[1], -1)).reshape(channels_first.shape).transpose(0, 1)
            dw = torch.nn.grad.conv2d_weight(x, w.shape, dy_wg, ctx.stride, ctx.padding)
            db = dy.sum((0, 2, 3)) if ctx.has_bias else None
        else:  # tokens ([batch, tokens, features]) are rows like samples
            x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
            dy_bw = prune_dy(dy2, plan.n, plan.m) if plan.prune_dy else dy2
            dx = (dy_bw @ w_bw).reshape(x.shape)
            dw = (wg.prune(dy2.t().contiguous()) if wg is not None else dy2.t()) @ x2
            db = dy2.sum(0) if ctx.has_bias else None
        if plan.decay_mask is not None and plan.decay:
            dw = dw + plan.decay * (1 - plan.decay_mask) * w
        return dx, dw, db, None, None, None, None


class MethodLayer:
    """Mixin for Conv2d/Linear training with a method; `refresh()` regenerates
    masks; `grad_nm` (a GradNM or None) prunes the weight gradient's dY."""

    def setup(self, method, n, m, decay, sparse):
        self.method, self.n, self.m, self.decay, self.sparse = method, n, m, decay, sparse
        self.grad_nm = None
        self.refresh()

    def refresh(self):
        self.plan = Plan(self.method, self.weight.detach(), self.n, self.m, self.decay, self.sparse)


class MethodConv2d(MethodLayer, nn.Conv2d):
    def forward(self, x):
        return MethodGemm.apply(x, self.weight, self.bias, self.plan, self.stride, self.padding, self.grad_nm)


class MethodLinear(MethodLayer, nn.Linear):
    def forward(self, x):
        return MethodGemm.apply(x, self.weight, self.bias, self.plan, 1, 0, self.grad_nm)


def convert(model, method, n, m, decay, sparse_classifier=False):
    """Swaps every Conv2d/Linear of `model` for its method version, in place:
    the final classifier stays dense unless sparse_classifier (the spec's
    default exemption; Plan keeps a direction that fails divisibility dense,
    which is what keeps a 3-channel first layer dense)."""
    gemms = [(name, mod) for name, mod in model.named_modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    for i, (name, mod) in enumerate(gemms):
        sparse = i < len(gemms) - 1 or sparse_classifier
        mod.__class__ = MethodConv2d if isinstance(mod, nn.Conv2d) else MethodLinear
        mod.setup(method, n, m, decay, sparse)
    return [mod for _, mod in gemms]


def enable_grad_nm(model, m, seed, node_of, clock, sparse_classifier=False):
    """--grad-nm on every Conv2d/Linear of a converted `model` but the final
    classifier (unless sparse_classifier), as nmt_layer_sparsity_of rules:
    node_of maps a module name to its node index in nmtrain's graph."""
    gemms = [(name, mod) for name, mod in model.named_modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    for i, (name, mod) in enumerate(gemms):
        if i < len(gemms) - 1 or sparse_classifier:
            mod.grad_nm = GradNM(m, seed, node_of(name), clock)
