"""The detail pane's alignment: one hit aligned to its query, as text, scored like the hit list.

:func:`align_pair` aligns one hit with Biopython's :class:`~Bio.Align.PairwiseAligner` (local,
the same matrix and gap costs as the hit list's pyopal scoring, from
:mod:`~genocat_desktop.engine.search.scoring`) and returns the alignment itself, with identity,
similarity and coverage; nucleotides are aligned on both strands. A nucleotide sequence of at least
:data:`~.locate.LONG_RECORD` residues (a genome) is aligned only around where the other one lies in
it (:func:`~.placement.locate_pair`: minimap2's seeds and alignment, scored with the same scheme, as the
hit list's located hits are), so a fragment of a genome of any length gets its alignment and its
coordinates on the record in a fraction of a second. :class:`AlignerProcess` runs it
in a child process so that the GUI never waits on Biopython's GIL-holding C loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.core.molecules import is_nucleotide
from genocat_desktop.engine.search.locate import LONG_RECORD
from genocat_desktop.engine.search.placement import locate_pair
from genocat_desktop.engine.search.queries import detect_molecule
from genocat_desktop.engine.search.scoring import (
    NUCLEOTIDE,
    PROTEIN,
    Scheme,
    bio_matrix,
    evalue,
    reverse_complement,
    scheme_for,
)

__all__ = ["LINE_WIDTH", "MAX_CELLS", "AlignerProcess", "PairAlignment", "align_pair"]

#: Largest dynamic-programming matrix (query length × hit length) the detail pane aligns.
#: 3·10⁸ cells take a few seconds and ~hundreds of MB of traceback in Biopython;
#: beyond that the detail pane says why there is no alignment instead of freezing.
MAX_CELLS: Final = 300_000_000
LINE_WIDTH: Final = 60
_PAIR_ALIGNERS: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class PairAlignment:
    """A local alignment of a query and a hit.

    Attributes
    ----------
    score
        Raw alignment score, in the units of the scheme (the hit list's ``aln_score``).
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
        How it was scored, e.g. ``"local, BLOSUM62, gaps 11+L (BLAST defaults)"``.
    strand
        ``"plus"``, or ``"minus"`` when the query aligns to the hit's reverse complement (nucleotides):
        then ``target_start``/``target_end`` are still on the hit as stored, and the hit rows show
        its reverse complement with positions counting down, as BLAST shows Plus/Minus.
    target_length
        The hit's length (to number the reverse strand).
    bits
        The bit score, as the hit list computes it (composition-adjusted for proteins); NaN when
        nothing aligns or the scheme has no statistics.
    query_length
        The query's length (the E-value's ``m``).
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
    strand: str = "plus"
    target_length: int = 0
    bits: float = float("nan")
    query_length: int = 0

    def evalue(self, db_residues: int) -> float:
        """The E-value in a catalog of ``db_residues`` residues, as the hit list computes it."""
        return float(evalue(self.bits, self.query_length, db_residues))

    def format(self, width: int = LINE_WIDTH, query_name: str = "Query", target_name: str = "Hit") -> str:
        """The alignment as BLAST-like text blocks of ``width`` columns, with residue numbers."""
        label = max(len(query_name), len(target_name))
        out = []
        minus = self.strand == "minus"
        # On the minus strand the hit rows read the reverse complement: walk it, number the hit.
        qpos = self.query_start
        tpos = self.target_length - self.target_end if minus else self.target_start
        for start in range(0, self.length, width):
            q = self.aligned_query[start : start + width]
            m = self.match_line[start : start + width]
            t = self.aligned_target[start : start + width]
            q_end = qpos + sum(c != "-" for c in q)
            t_end = tpos + sum(c != "-" for c in t)
            first, last = (self.target_length - tpos, self.target_length - t_end + 1) if minus else (tpos + 1, t_end)
            out.append(f"{query_name:<{label}} {qpos + 1:>6} {q} {q_end}")
            out.append(f"{'':<{label}} {'':>6} {m}")
            out.append(f"{target_name:<{label}} {first:>6} {t} {last}")
            out.append("")
            qpos, tpos = q_end, t_end
        return "\n".join(out).rstrip("\n")


