"""Translated search: a protein query against nucleotide rows, or a nucleotide query against proteins.

A protein and a DNA record share no vector space, but the DNA record encodes a protein: BLAST's
``tblastn`` and ``blastx`` compare them through the six reading frames (:mod:`.frames`). The
:class:`~genocat_desktop.engine.search.searcher.Searcher` comes here when the rows searched hold
no sequence of the query's molecule type but some of the other one.

- **Protein query, nucleotide rows** (tblastn-style): every searched row is translated in six
  frames (once per catalog version and filter, then cached), the query is aligned to all frames
  with pyopal's score-only pass (BLOSUM62 and BLAST's gap costs, the protein scheme of
  :mod:`.scoring`; stops are ``*``), each row keeps its best frame, and the ``k`` best rows get the
  full alignment. Up to :data:`MAX_NUCLEOTIDES` residues searched; above that the search is
  refused with a message naming the bound.
- **Nucleotide query, protein rows** (blastx-style): the query is translated in six frames and each
  frame aligned to the candidate rows: every row while the rows searched hold at most
  :data:`MAX_PROTEIN_RESIDUES` residues, else the rows whose embeddings are nearest to each frame's
  longest stop-free stretches.

Each hit reports the protein alignment columns (``aln_score``, ``bits``, ``evalue``, ``identity``,
``query_cov``, ``target_cov``), its ``frame`` (+1..+3, -1..-3) and the nucleotide coordinates of
the aligned region (``hit_start``/``hit_end`` on the record, or ``query_start``/``query_end`` on the
query): 1-based, inclusive, ``start > end`` on a minus frame, as BLAST prints them. The E-value's
search space is the query's residues times the (translated) residues searched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.search.frames import FRAMES, frame_span, six_frames
from genocat_desktop.engine.search.scoring import PROTEIN

__all__ = ["BLASTX", "MAX_NUCLEOTIDES", "MAX_PROTEIN_RESIDUES", "TBLASTN", "TranslatedSearch"]

#: Most nucleotide residues a protein query is compared with in six frames (all rows, every query).
MAX_NUCLEOTIDES: Final = 50_000_000
#: Most protein residues a nucleotide query's frames are aligned to in full; above, candidates by embedding.
MAX_PROTEIN_RESIDUES: Final = 10_000_000
#: Candidate rows per frame stretch when the protein rows are too many to align all.
CANDIDATES_PER_STRETCH: Final = 200
#: Stretches per frame embedded to find candidates.
STRETCHES_PER_FRAME: Final = 1
TBLASTN: Final = "translated (tblastn-style)"
BLASTX: Final = "translated (blastx-style)"

#: Reads the rows nearest to protein sequences by embedding (the searcher's strategy).
Candidates = Callable[[list[str]], pa.Table]

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


@dataclass(slots=True)
class _Targets:
    """The rows of one version and filter, ready to align (translated for a protein query)."""

    key: tuple[int, str | None, str]
    rows: pa.Table
    lengths: np.ndarray  # each row's residues
    frames: list[bytes]  # tblastn: six per row, in FRAMES order; blastx: the rows' proteins
    database: Any
    residues: int  # residues in the database: the E-value's search space


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

    def _prepared(self, ds: Any, sql: str | None, columns: list[str], kind: str) -> _Targets:
        key = (ds.version, sql, kind)
        with self._lock:
            targets = self._targets
            if targets is not None and targets.key == key and set(columns) <= set(targets.rows.column_names):
                return targets
            read = list(dict.fromkeys([*columns, "sequence", "length"]))
            rows = ds.to_table(columns=read, filter=sql)
            sequences = rows.column("sequence").to_pylist()
            if kind == "tblastn":
                frames = [_encode(f) for s in sequences for f in six_frames(s)]
            else:
                frames = [_encode(s) for s in sequences]
            lengths = np.asarray(rows.column("length").to_numpy(zero_copy_only=False), dtype=np.int64)
            targets = _Targets(key, rows, lengths, frames, _database(frames), sum(len(f) for f in frames))
            self._targets = targets
            return targets

    def protein_to_nucleotides(
        self, ds: Any, sql: str | None, columns: list[str], query: str, k: int
    ) -> tuple[pa.Table, np.ndarray]:
        """tblastn-style: the ``k`` nucleotide rows whose best frame aligns best to a protein query.

        Returns
        -------
        tuple
            The hit rows (``columns`` plus the alignment columns, ``frame``, ``hit_start``,
            ``hit_end``) and their bit scores, best first.
        """
        self.check(ds, sql, "protein")
        targets = self._prepared(ds, sql, columns, "tblastn")
        n = targets.rows.num_rows
        scores = np.zeros(6 * n, dtype=np.int64)
        q = _encode(query)
        for hit in _aligner().align(q, targets.database, mode="score"):
            scores[hit.target_index] = hit.score
        per_frame = scores.reshape(n, 6)
        best_frame = per_frame.argmax(axis=1)
        order = _top(per_frame.max(axis=1), k)
        chosen = [int(6 * i + best_frame[i]) for i in order]
        found = _aligner().align(q, _database([targets.frames[c] for c in chosen]), mode="full")
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
        self, ds: Any, sql: str | None, columns: list[str], query: str, k: int, candidates: Candidates | None
    ) -> tuple[pa.Table, np.ndarray]:
        """blastx-style: the ``k`` protein rows that align best to one of a nucleotide query's frames.

        ``candidates`` finds rows by embedding when the rows searched hold more than
        :data:`MAX_PROTEIN_RESIDUES` residues (without it, all rows are aligned).

        Returns
        -------
        tuple
            The hit rows (``columns`` plus the alignment columns, ``frame``, ``query_start``,
            ``query_end``) and their bit scores, best first.
        """
        frames = [_encode(f) for f in six_frames(query)]
        if candidates is not None and self.residues(ds, sql) > MAX_PROTEIN_RESIDUES:
            stretches = [s.decode() for f in frames for s in _longest_stretches(f)]
            rows = candidates(stretches)
            proteins = [_encode(s) for s in rows.column("sequence").to_pylist()]
            lengths = np.array([len(p) for p in proteins], dtype=np.int64)
            database, residues = _database(proteins), self.residues(ds, sql)
        else:
            targets = self._prepared(ds, sql, columns, "blastx")
            rows, proteins, lengths = targets.rows, targets.frames, targets.lengths
            database, residues = targets.database, targets.residues
        n = rows.num_rows
        per_frame = np.zeros((n, 6), dtype=np.int64)
        for f, protein in enumerate(frames):
            if protein:
                for hit in _aligner().align(protein, database, mode="score"):
                    per_frame[hit.target_index, f] = hit.score
        best_frame = per_frame.argmax(axis=1)
        order = _top(per_frame.max(axis=1), k)
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
        return _finish(rows.take(order).select(columns), stats, max(len(query) // 3, 1), residues)


def _longest_stretches(frame: bytes) -> list[bytes]:
    """A frame's longest stop-free stretches (what an embedder of proteins can read)."""
    stretches = sorted(frame.split(_STOP.encode()), key=len, reverse=True)[:STRETCHES_PER_FRAME]
    return [s for s in stretches if s]


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
