#!/usr/bin/env python3
"""A small reference runtime for the ONNX models nmtrain exports, in numpy
(Debian's python3-onnx 1.12 has no onnx.reference). It runs the operators
`nmtrain export --format onnx` emits, written from the ONNX operator
specification, in float64 (shapes and indices in int64), and refuses any
operator or attribute it does not implement, so a model it runs is a model
it understood.

    python3 tests/ref/onnx_run.py MODEL.onnx INPUT.safetensors   # prints the logits of tensor "x"
"""
import math
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def _ints(attrs, name, default):
    return list(attrs.pop(name, default))


def _windows(x, kernel, strides, pads, fill):
    """(N, C, Ho, Wo, kh, kw) windows of NCHW x, padded by `pads` (top, left, bottom, right) with `fill`."""
    top, left, bottom, right = pads
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(x, tuple(kernel), axis=(2, 3))
    return win[:, :, ::strides[0], ::strides[1]]


def conv(inputs, attrs):
    x, w = inputs[0], inputs[1]
    kernel = _ints(attrs, "kernel_shape", w.shape[2:])
    strides = _ints(attrs, "strides", [1, 1])
    pads = _ints(attrs, "pads", [0, 0, 0, 0])
    if _ints(attrs, "dilations", [1, 1]) != [1, 1] or attrs.pop("group", 1) != 1:
        raise NotImplementedError("Conv: dilations and groups")
    if list(kernel) != list(w.shape[2:]):
        raise ValueError("Conv: kernel_shape %s does not match the weight %s" % (kernel, w.shape))
    y = np.einsum("nchwij,ocij->nohw", _windows(x, kernel, strides, [pads[0], pads[1], pads[2], pads[3]], 0.0), w)
    if len(inputs) > 2:
        y = y + inputs[2][None, :, None, None]
    return y


def batch_norm(inputs, attrs):
    x, scale, bias, mean, var = inputs
    eps = attrs.pop("epsilon", 1e-5)
    attrs.pop("momentum", None)  # training only
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape) + bias.reshape(shape)


def max_pool(inputs, attrs):
    kernel = _ints(attrs, "kernel_shape", None)
    strides = _ints(attrs, "strides", [1, 1])
    pads = _ints(attrs, "pads", [0, 0, 0, 0])
    if attrs.pop("ceil_mode", 0) or _ints(attrs, "dilations", [1, 1]) != [1, 1]:
        raise NotImplementedError("MaxPool: ceil_mode and dilations")
    return _windows(inputs[0], kernel, strides, pads, -np.inf).max(axis=(4, 5))


def gemm(inputs, attrs):
    a, b = inputs[0], inputs[1]
    if attrs.pop("transA", 0):
        a = a.T
    if attrs.pop("transB", 0):
        b = b.T
    y = attrs.pop("alpha", 1.0) * (a @ b)
    if len(inputs) > 2:
        y = y + attrs.pop("beta", 1.0) * inputs[2]
    return y


def flatten(inputs, attrs):
    x = inputs[0]
    axis = attrs.pop("axis", 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def reshape(inputs, attrs):
    x, shape = inputs[0], [int(d) for d in inputs[1]]
    if attrs.pop("allowzero", 0):
        raise NotImplementedError("Reshape: allowzero")
    return x.reshape([x.shape[i] if d == 0 else d for i, d in enumerate(shape)])


def transpose(inputs, attrs):
    x = inputs[0]
    return x.transpose(_ints(attrs, "perm", range(x.ndim - 1, -1, -1)))


def gather(inputs, attrs):
    return np.take(inputs[0], inputs[1].astype(np.int64), axis=attrs.pop("axis", 0))


def concat(inputs, attrs):
    return np.concatenate(inputs, axis=attrs.pop("axis"))


def expand(inputs, attrs):
    x, shape = inputs[0], tuple(int(d) for d in inputs[1])
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, shape)).copy()


def reduce_mean(inputs, attrs):
    x = inputs[0]
    axes = tuple(_ints(attrs, "axes", range(x.ndim)))
    return x.mean(axis=axes, keepdims=bool(attrs.pop("keepdims", 1)))


def softmax(inputs, attrs):
    x = inputs[0]
    axis = attrs.pop("axis", -1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


OPS = {
    "Conv": conv,
    "BatchNormalization": batch_norm,
    "Relu": lambda i, a: np.maximum(i[0], 0.0),
    "MaxPool": max_pool,
    "GlobalMaxPool": lambda i, a: i[0].max(axis=(2, 3), keepdims=True),
    "GlobalAveragePool": lambda i, a: i[0].mean(axis=(2, 3), keepdims=True),
    "Add": lambda i, a: i[0] + i[1],
    "Mul": lambda i, a: i[0] * i[1],
    "Flatten": flatten,
    "Gemm": gemm,
    "MatMul": lambda i, a: np.matmul(i[0], i[1]),
    "Sub": lambda i, a: i[0] - i[1],
    "Div": lambda i, a: i[0] / i[1],
    "Pow": lambda i, a: np.power(i[0], i[1]),
    "Sqrt": lambda i, a: np.sqrt(i[0]),
    "Erf": lambda i, a: np.vectorize(math.erf, otypes=[np.float64])(i[0]),
    "ReduceMean": reduce_mean,
    "Softmax": softmax,
    "Reshape": reshape,
    "Transpose": transpose,
    "Shape": lambda i, a: np.array(i[0].shape, np.int64),
    "Gather": gather,
    "Concat": concat,
    "Expand": expand,
}


def _value(tensor):
    """An initializer in float64, or int64 for integer tensors (shapes, indices)."""
    value = numpy_helper.to_array(tensor)
    return value.astype(np.int64 if np.issubdtype(value.dtype, np.integer) else np.float64)


def _attributes(node):
    out = {}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        out[attr.name] = value.decode() if isinstance(value, bytes) else value
    return out


def run(model, feeds):
    """Runs `model` (an onnx.ModelProto) on {input name: array}; returns {output name: float32 array}."""
    if model.graph.node and any(o.domain not in ("", "ai.onnx") for o in model.opset_import):
        raise NotImplementedError("only the default ONNX domain")
    env = {t.name: _value(t) for t in model.graph.initializer}
    for name, value in feeds.items():
        env[name] = np.asarray(value, np.float64)
    for node in model.graph.node:
        if node.op_type not in OPS:
            raise NotImplementedError("operator %s (node %s)" % (node.op_type, node.name))
        attrs = _attributes(node)
        result = OPS[node.op_type]([env[name] for name in node.input if name], attrs)
        if attrs:
            raise NotImplementedError("%s (node %s): attributes %s" % (node.op_type, node.name, sorted(attrs)))
        env[node.output[0]] = result
    return {o.name: env[o.name].astype(np.float32) for o in model.graph.output}


def main():
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from safetensors_io import load
    model = onnx.load(sys.argv[1])
    tensors, _ = load(sys.argv[2])
    outputs = run(model, {model.graph.input[0].name: tensors["x"]})
    np.set_printoptions(precision=6, suppress=True)
    for name, value in outputs.items():
        print(name, value)


if __name__ == "__main__":
    main()
