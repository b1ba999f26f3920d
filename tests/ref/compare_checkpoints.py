#!/usr/bin/python3
"""Compares two nmtrain checkpoints tensor by tensor (numpy):

    compare_checkpoints.py REFERENCE OTHER TOLERANCE [--exact]

prints the largest difference, relative to max(1, |reference|), and which
tensor has it; exits 1 when it exceeds TOLERANCE (or, with --exact, when
any byte differs). Used by tests/mpi_check.sh: K ranks against one process.
"""
import sys

import numpy as np

import safetensors_io


def main():
    if len(sys.argv) not in (4, 5):
        raise SystemExit(__doc__)
    ref, _ = safetensors_io.load(sys.argv[1])
    other, _ = safetensors_io.load(sys.argv[2])
    tol, exact = float(sys.argv[3]), sys.argv[4:] == ["--exact"]
    if sorted(ref) != sorted(other):
        raise SystemExit("%s and %s hold different tensors" % (sys.argv[1], sys.argv[2]))
    worst, where, identical = 0.0, "", True
    for name in sorted(ref):
        a, b = ref[name].astype(np.float64), other[name].astype(np.float64)
        identical &= np.array_equal(ref[name], other[name])
        err = float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a)))) if a.size else 0.0
        if err > worst:
            worst, where = err, name
    print("  %s vs %s: %d tensors, max error %.3e (%s), %s" % (
        sys.argv[1], sys.argv[2], len(ref), worst, where or "-", "bit-identical" if identical else "not identical"))
    if worst > tol or (exact and not identical):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
