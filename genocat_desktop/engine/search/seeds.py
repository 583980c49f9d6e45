"""Seed-and-extend candidate generation for protein search (the prefilter before Smith-Waterman).

Ranking rows by k-mer vector cosine loses distant homologues before the alignment sees them, and
loses more as the catalog grows. This prefilter works like BLAST's and MMseqs2's: short seeds that
tolerate substitutions, each hit extended along its diagonal.

- **Seeds.** A seed is a spaced pattern of residues (:data:`SHAPE`: ``1`` = a position that must
  match, ``0`` = a free one, as in DIAMOND's spaced seeds, which find diverged homologues more
  often than contiguous words of the same weight). The letters may be grouped into a reduced
  alphabet (:class:`SeedParams` ``alphabet``); by default each residue is its own letter. The
  index holds every window of every row (or every ``stride``-th), counting-sorted by seed key:
  one ``uint32`` position per window in the segment's concatenated residues.
- **Similar seeds.** The query looks up, for each window, every key scoring at least
  :data:`THRESHOLD` against it under BLOSUM62 (BLAST's neighbourhood words, MMseqs2's similar
  k-mers), so a seed hit needs no exact match. A budget on the hits this costs
  (``max_hits``) raises the threshold for long queries, so the time per query is bounded; past
  ``hits_length`` residues the budget shrinks in proportion, and in a catalog of fewer than
  ``hits_residues`` residues with the square root of its size (:func:`hit_budget`).
- **Diagonals.** Each hit is extended both ways along its diagonal without gaps until the score
  falls ``xdrop`` below its best (BLAST's ungapped X-drop extension); a hit inside a segment
  already found on the same diagonal is not extended again. A row scores its best segment:
  random hits make short, low segments, a homologue's reach far along its diagonal.
- **Ranking.** Candidates come best-first by that ungapped score (then by how many hits). A budget
  of Smith-Waterman cells (query length times the rows' residues, :func:`within_cells`) may cut the
  list, so a long query aligns fewer rows.
- **Low complexity.** Seeds far more frequent than the average (counted over the whole index)
  are not looked up: their hits are mostly repeats and would cost more than all the others.

The index is a list of segments, each an independent counting-sorted index of consecutive rows;
:meth:`SeedIndex.extend` adds one for newly appended rows and merges neighbours of similar size
(so there are O(log n) segments), and a segment stays under 2^32 residues so positions fit
``uint32``. A row's hits are found in one segment and processed in the same order whatever the
segmentation, and the frequency cut-off and hit budget use counts over the whole index, so an
extended index ranks exactly like one built from scratch.

**Nucleotides** (:data:`NUCLEOTIDE_SEEDS`, blastn's seeding): the same index over the letters ACGT
(``residues``), exact words only (BLAST's word of 11, or a spaced template as discontiguous
megablast's), extended with the match/mismatch scores of the DNA scoring scheme
(:data:`.scoring.NUCLEOTIDE`), and the reverse-complemented query looked up as well
(``both_strands``), so a row scores the best diagonal on either strand: one index serves both.

One module for the index's build, growth and lookups (~800 lines): they share the segment layout
(key counts, postings, offsets, row blocks) and the compiled loops of ``_seeds.pyx`` that read it,
and the invariant above (an extended index ranks as one built whole) holds only while they change
together; the search settings that depend on the catalog are elsewhere (:mod:`.modes`).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.search.scoring import NUCLEOTIDE

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ALPHABET", "CANDIDATE_CELLS", "MIN_CANDIDATES", "MIN_HITS", "NUCLEOTIDE_SEEDS", "NUCLEOTIDE_SHAPE",
           "PROTEIN_SEEDS", "SHAPE", "THRESHOLD", "UNGAPPED_STATISTICS", "SeedIndex", "SeedParams", "compiled",
           "encode", "hit_budget", "nucleotide_params", "ungapped_cutoff", "within_cells"]

AMINO: Final = "ARNDCQEGHILKMFPSTWYV"
# Every residue its own letter: substitutions are tolerated by the similar seeds instead, which
# keep the key space large (20^5) and so the random hits per similar seed few; Murphy's 10- and
# 15-letter reductions with the same number of hits found fewer family members
# (bench/seeds_bench.py).
ALPHABET: Final = tuple(AMINO)
SHAPE: Final = "1101011"
THRESHOLD: Final = 20.0
_BATCH: Final = 65_536
_MAX_SEGMENT_RESIDUES: Final = 2**32 - 1
_BLOCK_SHIFT: Final = 8
#: Candidates aligned whatever their cost (:meth:`SeedIndex.candidates` ``cells``): room for a full
#: top 50 and the rows the composition adjustment reorders.
MIN_CANDIDATES: Final = 200
#: Smith-Waterman cells the seeds' candidates may cost a query (query length times their residues);
#: see :func:`within_cells`. A 300-residue query still aligns ~1,000 average rows; a 1,200-residue one
#: with long candidates a few hundred (at 100k and 1M rows sens@50 within 0.001, BENCHMARKS.md).
CANDIDATE_CELLS: Final = 100_000_000
#: The least seed-hit budget of a query up to ``hits_length`` residues, however small the catalog
#: (:func:`hit_budget`).
MIN_HITS: Final = 100_000


@dataclass(frozen=True, slots=True)
class SeedParams:
    """The prefilter's settings (the defaults come from the measurements in ``bench/seeds_bench.py``).

    Attributes
    ----------
    alphabet
        Groups of residues; each group is one letter of the seed alphabet.
    shape
        The spaced seed: ``1`` = a position that counts, ``0`` = one that does not.
    threshold
        The least score of a similar seed against the query's window: BLOSUM62 summed over the
        seed's positions (raw units; over a reduced alphabet, the mean of each group pair).
    stride
        Index every ``stride``-th window of each row (2 halves the memory and the hits).
    xdrop
        An ungapped extension stops when its score falls this far below the best so far
        (BLOSUM62 units; BLAST's ungapped X-drop is 7 bits, about 16).
    frequent
        Seeds occurring more than ``frequent`` times their average count are not looked up.
    max_similar
        At most this many similar keys per query (long queries then fall back to exact keys).
    max_hits
        The seed hits a query may look up (the time per query is about proportional to them):
        past it, the threshold rises, and past that the query's most frequent seeds go.
    hits_length
        Queries longer than this many residues may look up ``max_hits * hits_length / length``
        hits (``None``: ``max_hits`` whatever the length). A long query has more windows on each
        homologue's diagonal, so a higher threshold still seeds it: the budget need not grow
        with the query (:func:`hit_budget`).
    hits_residues
        Catalogs of fewer residues than this may look up ``max_hits * sqrt(residues / hits_residues)``
        hits, at least :data:`MIN_HITS` (``None``: ``max_hits`` whatever the size). A seed's chance
        hits grow with the catalog, so a small one reaches a lower threshold for the same budget,
        where the similar seeds it adds find few homologues: at 100k proteins (38 M residues) 200k
        hits lost 0.002 sens@50 to 600k for a third less time at the 99th percentile, at 1M
        (377 M) 450k lost 0.022 (BENCHMARKS.md).
    residues
        The letters coded ``0..len - 1`` (any other letter never seeds): the 20 amino acids, or ACGT.
    match_mismatch
        Score matching and mismatching letters so (nucleotides) instead of by BLOSUM62.
    both_strands
        Also look up the query's reverse complement (nucleotides); a row scores its best diagonal
        on either strand.
    """

    alphabet: tuple[str, ...] = ALPHABET
    shape: str = SHAPE
    threshold: float = THRESHOLD
    stride: int = 1
    xdrop: int = 16
    frequent: float = 64.0
    max_similar: int = 4_000_000
    # 600,000 at 1M proteins: sens@50 0.631 against 0.550 at 150,000, for the CPU time per query the
    # smaller budget took with the embedding's 100 nearest also aligned (bench/seeds_bench.py, BENCHMARKS.md)
    max_hits: int = 600_000
    hits_length: int | None = None
    hits_residues: int | None = None
    residues: str = AMINO
    match_mismatch: tuple[int, int] | None = None
    both_strands: bool = False

    @property
    def span(self) -> int:
        """The seed's window length."""
        return len(self.shape)

    @property
    def weight(self) -> int:
        """The positions that count."""
        return self.shape.count("1")

    @property
    def keys(self) -> int:
        """How many distinct seed keys there are."""
        return int(len(self.alphabet) ** self.weight)


def _letter_codes(residues: str) -> np.ndarray:
    """Byte -> code: ``residues`` are ``0..len - 1`` (either case), anything else ``20``."""
    lut = np.full(256, 20, dtype=np.uint8)
    for i, a in enumerate(residues):
        lut[ord(a)] = i
        lut[ord(a.lower())] = i
    return lut


_LUT: Final = _letter_codes(AMINO)
_NUCLEOTIDE_LUT: Final = _letter_codes("ACGT")
_NUCLEOTIDE_LUT[[ord("U"), ord("u")]] = 3  # RNA reads as DNA, as the DNA scoring does


def compiled() -> bool:
    """Whether the compiled loops (``_seeds.pyx``) are built; without them there is no seed index.

    They are built with the package (``setup.py``); an install without a C compiler lacks them,
    and the search then keeps to its other candidate sources.
    """
    try:
        from genocat_desktop.engine.search import _seeds  # noqa: F401
    except ImportError:
        return False
    return True


def encode(sequence: str | bytes, residues: str = AMINO) -> np.ndarray:
    """Residue codes ``0..19`` in :data:`AMINO` order (or ``0..3`` in ACGT order, ``U`` as ``T``); else ``20``."""
    raw = sequence.encode("ascii", "replace") if isinstance(sequence, str) else sequence
    return _lut(residues)[np.frombuffer(raw, dtype=np.uint8)]


def _lut(residues: str) -> np.ndarray:
    if residues == AMINO:
        return _LUT
    return _NUCLEOTIDE_LUT if residues == "ACGT" else _letter_codes(residues)


def _reverse_complement(codes: np.ndarray) -> np.ndarray:
    """The reverse complement of ACGT codes (``3 - code``; anything else stays ``20``)."""
    return np.ascontiguousarray(np.where(codes < 4, 3 - codes, codes)[::-1]).astype(np.uint8)


_MATRICES: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}


