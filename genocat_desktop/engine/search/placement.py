"""minimap2 placements of a nucleotide query, scored with the project's nucleotide scheme.

:func:`place_in` maps a query with a ``mappy`` index (both strands at once) and scores each
placement with :data:`~.scoring.NUCLEOTIDE`: minimap2 itself aligns with that scheme (match 2,
mismatch 3, a gap of length L costs 5 + 2L, ``N`` against anything 3), so the score is that of an
alignment it found and the scheme's statistics apply. :mod:`.locate` uses it over a catalog's long
records; :func:`locate_pair` over one sequence, for the detail pane (:mod:`.pairwise`), which
shows the same alignment the hit list scored. Seeds: k = 11, w = 5 up to :data:`SMALL_INDEX`
residues (a 150 bp fragment at 15 % divergence is found 90 % of the time, 5 % with minimap2's
default k = 15, w = 10), minimap2's defaults beyond (short seeds would repeat too often).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.search.scoring import NUCLEOTIDE

__all__ = [
    "ALL_CHAINS",
    "ALL_CHAINS_CELLS",
    "MAP_OPTIONS",
    "SMALL_INDEX",
    "PairPlacement",
    "Placement",
    "aligned_rows",
    "locate_pair",
    "place_in",
    "seeds",
]

#: Up to this many indexed residues the seeds are short (k = 11, w = 5); beyond, minimap2's defaults.
SMALL_INDEX: Final = 32_000_000
#: Placements per query scored: minimap2's ``-N`` (the same region in several records, repeat copies).
MAX_PLACEMENTS: Final = 20
#: minimap2's ``-P`` (MM_F_ALL_CHAINS): keep every chain, not only those scoring 80 % of the best
#: (``-p 0.8``), so the same gene in several genomes is found in each: of ten copies of a 0.5 Mbp piece
#: at 0-20 % divergence, a 1 kb fragment was placed in the four closest without it, in all ten with
#: it. Only where an index holds several sequences (one placement per record is kept), and while the
#: query's length times the indexed residues stays under :data:`ALL_CHAINS_CELLS`: the chance chains
#: it also aligns grow with both (against 3.7 Mbp in three records, a 1 kb query took 1.4 ms without
#: it and 4.6 ms with it, a 5 kb query 6 ms and 180 ms).
ALL_CHAINS: Final = 0x800000
ALL_CHAINS_CELLS: Final = 10_000_000_000
#: minimap2 aligns with the project's nucleotide scheme (match 2, mismatch 3, a gap of length L costs
#: 5 + 2L, N against anything 3): on fragments up to 1 kb its alignment scored the same as
#: Smith-Waterman on the region (pyopal) for every one of 167 placements, at a fraction of the cost
#: (a 5 kb fragment: under 1 ms against 0.8 s for pyopal's single-pair traceback).
MAP_OPTIONS: Final = {"min_cnt": 2, "min_chain_score": 20, "scoring": [2, 3, 5, 2, 5, 2], "sc_ambi": 3,
                      "best_n": MAX_PLACEMENTS}


def seeds(residues: int) -> dict[str, int]:
    """minimap2's k and w for an index of ``residues``."""
    return {"k": 11, "w": 5} if residues <= SMALL_INDEX else {"k": 15, "w": 10}


@dataclass(frozen=True, slots=True)
class Placement:
    """One local alignment of a query inside a long sequence (minimap2's, scored with the scheme).

    Attributes
    ----------
    name
        The indexed sequence (a catalog record's ``seq_hash``).
    strand
        ``"plus"`` or ``"minus"`` (the query aligns to the reverse complement of the record).
    query_start, query_end
        The aligned part of the query as given, 0-based, end exclusive.
    target_start, target_end
        The aligned part of the record as stored, 0-based, end exclusive.
    score
        Raw score with :data:`~.scoring.NUCLEOTIDE`.
    identities, positives, gaps, columns
        Identical columns, positively scoring ones (identical, not ``N``), gap columns, all columns.
    cigar
        minimap2's operations (length, 0 = aligned, 1 = insertion in the query, 2 = deletion), for the
        query as aligned: reverse-complemented on the minus strand.
    """

    name: str
    strand: str
    query_start: int
    query_end: int
    target_start: int
    target_end: int
    score: int
    identities: int
    positives: int
    gaps: int
    columns: int
    cigar: tuple[tuple[int, int], ...]


