"""The default embedder: hashed k-mer counts, with no model file.

It embeds 200,000 or more proteins per second on one core, so a catalog works out of the box. Each
protein becomes counts of its overlapping k-mers, folded into ``dim`` buckets with signed feature
hashing and L2-normalised, so the inner product of two vectors is their cosine similarity.
Nucleotide records use 6-mers over ``ACGT`` (``U`` read as ``T``) hashed with another seed, so DNA
never lands near protein by accident. Sequences too short for a single k-mer (or, below, with no
k-mer kept) fall back to shorter, exact k so that no vector is zero.

Two protein schemes; a vector column records its parameters, so a catalog embeds its queries as it
embedded its rows:

* ``alphabet="amino20", k=3, threshold=14, centred=True`` (what new columns record): centred
  BLOSUM62 neighbourhood 3-mers. A window (an exact 3-mer of the 20 amino acids) counts into
  every 3-mer it scores at least ``threshold`` against under BLOSUM62, itself included when its
  own score reaches it: the neighbourhood words of BLAST and MMseqs2, here as a bag of words.
  Similar words share buckets, so substitutions cost less, and windows of common, low-scoring
  residues (``LLL`` and ``AVS`` score 12 against themselves) count nowhere: they turn up in
  unrelated proteins by chance. Centring then subtracts, per window, what a window of random
  sequence (Robinson & Robinson residue frequencies, BLAST's background) is expected to count: the
  similarity every pair of proteins shares by chance, the larger the longer they are, which is
  what otherwise lets long unrelated proteins crowd distant homologues out of a large catalog.
* ``alphabet="murphy12", k=4`` (the factory's default, what columns recorded before): exact 4-mers
  over Murphy et al.'s 12-letter alphabet (``LVIM C A G ST P FY W EQ DN KR H``).

Measured by ``bench/vectors_bench.py`` (``bench/out/vectors.md``: the 579 proteins of the shared
labelled families as queries against the families plus 10k real unrelated proteins, sensitivity@50):
0.339 against 0.215 for the 12-letter 4-mers, 0.293 for unhashed exact 3-mer counts (8,000
dimensions) and 0.212 for exact 3-mers hashed into 512; among 50k rows with mutated copies 0.291
against 0.181. The cost: about 3.5 column increments per window instead of one, so the loop embeds
a third as many proteins per CPU second (~200k), and an import, where it runs beside the parser,
is ~10 % slower. A threshold of 13 or 12 finds a little more (0.357, 0.371) at 6 and 10 increments.

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

from genocat_desktop.engine.core.molecules import is_nucleotide

__all__ = ["ALPHABETS", "NATIVE_COUNTING", "NEW_COLUMN_GROUPS", "NEW_COLUMN_PARAMS", "STRANDS", "KmerEmbedder"]

#: ``strands`` values: k-mers of the given strand only, or of both strands alike.
STRANDS: Final = ("forward", "both")
#: ``alphabet`` values for proteins: Murphy et al.'s 12 letter groups, or the 20 amino acids.
ALPHABETS: Final = ("murphy12", "amino20")
#: Parameters a new k-mer column gets unless the caller names them, in groups that go together
#: (``base.register``): both strands; centred BLOSUM62 neighbourhood 3-mers for proteins
#: (``bench/out/vectors.md``). Parameters that name the protein scheme in part (an older record's
#: ``k``, a caller's ``alphabet``) leave that whole group out.
NEW_COLUMN_GROUPS: Final = ({"strands": "both"}, {"alphabet": "amino20", "k": 3, "threshold": 14, "centred": True})
#: All of them, as a new column with no parameters named records them.
NEW_COLUMN_PARAMS: Final = {key: value for group in NEW_COLUMN_GROUPS for key, value in group.items()}


def _load_native() -> tuple[Callable[..., None], Callable[..., None], int] | tuple[None, None, int]:
    try:
        from genocat_desktop.engine.embed.embedders._kmer_count import DUMMIES, count_neighbours, count_windows
    except ImportError:  # built without a C compiler: the numpy loop below gives the same bits, slower
        return None, None, 1
    return count_windows, count_neighbours, DUMMIES


_native_count, _native_neighbours, _DUMMIES = _load_native()
#: Whether the counting runs in the compiled loop (``_kmer_count.pyx``): one call per batch, without
#: the GIL, at a quarter of the numpy version's CPU. The vectors are the same either way.
NATIVE_COUNTING: Final = _native_count is not None

_MURPHY12: Final = ("LVIM", "C", "A", "G", "ST", "P", "FY", "W", "EQ", "DN", "KR", "H")
_AMINO20: Final = tuple("ARNDCQEGHILKMFPSTWYV")
#: Background residue frequencies (Robinson & Robinson 1991, as BLAST uses; in %, summing to 100) in the
#: order of ``_AMINO20``.
_BACKGROUND: Final = np.array(
    [7.805, 5.129, 4.487, 5.364, 1.925, 4.264, 6.295, 7.377, 2.199, 5.142,
     9.019, 5.744, 2.243, 3.856, 5.203, 7.120, 5.841, 1.330, 3.216, 6.441]
) / 100
#: BLOSUM62 (Henikoff & Henikoff 1992) in the order of ``_AMINO20``, as NCBI ships it.
_BLOSUM62: Final = """
 4 -1 -2 -2  0 -1 -1  0 -2 -1 -1 -1 -1 -2 -1  1  0 -3 -2  0
