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
  (``max_hits``) raises the threshold for long queries, so the time per query is bounded.
- **Diagonals.** Each hit is extended both ways along its diagonal without gaps until the score
  falls ``xdrop`` below its best (BLAST's ungapped X-drop extension); a hit inside a segment
  already found on the same diagonal is not extended again. A row scores its best segment:
  random hits make short, low segments, a homologue's reach far along its diagonal.
- **Ranking.** Candidates come best-first by that ungapped score (then by how many hits).
- **Low complexity.** Seeds far more frequent than the average (counted over the whole index)
  are not looked up: their hits are mostly repeats and would cost more than all the others.

The index is a list of segments, each an independent counting-sorted index of consecutive rows;
:meth:`SeedIndex.extend` adds one for newly appended rows and merges neighbours of similar size
(so there are O(log n) segments), and a segment stays under 2^32 residues so positions fit
``uint32``. A row's hits are found in one segment and processed in the same order whatever the
segmentation, and the frequency cut-off and hit budget use counts over the whole index, so an
extended index ranks exactly like one built from scratch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress

__all__ = ["ALPHABET", "SHAPE", "THRESHOLD", "SeedIndex", "SeedParams", "compiled", "encode"]

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
    """

    alphabet: tuple[str, ...] = ALPHABET
    shape: str = SHAPE
    threshold: float = THRESHOLD
    stride: int = 1
    xdrop: int = 16
    frequent: float = 64.0
    max_similar: int = 4_000_000
    max_hits: int = 150_000

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


_LUT: Final = np.full(256, 20, dtype=np.uint8)
for _i, _a in enumerate(AMINO):
    _LUT[ord(_a)] = _i
    _LUT[ord(_a.lower())] = _i


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


def encode(sequence: str | bytes) -> np.ndarray:
    """Residue codes ``0..19`` in :data:`AMINO` order; anything else is ``20``."""
    raw = sequence.encode("ascii", "replace") if isinstance(sequence, str) else sequence
    return _LUT[np.frombuffer(raw, dtype=np.uint8)]


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


def _reduction(alphabet: tuple[str, ...]) -> np.ndarray:
    """Residue code -> seed letter (``uint8``, 21 entries; "other" never reaches a seed)."""
    lut = np.zeros(21, dtype=np.uint8)
    for g, group in enumerate(alphabet):
        for a in group:
            lut[AMINO.index(a)] = g
    return lut


def _shape_offsets(shape: str) -> np.ndarray:
    if not shape or shape[0] != "1" or shape[-1] != "1" or set(shape) - {"0", "1"}:
        raise ValueError(f"a seed shape is 0s and 1s starting and ending with 1, not {shape!r}")
    return np.array([i for i, c in enumerate(shape) if c == "1"], dtype=np.int32)


def _encode_all(sequences: Sequence[str], progress: ProgressCallback, cancel: CancelToken | None,
                ) -> tuple[np.ndarray, np.ndarray]:
    """All sequences' codes, concatenated, and the row offsets (``int64``, ``n + 1``)."""
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
        codes[offsets[first]:offsets[last]] = _LUT[np.frombuffer(joined, dtype=np.uint8)]
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
    lut = _reduction(params.alphabet)
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
    """Seeds of the protein rows of one catalog version, held in RAM.

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
    def build(cls, row_ids: np.ndarray, sequences: Sequence[str], *, progress: ProgressCallback = no_progress,
              cancel: CancelToken | None = None, params: SeedParams | None = None) -> SeedIndex:
        """Index the seeds of ``sequences`` (protein residues), whose ids are ``row_ids``.

        Parameters
        ----------
        row_ids
            One id per sequence (``int64``); :meth:`candidates` returns these.
        sequences
            The residues (upper or lower case; letters outside the 20 amino acids never seed).
        progress, cancel
            Progress reports (unit ``rows``, phase ``seeds``) and the cancel token, polled between batches.
        params
            The settings; ``None``: :class:`SeedParams`'s defaults.

        Returns
        -------
        SeedIndex

        Raises
        ------
        Cancelled
            If ``cancel`` is cancelled.
        """
        index = cls([], params or SeedParams())
        return index._add(np.asarray(row_ids, dtype=np.int64), sequences, progress, cancel)

    def extend(self, row_ids: np.ndarray, sequences: Sequence[str], *, progress: ProgressCallback = no_progress,
               cancel: CancelToken | None = None) -> SeedIndex:
        """A new index with these rows (newly appended fragments) added; ``self`` is unchanged.

        Ranks exactly as :meth:`build` over all the rows would.
        """
        index = SeedIndex(list(self._segments), self.params)
        return index._add(np.asarray(row_ids, dtype=np.int64), sequences, progress, cancel)

    def _add(self, row_ids: np.ndarray, sequences: Sequence[str], progress: ProgressCallback,
             cancel: CancelToken | None) -> SeedIndex:
        if len(row_ids) != len(sequences):
            raise ValueError(f"{len(row_ids)} row ids for {len(sequences)} sequences")
        codes, offsets = _encode_all(sequences, progress, cancel)
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
    def candidates(self, query: str, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The rows most likely homologous to ``query``, best first.

        Parameters
        ----------
        query
            Protein residues.
        n
            How many candidates at most.
        allowed
            Sorted row ids that pass a filter; ``None``: every row.

        Returns
        -------
        tuple of numpy.ndarray
            Row ids (``int64``) and their prefilter scores (``int32``, the ungapped alignment score
            of the row's best diagonal, BLOSUM62), best first. Rows without a seed hit are not
            candidates, so there may be fewer than ``n``.
        """

        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32))
        q = encode(query)
        if n <= 0 or len(q) < self.params.span or not self._segments:
            return empty
        full = _matrices(self.params.alphabet)[0]
        keys, bounds = self._similar(q)
        with self._lock:
            masks = self._allowed_masks(allowed)
            found = [self._hits(i, q, keys, bounds, masks[i] if masks else None, full)
                     for i in range(len(self._segments))]
        local = np.concatenate([f[0] for f in found])
        if len(local) == 0:
            return empty
        bases = np.cumsum([0] + [s.rows for s in self._segments])
        where = np.concatenate([f[0].astype(np.int64) + bases[i] for i, f in enumerate(found)])
        best = np.concatenate([f[1] for f in found])
        hits = np.concatenate([f[2] for f in found])
        chosen = _top(best.astype(np.int64) << 24 | np.minimum(hits, 2**24 - 1), where, n)
        ids = self._segments[0].row_ids if len(self._segments) == 1 else \
            np.concatenate([s.row_ids for s in self._segments])
        return ids[where[chosen]], best[chosen]

    def _similar(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The query's similar seeds, at the least threshold whose hits stay within the budget.

        A long query, or one rich in common seeds, would cost more than the budget: the threshold
        then rises (in steps of 1), so the time per query is bounded while short queries keep the
        most sensitive seeds. Each window keeps at least its own key, unless even those cost too
        much: then the most frequent of them go.
        """
        from genocat_desktop.engine.search import _seeds

        p = self.params
        keys, bounds, scores = _seeds.similar_seeds(query, _shape_offsets(p.shape), p.span, _reduction(p.alphabet),
                                                    len(p.alphabet), _matrices(p.alphabet)[1], p.threshold,
                                                    p.max_similar)
        cost = np.where(self._skip_mask()[keys] == 0, self._key_counts()[keys], 0)
        if int(cost.sum()) <= p.max_hits:
            return keys, bounds
        # the hits at each threshold, from the scores: the least threshold within the budget
        steps = np.floor(np.minimum(scores, p.threshold + 40) - p.threshold)
        per_step = np.bincount(steps.astype(np.int64), weights=cost, minlength=42)
        above = np.cumsum(per_step[::-1])[::-1]  # hits of the keys scoring at least threshold + k
        rise = int(np.argmax(above <= p.max_hits)) if (above <= p.max_hits).any() else 40
        rise = min(rise, 40)  # the windows' own keys (step 40) stay whatever the budget
        keep = steps >= rise
        if rise == 40 and int(cost[keep].sum()) > p.max_hits:
            # even the windows' own keys cost too much (a long query in a large catalog): keep the
            # rarest of them, the ones that say most about a row, up to the budget
            ordered = np.sort(cost[keep])
            within = int(np.searchsorted(np.cumsum(ordered), p.max_hits, side="right"))
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