_INDEX_LETTERS: Final = bytes(
    ord("T") if chr(c).upper() == "U" else ord(chr(c).upper()) if chr(c).upper() in "ACGTN" else ord("N")
    for c in range(256)
)
_COMPLEMENT: Final = bytes.maketrans(b"ACGTN", b"TGCAN")


def _oriented(query: str, strand: str) -> str:
    """The query on ``strand``, in the index's letters (``U`` read as ``T``, other letters ``N``)."""
    letters = query.encode("ascii", "replace").translate(_INDEX_LETTERS)
    return (letters.translate(_COMPLEMENT)[::-1] if strand == "minus" else letters).decode("ascii")


def _codes(sequence: str) -> np.ndarray:
    return np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)


def _scored(oriented: dict[str, str], hit: Any, name: str, region: str) -> Placement:
    """minimap2's alignment of ``hit`` counted and scored with :data:`~.scoring.NUCLEOTIDE`.

    ``oriented`` holds the query on each strand (:func:`_oriented`); ``region`` is the record
    between ``hit.r_st`` and ``hit.r_en``.
    """
    strand = "minus" if hit.strand < 0 else "plus"
    q = oriented[strand]
    qpos = hit.q_st if strand == "plus" else len(q) - hit.q_en
    tpos = 0
    match, mismatch = NUCLEOTIDE.match_mismatch or (1, -1)
    score = identities = positives = gaps = columns = 0
    cigar = tuple((int(n), int(op)) for n, op in hit.cigar)
    for n, op in cigar:
        columns += n
        if op in (0, 7, 8):  # aligned: M, =, X
            a, b = _codes(q[qpos : qpos + n]), _codes(region[tpos : tpos + n])
            same = a == b
            good = int((same & (a != ord("N"))).sum())
            identities += int(same.sum())
            positives += good
            score += good * match + (n - good) * mismatch
            qpos, tpos = qpos + n, tpos + n
        else:
            gaps += n
            score -= NUCLEOTIDE.gap_open + (n - 1) * NUCLEOTIDE.gap_extend
            if op == 1:
                qpos += n
            else:
                tpos += n
    q0, q1 = hit.q_st, hit.q_en  # minimap2 reports the query span on the query as given
    return Placement(name, strand, q0, q1, hit.r_st, hit.r_en, score, identities, positives, gaps, columns, cigar)


def aligned_rows(query: str, region: str, placement: Placement) -> tuple[str, str, str]:
    """The placement's alignment as three text rows (query, match line, record), as minimap2 aligned them.

    ``region`` is the record between ``target_start`` and ``target_end``; the query row reads the
    query on the placement's strand (reverse-complemented on ``minus``), the record row reads the
    record as stored; ``|`` marks identical columns.
    """
    q = _oriented(query, placement.strand)
    qpos = placement.query_start if placement.strand == "plus" else len(query) - placement.query_end
    tpos = 0
    rows_q: list[str] = []
    rows_t: list[str] = []
    for n, op in placement.cigar:
        if op in (0, 7, 8):
            rows_q.append(q[qpos : qpos + n])
            rows_t.append(region[tpos : tpos + n])
            qpos, tpos = qpos + n, tpos + n
        elif op == 1:
            rows_q.append(q[qpos : qpos + n])
            rows_t.append("-" * n)
            qpos += n
        else:
            rows_q.append("-" * n)
            rows_t.append(region[tpos : tpos + n])
            tpos += n
    aq, at = "".join(rows_q), "".join(rows_t)
    a, b = _codes(aq), _codes(at)
    mid = np.where((a == b) & (a != ord("-")), ord("|"), ord(" ")).astype(np.uint8)
    return aq, mid.tobytes().decode("ascii"), at


