"""The k-mer embedder as first released (version 1): the reference its faster rewrite must match.

A frozen copy of ``genocat_desktop/engine/embedders/kmer.py`` before the
counting was rewritten for import speed. ``tests/test_embedder.py`` checks
that the current embedder gives bit-identical vectors on real and synthetic
data, so catalogs made by either are searched with the same vectors (the
embedder version stays 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np

__all__ = ["KmerEmbedder"]  # the v1 reference

_MURPHY12: Final = ("LVIM", "C", "A", "G", "ST", "P", "FY", "W", "EQ", "DN", "KR", "H")
_INVALID: Final = 255

_PROTEIN_LUT = np.full(256, _INVALID, dtype=np.uint8)
for _code, _letters in enumerate(_MURPHY12):
    for _c in _letters:
        _PROTEIN_LUT[ord(_c)] = _code
_NUC_LUT = np.full(256, _INVALID, dtype=np.uint8)
for _code, _c in enumerate("ACGT"):
    _NUC_LUT[ord(_c)] = _code
_NUC_LUT[ord("U")] = 3


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A fixed integer hash: the same buckets on every platform and numpy version."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class _Space:
    """One k-mer space (alphabet size, k) with its bucket and sign tables."""

    def __init__(self, alphabet: int, k: int, dim: int, seed: int) -> None:
        self.alphabet = alphabet
        self.k = k
        size = alphabet**k
        h = _splitmix64(np.arange(size, dtype=np.uint64) + np.uint64(seed << 32))
        bucket = (h % np.uint64(dim)).astype(np.int64)
        # Column ``bucket`` counts +1, column ``dim + bucket`` counts -1.
        self.signed_bucket = np.where((h >> np.uint64(63)) == 0, bucket, bucket + dim)


class KmerEmbedder:
    """Hashed, signed k-mer count vectors, L2-normalised.

    Parameters
    ----------
    k
        k-mer length for proteins (over the 12-letter alphabet).
    dim
        Vector length (number of hash buckets).
    nucleotide_k
        k-mer length for DNA and RNA (over ``ACGT``).
    """

    name = "kmer"
    version = 1

    def __init__(self, k: int = 4, dim: int = 512, nucleotide_k: int = 6) -> None:
        if not 1 <= k <= 6 or not 1 <= nucleotide_k <= 10 or dim < 8:
            raise ValueError("need 1 <= k <= 6, 1 <= nucleotide_k <= 10 and dim >= 8")
        self.k = k
        self.dim = dim
        self.nucleotide_k = nucleotide_k
        self._protein = [_Space(len(_MURPHY12), j, dim, 1000 + j) for j in range(1, k + 1)]
        self._nucleotide = [_Space(4, j, dim, 2000 + j) for j in range(1, nucleotide_k + 1)]

    def params(self) -> dict[str, Any]:
        """Parameters that recreate this embedder."""
        return {"k": self.k, "dim": self.dim, "nucleotide_k": self.nucleotide_k}

    def embed(self, sequences: Sequence[str], molecules: Sequence[str] | None = None) -> np.ndarray:
        """Embed sequences; see :meth:`Embedder.embed`."""
        data = "".join(sequences).encode("ascii", errors="replace")
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in sequences], out=offsets[1:])
        nuc = None
        if molecules is not None:
            nuc = np.fromiter((m in ("dna", "rna") for m in molecules), dtype=bool, count=len(sequences))
        return self.embed_packed(data, offsets, nuc)

    def embed_packed(self, data: bytes, offsets: np.ndarray, nucleotide: np.ndarray | None = None) -> np.ndarray:
        """Embed records packed in one buffer (the importer's fast path).

        Parameters
        ----------
        data
            Upper-case residues of all records, concatenated.
        offsets
            ``(n + 1,)`` record boundaries into ``data``.
        nucleotide
            Boolean per record: embed as DNA/RNA rather than protein.
        """
        n = len(offsets) - 1
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        arr = np.frombuffer(data, dtype=np.uint8)
        if nucleotide is None or not nucleotide.any():
            self._fill(out, np.arange(n), arr, offsets, _PROTEIN_LUT, self._protein)
        else:
            for mask, lut, spaces in ((~nucleotide, _PROTEIN_LUT, self._protein),
                                      (nucleotide, _NUC_LUT, self._nucleotide)):
                rows = np.flatnonzero(mask)
                if rows.size:
                    sub, sub_off = _gather(arr, offsets, rows)
                    self._fill(out, rows, sub, sub_off, lut, spaces)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def _fill(
        self, out: np.ndarray, rows: np.ndarray, arr: np.ndarray, offsets: np.ndarray,
        lut: np.ndarray, spaces: list[_Space],
    ) -> None:
        codes = lut[arr]
        todo = np.arange(len(rows))
        sub_codes, sub_off = codes, offsets
        # Longest k first; records left without a single valid window retry with k - 1.
        for space in reversed(spaces):
            counts = _count(sub_codes, sub_off, space, self.dim)
            out[rows[todo]] = counts
            empty = np.flatnonzero(~counts.any(axis=1))
            if empty.size == 0:
                return
            todo = todo[empty]
            sub_codes, sub_off = _gather(codes, offsets, todo)


def _gather(arr: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pack the records ``rows`` of a packed buffer into a new one."""
    starts, ends = offsets[rows], offsets[rows + 1]
    lens = ends - starts
    new_off = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lens, out=new_off[1:])
    if new_off[-1] == 0:
        return arr[:0], new_off
    idx = np.repeat(starts - new_off[:-1], lens) + np.arange(new_off[-1])
    return arr[idx], new_off


