"""PyTorch's 2:4 semi-structured layout (SparseSemiStructuredTensorCUTLASS,
float16) in numpy, written from PyTorch's description of it
(torch/sparse/_semi_structured_conversions.py) for checking nmtrain's side
files without PyTorch >= 2.1 (Debian 12 ships 1.13) or a GPU:

- packed: rows x K/2 float16, the two stored values of every group of 4;
- meta: rows x K/16 int16, 4 bits per group (first position | second << 2),
  4 groups per element, scattered into CUTLASS's ColumnMajorInterleaved<2>
  order (rows interleaved within groups of 32, 2x2 blocks swizzled).
"""
import numpy as np

from safetensors_io import load


def _meta_offsets(rows, meta_cols):
    """Flat position in the reordered meta tensor of element (r, c)."""
    r = np.arange(rows)[:, None].repeat(meta_cols, 1)
    c = np.arange(meta_cols)[None, :].repeat(rows, 0)
    r = r // 32 * 32 + (r % 8) * 4 + (r % 32) // 8
    topright = ((r % 2 == 0) & (c % 2 == 1)).astype(np.int64)
    bottomleft = ((r % 2 == 1) & (c % 2 == 0)).astype(np.int64)
    r, c = r + topright - bottomleft, c - topright + bottomleft
    return (c // 2) * rows * 2 + r * 2 + c % 2


def encode(dense16):
    """(packed, meta) of a float16 rows x K matrix with at most 2 non-zeros per group of 4."""
    rows, k = dense16.shape
    groups = dense16.reshape(rows, k // 4, 4)
    m0, m1, _, m3 = (groups != 0).transpose(2, 0, 1)
    first = (~m0 & m1).astype(np.int64) | (~m0 & ~m1).astype(np.int64) << 1
    second = ((m0 & m1) | (~m0 & ~m1) | m3).astype(np.int64) | ((~m0 & m1) | ~m1).astype(np.int64) << 1
    packed = np.stack([np.take_along_axis(groups, first[..., None], 2)[..., 0],
                       np.take_along_axis(groups, second[..., None], 2)[..., 0]], axis=2).reshape(rows, k // 2)
    nibbles = (first | second << 2).reshape(rows, k // 16, 4)
    meta = (nibbles << np.array([0, 4, 8, 12])).sum(axis=2).astype(np.uint16)
    reordered = np.empty(rows * (k // 16), np.uint16)
    reordered[_meta_offsets(rows, k // 16).reshape(-1)] = meta.reshape(-1)
    return packed, reordered.reshape(rows, k // 16).view(np.int16)


def decode(packed, meta):
    """The dense float16 rows x K matrix of (packed, meta)."""
    rows, half_k = packed.shape
    meta_cols = meta.shape[1]
    words = meta.view(np.uint16).reshape(-1)[_meta_offsets(rows, meta_cols).reshape(-1)].reshape(rows, meta_cols)
    nibbles = (words[..., None].astype(np.int64) >> np.array([0, 4, 8, 12])) & 0xF
    positions = np.stack([nibbles & 3, nibbles >> 2], axis=3).reshape(rows, half_k // 2, 2)
    dense = np.zeros((rows, half_k // 2, 4), np.float16)
    np.put_along_axis(dense, positions, packed.reshape(rows, half_k // 2, 2), axis=2)
    return dense.reshape(rows, half_k * 2)


def weight_matrix(w):
    """The GEMM matrix the layout holds: (out, in), or (out, kh*kw*in) for a convolution."""
    return w if w.ndim == 2 else w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def check_file(path, weights):
    """Checks every weight of a side file against `weights` (PyTorch names and
    layouts). Returns (first problem or "", number of weights)."""
    tensors, meta = load(path)
    if meta.get("layout") != "torch.sparse.SparseSemiStructuredTensorCUTLASS, float16":
        return "layout metadata is %r" % meta.get("layout"), 0
    names = sorted(n[:-len(".packed")] for n in tensors if n.endswith(".packed"))
    for name in names:
        packed, meta_t = tensors[name + ".packed"], tensors[name + ".meta"]
        want = weight_matrix(weights[name]).astype(np.float16)
        if packed.dtype != np.float16 or meta_t.dtype != np.int16:
            return "%s: dtypes %s, %s" % (name, packed.dtype, meta_t.dtype), len(names)
        if not np.array_equal(decode(packed, meta_t), want):
            return "%s: decodes to another matrix" % name, len(names)
        again_packed, again_meta = encode(want)
        if not (np.array_equal(again_packed.view(np.uint16), packed.view(np.uint16))
                and np.array_equal(again_meta, meta_t)):
            return "%s: differs from the numpy encoding" % name, len(names)
    return "", len(names)
