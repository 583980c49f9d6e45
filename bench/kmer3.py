"""The reference embedding: exact 3-mer counts over the 20 standard amino acids (8,000-d), L2-normalised.

Written plainly in numpy (one ``bincount`` per chunk of records), so it is
both the speed baseline for the k-mer embedder and the quality bar the shared
data README quotes (P@1 about 0.845 on ``families_cap100.faa``).
"""

from __future__ import annotations

import numpy as np

AMINO = b"ACDEFGHIKLMNPQRSTVWY"
DIM = 20**3
_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(AMINO):
    _LUT[_c] = _i
CHUNK = 1024


def embed_packed(data: bytes, offsets: np.ndarray) -> np.ndarray:
    """Exact 3-mer count vectors of packed records, shape ``(n, 8000)``, float32, rows L2-normalised."""
    n = len(offsets) - 1
    out = np.zeros((n, DIM), dtype=np.float32)
    arr = np.frombuffer(data, dtype=np.uint8)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        lo, hi = int(offsets[start]), int(offsets[stop])
        out[start:stop] = _chunk(arr[lo:hi], offsets[start : stop + 1] - lo)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def _chunk(arr: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    n = len(offsets) - 1
    codes = _LUT[arr]
    if codes.size < 3:
        return np.zeros((n, DIM), np.float32)
    c = codes.astype(np.int64)
    w = c.size - 2
    kmer = c[:w] * 400 + c[1 : w + 1] * 20 + c[2:]
    valid = (codes[:w] != 255) & (codes[1 : w + 1] != 255) & (codes[2:] != 255)
    row = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))[:w]
    # Windows that cross into the next record are dropped.
    ends = offsets[1:]
    cross = np.concatenate([ends - 1, ends - 2])
    valid[cross[(cross >= 0) & (cross < w)]] = False
    idx = row[valid] * DIM + kmer[valid]
    return np.bincount(idx, minlength=n * DIM).reshape(n, DIM).astype(np.float32)


def embed(sequences: list[str]) -> np.ndarray:
    data = "".join(sequences).encode("ascii", errors="replace")
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in sequences], out=offsets[1:])
    return embed_packed(data, offsets)