def _matrices(alphabet: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """BLOSUM62 over the 20 residues plus "other" (``int32``, 21 x 21), and its group means (``float64``)."""
    cached = _MATRICES.get(alphabet)
    if cached is not None:
        return cached
    from Bio.Align import substitution_matrices

    blosum = substitution_matrices.load("BLOSUM62")
    full = np.full((21, 21), -1, dtype=np.int32)
    for i, a in enumerate(AMINO):
        for j, b in enumerate(AMINO):
            full[i, j] = int(blosum[a, b])
    groups = np.array([[sum(g.count(a) for a in AMINO) for g in alphabet]])  # sanity: each residue once
    if groups.sum() != 20 or any(sum(a in g for g in alphabet) != 1 for a in AMINO):
        raise ValueError("the seed alphabet must put each of the 20 residues in exactly one group")
    reduced = np.array([[np.mean([full[AMINO.index(a), AMINO.index(b)] for a in g for b in h]) for h in alphabet]
                        for g in alphabet], dtype=np.float64)
    _MATRICES[alphabet] = (full, reduced)
    return full, reduced


@functools.cache  # per query and strand otherwise; the arrays are only read
def _reduction(alphabet: tuple[str, ...], residues: str = AMINO) -> np.ndarray:
    """Residue code -> seed letter (``uint8``, 21 entries; "other" never reaches a seed)."""
    lut = np.zeros(21, dtype=np.uint8)
    for g, group in enumerate(alphabet):
        for a in group:
            lut[residues.index(a)] = g
    return lut


@functools.cache  # per query and strand otherwise; the arrays are only read
def _scores(params: SeedParams) -> tuple[np.ndarray, np.ndarray]:
    """The residue matrix of the extension (``int32``, 21 x 21) and the seed letters' (``float64``)."""
    if params.match_mismatch is None:
        return _matrices(params.alphabet)
    match, mismatch = params.match_mismatch
    size = len(params.residues)
    full = np.full((21, 21), mismatch, dtype=np.int32)  # "other" (N ...) mismatches everything, N included
    full[np.arange(size), np.arange(size)] = match
    lut = _reduction(params.alphabet, params.residues)
    alpha = len(params.alphabet)
    letters = np.full((alpha, alpha), float(mismatch))
    letters[lut[:size], lut[:size]] = float(match)
    return full, letters


def nucleotide_params(shape: str | None = None, **changes: Any) -> SeedParams:
    """:data:`NUCLEOTIDE_SEEDS` with another ``shape`` (or other settings): exact words stay exact."""
    base = NUCLEOTIDE_SEEDS
    shape = shape or base.shape
    match = (base.match_mismatch or (1, -1))[0]
    fields = {"shape": shape, "threshold": float(shape.count("1") * match + 1), **changes}
    from dataclasses import replace

    return replace(base, **fields)


@functools.cache  # per query and strand otherwise; the arrays are only read
def _shape_offsets(shape: str) -> np.ndarray:
    if not shape or shape[0] != "1" or shape[-1] != "1" or set(shape) - {"0", "1"}:
        raise ValueError(f"a seed shape is 0s and 1s starting and ending with 1, not {shape!r}")
    return np.array([i for i, c in enumerate(shape) if c == "1"], dtype=np.int32)


def _encode_all(sequences: Sequence[str] | pa.Array, progress: ProgressCallback, cancel: CancelToken | None,
                lut: np.ndarray = _LUT) -> tuple[np.ndarray, np.ndarray]:
    """All sequences' codes, concatenated, and the row offsets (``int64``, ``n + 1``)."""
    if hasattr(sequences, "buffers"):
        return _encode_arrow(sequences, progress, cancel, lut)
    n = len(sequences)
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    codes = np.empty(int(offsets[-1]), dtype=np.uint8)
    for first in range(0, n, _BATCH):
        if cancel is not None:
            cancel.raise_if_cancelled()
        last = min(n, first + _BATCH)
        joined = "".join(sequences[first:last]).encode("ascii", "replace")
        codes[offsets[first]:offsets[last]] = lut[np.frombuffer(joined, dtype=np.uint8)]
        progress(Progress(last, 3 * n, "rows", "seeds", f"seed index: {last:,} of {n:,} rows read"))
    return codes, offsets


def _encode_arrow(sequences: pa.Array, progress: ProgressCallback, cancel: CancelToken | None,
                  lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_encode_all` straight from an Arrow string array's buffers.

    A million Python strings cost ~0.4 GB and seconds to make at 1M proteins: here each residue
    is read once from the array's data buffer (one byte a residue: positions count bytes).
    """
    import pyarrow as pa

    if sequences.null_count:
        sequences = sequences.fill_null("")
    wide = pa.types.is_large_string(sequences.type) or pa.types.is_large_binary(sequences.type)
    if not (wide or pa.types.is_string(sequences.type) or pa.types.is_binary(sequences.type)):
        raise TypeError(f"sequences must be strings, not {sequences.type}")
    n = len(sequences)
    _, offsets_buffer, data_buffer = sequences.buffers()[:3]
    raw = np.frombuffer(offsets_buffer, dtype=np.int64 if wide else np.int32)[sequences.offset:sequences.offset + n + 1]
    offsets = raw.astype(np.int64) - int(raw[0]) if n else np.zeros(1, dtype=np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8)[int(raw[0]):int(raw[-1])] if n and data_buffer is not None \
        else np.empty(0, dtype=np.uint8)
    codes = np.empty(int(offsets[-1]), dtype=np.uint8)
    for first in range(0, n, _BATCH):
        if cancel is not None:
            cancel.raise_if_cancelled()
        last = min(n, first + _BATCH)
        np.take(lut, data[offsets[first]:offsets[last]], out=codes[offsets[first]:offsets[last]])
        progress(Progress(last, 3 * n, "rows", "seeds", f"seed index: {last:,} of {n:,} rows read"))
    return codes, offsets


@dataclass
class _Segment:
    """An index over consecutive rows: their residues, and their windows sorted by seed key."""

    row_ids: np.ndarray  # int64, the caller's ids
    codes: np.ndarray  # uint8, residues of all rows
    offsets: np.ndarray  # int64, rows + 1
    starts: np.ndarray  # int64, keys + 1: a key's postings are starts[key]..starts[key + 1]
    postings: np.ndarray  # uint32, window positions in ``codes``
    block_row: np.ndarray  # int32: the row holding position b << _BLOCK_SHIFT

    @property
    def rows(self) -> int:
        return len(self.row_ids)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.row_ids, self.codes, self.offsets, self.starts, self.postings,
                                      self.block_row))

    def counts(self) -> np.ndarray:
        return np.diff(self.starts)


def _build_segment(row_ids: np.ndarray, codes: np.ndarray, offsets: np.ndarray, params: SeedParams,
                   progress: ProgressCallback, cancel: CancelToken | None, done: int = 0,
                   total: int | None = None) -> _Segment:
    """Counting sort of the rows' windows by key: one pass counts, one writes (in batches of rows).

    Progress goes from ``done`` by two units per row, out of ``total`` (default: just this work).
    """
    from genocat_desktop.engine.search import _seeds

    shape = _shape_offsets(params.shape)
    lut = _reduction(params.alphabet, params.residues)
    alpha = len(params.alphabet)
    n = len(row_ids)
    counts = np.zeros(params.keys + 1, dtype=np.int64)
    step = max(1, _BATCH)
    for phase, first in [("count", f) for f in range(0, n, step)] + [("fill", f) for f in range(0, n, step)]:
        if cancel is not None:
            cancel.raise_if_cancelled()
        last = min(n, first + step)
        if phase == "count":
            _seeds.count_seeds(codes, offsets, first, last, shape, params.span, lut, alpha, params.stride,
                               counts[1:])
            if last == n:
                starts = np.cumsum(counts)
                postings = np.empty(int(starts[-1]), dtype=np.uint32)
                cursor = starts[:-1].copy()
        else:
            _seeds.fill_seeds(codes, offsets, first, last, shape, params.span, lut, alpha, params.stride,
                              cursor, postings)
        step_done = done + last + (n if phase == "fill" else 0)
        progress(Progress(step_done, total or 2 * n, "rows", "seeds",
                          f"seed index: {phase}ing seeds, {last:,} of {n:,} rows"))
    if n == 0:
        starts, postings = counts, np.empty(0, dtype=np.uint32)
    blocks = (int(offsets[-1]) >> _BLOCK_SHIFT) + 1
    # The row holding each block's first position (the first row ending after it); a position
    # later in the block is found from there by walking past the rows that end before it.
    block_row = (np.searchsorted(offsets[1:], np.arange(blocks, dtype=np.int64) << _BLOCK_SHIFT, side="right")
                 ).astype(np.int32)
    return _Segment(row_ids, codes, offsets, starts, postings, np.minimum(block_row, max(n - 1, 0)))


class SeedIndex:
    """Seeds of the protein (or, with :data:`NUCLEOTIDE_SEEDS`, nucleotide) rows of one catalog version, in RAM.

    Build with :meth:`build`, add appended rows with :meth:`extend`, ask :meth:`candidates`.
    """

    def __init__(self, segments: list[_Segment], params: SeedParams) -> None:
        self.params = params
        self._segments = segments
        self._lock = threading.Lock()
        self._skip: np.ndarray | None = None
        self._counts: np.ndarray | None = None
        self._state: dict[int, tuple[np.ndarray, ...]] = {}
        self._allowed_cache: tuple[Any, list[np.ndarray]] | None = None

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(cls, row_ids: np.ndarray, sequences: Sequence[str] | pa.Array, *,
              progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
              params: SeedParams | None = None) -> SeedIndex:
        """Index the seeds of ``sequences`` (residues of ``params.residues``), whose ids are ``row_ids``.

        Parameters
        ----------
        row_ids
            One id per sequence (``int64``); :meth:`candidates` returns these.
        sequences
            The residues (upper or lower case; letters outside ``params.residues`` never seed): strings,
            or an Arrow string array (read from its buffers, without making Python strings).
        progress, cancel
            Progress reports (unit ``rows``, phase ``seeds``) and the cancel token, polled between batches.
        params
            The settings; ``None``: :data:`PROTEIN_SEEDS`.

        Returns
        -------
        SeedIndex

        Raises
        ------
        Cancelled
            If ``cancel`` is cancelled.
        """
        index = cls([], params or PROTEIN_SEEDS)
        return index._add(np.asarray(row_ids, dtype=np.int64), sequences, progress, cancel)

    def extend(self, row_ids: np.ndarray, sequences: Sequence[str] | pa.Array, *,
               progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> SeedIndex:
        """A new index with these rows (newly appended fragments) added; ``self`` is unchanged.

        Ranks exactly as :meth:`build` over all the rows would.
        """
        index = SeedIndex(list(self._segments), self.params)
        return index._add(np.asarray(row_ids, dtype=np.int64), sequences, progress, cancel)

    def _add(self, row_ids: np.ndarray, sequences: Sequence[str] | pa.Array, progress: ProgressCallback,
             cancel: CancelToken | None) -> SeedIndex:
        if len(row_ids) != len(sequences):
            raise ValueError(f"{len(row_ids)} row ids for {len(sequences)} sequences")
        codes, offsets = _encode_all(sequences, progress, cancel, _lut(self.params.residues))
        n = len(row_ids)
        for first, last in _cuts(offsets):
            seg_offsets = offsets[first:last + 1] - offsets[first]
            seg_codes = codes[offsets[first]:offsets[last]]
            self._segments.append(_build_segment(row_ids[first:last], seg_codes, seg_offsets, self.params,
                                                 progress, cancel, n + 2 * first, 3 * n))
            self._merge_tail(progress, cancel)
        return self

    def _merge_tail(self, progress: ProgressCallback, cancel: CancelToken | None) -> None:
        """Merge the last two segments while the last is at least half the one before (O(log n) segments)."""
        segs = self._segments
        while len(segs) >= 2 and 2 * len(segs[-1].codes) >= len(segs[-2].codes) and \
                len(segs[-1].codes) + len(segs[-2].codes) <= _MAX_SEGMENT_RESIDUES:
            a, b = segs[-2], segs.pop()
            offsets = np.concatenate([a.offsets, b.offsets[1:] + a.offsets[-1]])
            segs[-1] = _build_segment(np.concatenate([a.row_ids, b.row_ids]), np.concatenate([a.codes, b.codes]),
                                      offsets, self.params, progress, cancel)

    # -- what it holds ------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        """How many rows are indexed."""
        return sum(s.rows for s in self._segments)

    @property
    def nbytes(self) -> int:
        """Bytes of RAM the index holds (residues and seeds; not the per-query scratch arrays)."""
        return sum(s.nbytes for s in self._segments)

    @property
    def residues(self) -> int:
        """How many residues the indexed rows hold."""
        return sum(int(s.offsets[-1]) for s in self._segments)

    @property
    def segments(self) -> int:
        """How many segments the index is made of."""
        return len(self._segments)

    def _key_counts(self) -> np.ndarray:
        """How many windows hold each key, over every segment (``int64`` per key)."""
        if self._counts is None:
            counts = np.zeros(self.params.keys, dtype=np.int64)
            for seg in self._segments:
                counts += seg.counts()
            self._counts = counts
        return self._counts

    def _skip_mask(self) -> np.ndarray:
        """Keys too frequent to look up (``uint8`` per key)."""
        if self._skip is None:
            counts = self._key_counts()
            average = max(counts.sum() / max(np.count_nonzero(counts), 1), 1.0)
            self._skip = (counts > self.params.frequent * average).astype(np.uint8)
        return self._skip

    # -- searching --------------------------------------------------------------------------
    def candidates(self, query: str, n: int, allowed: np.ndarray | None = None,
                   cells: int | None = None, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The rows most likely homologous to ``query``, best first.

        Parameters
        ----------
        query
            Protein residues (nucleotides with :data:`NUCLEOTIDE_SEEDS`).
        n
            How many candidates at most.
        allowed
            Sorted row ids that pass a filter; ``None``: every row.
        cells
            At most this many Smith-Waterman cells (query length times the candidates' residues, best
            first) beyond the first :data:`MIN_CANDIDATES`: the alignment's cost, so a long query
            aligns fewer rows than a short one; ``None``: ``n`` rows whatever their length.
        threshold
            The similar seeds' least score for this query (the hit budget may still raise it);
            ``None``: the index's own (:attr:`SeedParams.threshold`).

        Returns
        -------
        tuple of numpy.ndarray
            Row ids (``int64``) and their prefilter scores (``int32``, the ungapped alignment score
            of the row's best diagonal, BLOSUM62 or match/mismatch; with ``both_strands`` the best
            of either strand), best first. Rows without a seed hit are not candidates, so there may
            be fewer than ``n``.
        """
        where, best, hits, _ = self._stranded_row_scores(query, n, allowed, threshold)
        if len(where) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
        chosen = _ranked(where, best, hits, n)
        if cells is not None and len(chosen) > MIN_CANDIDATES:
            chosen = chosen[:within_cells(self._lengths(where[chosen]), len(query), cells)]
        return self._row_ids()[where[chosen]], best[chosen]

    def _lengths(self, where: np.ndarray) -> np.ndarray:
        """The residues of the rows at ``where`` (indexes over all segments)."""
        out = np.empty(len(where), dtype=np.int64)
        first = 0
        for seg in self._segments:
            inside = (where >= first) & (where < first + seg.rows)
            local = where[inside] - first
            out[inside] = seg.offsets[local + 1] - seg.offsets[local]
            first += seg.rows
        return out

    def significant(self, query: str, n: int, allowed: np.ndarray | None, db_residues: int,
                    evalue: float) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`candidates` whose best diagonal is significant: expected by chance at most ``evalue``
        times in a search of ``db_residues`` (ungapped Karlin-Altschul statistics, :func:`ungapped_cutoff`).

        Raises
        ------
        ValueError
            For settings without published ungapped statistics (BLOSUM62 seeds: use :meth:`candidates`).
        """
        ids, scores = self.candidates(query, n, allowed)
        keep = scores >= ungapped_cutoff(self.params, len(query), db_residues, evalue)
        return ids[keep], scores[keep]

    def significant_strands(self, query: str, n: int, allowed: np.ndarray | None, db_residues: int,
                            evalue: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`significant`, with the strands that seeded each row (``uint8``: 1 the query as given,
        2 its reverse complement, 3 both; 1 without ``both_strands``): a row seeded on one strand only
        is aligned on that one (:func:`.alignment.align_to`'s ``strands``)."""
        where, best, hits, strand = self._stranded_row_scores(query, n, allowed)
        if len(where) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0, dtype=np.uint8)
        chosen = _ranked(where, best, hits, n)
        chosen = chosen[best[chosen] >= ungapped_cutoff(self.params, len(query), db_residues, evalue)]
        return self._row_ids()[where[chosen]], best[chosen], strand[chosen]

    def _row_ids(self) -> np.ndarray:
        """The row ids of every segment, in the order of the indexes over all segments."""
        if len(self._segments) == 1:
            return self._segments[0].row_ids
        return np.concatenate([s.row_ids for s in self._segments])

    def _stranded_row_scores(self, query: str, n: int, allowed: np.ndarray | None, threshold: float | None = None,
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every touched row (index over all segments), its best diagonal score, its seed hits and the
        strands that seeded it (``uint8``: 1 the query as given, 2 its reverse complement, 3 both)."""
        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32),
                 np.empty(0, dtype=np.uint8))
        q = encode(query, self.params.residues)
        if n <= 0 or len(q) < self.params.span or not self._segments:
            return empty
        full = _scores(self.params)[0]
        strands = [q, _reverse_complement(q)] if self.params.both_strands else [q]
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        bases = np.cumsum([0] + [s.rows for s in self._segments])
        for codes in strands:
            keys, bounds = self._similar(codes, threshold)
            with self._lock:
                masks = self._allowed_masks(allowed)
                found = [self._hits(i, codes, keys, bounds, masks[i] if masks else None, full)
                         for i in range(len(self._segments))]
            rows = np.concatenate([f[0].astype(np.int64) + bases[i] for i, f in enumerate(found)])
            parts.append((rows, np.concatenate([f[1] for f in found]), np.concatenate([f[2] for f in found]),
                          np.full(len(rows), 1 << len(parts), dtype=np.uint8)))
        where, best, hits, strand = (np.concatenate(c) for c in zip(*parts, strict=True))
        if len(parts) > 1 and len(where):
            # a row touched on both strands: its better diagonal, the hits of both, both strands
            rows, inverse = np.unique(where, return_inverse=True)
            top = np.full(len(rows), np.iinfo(np.int32).min, dtype=np.int32)
            np.maximum.at(top, inverse, best)
            seeded = np.zeros(len(rows), dtype=np.uint8)
            np.bitwise_or.at(seeded, inverse, strand)
            where, best, strand = rows, top, seeded
            hits = np.bincount(inverse, weights=hits, minlength=len(rows)).astype(np.int32)
        return where, best, hits, strand

    def _similar(self, query: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The query's similar seeds, at the least threshold whose hits stay within the budget.

        A long query, or one rich in common seeds, would cost more than the budget: the threshold
        then rises (in steps of 1), so the time per query is bounded while short queries keep the
        most sensitive seeds. Each window keeps at least its own key, unless even those cost too
        much: then the most frequent of them go.
        """
        from genocat_desktop.engine.search import _seeds

        p = self.params if threshold is None else replace(self.params, threshold=threshold)
        budget = hit_budget(p, len(query), self.residues)
        keys, bounds, scores = _seeds.similar_seeds(query, _shape_offsets(p.shape), p.span,
                                                    _reduction(p.alphabet, p.residues), len(p.alphabet),
                                                    _scores(p)[1], p.threshold, p.max_similar)
        cost = np.where(self._skip_mask()[keys] == 0, self._key_counts()[keys], 0)
        if int(cost.sum()) <= budget:
            return keys, bounds
        # the hits at each threshold, from the scores: the least threshold within the budget
        steps = np.floor(np.minimum(scores, p.threshold + 40) - p.threshold)
        per_step = np.bincount(steps.astype(np.int64), weights=cost, minlength=42)
        above = np.cumsum(per_step[::-1])[::-1]  # hits of the keys scoring at least threshold + k
        rise = int(np.argmax(above <= budget)) if (above <= budget).any() else 40
        rise = min(rise, 40)  # the windows' own keys (step 40) stay whatever the budget
        keep = steps >= rise
        if rise == 40 and int(cost[keep].sum()) > budget:
            # even the windows' own keys cost too much (a long query in a large catalog): keep the
            # rarest of them, the ones that say most about a row, up to the budget
            ordered = np.sort(cost[keep])
            within = int(np.searchsorted(np.cumsum(ordered), budget, side="right"))
            keep &= cost <= (ordered[within - 1] if within else -1)
        window = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
        new_bounds = np.zeros_like(bounds)
        np.cumsum(np.bincount(window[keep], minlength=len(bounds) - 1), out=new_bounds[1:])
        return keys[keep], new_bounds

    def _hits(self, i: int, query: np.ndarray, keys: np.ndarray, bounds: np.ndarray, mask: np.ndarray | None,
              matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One segment's touched rows, their best ungapped segment score, and their hits."""
        from genocat_desktop.engine.search import _seeds

        segment = self._segments[i]
        state = self._state.get(id(segment))
        if state is None:
            size = max(segment.rows, 1)
            state = (np.zeros(size, dtype=np.int32), np.zeros((size, 4), dtype=np.int32))
            live = {id(s) for s in self._segments}
            self._state = {**{k: v for k, v in self._state.items() if k in live}, id(segment): state}
        touched, table = state
        count = _seeds.hsp_hits(keys, bounds, segment.starts, segment.postings, segment.offsets,
                                segment.block_row, _BLOCK_SHIFT, mask if mask is not None else _NO_MASK,
                                mask is not None, self._skip_mask(), query, segment.codes, matrix,
                                self.params.span, self.params.xdrop, touched, table)
        rows = touched[:count].copy()
        out = (rows, table[rows, 1], table[rows, 0])
        table[rows, 0] = 0
        return out

    def _allowed_masks(self, allowed: np.ndarray | None) -> list[np.ndarray]:
        """Per segment, ``uint8`` per row: whether the row id is in ``allowed``.

        A batch of queries passes the same filter each time: the masks of the last one are kept
        (compared by content, which costs far less than the lookups).
        """
        if allowed is None:
            return []
        allowed = np.asarray(allowed, dtype=np.int64)
        if self._allowed_cache is not None and np.array_equal(self._allowed_cache[0], allowed):
            return self._allowed_cache[1]
        masks = []
        for seg in self._segments:
            where = np.searchsorted(allowed, seg.row_ids).clip(0, max(len(allowed) - 1, 0))
            masks.append((allowed[where] == seg.row_ids).astype(np.uint8) if len(allowed) else
                         np.zeros(seg.rows, dtype=np.uint8))
        self._allowed_cache = (allowed.copy(), masks)
        return masks


_NO_MASK: Final = np.zeros(1, dtype=np.uint8)


def hit_budget(params: SeedParams, query_length: int, residues: int | None = None) -> int:
    """The seed hits a query of ``query_length`` residues may look up in an index of ``residues``
    residues: ``max_hits``, less in a catalog smaller than ``hits_residues`` (with the square root of
    its size, at least :data:`MIN_HITS`) and for a query longer than ``hits_length`` (in proportion,
    so its hits per residue stay those of that length)."""
    budget = params.max_hits
    if params.hits_residues is not None and residues is not None and residues < params.hits_residues:
        scaled = int(params.max_hits * math.sqrt(residues / params.hits_residues))
        budget = min(budget, max(scaled, MIN_HITS))
    if params.hits_length is None or query_length <= params.hits_length:
        return budget
    return budget * params.hits_length // query_length


def within_cells(lengths: np.ndarray, query_length: int, cells: int) -> int:
    """How many of the candidates (``lengths``: their residues, best first) to align within ``cells``.

    The first :data:`MIN_CANDIDATES` always; then rows while ``query_length`` times their residues,
    summed, stays within ``cells``. The Smith-Waterman pass costs about that product, so the budget
    bounds a long query's alignment time where a row count would let it grow with the query length;
    a long query's family fills its top hits early (many seeds per homologue), the low-ranked rows
    it drops are rarely homologues.
    """
    if len(lengths) <= MIN_CANDIDATES:
        return len(lengths)
    spent = np.cumsum(lengths[MIN_CANDIDATES:].astype(np.int64)) * max(query_length, 1)
    return MIN_CANDIDATES + int(np.searchsorted(spent, cells, side="right"))


def _cuts(offsets: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges whose residues fit one segment (positions are ``uint32``)."""
    n = len(offsets) - 1
    cuts, first = [], 0
    while first < n:
        last = int(np.searchsorted(offsets, offsets[first] + _MAX_SEGMENT_RESIDUES, side="right")) - 1
        last = max(last, first + 1)
        cuts.append((first, min(last, n)))
        first = min(last, n)
    return cuts


def _ranked(where: np.ndarray, best: np.ndarray, hits: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` best rows: best diagonal score first, then the most seed hits, then the row."""
    return _top(best.astype(np.int64) << 24 | np.minimum(hits, 2**24 - 1), where, n)


def _top(key: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    """Indexes of the ``n`` largest ``key`` (ties: smaller ``order`` first), best first."""
    if n < len(key):
        # the n-th largest key, then everything above it and enough of the ties
        part = np.argpartition(-key, n - 1)[:n]
        cut = key[part].min()
        part = np.flatnonzero(key >= cut)
    else:
        part = np.arange(len(key))
    chosen = part[np.lexsort((order[part], -key[part]))]
    return chosen[:n]


#: A catalog's protein seeds (``SeedIndex.build`` without ``params``): the defaults, with the seed-hit
#: budget shrinking for queries over 500 residues (at 100k proteins that took the 1,200-residue
#: queries from 600k hits to 250k and their search time by a third, sens@50 unchanged) and for
#: catalogs under 300 M residues (~1M proteins; BENCHMARKS.md).
PROTEIN_SEEDS: Final = SeedParams(hits_length=500, hits_residues=300_000_000)

#: blastn's word: 11 contiguous exact letters (``-task blastn``); see :data:`NUCLEOTIDE_SEEDS`.
NUCLEOTIDE_SHAPE: Final = "11111111111"
#: The nucleotide seed settings: exact words over ACGT on both strands, extended with the DNA
#: scheme's match/mismatch scores and blastn's ungapped X-drop (20 raw at 2/-3).
NUCLEOTIDE_SEEDS: Final = SeedParams(
    alphabet=tuple("ACGT"), shape=NUCLEOTIDE_SHAPE,
    threshold=float(NUCLEOTIDE_SHAPE.count("1") * (NUCLEOTIDE.match_mismatch or (1, -1))[0] + 1),
    xdrop=20, residues="ACGT", match_mismatch=NUCLEOTIDE.match_mismatch, both_strands=True,
    max_hits=150_000,  # the budget these settings were measured with (the protein default is larger)
)

#: Ungapped Karlin-Altschul λ and K per (match, mismatch), as BLAST publishes them for uniform base
#: frequencies (``blastn_values_2_3`` in its ``blast_stat.c``: the row without gaps).
UNGAPPED_STATISTICS: Final = {(2, -3): (0.55, 0.21)}


def ungapped_cutoff(params: SeedParams, query_length: int, db_residues: int, evalue: float) -> float:
    """The least best-diagonal score expected by chance at most ``evalue`` times: ``ln(K·m·n / E) / λ``.

    ``m`` is the query's length (twice it when both strands are looked up), ``n`` the residues searched.

    Raises
    ------
    ValueError
        When ``params`` score with a matrix whose ungapped statistics are not tabulated here.
    """
    stats = UNGAPPED_STATISTICS.get(params.match_mismatch) if params.match_mismatch else None
    if stats is None:
        raise ValueError(f"no ungapped statistics for the seed scores {params.match_mismatch or 'BLOSUM62'}")
    lam, k = stats
    space = max(query_length, 1) * (2 if params.both_strands else 1) * max(db_residues, 1)
    return math.log(k * space / evalue) / lam
