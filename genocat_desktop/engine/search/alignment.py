"""Alignment of hits to their query: one scoring scheme per molecule for the hit list and the detail pane.

Embedding similarity finds candidates fast; biologists judge a hit by its
alignment. Both uses score with the same :class:`Scheme`, so the score a hit
gets in the list is the score its alignment shows in the detail pane:

* :func:`align_to` (the hit list) aligns a query to many candidates with
  `pyopal <https://pyopal.readthedocs.io>`_ (SIMD Smith-Waterman, the Opal
  library) and reports what BLAST users expect: ``aln_score`` (raw local
  score); ``bits``, the bit score ``(λS − ln K) / ln 2``; ``evalue``,
  ``m · n · 2^−bits`` with ``m`` the query length and ``n`` the catalog's
  residues (Karlin-Altschul; no edge-effect correction, so values are
  slightly lower than BLAST's for short sequences); ``identity``, identical
  positions over the aligned columns; ``query_cov``, ``target_cov``, the
  aligned fraction of each sequence.
* :func:`align_pair` (the detail pane) aligns one hit with Biopython's
  :class:`~Bio.Align.PairwiseAligner` (local, same matrix and gap costs) and
  returns the alignment itself; :class:`AlignerProcess` runs it in a child process.

Proteins use BLOSUM62 with BLAST's default gap costs (existence 11,
extension 1: a gap of length L costs 11 + L) and BLAST's published statistics
for that system, λ = 0.267 and K = 0.041. Nucleotides use blastn's defaults:
match 2, mismatch −3, a gap of length L costs 5 + 2L, with BLAST's published
gapped statistics for that system (``blastn_values_2_3`` in BLAST's
``blast_stat.c``: λ = 0.625, K = 0.41, valid for even scores, so an odd score
is rounded down first, as BLAST does). Nucleotide queries are aligned on both
strands; each hit keeps the better one, and ``sstrand`` says which (``plus``
or ``minus``, BLAST's names). A query of one molecule type against targets of
another is refused.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.catalog.table import ALIGNMENT_COLUMNS
from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.search.queries import detect_molecule

__all__ = [
    "ALIGNMENT_COLUMNS",
    "MAX_CELLS",
    "NUCLEOTIDE",
    "PROTEIN",
    "AlignerProcess",
    "PairAlignment",
    "Scheme",
    "align_pair",
    "align_to",
    "query_regions",
    "scheme_for",
]

#: Largest dynamic-programming matrix (query length × hit length) the detail pane aligns.
#: 3·10⁸ cells take a few seconds and ~hundreds of MB of traceback in Biopython;
#: beyond that the detail pane says why there is no alignment instead of freezing.
MAX_CELLS: Final = 300_000_000
LINE_WIDTH: Final = 60


@dataclass(frozen=True, slots=True)
class Scheme:
    """A scoring system and its Karlin-Altschul statistics (``None`` when unknown)."""

    name: str
    matrix: str  # a named matrix, or the name given to the match/mismatch matrix below
    gap_open: int  # the cost of a gap of length 1: a gap of length L costs G + (L - 1) * E
    gap_extend: int
    lam: float | None
    k: float | None
    translate: bytes  # maps residues outside the matrix alphabet
    unknown: str  # the matrix's "any residue" letter, for anything else
    match_mismatch: tuple[int, int] | None = None  # nucleotide schemes: (match, mismatch) over ACGT, N mismatches all
    even_scores: bool = False  # the statistics hold for even scores only: odd ones are rounded down first

    def stats_score(self, scores: np.ndarray) -> np.ndarray:
        """The raw scores the statistics apply to (odd ones rounded down when :attr:`even_scores`)."""
        return scores - (scores % 2) if self.even_scores else scores

    def bits(self, scores: np.ndarray) -> np.ndarray:
        """Bit scores ``(λS − ln K) / ln 2`` (NaN when the scheme has no statistics)."""
        if self.lam is None or self.k is None:
            return np.full(np.shape(scores), np.nan)
        return (self.lam * self.stats_score(np.asarray(scores)) - math.log(self.k)) / math.log(2)


PROTEIN: Final = Scheme(
    "BLOSUM62, gaps 11+L (BLAST defaults)", "BLOSUM62", 12, 1, 0.267, 0.041,
    bytes.maketrans(b"UOJ", b"XXX"), "X",
)
NUCLEOTIDE: Final = Scheme(
    "match 2, mismatch -3, gaps 5+2L (blastn defaults)", "blastn 2/-3", 7, 2, 0.625, 0.41,
    bytes.maketrans(b"U", b"T"), "N", match_mismatch=(2, -3), even_scores=True,
)
_NUCLEOTIDES: Final = "ACGTN"
_COMPLEMENT: Final = bytes.maketrans(b"ACGTUN", b"TGCAAN")
_BATCH_ALIGNERS: dict[str, Any] = {}
_PAIR_ALIGNERS: dict[str, Any] = {}


def scheme_for(molecule: str) -> Scheme:
    """The scoring scheme for ``"protein"``, ``"dna"`` or ``"rna"``."""
    return NUCLEOTIDE if molecule in ("dna", "rna") else PROTEIN


def reverse_complement(sequence: str) -> str:
    """The reverse complement of a nucleotide sequence (``U`` read as ``T``; other letters become ``N``)."""
    raw = sequence.upper().encode("ascii", "replace")
    known = bytes(c if c in b"ACGTUN" else ord("N") for c in raw)
    return known.translate(_COMPLEMENT)[::-1].decode("ascii")


def _match_mismatch_rows(scheme: Scheme) -> list[list[float]]:
    match, mismatch = scheme.match_mismatch or (1, -1)
    size = len(_NUCLEOTIDES)
    return [[float(match if i == j and i < size - 1 else mismatch) for j in range(size)] for i in range(size)]


def _opal_matrix(scheme: Scheme) -> Any:
    """The scheme's matrix as pyopal takes it: a name, or a built match/mismatch matrix."""
    if scheme.match_mismatch is None:
        return scheme.matrix
    from scoring_matrices import ScoringMatrix

    return ScoringMatrix(_match_mismatch_rows(scheme), alphabet=_NUCLEOTIDES, name=scheme.matrix)