def place_in(aligner: Any, query: str, sequence_of: Any, allowed: set[str] | None = None, *,
             all_chains: bool = False) -> list[Placement]:
    """Map ``query`` with a minimap2 index (both strands) and score each placement, best first.

    Parameters
    ----------
    aligner
        A ``mappy.Aligner`` made with this module's options.
    query
        Nucleotides.
    sequence_of
        ``(name, start, end) -> str``: a region of an indexed sequence.
    allowed
        Names to keep (a search filter); ``None``: all.
    all_chains
        Keep every chain (:data:`ALL_CHAINS`): for an index of several sequences.

    Returns
    -------
    list of Placement
        Every placement minimap2 reports (each repeat copy apart) that scores above 0, best first.
    """
    if not query:
        return []
    out = []
    oriented = {strand: _oriented(query, strand) for strand in ("plus", "minus")}
    for hit in aligner.map(oriented["plus"], extra_flags=ALL_CHAINS if all_chains else 0):
        if allowed is not None and hit.ctg not in allowed:
            continue
        out.append(_scored(oriented, hit, hit.ctg, sequence_of(hit.ctg, hit.r_st, hit.r_en)))
        if len(out) >= MAX_PLACEMENTS:
            break
    out.sort(key=lambda p: (-p.score, p.name, p.target_start))
    return [p for p in out if p.score > 0]


_SINGLE: dict[str, Any] = {}


def _single_index(sequence: str) -> Any:
    """A minimap2 index of one sequence (the last one is kept: the detail pane shows hits of one record in turn)."""
    import mappy

    key = f"{len(sequence)}:{hash(sequence)}"
    aligner = _SINGLE.get(key)
    if aligner is None:
        aligner = mappy.Aligner(seq=sequence, **seeds(len(sequence)), **MAP_OPTIONS)
        _SINGLE.clear()
        _SINGLE[key] = aligner
    return aligner


@dataclass(frozen=True, slots=True)
class PairPlacement:
    """Where the shorter of two nucleotide sequences aligns in the longer, with the alignment's text rows.

    Spans are 0-based, end exclusive, on the sequences as given; on the ``minus`` strand the query
    row reads the query as given and the target row the reverse complement of the target (the
    convention of :class:`~.pairwise.PairAlignment`).
    """

    strand: str
    query_span: tuple[int, int]
    target_span: tuple[int, int]
    placement: Placement
    aligned_query: str
    match_line: str
    aligned_target: str


def locate_pair(query: str, target: str) -> PairPlacement | None:
    """The best placement of the shorter of two nucleotide sequences in the longer (the detail pane's long records).

    The same seeds, alignment and score as :meth:`.locate.Locator.locate`, so the detail pane shows the
    alignment the hit list scored.

    Parameters
    ----------
    query, target
        Nucleotides, upper case (either may be the long one).

    Returns
    -------
    PairPlacement or None
        ``None`` when the seeds find no placement.
    """
    swap = len(query) > len(target)
    longer, shorter = (query, target) if swap else (target, query)
    if not shorter:
        return None
    try:
        aligner = _single_index(longer)
    except ImportError:  # no mappy on this platform: the detail pane aligns the whole pair if it can
        return None
    placements = place_in(aligner, shorter, lambda _name, start, end: longer[start:end])
    if not placements:
        return None
    p = placements[0]
    short_rows, mid, long_rows = aligned_rows(shorter, longer[p.target_start : p.target_end], p)
    on_short, on_long = (p.query_start, p.query_end), (p.target_start, p.target_end)
    if swap:
        # The long query reads forward; the short target is reverse-complemented on minus: as aligned.
        return PairPlacement(p.strand, on_long, on_short, p, long_rows, mid, short_rows)
    if p.strand == "minus":
        # minimap2 aligned the query's reverse complement to the record: read both rows the other way.
        short_rows, mid, long_rows = _flipped(short_rows), mid[::-1], _flipped(long_rows)
    return PairPlacement(p.strand, on_short, on_long, p, short_rows, mid, long_rows)


def _flipped(row: str) -> str:
    """The reverse complement of an alignment row, gaps kept."""
    return row.translate(_ROW_COMPLEMENT)[::-1]


_ROW_COMPLEMENT: Final = str.maketrans("ACGTN-", "TGCAN-")