def _count(codes: np.ndarray, offsets: np.ndarray, space: _Space, dim: int) -> np.ndarray:
    """Signed, hashed k-mer counts for each record, shape ``(n, dim)``."""
    n = len(offsets) - 1
    out = np.empty((n, dim), dtype=np.float32)
    # Chunks of about 256k residues keep every temporary array in cache; one
    # pass over a whole batch is several times slower from page faults alone.
    start = 0
    ends = offsets[1:]
    while start < n:
        stop = int(np.searchsorted(ends, offsets[start] + _CHUNK_RESIDUES, side="right"))
        stop = min(max(stop, start + 1), n)
        lo, hi = int(offsets[start]), int(offsets[stop])
        out[start:stop] = _count_chunk(codes[lo:hi], offsets[start : stop + 1] - lo, space, dim)
        start = stop
    return out


_CHUNK_RESIDUES: Final = 1 << 18


def _count_chunk(codes: np.ndarray, offsets: np.ndarray, space: _Space, dim: int) -> np.ndarray:
    n = len(offsets) - 1
    k = space.k
    total = codes.size
    if total < k:
        return np.zeros((n, dim), dtype=np.float32)
    windows = total - k + 1
    invalid = codes == _INVALID
    c = codes.astype(np.int32)
    c[invalid] = 0
    kmer = c[:windows].copy()
    for j in range(1, k):
        kmer *= space.alphabet
        kmer += c[j : j + windows]
    # A window is counted only if all its residues are in the alphabet and it
    # does not run into the next record; the others go to a dropped column.
    bad = np.zeros(total + 1, dtype=np.int32)
    np.cumsum(invalid, out=bad[1:])
    dropped = (bad[k:] - bad[:windows]) != 0
    if k > 1:
        cross = (offsets[1:, None] - np.arange(1, k)[None, :]).ravel()
        dropped[cross[(cross >= 0) & (cross < windows)]] = True
    # Positive and negative signs count in separate columns: one bincount, no weights.
    width = 2 * dim + 1
    col = space.signed_bucket[kmer]
    col[dropped] = 2 * dim
    col += np.repeat(np.arange(n, dtype=np.int64) * width, np.diff(offsets))[:windows]
    counts = np.bincount(col, minlength=n * width).reshape(n, width)
    return (counts[:, :dim] - counts[:, dim : 2 * dim]).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# BLOSUM62 neighbourhood k-mers over the 20 amino acids (``alphabet="amino20"``, ``threshold``,