def _bio_matrix(scheme: Scheme) -> Any:
    """The same matrix for Biopython's aligner."""
    from Bio.Align import substitution_matrices

    if scheme.match_mismatch is None:
        return substitution_matrices.load(scheme.matrix)
    array = substitution_matrices.Array(alphabet=_NUCLEOTIDES, dims=2)
    for i, a in enumerate(_NUCLEOTIDES):
        for j, b in enumerate(_NUCLEOTIDES):
            array[a, b] = _match_mismatch_rows(scheme)[i][j]
    return array


# ---------------------------------------------------------------------------- the hit list
def _batch_aligner(scheme: Scheme) -> Any:
    aligner = _BATCH_ALIGNERS.get(scheme.matrix)
    if aligner is None:
        import pyopal

        aligner = pyopal.Aligner(_opal_matrix(scheme), gap_open=scheme.gap_open, gap_extend=scheme.gap_extend)
        _BATCH_ALIGNERS[scheme.matrix] = aligner
    return aligner


def _check_molecules(query_molecule: str, target_molecules: Sequence[str]) -> bool:
    """Whether the query is a nucleotide; raises if the targets are not all of the query's type."""
    n = len(target_molecules)
    query_nuc = query_molecule in ("dna", "rna")
    target_nuc = np.array([m in ("dna", "rna") for m in target_molecules])
    if (target_nuc.any() and not target_nuc.all()) or bool(target_nuc.any()) != query_nuc:
        kind = "nucleotide" if query_nuc else "protein"
        raise QueryError(
            f"cannot align a {kind} query to {'mixed ' if 0 < target_nuc.sum() < n else ''}"
            f"{'protein' if query_nuc else 'nucleotide'} hits; restrict the search with 'molecule = {query_molecule}'"
        )
    return query_nuc


