"""The scoring schemes: one per molecule type, shared by the hit list and the detail pane.

Both uses score with the same :class:`Scheme`, so the score a hit gets in the list
(:mod:`~genocat_desktop.engine.search.alignment`, pyopal) is the score its alignment shows in
the detail pane (:mod:`~genocat_desktop.engine.search.pairwise`, Biopython): this module builds
the one matrix each library takes from the same scheme.

Proteins use BLOSUM62 with BLAST's default gap costs (existence 11,
extension 1: a gap of length L costs 11 + L) and BLAST's published statistics
for that system, λ = 0.267 and K = 0.041. Nucleotides use blastn's defaults:
match 2, mismatch −3, a gap of length L costs 5 + 2L, with BLAST's published
gapped statistics for that system (``blastn_values_2_3`` in BLAST's
``blast_stat.c``: λ = 0.625, K = 0.41, valid for even scores, so an odd score
is rounded down first, as BLAST does).

Protein bit scores are composition-adjusted (:mod:`~genocat_desktop.engine.search.composition`,
as BLAST+ does by default); :func:`evalue` turns bits into E-values for both uses alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.core.molecules import is_nucleotide

__all__ = [
    "NUCLEOTIDE",
    "NUCLEOTIDE_LETTERS",
    "PROTEIN",
    "Scheme",
    "bio_matrix",
    "evalue",
    "match_mismatch_rows",
    "opal_matrix",
    "reverse_complement",
    "scheme_for",
]


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
NUCLEOTIDE_LETTERS: Final = "ACGTN"
_COMPLEMENT: Final = bytes.maketrans(b"ACGTUN", b"TGCAAN")
#: Any byte to its complement's upper-case letter: either case of ACGTU, and N for every other byte.
_REVERSE_TABLE: Final = bytes(
    _COMPLEMENT[c] if chr(c) in "ACGTUN" else _COMPLEMENT[ord(chr(c).upper())] if chr(c) in "acgtun" else ord("N")
    for c in range(256)
)


def scheme_for(molecule: str) -> Scheme:
    """The scoring scheme for ``"protein"``, ``"dna"`` or ``"rna"``."""
    return NUCLEOTIDE if is_nucleotide(molecule) else PROTEIN


def evalue(bits: np.ndarray | float, query_length: int, db_residues: int) -> np.ndarray:
    """Karlin-Altschul E-values ``m · n · 2^−bits`` (no edge-effect correction).

    Parameters
    ----------
    bits
        Bit scores.
    query_length
        ``m``, the query's residues.
    db_residues
        ``n``, the residues of the catalog searched (at least 1 is used).

    Returns
    -------
    numpy.ndarray
        The E-values, shaped like ``bits``.
    """
    return np.asarray(query_length * max(db_residues, 1) * np.exp2(-np.asarray(bits, dtype=np.float64)))


def reverse_complement(sequence: str) -> str:
    """The reverse complement of a nucleotide sequence (``U`` read as ``T``; other letters become ``N``)."""
    return sequence.encode("ascii", "replace").translate(_REVERSE_TABLE)[::-1].decode("ascii")


def match_mismatch_rows(scheme: Scheme) -> list[list[float]]:
    """The match/mismatch matrix of a nucleotide scheme over :data:`NUCLEOTIDE_LETTERS` (``N`` mismatches all)."""
    match, mismatch = scheme.match_mismatch or (1, -1)
    size = len(NUCLEOTIDE_LETTERS)
    return [[float(match if i == j and i < size - 1 else mismatch) for j in range(size)] for i in range(size)]


def opal_matrix(scheme: Scheme) -> Any:
    """The scheme's matrix as pyopal takes it: a name, or a built match/mismatch matrix."""
    if scheme.match_mismatch is None:
        return scheme.matrix
    from scoring_matrices import ScoringMatrix

    return ScoringMatrix(match_mismatch_rows(scheme), alphabet=NUCLEOTIDE_LETTERS, name=scheme.matrix)


def bio_matrix(scheme: Scheme) -> Any:
    """The same matrix for Biopython's aligner."""
    from Bio.Align import substitution_matrices

    if scheme.match_mismatch is None:
        return substitution_matrices.load(scheme.matrix)
    array = substitution_matrices.Array(alphabet=NUCLEOTIDE_LETTERS, dims=2)
    for i, a in enumerate(NUCLEOTIDE_LETTERS):
        for j, b in enumerate(NUCLEOTIDE_LETTERS):
            array[a, b] = match_mismatch_rows(scheme)[i][j]
    return array