def _pair_aligner(scheme: Scheme) -> Any:
    aligner = _PAIR_ALIGNERS.get(scheme.matrix)
    if aligner is None:
        from Bio.Align import PairwiseAligner

        aligner = PairwiseAligner()
        aligner.mode = "local"
        aligner.substitution_matrix = bio_matrix(scheme)
        # Biopython scores the first gap position with open_gap_score, each further one with
        # extend_gap_score: the same G + (L - 1) * E as pyopal, so both find the same best score.
        aligner.open_gap_score = -scheme.gap_open
        aligner.extend_gap_score = -scheme.gap_extend
        _PAIR_ALIGNERS[scheme.matrix] = aligner
    return aligner


def _pair_scheme(query: str, target: str, molecule: str | None) -> Scheme:
    """The hit list's scheme: nucleotide when both sequences are (or ``molecule`` says so)."""
    if molecule is not None:
        return scheme_for(molecule)
    nucleotide = [is_nucleotide(detect_molecule(s)) for s in (query, target)]
    if nucleotide[0] != nucleotide[1]:
        # A translated hit (a protein against a gene, or the reverse): aligning the letters as they
        # are would draw noise. The hit list has its frame and coordinates.
        raise ValueError("a protein and a nucleotide sequence: this translated hit's frame and "
                         "coordinates are in the hit list; its alignment is not drawn here")
    return NUCLEOTIDE if nucleotide[0] else PROTEIN


def _in_alphabet(sequence: str, scheme: Scheme, alphabet: set[str]) -> str:
    # Catalog sequences and search-box queries are already upper case without '*', but an
    # alignment must never fail on a letter the matrix lacks: map it as the hit list does.
    # One byte table, not a loop per letter: a genome's 2.5 Mbp take 10 ms instead of a second.
    table = bytes(c if chr(c) in alphabet else ord(scheme.unknown) for c in range(256))
    return sequence.encode("ascii", "replace").translate(scheme.translate).translate(table).decode("ascii")


def align_pair(
    query: str, target: str, molecule: str | None = None, region: tuple[int, int] | None = None
) -> PairAlignment:
    """Align ``target`` to ``query`` locally and count identity, similarity and coverage.

    Parameters
    ----------
    query, target
        Residues (upper case).
    molecule
        The molecule type of both (``"protein"``, ``"dna"``, ``"rna"``); when
        ``None``, nucleotide scoring if both sequences are nucleotides, else protein.
    region
        Where the hit list located the query in a long nucleotide target (its ``hit_start`` and
        ``hit_end``: 1-based, either order): only that part of the target, widened by the query's
        length, is indexed and aligned (else the whole target is indexed first, ~0.1 s per Mbp).

    Returns
    -------
    PairAlignment
        With all counts zero when the sequences share no positively scoring region.

    Raises
    ------
    ValueError
        If a sequence is empty or the alignment would exceed :data:`MAX_CELLS`.
    """
    query, target = query.upper().rstrip("*"), target.upper().rstrip("*")
    if not query or not target:
        raise ValueError("cannot align an empty sequence")
    scheme = _pair_scheme(query, target, molecule)
    aligner = _pair_aligner(scheme)
    alphabet = set(aligner.substitution_matrix.alphabet)
    query, target = _in_alphabet(query, scheme, alphabet), _in_alphabet(target, scheme, alphabet)
    scoring = f"local, {scheme.name}"
    if scheme is NUCLEOTIDE and max(len(query), len(target)) >= LONG_RECORD:
        # A long record: align only around where the query lies in it, as the hit list does.
        located = _located_pair(query, target, scoring, region)
        if located is not None:
            return _with_bits(located, query, target, scheme)
    if len(query) * len(target) > MAX_CELLS:
        raise ValueError(
            f"no region of the {max(len(query), len(target)):,}-residue sequence shares seeds with the other one "
            f"(minimap2), and the whole is too long to align here ({len(query):,} × {len(target):,} residues)"
            if scheme is NUCLEOTIDE else
            f"sequences too long to align here ({len(query):,} × {len(target):,} residues)"
        )
    best, strand, aligned_to = _best_pair(aligner, query, target, both_strands=scheme is NUCLEOTIDE)
    if best is None or float(best.score) <= 0:
        return _empty(scoring)
    found = _described(best, query, aligned_to, aligner.substitution_matrix, scoring)
    found = _with_bits(found, query, target, scheme)
    if strand == "plus":
        return replace(found, target_length=len(target))
    # Aligned to the reverse complement: report the region on the hit as stored.
    return replace(found, strand="minus", target_length=len(target),
                   target_start=len(target) - found.target_end, target_end=len(target) - found.target_start)