# ``centred``): written from the definition, one window and one neighbour at a time, with
# Biopython's BLOSUM62, so that the embedder's tables and compiled loop have something independent
# to be compared with. Proteins only (the nucleotide spaces are those of the embedder above).

AMINO20: Final = "ARNDCQEGHILKMFPSTWYV"
#: Robinson & Robinson (1991) background frequencies, %.
ROBINSON: Final = {
    "A": 7.805, "R": 5.129, "N": 4.487, "D": 5.364, "C": 1.925, "Q": 4.264, "E": 6.295, "G": 7.377,
    "H": 2.199, "I": 5.142, "L": 9.019, "K": 5.744, "M": 2.243, "F": 3.856, "P": 5.203, "S": 7.120,
    "T": 5.841, "W": 1.330, "Y": 3.216, "V": 6.441,
}
_MASK64 = (1 << 64) - 1


def splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class NeighbourReference:
    """Protein vectors of ``KmerEmbedder(alphabet="amino20", k=, dim=, threshold=, centred=)``."""

    def __init__(self, k: int = 3, dim: int = 512, threshold: int | None = None, centred: bool = False) -> None:
        from Bio.Align import substitution_matrices

        blosum = substitution_matrices.load("BLOSUM62")
        self.score = {(a, b): int(blosum[a][b]) for a in AMINO20 for b in AMINO20}
        self.best = {a: max(self.score[a, b] for b in AMINO20) for a in AMINO20}
        self.k, self.dim, self.threshold, self.centred = k, dim, threshold, centred
        self._neighbour_cache: dict[tuple[str, int | None], list[str]] = {}
        self._mean_cache: dict[int, np.ndarray] = {}

    def neighbours(self, word: str, threshold: int | None) -> list[str]:
        """Every word scoring at least ``threshold`` against ``word`` (just ``word`` without one)."""
        if threshold is None:
            return [word]
        key = (word, threshold)
        if key not in self._neighbour_cache:
            found: list[str] = []

            def extend(prefix: str, score: int) -> None:
                i = len(prefix)
                if i == len(word):
                    if score >= threshold:
                        found.append(prefix)
                    return
                rest = sum(self.best[a] for a in word[i + 1 :])
                for b in AMINO20:
                    s = score + self.score[word[i], b]
                    if s + rest >= threshold:
                        extend(prefix + b, s)

            extend("", 0)
            self._neighbour_cache[key] = found
        return self._neighbour_cache[key]

    def column(self, word: str) -> tuple[int, float]:
        """A word's bucket and sign: the hash of its index in base 20, seed 3000 + its length."""
        index = 0
        for a in word:
            index = index * 20 + AMINO20.index(a)
        h = splitmix64(index + ((3000 + len(word)) << 32))
        return h % self.dim, (1.0 if h >> 63 == 0 else -1.0)

    def mean(self, k: int) -> np.ndarray:
        """What one window of random sequence (Robinson & Robinson residues) adds, per column."""
        if k not in self._mean_cache:
            from itertools import product

            threshold = self.threshold if k == self.k else None
            out = np.zeros(self.dim)
            for letters in product(AMINO20, repeat=k):
                word = "".join(letters)
                p = float(np.prod([ROBINSON[a] / 100 for a in word]))
                for y in self.neighbours(word, threshold):
                    b, sign = self.column(y)
                    out[b] += sign * p
            self._mean_cache[k] = out
        return self._mean_cache[k]

    def embed(self, sequences: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(sequences), self.dim))
        for r, seq in enumerate(sequences):
            for k in range(self.k, 0, -1):  # shorter k when nothing was counted
                threshold = self.threshold if k == self.k else None
                vec = np.zeros(self.dim)
                windows = counted = 0
                for i in range(len(seq) - k + 1):
                    word = seq[i : i + k]
                    if any(a not in AMINO20 for a in word):
                        continue
                    windows += 1
                    for y in self.neighbours(word, threshold):
                        b, sign = self.column(y)
                        vec[b] += sign
                        counted += 1
                if self.centred and counted:  # a record that counted nowhere stays zero
                    vec -= windows * self.mean(k)
                if vec.any():
                    out[r] = vec / np.linalg.norm(vec)
                    break
        return out