-1  5  0 -2 -3  1  0 -2  0 -3 -2  2 -1 -3 -2 -1 -1 -3 -2 -3
-2  0  6  1 -3  0  0  0  1 -3 -3  0 -2 -3 -2  1  0 -4 -2 -3
-2 -2  1  6 -3  0  2 -1 -1 -3 -4 -1 -3 -3 -1  0 -1 -4 -3 -3
 0 -3 -3 -3  9 -3 -4 -3 -3 -1 -1 -3 -1 -2 -3 -1 -1 -2 -2 -1
-1  1  0  0 -3  5  2 -2  0 -3 -2  1  0 -3 -1  0 -1 -2 -1 -2
-1  0  0  2 -4  2  5 -2  0 -3 -3  1 -2 -3 -1  0 -1 -3 -2 -2
 0 -2  0 -1 -3 -2 -2  6 -2 -4 -4 -2 -3 -3 -2  0 -2 -2 -3 -3
-2  0  1 -1 -3  0  0 -2  8 -3 -3 -1 -2 -1 -2 -1 -2 -2  2 -3
-1 -3 -3 -3 -1 -3 -3 -4 -3  4  2 -3  1  0 -3 -2 -1 -3 -1  3
-1 -2 -3 -4 -1 -2 -3 -4 -3  2  4 -2  2  0 -3 -2 -1 -2 -1  1
-1  2  0 -1 -3  1  1 -2 -1 -3 -2  5 -1 -3 -1  0 -1 -3 -2 -2
-1 -1 -2 -3 -1  0 -2 -3 -2  1  2 -1  5  0 -2 -1 -1 -1 -1  1
-2 -3 -3 -3 -2 -3 -3 -3 -1  0  0 -3  0  6 -4 -2 -2  1  3 -1
-1 -2 -2 -1 -3 -1 -1 -2 -2 -3 -3 -1 -2 -4  7 -1 -1 -4 -3 -2
 1 -1  1  0 -1  0  0  0 -1 -2 -2  0 -1 -2 -1  4  1 -3 -2 -2
 0 -1  0 -1 -1 -1 -1 -2 -2 -1 -1 -1 -1 -2 -1  1  5 -2 -2  0
-3 -3 -4 -4 -2 -2 -3 -2 -2 -3 -2 -3 -1  1 -4 -3 -2 11  2 -3
-2 -2 -2 -3 -2 -1 -2 -3  2 -1 -1 -2 -1  3 -3 -2 -2  2  7 -1
 0 -3 -3 -3 -1 -2 -2 -3 -3  3  1 -2  1 -1 -2 -2  0 -3 -1  4