def _with_bits(found: PairAlignment, query: str, target: str, scheme: Scheme) -> PairAlignment:
    """``found`` with the hit list's bit score for this pair (the same function, the same inputs)."""
    if scheme is PROTEIN:
        from genocat_desktop.engine.search.composition import adjusted_bits

        bits = float(adjusted_bits(query, [target], np.array([found.score]))[0])
    else:
        bits = float(scheme.bits(np.array([found.score]))[0])
    return replace(found, bits=bits, query_length=len(query))


def _located_pair(query: str, target: str, scoring: str, region: tuple[int, int] | None = None
                  ) -> PairAlignment | None:
    """The alignment where the shorter sequence lies in the longer (minimap2's, as the hit list scored it),
    or ``None`` if the seeds find no place. Coordinates are on the sequences as given."""
    offset, spot = 0, None
    if region is not None and len(target) > len(query):
        # Only around the located region (hit_start/hit_end, 1-based): a chromosome is not indexed whole.
        offset = max(0, min(region) - 1 - len(query) - 64)
        spot = locate_pair(query, target[offset : max(region) + len(query) + 64])
    if spot is None:
        offset, spot = 0, locate_pair(query, target)
    if spot is None:
        return None
    p = spot.placement
    (q0, q1), (t0, t1) = spot.query_span, (spot.target_span[0] + offset, spot.target_span[1] + offset)
    return PairAlignment(
        score=float(p.score), identity=p.identities / p.columns, similarity=p.positives / p.columns,
        coverage=(q1 - q0) / len(query), length=p.columns, identities=p.identities, positives=p.positives,
        gaps=p.gaps, query_start=q0, query_end=q1, target_start=t0, target_end=t1,
        aligned_query=spot.aligned_query, match_line=spot.match_line, aligned_target=spot.aligned_target,
        scoring=scoring + " (located by minimap2 seeds)", strand=spot.strand, target_length=len(target),
    )


def _best_pair(aligner: Any, query: str, target: str, *, both_strands: bool) -> tuple[Any, str, str]:
    """The best local alignment, its strand, and the target as aligned (reverse-complemented on ``minus``)."""
    candidates = [("plus", target)]
    if both_strands:
        candidates.append(("minus", reverse_complement(target)))
    best: tuple[Any, str, str] = (None, "plus", target)
    for strand, sequence in candidates:
        try:
            found = aligner.align(query, sequence)[0]
        except (IndexError, ValueError):  # no positively scoring local alignment
            continue
        if best[0] is None or float(found.score) > float(best[0].score):
            best = (found, strand, sequence)
    return best


def _described(best: Any, query: str, target: str, matrix: Any, scoring: str) -> PairAlignment:
    """Count identities, positives and gaps from the aligned blocks (independent of Biopython's text format)."""
    coords = np.asarray(best.coordinates)
    q_rows: list[str] = []
    t_rows: list[str] = []
    mid: list[str] = []
    identities = positives = gaps = 0
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
                elif matrix[a][b] > 0:
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
        score=float(best.score),
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

    def align(
        self, query: str, target: str, cancelled: Callable[[], bool] | None = None, molecule: str | None = None,
        region: tuple[int, int] | None = None,
    ) -> PairAlignment:
        """:func:`align_pair` in the child process.

        Parameters
        ----------
        query, target, molecule, region
            As for :func:`align_pair`.
        cancelled
            Polled every 50 ms while the child works; when it returns True the
            child is stopped (a new one starts next time) and
            :class:`~genocat_desktop.engine.core.errors.Cancelled` is raised.

        Returns
        -------
        PairAlignment
            The alignment.

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
            self._conn.send((query, target, molecule, region))
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