def align_to(
    query: str,
    query_molecule: str,
    targets: Sequence[str],
    target_molecules: Sequence[str],
    db_residues: int,
    *,
    detail: Callable[[np.ndarray], Sequence[int]] | None = None,
) -> dict[str, np.ndarray]:
    """Align ``query`` to each target (local, Smith-Waterman).

    Scores come from pyopal's score-only pass over every target (both strands for
    nucleotides); the traceback behind identity, coverage and strand, which costs
    several times more on long true hits, is computed for the ``detail`` targets only.

    Parameters
    ----------
    query, query_molecule
        The normalised query and its molecule type.
    targets, target_molecules
        Candidate sequences and their molecule types.
    db_residues
        Residues in the whole catalog (the search space of the E-value).
    detail
        Given the alignment scores, the indexes of the targets that get identity,
        coverage and strand (the hits shown); ``None``: every target. The others
        keep 0 and an empty strand.

    Returns
    -------
    dict
        :data:`ALIGNMENT_COLUMNS` → arrays aligned with ``targets``
        (``bits``/``evalue`` are NaN where the scheme has no statistics).

    Raises
    ------
    QueryError
        If query and targets are of different molecule types (protein vs nucleotide).
    """
    n = len(targets)
    out = {
        "aln_score": np.zeros(n, dtype=np.int64),
        "bits": np.full(n, np.nan),
        "evalue": np.full(n, np.nan),
        "identity": np.zeros(n),
        "query_cov": np.zeros(n),
        "target_cov": np.zeros(n),
        "sstrand": np.full(n, "", dtype=object),
    }
    if n == 0:
        return out
    scores, strands = best_scores(query, query_molecule, targets, target_molecules)
    out["aln_score"][:] = scores
    chosen = range(n) if detail is None else detail(scores)
    for i, (hit, strand) in _traced(query, query_molecule, targets, target_molecules, scores, strands, chosen):
        if query_molecule in ("dna", "rna"):
            out["sstrand"][i] = strand
        # BLAST's identity: identical columns over all aligned columns, gaps included
        # (pyopal's identity() leaves gap columns out).
        ops = hit.alignment
        out["identity"][i] = ops.count("M") / len(ops) if ops else 0.0
        out["query_cov"][i] = (hit.query_end - hit.query_start + 1) / max(len(query), 1)
        out["target_cov"][i] = (hit.target_end - hit.target_start + 1) / max(len(targets[i]), 1)
    scheme = scheme_for(query_molecule)
    if scheme.lam is not None and scheme.k is not None:
        bits = scheme.bits(out["aln_score"])
        out["bits"] = bits
        out["evalue"] = len(query) * max(db_residues, 1) * np.exp2(-bits)
    return out


