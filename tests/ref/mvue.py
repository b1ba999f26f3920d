"""The unbiased 1:2 (and 2:4) pruning of dY for --grad-nm, written from
BDWP.md's rule with the same counter-based draws as src/core/rng.c and
src/nm/mvue.c (SplitMix64's finaliser, keyed by seed, step and layer)."""
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(z):
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def counter_key(seed, step, layer):
    with np.errstate(over="ignore"):
        key = mix64(np.uint64(seed) + GOLDEN)
        key = mix64(key ^ (np.uint64(step) + GOLDEN))
        return mix64(key ^ (np.uint64(layer) + GOLDEN))


def counter_uniform(key, counter):
    with np.errstate(over="ignore"):
        z = mix64(np.uint64(key) ^ (np.asarray(counter, dtype=np.uint64) + GOLDEN))
    return (z >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def prune(dy, key):
    """dy: rows x cols float32 (rows = output channels, cols = the WG
    reduction, image-major). Pairs (2i, 2i+1) of each row: keep a with
    probability |a| / (|a| + |b|) as sign(a) (|a| + |b|), else b; an odd last
    entry stays."""
    dy = np.asarray(dy, dtype=np.float32)
    rows, cols = dy.shape
    out = np.zeros_like(dy)
    pairs = cols // 2
    a, b = dy[:, 0:2 * pairs:2], dy[:, 1:2 * pairs:2]
    total = np.abs(a) + np.abs(b)  # float32, as the C code adds
    counters = (np.arange(rows, dtype=np.uint64)[:, None] * np.uint64(cols)
                + np.arange(0, 2 * pairs, 2, dtype=np.uint64)[None, :])
    u = counter_uniform(key, counters)
    keep_a = (u * total) < np.abs(a)
    out[:, 0:2 * pairs:2] = np.where(keep_a, np.copysign(total, a), np.float32(0))
    out[:, 1:2 * pairs:2] = np.where(keep_a | (total == 0), np.float32(0), np.copysign(total, b))
    if cols % 2:
        out[:, -1] = dy[:, -1]
    return out
