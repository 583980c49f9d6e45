"""The default embedder: hashed k-mer counts over a reduced amino-acid alphabet.

It needs no model file and embeds hundreds of thousands of proteins per second
on one core, so a catalog works out of the box. Each protein becomes the
counts of its overlapping 4-mers over Murphy et al.'s 12-letter alphabet
(``LVIM C A G ST P FY W EQ DN KR H``), folded into ``dim`` buckets with signed
feature hashing and L2-normalised, so the inner product of two vectors is their
cosine similarity.

What it costs and buys (measured on the shared labelled families, 579
proteins of 17 families, all against all; BENCHMARKS.md): exact 3-mer counts
over the 20 amino acids (8,000 dimensions) put a same-family protein first
for 84.5% of queries, these 512-d vectors for 74.6%. The reduced alphabet and
the hashing buy 16x smaller vectors (2 KiB a row), which is what keeps exact
search and the in-memory copy fast; the precision lost is won back, and more,
by alignment re-ranking of the candidates (:mod:`..rerank`: 99.7%).
Sequences too short for a single 4-mer fall back to shorter k so no vector is
zero. Nucleotide records use 6-mers over ``ACGT`` (``U`` read as ``T``) hashed
with another seed, so DNA never lands near protein by accident.

Both strands: with ``strands="both"`` (what new catalogs record) a nucleotide
k-mer and its reverse complement share one bucket and sign, so a sequence and
its reverse complement get the same vector and a gene is found whichever
strand the query was read from. Only the k-mer → column table differs; the
counting loop is the same. ``strands="forward"`` is the earlier behaviour,
kept so that catalogs made with it embed their queries as they embedded
their rows (the catalog records the parameter).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any, Final

import numpy as np

__all__ = ["NATIVE_COUNTING", "NEW_COLUMN_PARAMS", "STRANDS", "KmerEmbedder"]

#: ``strands`` values: k-mers of the given strand only, or of both strands alike.
STRANDS: Final = ("forward", "both")
#: Parameters a new k-mer column gets unless the caller names them: both strands.
NEW_COLUMN_PARAMS: Final = {"strands": "both"}


def _load_native() -> Callable[..., None] | None:
    try:
        from genocat_desktop.engine.embed.embedders._kmer_count import count_windows
    except ImportError:  # built without a C compiler: the numpy loop below gives the same bits, slower
        return None
    return count_windows


_native_count = _load_native()
#: Whether the counting runs in the compiled loop (``_kmer_count.pyx``): one call per batch, without
#: the GIL, at a quarter of the numpy version's CPU. The vectors are the same either way.
NATIVE_COUNTING: Final = _native_count is not None

_MURPHY12: Final = ("LVIM", "C", "A", "G", "ST", "P", "FY", "W", "EQ", "DN", "KR", "H")


def _translation(groups: tuple[str, ...], extra: dict[str, int] | None = None) -> bytes:
    """A ``bytes.translate`` table: residue byte → its letter group; every other byte → ``len(groups)``."""
    table = bytearray([len(groups)] * 256)
    for code, letters in enumerate(groups):
        for c in letters:
            table[ord(c)] = code
    for c, code in (extra or {}).items():
        table[ord(c)] = code
    return bytes(table)


# Codes 0..alphabet-1 are residues; code ``alphabet`` is "not in the alphabet".
_PROTEIN_CODES: Final = _translation(_MURPHY12)
_NUC_CODES: Final = _translation(("A", "C", "G", "T"), {"U": 3})


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A fixed integer hash: the same buckets on every platform and numpy version."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class _Space:
    """One k-mer space (alphabet size, k) with its column table.

    A k-mer's bucket and sign come from the hash of its index in base
    ``alphabet`` (first residue most significant); column ``bucket`` counts
    +1, column ``dim + bucket`` counts -1 and column ``2 * dim`` is dropped.
    Windows are indexed in base ``alphabet + 1`` so that a window holding a
    residue outside the alphabet needs no separate check: its index maps to the
    dropped column, like the extra index ``(alphabet + 1) ** k`` that marks a
    window running into the next record.
    """

    def __init__(self, alphabet: int, k: int, dim: int, seed: int, *, canonical: bool = False) -> None:
        self.alphabet = alphabet
        self.k = k
        self.base = alphabet + 1
        size = alphabet**k
        h = _splitmix64(np.arange(size, dtype=np.uint64) + np.uint64(seed << 32))
        bucket = (h % np.uint64(dim)).astype(np.int64)
        signed_bucket = np.where((h >> np.uint64(63)) == 0, bucket, bucket + dim)
        digits = (np.arange(self.base**k)[:, None] // self.base ** np.arange(k - 1, -1, -1)) % self.base
        valid = (digits < alphabet).all(axis=1)
        index = (digits * alphabet ** np.arange(k - 1, -1, -1)).sum(axis=1)
        if canonical:
            # Nucleotide codes A, C, G, T are 0..3, so a base's complement is 3 - code; the reverse
            # complement reads the complemented digits backwards. Each k-mer takes the hash of the
            # smaller of its own index and its reverse complement's, so both strands count alike.
            rc_digits = (alphabet - 1) - digits[:, ::-1]
            rc_index = (rc_digits * alphabet ** np.arange(k - 1, -1, -1)).sum(axis=1)
            index = np.where(valid, np.minimum(index, rc_index), index)
        self.sentinel = self.base**k
        self.columns = np.full(self.sentinel + 1, 2 * dim, dtype=np.intp)
        self.columns[: self.sentinel][valid] = signed_bucket[index[valid]]

    @cached_property
    def native_columns(self) -> np.ndarray:
        """The column table as C ints, for the compiled loop (made on first use: 4 bytes a k-mer)."""
        return self.columns.astype(np.intc)


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
    strands
        ``"both"``: a nucleotide sequence and its reverse complement get the same vector (what
        new catalogs use); ``"forward"``: k-mers are read on the given strand only (catalogs made
        before, which record no ``strands``).
    """

    name = "kmer"
    version = 1

    def __init__(self, k: int = 4, dim: int = 512, nucleotide_k: int = 6, strands: str = "forward") -> None:
        if not 1 <= k <= 6 or not 1 <= nucleotide_k <= 10 or dim < 8:
            raise ValueError("need 1 <= k <= 6, 1 <= nucleotide_k <= 10 and dim >= 8")
        if strands not in STRANDS:
            raise ValueError(f"strands must be one of {', '.join(STRANDS)}")
        self.k = k
        self.dim = dim
        self.nucleotide_k = nucleotide_k
        self.strands = strands
        both = strands == "both"
        self._protein = [_Space(len(_MURPHY12), j, dim, 1000 + j) for j in range(1, k + 1)]
        self._nucleotide = [_Space(4, j, dim, 2000 + j, canonical=both) for j in range(1, nucleotide_k + 1)]

    def params(self) -> dict[str, Any]:
        """Parameters that recreate this embedder (``strands`` only when both: older records lack it)."""
        out: dict[str, Any] = {"k": self.k, "dim": self.dim, "nucleotide_k": self.nucleotide_k}
        if self.strands == "both":
            out["strands"] = "both"
        return out

    def embed(self, sequences: Sequence[str], molecules: Sequence[str] | None = None) -> np.ndarray:
        """Embed sequences; see :meth:`Embedder.embed`."""
        data = "".join(sequences).encode("ascii", errors="replace")
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in sequences], out=offsets[1:])
        nuc = None
        if molecules is not None:
            nuc = np.fromiter((m in ("dna", "rna") for m in molecules), dtype=bool, count=len(sequences))
        return self.embed_packed(data, offsets, nuc)

    def embed_packed(self, data: Any, offsets: np.ndarray, nucleotide: np.ndarray | None = None) -> np.ndarray:
        """Embed records packed in one buffer (the importer's fast path).

        Parameters
        ----------
        data
            Upper-case residues of all records, concatenated (``bytes`` or
            any buffer of bytes).
        offsets
            ``(n + 1,)`` record boundaries into ``data``.
        nucleotide
            Boolean per record: embed as DNA/RNA rather than protein.
        """
        n = len(offsets) - 1
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        raw = data if isinstance(data, bytes) else bytes(memoryview(data).cast("B"))
        if offsets[0] != 0 or offsets[-1] != len(raw):
            raw = raw[int(offsets[0]) : int(offsets[-1])]
            offsets = offsets - offsets[0]
        if nucleotide is None or not nucleotide.any():
            codes = np.frombuffer(raw.translate(_PROTEIN_CODES), dtype=np.uint8)
            self._fill(out, np.arange(n), codes, offsets, self._protein)
        else:
            for mask, table, spaces in ((~nucleotide, _PROTEIN_CODES, self._protein),
                                        (nucleotide, _NUC_CODES, self._nucleotide)):
                rows = np.flatnonzero(mask)
                if rows.size:
                    codes, sub_off = _gather(np.frombuffer(raw.translate(table), dtype=np.uint8), offsets, rows)
                    self._fill(out, rows, codes, sub_off, spaces)
        # np.linalg.norm's formula (sqrt of add.reduce of x * x per row) and the division, a block
        # of rows at a time while it is in cache: the same bits as norm() and a masked divide of the
        # whole batch, without a squared copy of it. An all-zero row (norm 0) is divided by 1.
        for lo in range(0, n, _NORM_ROWS):
            block = out[lo : lo + _NORM_ROWS]
            norms = np.sqrt(np.add.reduce(block * block, axis=1, keepdims=True))
            norms[norms == 0] = 1
            np.divide(block, norms, out=block)
        return out

    def _fill(
        self, out: np.ndarray, rows: np.ndarray, codes: np.ndarray, offsets: np.ndarray, spaces: list[_Space]
    ) -> None:
        todo = np.arange(len(rows))
        sub_codes, sub_off = codes, offsets
        # Longest k first; records left without a single valid window retry with k - 1.
        for level, space in enumerate(reversed(spaces)):
            if level == 0 and rows.size == out.shape[0]:
                counts = out  # every row: count straight into the result
                _count(sub_codes, sub_off, space, self.dim, counts)
            else:
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