"""


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
_AMINO_CODES: Final = _translation(_AMINO20)
_NUC_CODES: Final = _translation(("A", "C", "G", "T"), {"U": 3})


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A fixed integer hash: the same buckets on every platform and numpy version."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _blosum62() -> np.ndarray:
    return np.array(_BLOSUM62.split(), dtype=np.int16).reshape(20, 20)


def _neighbours(k: int, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Each k-mer's BLOSUM62 neighbourhood: the k-mers it scores at least ``threshold`` against.

    k-mers of the 20 amino acids are indexed in base 20, first residue most significant. Returns
    ``(starts, flat)``: k-mer ``x``'s neighbours are ``flat[starts[x]:starts[x + 1]]``, ascending.
    A pair scores ``B[x0, y0]`` plus its suffixes' score, so the suffix pairs scoring at least
    ``threshold - B[x0, y0]`` are found once per distinct need (at most 16 of them) and shifted into
    place for each first pair: no table of all 20^k x 20^k scores (128 MB at k = 3).
    """
    m = _blosum62()
    tail = np.zeros((1, 1), dtype=np.int16)  # scores of the (k - 1)-mer suffixes, all against all
    for _ in range(k - 1):
        tail = (m[:, None, :, None] + tail[None, :, None, :]).reshape(tail.shape[0] * 20, -1)
    width = tail.shape[0]
    suffix_pairs = {int(need): np.nonzero(tail >= need) for need in np.unique(threshold - m)}
    xs, ys = [], []
    for x0 in range(20):
        for y0 in range(20):
            r, c = suffix_pairs[int(threshold - m[x0, y0])]
            xs.append(r + x0 * width)
            ys.append(c + y0 * width)
    x, y = np.concatenate(xs).astype(np.int64), np.concatenate(ys).astype(np.int64)
    order = np.argsort(x * 20**k + y, kind="stable")
    starts = np.zeros(20**k + 1, dtype=np.int64)
    np.cumsum(np.bincount(x, minlength=20**k), out=starts[1:])
    return starts, y[order]