def best_scores(
    query: str, query_molecule: str, targets: Sequence[str], target_molecules: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Each target's best local alignment score to the query, and its strand (score-only pass).

    A nucleotide query is aligned as given (``plus``) and reverse-complemented (``minus``); each
    target keeps the higher score (``plus`` on ties).
    """
    scores = np.zeros(len(targets), dtype=np.int64)
    strands = ["plus"] * len(targets)
    for hit in _opal_hits(query, query_molecule, targets, target_molecules, mode="score"):
        scores[hit.target_index] = hit.score
    if query_molecule in ("dna", "rna"):
        for hit in _opal_hits(reverse_complement(query), query_molecule, targets, target_molecules, mode="score"):
            if hit.score > scores[hit.target_index]:
                scores[hit.target_index] = hit.score
                strands[hit.target_index] = "minus"
    return scores, strands


def _traced(
    query: str,
    query_molecule: str,
    targets: Sequence[str],
    target_molecules: Sequence[str],
    scores: np.ndarray,
    strands: Sequence[str],
    chosen: Sequence[int] | range,
) -> list[tuple[int, tuple[Any, str]]]:
    """pyopal's full results (regions, operations) for the ``chosen`` targets that score above 0, on
    their best strand. A minus hit's query coordinates are those on the reverse complement:
    :func:`_on_query` maps them back."""
    out: list[tuple[int, tuple[Any, str]]] = []
    for strand in ("plus", "minus"):
        picked = [i for i in chosen if scores[i] > 0 and strands[i] == strand]
        if not picked:
            continue
        q = query if strand == "plus" else reverse_complement(query)
        found = _opal_hits(q, query_molecule, [targets[i] for i in picked], [target_molecules[i] for i in picked])
        out += [(picked[hit.target_index], (hit, strand)) for hit in found]
    return out


def _on_query(hit: Any, strand: str, query_length: int) -> tuple[int, int]:
    """The hit's aligned query region on the query as given: 0-based start, end exclusive."""
    if strand == "minus":
        return query_length - (hit.query_end + 1), query_length - hit.query_start
    return hit.query_start, hit.query_end + 1


def _opal_hits(
    query: str, query_molecule: str, targets: Sequence[str], target_molecules: Sequence[str], mode: str = "full"
) -> Any:
    """pyopal's results of ``query`` against each target (``mode="full"``: score, regions, operations)."""
    scheme = NUCLEOTIDE if _check_molecules(query_molecule, target_molecules) else PROTEIN
    import pyopal

    q = query.encode("ascii").translate(scheme.translate)
    aligner = _batch_aligner(scheme)
    database = pyopal.Database(
        [t.encode("ascii").translate(scheme.translate) for t in targets], alphabet=aligner.alphabet
    )
    return aligner.align(q, database, mode=mode)


def query_regions(
    query: str, query_molecule: str, targets: Sequence[str], target_molecules: Sequence[str]
) -> np.ndarray:
    """Where each target's best local alignment lies on the query and on the target.

    The same alignment (:func:`align_to`'s scheme and aligner) as the hit list's
    scores, so a coverage graphic drawn from it agrees with ``query_cov``.

    Parameters
    ----------
    query, query_molecule, targets, target_molecules
        As for :func:`align_to`.

    Returns
    -------
    numpy.ndarray
        ``int64`` of shape ``(len(targets), 4)``: query start, query end, target
        start, target end (0-based, end exclusive); all zero where nothing aligns.

    Raises
    ------
    QueryError
        If query and targets are of different molecule types.
    """
    out = np.zeros((len(targets), 4), dtype=np.int64)
    if not targets:
        return out
    scores, strands = best_scores(query, query_molecule, targets, target_molecules)
    every = range(len(targets))
    for i, (hit, strand) in _traced(query, query_molecule, targets, target_molecules, scores, strands, every):
        if hit.score > 0:
            out[i] = (*_on_query(hit, strand, len(query)), hit.target_start, hit.target_end + 1)
    return out


# ---------------------------------------------------------------------------- the detail pane
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
        aligner.substitution_matrix = _bio_matrix(scheme)
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
    both = detect_molecule(query) in ("dna", "rna") and detect_molecule(target) in ("dna", "rna")
    return NUCLEOTIDE if both else PROTEIN


def _in_alphabet(sequence: str, scheme: Scheme, alphabet: set[str]) -> str:
    # Catalog sequences and search-box queries are already upper case without '*', but an
    # alignment must never fail on a letter the matrix lacks: map it as the hit list does.
    translated = sequence.encode("ascii", "replace").translate(scheme.translate).decode("ascii")
    return "".join(c if c in alphabet else scheme.unknown for c in translated)


def align_pair(query: str, target: str, molecule: str | None = None) -> PairAlignment:
    """Align ``target`` to ``query`` locally and count identity, similarity and coverage.

    Parameters
    ----------
    query, target
        Residues (upper case).
    molecule
        The molecule type of both (``"protein"``, ``"dna"``, ``"rna"``); when
        ``None``, nucleotide scoring if both sequences are nucleotides, else protein.

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
    if len(query) * len(target) > MAX_CELLS:
        raise ValueError(
            f"sequences too long to align here ({len(query):,} × {len(target):,} residues)"
        )
    scheme = _pair_scheme(query, target, molecule)
    aligner = _pair_aligner(scheme)
    alphabet = set(aligner.substitution_matrix.alphabet)
    query, target = _in_alphabet(query, scheme, alphabet), _in_alphabet(target, scheme, alphabet)
    scoring = f"local, {scheme.name}"
    best, strand, aligned_to = _best_pair(aligner, query, target, both_strands=scheme is NUCLEOTIDE)
    if best is None or float(best.score) <= 0:
        return _empty(scoring)
    found = _described(best, query, aligned_to, aligner.substitution_matrix, scoring)
    if strand == "plus":
        return replace(found, target_length=len(target))
    # Aligned to the reverse complement: report the region on the hit as stored.
    return replace(found, strand="minus", target_length=len(target),
                   target_start=len(target) - found.target_end, target_end=len(target) - found.target_start)


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
        self, query: str, target: str, cancelled: Callable[[], bool] | None = None, molecule: str | None = None
    ) -> PairAlignment:
        """:func:`align_pair` in the child process.

        Parameters
        ----------
        query, target, molecule
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
            self._conn.send((query, target, molecule))
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
