"""Minimal safetensors reader/writer in pure Python + numpy.

Debian ships no `safetensors` package, so the PyTorch fixture generator and
the checkpoint interop scripts use this instead. The layout is the one the
`safetensors` package writes: an 8-byte little-endian header length, a JSON
header (padded with spaces to a multiple of 8 bytes) mapping each tensor name
to {"dtype", "shape", "data_offsets"} plus an optional "__metadata__" of
strings, then the raw little-endian data, largest element size first.

    save(path, {"w": np.ones((2, 3), np.float32)}, metadata={"step": "1"})
    tensors, metadata = load(path)

For torch, convert with tensor.detach().cpu().numpy() / torch.from_numpy().
"""
import json
import os
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
_MAX_HEADER = 100 << 20


def _dtype_name(array):
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    for known, name in _NAMES.items():
        if dtype == known:
            return name
    raise ValueError(f"unsupported dtype {array.dtype}")


def save(path, tensors, metadata=None):
    """Writes tensors (name -> numpy array) atomically: path + ".tmp", then rename."""
    arrays = {name: np.asarray(value) for name, value in tensors.items()}
    # Largest element first, then by name, as the safetensors package does:
    # every tensor then starts at a multiple of its element size.
    names = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    blobs = []
    for name in names:
        array = arrays[name]
        dtype = _dtype_name(array)
        blob = np.ascontiguousarray(array, dtype=_DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path):
    """Returns ({name: numpy array}, {metadata key: value}); raises ValueError
    naming the file when the header is malformed."""
    with open(path, "rb") as f:
        data = f.read()

    def bad(why):
        return ValueError(f"{path}: {why}")

    if len(data) < 8:
        raise bad("truncated: no 8-byte header length")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > _MAX_HEADER or 8 + header_len > len(data):
        raise bad(f"header length {header_len} does not fit the {len(data)}-byte file")
    try:
        header = json.loads(data[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"bad header JSON: {e}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not all(isinstance(v, str) for v in metadata.values()):
        raise bad("metadata values must be strings")
    body = data[8 + header_len:]
    tensors = {}
    expected = 0
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"tensor {name!r}: expected keys dtype, shape, data_offsets")
    # By (begin, end), so an empty tensor sorts before one starting at the same offset.
    for name, info in sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
        if info["dtype"] not in _DTYPES:
            raise bad(f"tensor {name!r}: unsupported dtype {info['dtype']}")
        dtype = _DTYPES[info["dtype"]]
        shape = tuple(info["shape"])
        begin, end = info["data_offsets"]
        if begin != expected:
            raise bad(f"tensor {name!r}: data starts at {begin}, previous tensor ends at {expected}")
        if end - begin != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise bad(f"tensor {name!r}: {end - begin} bytes do not match shape {shape}")
        if end > len(body):
            raise bad(f"tensor {name!r}: data_offsets past the end of the file")
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).copy()
        expected = end
    if expected != len(body):
        raise bad(f"tensors cover {expected} bytes of a {len(body)}-byte data section")
    return tensors, metadata