class _Space:
    """One k-mer space (alphabet size, k) with its column table, or its neighbour lists.

    A k-mer's bucket and sign come from the hash of its index in base
    ``alphabet`` (first residue most significant); column ``bucket`` counts
    +1, column ``dim + bucket`` counts -1 and column ``2 * dim`` is dropped.
    Windows are indexed in base ``alphabet + 1`` so that a window holding a
    residue outside the alphabet needs no separate check: its index maps to the
    dropped column, like the extra index ``(alphabet + 1) ** k`` that marks a
    window running into the next record.

    With a ``threshold`` (20 amino acids only) a window counts into the column of every k-mer
    of its BLOSUM62 neighbourhood instead (:func:`_neighbours`): window index ``w``'s columns are
    ``flat[starts[w]:starts[w + 1]]``, an empty list for a window that is dropped, and
    ``columns`` is ``None``. ``centred`` spaces (also as lists) subtract ``mean`` per window of
    valid residues (``valid``, per window index): the counts a random sequence is expected to add.
    """

    def __init__(
        self, alphabet: int, k: int, dim: int, seed: int, *, canonical: bool = False, threshold: int | None = None,
        centred: bool = False,
    ) -> None:
        self.alphabet = alphabet
        self.k = k
        self.dim = dim
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
        self.columns: np.ndarray | None = None
        self.starts: np.ndarray | None = None
        self.flat: np.ndarray | None = None
        self.valid: np.ndarray | None = None
        self.mean: np.ndarray | None = None
        if threshold is None and not centred:
            self.columns = np.full(self.sentinel + 1, 2 * dim, dtype=np.intp)
            self.columns[: self.sentinel][valid] = signed_bucket[index[valid]]
            return
        if alphabet != 20:
            raise ValueError("BLOSUM62 neighbourhoods and centring need the 20 amino acids")
        if threshold is None:  # each k-mer its own only neighbour: exact counts, as lists
            nb_starts, nb_flat = np.arange(size + 1, dtype=np.int64), np.arange(size, dtype=np.int64)
        else:
            nb_starts, nb_flat = _neighbours(k, threshold)
        kmer = np.where(valid, index, 0)
        lens = np.zeros(self.sentinel + 1, dtype=np.int64)  # the sentinel's list is empty
        lens[: self.sentinel] = np.where(valid, np.diff(nb_starts)[kmer], 0)
        self.starts = np.zeros(self.sentinel + 2, dtype=np.int64)
        np.cumsum(lens, out=self.starts[1:])
        firsts = np.zeros(self.sentinel + 1, dtype=np.int64)
        firsts[: self.sentinel] = nb_starts[kmer]
        at = np.repeat(firsts - self.starts[:-1], lens) + np.arange(int(self.starts[-1]))
        self.flat = signed_bucket[nb_flat[at]].astype(np.intp)
        self.valid = np.zeros(self.sentinel + 1, dtype=bool)
        self.valid[: self.sentinel] = valid
        self.mean = np.zeros(dim, dtype=np.float32)
        if centred:
            # What one window of a random sequence (residues drawn from the background frequencies)
            # adds to each column: its k-mer's probability times the signs of its neighbours' buckets.
            prob = np.ones(1)
            for _ in range(k):
                prob = (prob[:, None] * _BACKGROUND[None, :]).ravel()
            target = signed_bucket[nb_flat]
            sign = np.where(target < dim, 1.0, -1.0)
            weights = np.repeat(prob, np.diff(nb_starts)) * sign
            self.mean[:] = np.bincount(target % dim, weights=weights, minlength=dim)

    @cached_property
    def native_columns(self) -> np.ndarray:
        """The column table as C ints, for the compiled loop (made on first use: 4 bytes a k-mer)."""
        assert self.columns is not None
        return self.columns.astype(np.intc)

    @cached_property
    def native_lists(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The neighbour lists as the compiled loop reads them: ``(heads, more, starts, flat)``.

        Each list's first four columns in ``heads``, one row per window index, shorter lists padded
        with dropped columns (a different one for each slot of nearby indexes, so that their
        increments do not wait on one another); ``more`` marks the lists that go on, in
        ``flat[starts[w]:starts[w + 1]]``.
        """
        assert self.starts is not None and self.flat is not None
        lens = np.diff(self.starts)
        slots = 4
        spread = slots * np.arange(lens.size)[:, None] + np.arange(slots)[None, :]
        heads = (2 * self.dim + spread % _DUMMIES).astype(np.intc)
        for slot in range(slots):
            has = lens > slot
            heads[has, slot] = self.flat[self.starts[:-1][has] + slot]
        rest = np.maximum(lens - slots, 0)
        starts = np.zeros(lens.size + 1, dtype=np.int64)
        np.cumsum(rest, out=starts[1:])
        at = np.repeat(self.starts[:-1] + slots - starts[:-1], rest) + np.arange(int(starts[-1]))
        return heads, (rest > 0).astype(np.uint8), starts, self.flat[at].astype(np.intc)


class KmerEmbedder:
    """Hashed, signed k-mer count vectors, L2-normalised.

    Parameters
    ----------
    k
        k-mer length for proteins.
    dim
        Vector length (number of hash buckets).
    nucleotide_k
        k-mer length for DNA and RNA (over ``ACGT``).
    strands
        ``"both"``: a nucleotide sequence and its reverse complement get the same vector (what
        new catalogs use); ``"forward"``: k-mers are read on the given strand only (catalogs made
        before, which record no ``strands``).
    alphabet
        Protein letters: ``"murphy12"``, Murphy et al.'s 12 groups (columns recorded before this
        parameter existed), or ``"amino20"``, the 20 amino acids (new columns).
    threshold
        With ``"amino20"`` and ``k <= 3``: a window counts into every k-mer it scores at least this
        against under BLOSUM62; ``None``: into its own k-mer only.
    centred
        With ``"amino20"``: subtract from each protein's counts what a random sequence with as
        many windows is expected to count (background residue frequencies).
    """

    name = "kmer"
    version = 1

    def __init__(
        self, k: int = 4, dim: int = 512, nucleotide_k: int = 6, strands: str = "forward",
        alphabet: str = "murphy12", threshold: int | None = None, centred: bool = False,
    ) -> None:
        if not 1 <= k <= 6 or not 1 <= nucleotide_k <= 10 or dim < 8:
            raise ValueError("need 1 <= k <= 6, 1 <= nucleotide_k <= 10 and dim >= 8")
        if strands not in STRANDS:
            raise ValueError(f"strands must be one of {', '.join(STRANDS)}")
        if alphabet not in ALPHABETS:
            raise ValueError(f"alphabet must be one of {', '.join(ALPHABETS)}")
        if alphabet == "amino20" and k > 4:
            raise ValueError("need k <= 4 over the 20 amino acids")
        if threshold is not None and (alphabet != "amino20" or k > 3 or not isinstance(threshold, int)):
            raise ValueError("a BLOSUM62 threshold (an integer) needs alphabet 'amino20' and k <= 3")
        if centred and alphabet != "amino20":
            raise ValueError("centred needs alphabet 'amino20'")
        self.k = k
        self.dim = dim
        self.nucleotide_k = nucleotide_k
        self.strands = strands
        self.alphabet = alphabet
        self.threshold = threshold
        self.centred = bool(centred)
        both = strands == "both"
        if alphabet == "murphy12":
            self._protein_codes = _PROTEIN_CODES
            self._protein = [_Space(len(_MURPHY12), j, dim, 1000 + j) for j in range(1, k + 1)]
        else:
            # Shorter k (for records too short, or whose every window is dropped) count exact k-mers.
            self._protein_codes = _AMINO_CODES
            self._protein = [_Space(20, j, dim, 3000 + j, threshold=threshold if j == k else None, centred=centred)
                             for j in range(1, k + 1)]
        self._nucleotide = [_Space(4, j, dim, 2000 + j, canonical=both) for j in range(1, nucleotide_k + 1)]

    def params(self) -> dict[str, Any]:
        """Parameters that recreate this embedder.

        ``strands``, ``alphabet``, ``threshold`` and ``centred`` only where they differ from the
        factory's defaults: records written before those parameters existed lack them.
        """
        out: dict[str, Any] = {"k": self.k, "dim": self.dim, "nucleotide_k": self.nucleotide_k}
        if self.strands == "both":
            out["strands"] = "both"
        if self.alphabet != "murphy12":
            out["alphabet"] = self.alphabet
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.centred:
            out["centred"] = True
        return out

    def embed(self, sequences: Sequence[str], molecules: Sequence[str] | None = None) -> np.ndarray:
        """Embed sequences; see :meth:`Embedder.embed`."""
        data = "".join(sequences).encode("ascii", errors="replace")
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in sequences], out=offsets[1:])
        nuc = None
        if molecules is not None:
            nuc = np.fromiter((is_nucleotide(m) for m in molecules), dtype=bool, count=len(sequences))
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
            codes = np.frombuffer(raw.translate(self._protein_codes), dtype=np.uint8)
            self._fill(out, np.arange(n), codes, offsets, self._protein)
        else:
            for mask, table, spaces in ((~nucleotide, self._protein_codes, self._protein),
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
    if _native_count is not None and space.columns is not None:
        _native_count(codes, np.ascontiguousarray(offsets, dtype=np.int64), space.native_columns, space.base,
                      space.k, out)
        return out
    if _native_neighbours is not None and space.starts is not None:
        heads, more, starts, flat = space.native_lists
        _native_neighbours(codes, np.ascontiguousarray(offsets, dtype=np.int64), heads, more, starts, flat,
                           space.mean, space.base, space.k, out)
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
    row_start = np.repeat(np.arange(0, n * width, width, dtype=np.intp), np.diff(offsets))[:windows]
    if space.columns is not None:
        col = space.columns.take(kmer)
        col += row_start
    else:
        # Each window's neighbour list, one after another, each column moved to its record's row.
        assert space.starts is not None and space.flat is not None
        first = space.starts.take(kmer)
        lens = space.starts.take(kmer + 1) - first
        ends = np.cumsum(lens)
        col = space.flat.take(np.repeat(first - (ends - lens), lens) + np.arange(int(ends[-1]) if lens.size else 0))
        col += np.repeat(row_start, lens)
    counts = np.bincount(col, minlength=n * width).reshape(n, width)
    np.subtract(counts[:, :dim], counts[:, dim : 2 * dim], out=out, casting="unsafe")
    if space.mean is not None:
        # As the compiled loop: less the mean per valid window (float32 product, then difference);
        # a record that counted nowhere gets zeros.
        assert space.valid is not None
        valid = np.bincount(row_start[: kmer.size] // width, weights=space.valid.take(kmer), minlength=n)
        out -= valid.astype(np.float32)[:, None] * space.mean[None, :]
        out[~counts.any(axis=1)] = 0
