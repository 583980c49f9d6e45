"""Translated search: a protein query against nucleotide rows, or a nucleotide query against proteins.

A protein and a DNA record share no vector space, but the DNA record encodes a protein: BLAST's
``tblastn`` and ``blastx`` compare them through the six reading frames (:mod:`.frames`). The
:class:`~genocat_desktop.engine.search.searcher.Searcher` comes here when the rows searched hold
no sequence of the query's molecule type but some of the other one. Both directions seed first, as
tblastn and DIAMOND blastx do, so a query is aligned to the few frames or rows that share seeds
with it rather than to all of them (:mod:`.seeds`: spaced seeds, BLOSUM62 similar seeds, ungapped
diagonal extension).

- **Protein query, nucleotide rows** (tblastn-style): every searched row is translated in six
  frames and the seeds of the frames' stop-free stretches indexed (:class:`.seeds.SeedIndex`, one
  row per stretch, so that an ungapped extension stops at a stop codon; :data:`SEED_THRESHOLD`),
  once per catalog version and filter, then cached (with progress, cancellable). The query looks
  up its seeds; the :data:`FRAME_CANDIDATES` frames whose stretches' best diagonals score highest
  are aligned with pyopal's score-only pass (BLOSUM62 and BLAST's gap costs, the protein scheme of
  :mod:`.scoring`; stops are ``*``), each row keeps its best frame, and the ``k`` best rows get the
  full alignment. Rows without a seed hit are not reported, so there may be fewer than ``k`` hits.
  While the frames hold at most :data:`SEED_ABOVE` residues (or without the compiled seed loops,
  or for a query shorter than a seed) every frame is aligned instead. Up to
  :data:`MAX_NUCLEOTIDES` residues searched; above that the search is refused with a message
  naming the bound.
- **Nucleotide query, protein rows** (blastx-style): the query is translated in six frames. While
  the rows searched hold at most :data:`MAX_PROTEIN_RESIDUES` residues each frame is aligned to
  every row; above, each frame looks up its seeds in the protein rows' seed index (the one the
  ``sensitive`` mode uses, :class:`.homology.SequenceStores`), and of all the frames' proposals
  the :data:`ROW_CANDIDATES` best by ungapped score are aligned, each row to the frame that
  proposed it.

Each hit reports the protein alignment columns (``aln_score``, ``bits``, ``evalue``, ``identity``,
``query_cov``, ``target_cov``), its ``frame`` (+1..+3, -1..-3) and the nucleotide coordinates of
the aligned region (``hit_start``/``hit_end`` on the record, or ``query_start``/``query_end`` on the
query): 1-based, inclusive, ``start > end`` on a minus frame, as BLAST prints them. The E-value's
search space is the query's residues times the (translated) residues searched, seeded or not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.search.frames import FRAMES, frame_span, six_frames
from genocat_desktop.engine.search.scoring import PROTEIN

__all__ = [
    "BLASTX",
    "FRAME_CANDIDATES",
        "MAX_NUCLEOTIDES",
    "MAX_PROTEIN_RESIDUES",
    "ROW_CANDIDATES",
    "SEED_ABOVE",
    "SEED_THRESHOLD",
    "TBLASTN",
    "ProteinSeeds",
    "TranslatedSearch",
]

#: Most nucleotide residues a protein query is compared with in six frames (all rows, every query).
MAX_NUCLEOTIDES: Final = 50_000_000
#: Most protein residues a nucleotide query's frames are aligned to in full; above, the rows its seeds propose.
MAX_PROTEIN_RESIDUES: Final = 300_000
#: Translated residues (all frames) above which a protein query is aligned to the frames its seeds propose.
SEED_ABOVE: Final = 200_000
#: Frames a protein query is aligned to when seeded (the best by ungapped diagonal score).
FRAME_CANDIDATES: Final = 200
#: Protein rows each frame of a nucleotide query is aligned to when seeded.
ROW_CANDIDATES: Final = 200
#: The frames' similar-seed threshold (BLOSUM62 over the seed's positions): the time per query
#: falls with it and the hits at low identity too (``bench/dna/translated_run.py``).
SEED_THRESHOLD: Final = 20.0
TBLASTN: Final = "translated (tblastn-style)"
BLASTX: Final = "translated (blastx-style)"
# Rows translated between cancel checks and progress reports.
_BATCH: Final = 4_096


@dataclass(frozen=True, slots=True)
class ProteinSeeds:
    """The protein rows' seed index, as the searcher holds it (for blastx-style searches above the bound).

    Attributes
    ----------
    propose
        A frame's translation and a count: the ids (row addresses) of at most that many rows its
        seeds propose, best first, and their ungapped scores (:meth:`.seeds.SeedIndex.candidates`).
    sequences
        The residues of rows given by id, in that order.
    rows
        The hit columns of rows given by id, in that order.
    """

    propose: Callable[[str, int], tuple[np.ndarray, np.ndarray]]
    sequences: Callable[[np.ndarray], list[str]]
    rows: Callable[[np.ndarray], pa.Table]


_ALIGNERS: dict[int, Any] = {}


def _aligner() -> Any:
    # One per thread: a pyopal Aligner holds scratch buffers.
    key = threading.get_ident()
    aligner = _ALIGNERS.get(key)
    if aligner is None:
        import pyopal
        from scoring_matrices import ScoringMatrix

        # pyopal 0.7 refuses to encode '*' although BLOSUM62 scores it: the same matrix, with the
        # stop renamed to a letter that PROTEIN.translate never leaves in a sequence.
        blosum = ScoringMatrix.from_name(PROTEIN.matrix)
        letters = "".join(_STOP if c == "*" else c for c in blosum.alphabet)
        rows = [list(r) for r in blosum]  # type: ignore[attr-defined]  # a ScoringMatrix iterates its rows
        matrix = ScoringMatrix(rows, alphabet=letters, name=PROTEIN.matrix + " (stop as J)")
        aligner = pyopal.Aligner(matrix, gap_open=PROTEIN.gap_open, gap_extend=PROTEIN.gap_extend)
        _ALIGNERS[key] = aligner
    return aligner


_STOP: Final = "J"
_STOP_AS_J: Final = bytes.maketrans(b"*", _STOP.encode())


def _encode(protein: str) -> bytes:
    return protein.encode("ascii").translate(PROTEIN.translate).translate(_STOP_AS_J)


def _database(proteins: Sequence[bytes]) -> Any:
    import pyopal

    return pyopal.Database(list(proteins), alphabet=_aligner().alphabet)


def _seeded() -> bool:
    from genocat_desktop.engine.search.seeds import compiled

    return compiled()


@dataclass(slots=True)
class _Targets:
    """The rows of one version and filter, ready to align (translated for a protein query)."""

    key: tuple[int, str | None, str]
    rows: pa.Table
    lengths: np.ndarray  # each row's residues
    frames: list[bytes]  # tblastn: six per row, in FRAMES order; blastx: the rows' proteins
    residues: int  # residues in ``frames``: the E-value's search space
    database: Any = None  # every frame, for pyopal (built when first aligned in full)
    seeds: _FrameSeeds | None = None  # tblastn, when seeded: the frames' seed index

    def all_frames(self) -> Any:
        if self.database is None:
            self.database = _database(self.frames)
        return self.database


class TranslatedSearch:
    """Translated searches of one catalog; caches the translated rows of the last version and filter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lengths: dict[tuple[int, str | None], int] = {}
        self._targets: _Targets | None = None

    def residues(self, ds: Any, sql: str | None) -> int:
        """The residues of the rows passing ``sql`` (cached per version)."""
        key = (ds.version, sql)
        if key not in self._lengths:
            import pyarrow.compute as pc

            table = ds.to_table(columns=["length"], filter=sql)
            self._lengths = {key: int(pc.sum(table.column("length")).as_py() or 0)}
        return self._lengths[key]

    def check(self, ds: Any, sql: str | None, query_kind: str) -> None:
        """Refuse a protein query against more nucleotide residues than :data:`MAX_NUCLEOTIDES`."""
        if query_kind != "protein":
            return
        total = self.residues(ds, sql)
        if total > MAX_NUCLEOTIDES:
            scope = "the rows matching the filters hold" if sql else "the catalog holds"
            raise QueryError(
                f"a protein query against nucleotide rows is searched in six frames, for at most "
                f"{MAX_NUCLEOTIDES:,} nucleotides; {scope} {total:,}: add a filter (e.g. on organism or "
                f"source_file) or search with a nucleotide sequence"
            )

    def _prepared(self, ds: Any, sql: str | None, columns: list[str], kind: str,
                  progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> _Targets:
        key = (ds.version, sql, kind)
        with self._lock:
            targets = self._targets
            if targets is not None and targets.key == key and set(columns) <= set(targets.rows.column_names):
                return targets
            read = list(dict.fromkeys([*columns, "sequence", "length"]))
            rows = ds.to_table(columns=read, filter=sql)
            sequences = rows.column("sequence").to_pylist()
            lengths = np.asarray(rows.column("length").to_numpy(zero_copy_only=False), dtype=np.int64)
            if kind == "tblastn":
                frames = _translated(sequences, progress, cancel)
            else:
                frames = [_encode(s) for s in sequences]
            targets = _Targets(key, rows, lengths, frames, sum(len(f) for f in frames))
            if kind == "tblastn" and targets.residues > SEED_ABOVE and _seeded():
                targets.seeds = _frame_seeds(frames, progress, cancel)
            self._targets = targets
            return targets

    def protein_to_nucleotides(
        self, ds: Any, sql: str | None, columns: list[str], query: str, k: int,
        progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
    ) -> tuple[pa.Table, np.ndarray]:
        """tblastn-style: the ``k`` nucleotide rows whose best frame aligns best to a protein query.

        ``progress`` and ``cancel`` serve the translation and the seed index, built on the first
        query of a catalog version and filter.

        Returns
        -------
        tuple
            The hit rows (``columns`` plus the alignment columns, ``frame``, ``hit_start``,
            ``hit_end``) and their bit scores, best first.
        """
        self.check(ds, sql, "protein")
        targets = self._prepared(ds, sql, columns, "tblastn", progress, cancel)
        n = targets.rows.num_rows
        scores = np.full(6 * n, -1, dtype=np.int64)  # -1: a frame not aligned
        q = _encode(query)
        seeds = targets.seeds
        if seeds is not None and len(query) >= seeds.index.params.span:
            chosen = seeds.frames(query, FRAME_CANDIDATES)
            for hit in _aligner().align(q, _database([targets.frames[int(c)] for c in chosen]), mode="score"):
                scores[chosen[hit.target_index]] = hit.score
        else:
            for hit in _aligner().align(q, targets.all_frames(), mode="score"):
                scores[hit.target_index] = hit.score
        per_frame = scores.reshape(n, 6)
        best_frame = per_frame.argmax(axis=1)
        best = per_frame.max(axis=1)
        order = _top(best, min(k, int(np.count_nonzero(best >= 0))))
        chosen = np.asarray([6 * int(i) + int(best_frame[i]) for i in order], dtype=np.int64)
        found = _aligner().align(q, _database([targets.frames[int(c)] for c in chosen]), mode="full")
        stats = _columns(len(order), ("hit_start", "hit_end"))
        for hit in found:
            j = hit.target_index
            row = int(order[j])
            frame = FRAMES[int(best_frame[row])]
            start, end = frame_span(frame, hit.target_start, hit.target_end, int(targets.lengths[row]))
            _fill(stats, j, hit, len(query), frame, (start, end))
            stats["target_cov"][j] = (abs(end - start) + 1) / max(int(targets.lengths[row]), 1)
        return _finish(targets.rows.take(order).select(columns), stats, len(query), targets.residues)

    def nucleotides_to_proteins(
        self, ds: Any, sql: str | None, columns: list[str], query: str, k: int, seeds: ProteinSeeds | None
    ) -> tuple[pa.Table, np.ndarray]:
        """blastx-style: the ``k`` protein rows that align best to one of a nucleotide query's frames.

        ``seeds`` proposes rows for each frame when the rows searched hold more than
        :data:`MAX_PROTEIN_RESIDUES` residues (without it, all rows are aligned).

        Returns
        -------
        tuple
            The hit rows (``columns`` plus the alignment columns, ``frame``, ``query_start``,
            ``query_end``) and their bit scores, best first.
        """
        translations = six_frames(query)
        frames = [_encode(f) for f in translations]
        if seeds is not None and self.residues(ds, sql) > MAX_PROTEIN_RESIDUES:
            # Each frame is aligned only to rows its own seeds propose (DIAMOND blastx's way): a frame
            # without a seed hit on a row would not be that row's best frame. Of all the frames'
            # proposals, the ROW_CANDIDATES best by ungapped score are aligned: a gene's coding frame
            # outscores the others' random hits, which would cost five times the alignments.
            proposals = [seeds.propose(f, ROW_CANDIDATES) for f in translations]
            frame_of = np.concatenate([np.full(len(p), f, dtype=np.int64) for f, (p, _) in enumerate(proposals)])
            scored = np.concatenate([score for _, score in proposals]).astype(np.int64)
            kept = np.lexsort((frame_of, -scored))[:ROW_CANDIDATES]  # ties: the frames' order
            every = np.concatenate([p for p, _ in proposals])
            proposed = [every[kept[frame_of[kept] == f]] for f in range(6)]
            ids = np.unique(every[kept])
            proteins = [_encode(s) for s in seeds.sequences(ids)]
            lengths = np.array([len(p) for p in proteins], dtype=np.int64)
            residues = self.residues(ds, sql)
            subsets = [np.searchsorted(ids, p) for p in proposed]
            databases = [_database([proteins[int(i)] for i in s]) for s in subsets]
            rows_of: Callable[[np.ndarray], pa.Table] = lambda order: seeds.rows(ids[order])  # noqa: E731
        else:
            targets = self._prepared(ds, sql, columns, "blastx")
            proteins, lengths, residues = targets.frames, targets.lengths, targets.residues
            subsets = [np.arange(targets.rows.num_rows)] * 6
            databases = [targets.all_frames()] * 6
            rows_of = lambda order: targets.rows.take(order).select(columns)  # noqa: E731
        n = len(proteins)
        per_frame = np.full((n, 6), -1, dtype=np.int64)  # -1: not aligned
        for f, protein in enumerate(frames):
            subset = subsets[f]
            if not protein or not len(subset):
                continue
            for hit in _aligner().align(protein, databases[f], mode="score"):
                per_frame[subset[hit.target_index], f] = hit.score
        best_frame = per_frame.argmax(axis=1)
        best = per_frame.max(axis=1)
        order = _top(best, min(k, int(np.count_nonzero(best >= 0))))
        stats = _columns(len(order), ("query_start", "query_end"))
        for f, protein in enumerate(frames):
            picked = [j for j, i in enumerate(order) if best_frame[i] == f]
            if not picked:
                continue
            found = _aligner().align(protein, _database([proteins[int(order[j])] for j in picked]), mode="full")
            for hit in found:
                j = picked[hit.target_index]
                span = frame_span(FRAMES[f], hit.query_start, hit.query_end, len(query))
                _fill(stats, j, hit, len(query), FRAMES[f], span)
                stats["target_cov"][j] = (hit.target_end - hit.target_start + 1) / max(int(lengths[order[j]]), 1)
        return _finish(rows_of(order), stats, max(len(query) // 3, 1), residues)


@dataclass(frozen=True, slots=True)
class _FrameSeeds:
    """The seeds of the frames' stop-free stretches, and the frame each stretch lies in."""

    index: Any  # :class:`.seeds.SeedIndex`, one row per stretch
    frame_of: np.ndarray  # int64 per stretch: its frame (6 * row + the frame's position in FRAMES)

    def frames(self, query: str, n: int) -> np.ndarray:
        """The ``n`` frames whose stretches' best diagonals score highest against ``query``, best first."""
        # A frame holds several stretches: ask for more, keep each frame's first (best) appearance.
        stretches, _ = self.index.candidates(query, 4 * n)
        frames = self.frame_of[stretches]
        _, first = np.unique(frames, return_index=True)
        return frames[np.sort(first)][:n]

    @property
    def nbytes(self) -> int:
        return int(self.index.nbytes + self.frame_of.nbytes)


def _frame_seeds(frames: Sequence[bytes], progress: ProgressCallback, cancel: CancelToken | None) -> _FrameSeeds:
    """Index the seeds of each frame's stop-free stretches (one seed row each).

    A stretch ends at a stop: the ungapped extension of a seed hit stops there too, as a stop in
    the right frame of a gene does not occur, while a wrong frame, stopped every ~20 codons, would
    otherwise score long random diagonals through its stops.
    """
    from genocat_desktop.engine.search.seeds import SeedIndex, SeedParams

    params = SeedParams(threshold=SEED_THRESHOLD)
    stretches: list[str] = []
    owner: list[int] = []
    stop = _STOP.encode()
    for i, frame in enumerate(frames):
        if i % (6 * _BATCH) == 0 and cancel is not None:
            cancel.raise_if_cancelled()
        for piece in frame.split(stop):
            if len(piece) >= params.span:
                stretches.append(piece.decode("ascii"))
                owner.append(i)
    index = SeedIndex.build(np.arange(len(stretches), dtype=np.int64), stretches, progress=progress, cancel=cancel,
                            params=params)
    return _FrameSeeds(index, np.asarray(owner, dtype=np.int64))


def _translated(sequences: Sequence[str], progress: ProgressCallback, cancel: CancelToken | None) -> list[bytes]:
    """The six frames of each nucleotide sequence, encoded for pyopal (in :data:`.frames.FRAMES` order)."""
    frames: list[bytes] = []
    n = len(sequences)
    for first in range(0, n, _BATCH):
        if cancel is not None:
            cancel.raise_if_cancelled()
        frames.extend(_encode(f) for s in sequences[first:first + _BATCH] for f in six_frames(s))
        last = min(n, first + _BATCH)
        progress(Progress(last, n, "rows", "translating", f"six-frame translation: {last:,} of {n:,} rows"))
    return frames


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best rows, best first; ties keep the rows' order."""
    return np.lexsort((np.arange(scores.size), -scores))[:k]


def _columns(n: int, span: tuple[str, str]) -> dict[str, np.ndarray]:
    return {
        "aln_score": np.zeros(n, dtype=np.int64),
        "identity": np.zeros(n),
        "query_cov": np.zeros(n),
        "target_cov": np.zeros(n),
        "frame": np.zeros(n, dtype=np.int8),
        span[0]: np.zeros(n, dtype=np.int64),
        span[1]: np.zeros(n, dtype=np.int64),
    }


def _fill(stats: dict[str, np.ndarray], j: int, hit: Any, query_length: int, frame: int, span: tuple[int, int]
          ) -> None:
    """One hit's alignment columns from pyopal's full result (identity as BLAST counts it, gaps included)."""
    ops = hit.alignment
    stats["aln_score"][j] = hit.score
    stats["identity"][j] = ops.count("M") / len(ops) if ops else 0.0
    aligned = abs(span[1] - span[0]) + 1 if "query_start" in stats else hit.query_end - hit.query_start + 1
    stats["query_cov"][j] = aligned / max(query_length, 1)
    stats["frame"][j] = frame
    names = [c for c in stats if c.endswith("_start") or c.endswith("_end")]
    stats[names[0]][j], stats[names[1]][j] = span


def _finish(
    rows: pa.Table, stats: dict[str, np.ndarray], query_residues: int, db_residues: int
) -> tuple[pa.Table, np.ndarray]:
    """The hit rows with their columns, and bit scores (the ranking score)."""
    bits = PROTEIN.bits(stats["aln_score"])
    evalue = query_residues * max(db_residues, 1) * np.exp2(-bits)
    out = rows
    for name, values in (("aln_score", stats["aln_score"]), ("bits", np.round(bits, 6)), ("evalue", evalue)):
        out = out.append_column(name, pa.array(values))
    for name, values in stats.items():
        if name != "aln_score":
            out = out.append_column(name, pa.array(np.round(values, 6) if values.dtype.kind == "f" else values))
    return out, bits
