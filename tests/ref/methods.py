"""The N:M training methods of ../shared/spec/BDWP.md as PyTorch custom
autograd functions, written from the spec (not from nmtrain's C code)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


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
    def forward(ctx, x, w, bias, plan, stride, padding):
        ctx.save_for_backward(x, w)
        ctx.plan, ctx.stride, ctx.padding, ctx.has_bias = plan, stride, padding, bias is not None
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
        if w.dim() == 4:
            dx = torch.nn.grad.conv2d_input(x.shape, w_bw, dy_bw, ctx.stride, ctx.padding)
            dw = torch.nn.grad.conv2d_weight(x, w.shape, dy, ctx.stride, ctx.padding)
            db = dy.sum((0, 2, 3)) if ctx.has_bias else None
        else:  # tokens ([batch, tokens, features]) are rows like samples
            x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
            dy_bw = prune_dy(dy2, plan.n, plan.m) if plan.prune_dy else dy2
            dx = (dy_bw @ w_bw).reshape(x.shape)
            dw = dy2.t() @ x2
            db = dy2.sum(0) if ctx.has_bias else None
        if plan.decay_mask is not None and plan.decay:
            dw = dw + plan.decay * (1 - plan.decay_mask) * w
        return dx, dw, db, None, None, None


class MethodLayer:
    """Mixin for Conv2d/Linear training with a method; `refresh()` regenerates masks."""

    def setup(self, method, n, m, decay, sparse):
        self.method, self.n, self.m, self.decay, self.sparse = method, n, m, decay, sparse
        self.refresh()

    def refresh(self):
        self.plan = Plan(self.method, self.weight.detach(), self.n, self.m, self.decay, self.sparse)


class MethodConv2d(MethodLayer, nn.Conv2d):
    def forward(self, x):
        return MethodGemm.apply(x, self.weight, self.bias, self.plan, self.stride, self.padding)


class MethodLinear(MethodLayer, nn.Linear):
    def forward(self, x):
        return MethodGemm.apply(x, self.weight, self.bias, self.plan, 1, 0)


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
