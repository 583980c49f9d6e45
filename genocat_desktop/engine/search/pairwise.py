"""Pairwise alignment of a hit to its query, for the detail pane of a search hit.

The similarity search ranks by k-mer composition, which is not an alignment.
To let a biologist judge a hit the usual way, the selected hit is aligned to
the query with Biopython's :class:`~Bio.Align.PairwiseAligner`: local
(Smith-Waterman) with BLOSUM62 and BLAST's default gap costs (open 11,
extend 1) for proteins, and a simple +2/-3 scheme for nucleotides. Identity,
similarity and coverage are counted from the aligned blocks, so they do not
depend on how a Biopython version formats alignments.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

__all__ = ["MAX_CELLS", "AlignerProcess", "PairAlignment", "align_pair"]

#: Largest dynamic-programming matrix (query length × hit length) aligned.
#: 3·10⁸ cells take a few seconds and ~hundreds of MB of traceback in Biopython;
#: beyond that the detail pane says why there is no alignment instead of freezing.
MAX_CELLS: Final = 300_000_000
LINE_WIDTH: Final = 60
_NUCLEOTIDES: Final = frozenset("ACGTUN")

_ALIGNERS: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class PairAlignment:
    """A local alignment of a query and a hit.

    Attributes
    ----------
    score
        Raw alignment score (BLOSUM62 units for proteins).
    identity
        Identical positions / alignment columns (gaps count as columns), in [0, 1].
    similarity
        Positions with a positive substitution score / alignment columns, in [0, 1].
    coverage
        Query residues inside the aligned region / query length, in [0, 1].
    length
        Number of alignment columns, gaps included.
    identities, positives, gaps
        The counts behind the ratios.
    query_start, query_end, target_start, target_end
        The aligned region, 0-based, end exclusive.
    aligned_query, match_line, aligned_target
        The three text rows of the alignment (``-`` for gaps; ``|`` identical,
        ``+`` similar, space otherwise in the middle row).
    scoring
        How it was scored, e.g. ``"local, BLOSUM62, gap open 11, extend 1"``.
    """

    score: float
    identity: float
    similarity: float
    coverage: float
    length: int
    identities: int
    positives: int
    gaps: int
    query_start: int
    query_end: int
    target_start: int
    target_end: int
    aligned_query: str
    match_line: str
    aligned_target: str
    scoring: str

    def format(self, width: int = LINE_WIDTH, query_name: str = "Query", target_name: str = "Hit") -> str:
        """The alignment as BLAST-like text blocks of ``width`` columns, with residue numbers."""
        label = max(len(query_name), len(target_name))
        out = []
        qpos, tpos = self.query_start, self.target_start
        for start in range(0, self.length, width):
            q = self.aligned_query[start : start + width]
            m = self.match_line[start : start + width]
            t = self.aligned_target[start : start + width]
            q_end = qpos + sum(c != "-" for c in q)
            t_end = tpos + sum(c != "-" for c in t)
            out.append(f"{query_name:<{label}} {qpos + 1:>6} {q} {q_end}")
            out.append(f"{'':<{label}} {'':>6} {m}")
            out.append(f"{target_name:<{label}} {tpos + 1:>6} {t} {t_end}")
            out.append("")
            qpos, tpos = q_end, t_end
        return "\n".join(out).rstrip("\n")


def _is_nucleotide(sequence: str) -> bool:
    return bool(sequence) and set(sequence) <= _NUCLEOTIDES


def _aligner(kind: str) -> Any:
    aligner = _ALIGNERS.get(kind)
    if aligner is None:
        from Bio.Align import PairwiseAligner, substitution_matrices

        aligner = PairwiseAligner()
        aligner.mode = "local"
        if kind == "protein":
            aligner.substitution_matrix = substitution_matrices.load("BLOSUM62")
            aligner.open_gap_score = -11
            aligner.extend_gap_score = -1
        else:
            aligner.match_score = 2
            aligner.mismatch_score = -3
            aligner.open_gap_score = -5
            aligner.extend_gap_score = -2
        _ALIGNERS[kind] = aligner
    return aligner


def _clean(sequence: str) -> str:
    # Catalog sequences are already upper case without '*'; queries from the
    # search box too, but an alignment must never fail on a letter BLOSUM62
    # lacks (J, O, U...): map anything unknown to X.
    return sequence.upper().rstrip("*")


def align_pair(query: str, target: str) -> PairAlignment:
    """Align ``target`` to ``query`` locally and count identity, similarity and coverage.

    Parameters
    ----------
    query, target
        Residues (upper case). Both nucleotide → nucleotide scoring; else BLOSUM62.

    Returns
    -------
    PairAlignment
        With all counts zero when the sequences share no positively scoring region.

    Raises
    ------
    ValueError
        If a sequence is empty or the alignment would exceed :data:`MAX_CELLS`.
    """
    query, target = _clean(query), _clean(target)
    if not query or not target:
        raise ValueError("cannot align an empty sequence")
    if len(query) * len(target) > MAX_CELLS:
        raise ValueError(
            f"sequences too long to align here ({len(query):,} × {len(target):,} residues)"
        )
    kind = "nucleotide" if _is_nucleotide(query) and _is_nucleotide(target) else "protein"
    aligner = _aligner(kind)
    if kind == "protein":
        alphabet = set(aligner.substitution_matrix.alphabet)
        query = "".join(c if c in alphabet else "X" for c in query)
        target = "".join(c if c in alphabet else "X" for c in target)
        scoring = "local, BLOSUM62, gap open 11, extend 1"
    else:
        scoring = "local, match +2, mismatch -3, gap open 5, extend 2"
    alignments = aligner.align(query, target)
    try:
        best = alignments[0]
    except (IndexError, ValueError):  # no positively scoring local alignment
        return _empty(scoring)
    score = float(best.score)
    if score <= 0:
        return _empty(scoring)
    coords = np.asarray(best.coordinates)
    q_rows: list[str] = []
    t_rows: list[str] = []
    mid: list[str] = []
    identities = positives = gaps = 0
    matrix = aligner.substitution_matrix if kind == "protein" else None
    for i in range(coords.shape[1] - 1):
        q0, q1 = int(coords[0, i]), int(coords[0, i + 1])
        t0, t1 = int(coords[1, i]), int(coords[1, i + 1])
        if q1 > q0 and t1 > t0:  # aligned block
            qs, ts = query[q0:q1], target[t0:t1]
            q_rows.append(qs)
            t_rows.append(ts)
            for a, b in zip(qs, ts, strict=True):
                if a == b:
                    identities += 1
                    positives += 1
                    mid.append("|")
                elif matrix is not None and matrix[a][b] > 0:
                    positives += 1
                    mid.append("+")
                else:
                    mid.append(" ")
        elif q1 > q0:  # gap in the target
            q_rows.append(query[q0:q1])
            t_rows.append("-" * (q1 - q0))
            mid.append(" " * (q1 - q0))
            gaps += q1 - q0
        elif t1 > t0:  # gap in the query
            q_rows.append("-" * (t1 - t0))
            t_rows.append(target[t0:t1])
            mid.append(" " * (t1 - t0))
            gaps += t1 - t0
    aq, at, ml = "".join(q_rows), "".join(t_rows), "".join(mid)
    length = len(aq)
    q_start, q_end = int(coords[0, 0]), int(coords[0, -1])
    t_start, t_end = int(coords[1, 0]), int(coords[1, -1])
    return PairAlignment(
        score=score,
        identity=identities / length if length else 0.0,
        similarity=positives / length if length else 0.0,
        coverage=(q_end - q_start) / len(query),
        length=length,
        identities=identities,
        positives=positives,
        gaps=gaps,
        query_start=q_start,
        query_end=q_end,
        target_start=t_start,
        target_end=t_end,
        aligned_query=aq,
        match_line=ml,
        aligned_target=at,
        scoring=scoring,
    )


def _empty(scoring: str) -> PairAlignment:
    return PairAlignment(0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, "", "", "", scoring)



def _serve(conn: Any) -> None:
    """The child process of :class:`AlignerProcess`: align requests until told to stop."""
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        try:
            conn.send(("ok", align_pair(*request)))
        except Exception as exc:  # sent back and raised in the parent
            conn.send(("error", str(exc)))


class AlignerProcess:
    """Aligns in a long-lived child process.

    Biopython's C aligner holds the GIL for the whole dynamic programme (about
    30-60 ms per million cells here): in the process of a desktop app that
    would freeze the GUI thread too. A child process costs one start (~1 s, done
    ahead of time with :meth:`start`) and then a pipe round trip per alignment.
    Not thread-safe: use it from one thread (the GUI's engine thread).
    """

    def __init__(self) -> None:
        self._proc: Any = None
        self._conn: Any = None

    def start(self) -> None:
        """Start the child now (it is started on first use otherwise)."""
        if self._proc is not None and self._proc.is_alive():
            return
        import multiprocessing

        # spawn, not fork: forking a process that runs Lance's and Qt's threads can deadlock.
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child,), name="genocat-aligner", daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent

    def align(self, query: str, target: str, cancelled: Callable[[], bool] | None = None) -> PairAlignment:
        """:func:`align_pair` in the child process.

        Parameters
        ----------
        query, target
            As for :func:`align_pair`.
        cancelled
            Polled every 50 ms while the child works; when it returns True the
            child is stopped (a new one starts next time) and
            :class:`~genocat_desktop.engine.core.errors.Cancelled` is raised.

        Raises
        ------
        ValueError
            As :func:`align_pair`, or if the child process died.
        Cancelled
            If ``cancelled()`` became true.
        """
        from genocat_desktop.engine.core.errors import Cancelled

        self.start()
        try:
            self._conn.send((query, target))
            while not self._conn.poll(0.05):
                if cancelled is not None and cancelled():
                    self.close()
                    raise Cancelled()
                if not self._proc.is_alive():
                    raise EOFError
            status, value = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionError, OSError):
            self.close()
            raise ValueError("the alignment process stopped unexpectedly") from None
        if status != "ok":
            raise ValueError(str(value))
        result: PairAlignment = value
        return result

    def close(self) -> None:
        """Stop the child process (asks politely, then terminates it after a second)."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
        if proc is not None:
            proc.join(timeout=1.0)
            if proc.is_alive():
                proc.terminate()  # it holds no shared state: only an alignment in progress
                proc.join()
        if conn is not None:
            conn.close()