def _count(
    codes: np.ndarray, offsets: np.ndarray, space: _Space, dim: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Signed, hashed k-mer counts for each record, shape ``(n, dim)`` (into ``out`` if given)."""
    n = len(offsets) - 1
    if out is None:
        out = np.empty((n, dim), dtype=np.float32)
    if _native_count is not None:
        _native_count(codes, np.ascontiguousarray(offsets, dtype=np.int64), space.native_columns, space.base,
                      space.k, out)
        return out
    # Chunks of residues keep every temporary array and the count matrix in
    # cache; one pass over a whole batch is several times slower.
    start = 0
    ends = offsets[1:]
    while start < n:
        stop = int(np.searchsorted(ends, offsets[start] + _CHUNK_RESIDUES, side="right"))
        stop = min(max(stop, start + 1), n)
        lo, hi = int(offsets[start]), int(offsets[stop])
        _count_chunk(codes[lo:hi], offsets[start : stop + 1] - lo, space, dim, out[start:stop])
        start = stop
    return out


_CHUNK_RESIDUES: Final = 1 << 16
#: Rows per block when normalising (a 1 MiB temporary at dim 512).
_NORM_ROWS: Final = 512


def _count_chunk(codes: np.ndarray, offsets: np.ndarray, space: _Space, dim: int, out: np.ndarray) -> None:
    n = len(offsets) - 1
    k = space.k
    total = codes.size
    if total < k:
        out[:] = 0
        return
    windows = total - k + 1
    base = space.base
    c = codes.astype(np.intp)
    # The window index in base alphabet + 1, built from 2-mer indexes: fewer passes than one residue at a time.
    if k == 1:
        kmer = c
    else:
        pair = c[:-1] * base
        pair += c[1:]
        if k < 4:
            kmer = pair[:windows] * base if k == 3 else pair
            if k == 3:
                kmer += c[2 : 2 + windows]
        else:
            kmer = pair[:windows] * base**2
            kmer += pair[2 : 2 + windows]
            j = 4
            while j + 2 <= k:
                kmer *= base**2
                kmer += pair[j : j + windows]
                j += 2
            if j < k:
                kmer *= base
                kmer += c[j : j + windows]
        kmer = kmer[:windows]
        # Windows that run into the next record are dropped.
        cross = (offsets[1:, None] - np.arange(1, k)[None, :]).ravel()
        kmer[cross[(cross >= 0) & (cross < windows)]] = space.sentinel
    width = 2 * dim + 1
    col = space.columns.take(kmer)
    col += np.repeat(np.arange(0, n * width, width, dtype=np.intp), np.diff(offsets))[:windows]
    counts = np.bincount(col, minlength=n * width).reshape(n, width)
    np.subtract(counts[:, :dim], counts[:, dim : 2 * dim], out=out, casting="unsafe")
