"""Alignment re-ranking: Smith-Waterman scores, bit scores and E-values for hits.

Embedding similarity finds candidates fast; biologists judge a hit by its
alignment. :func:`align_to` aligns a query to candidate sequences with
`pyopal <https://pyopal.readthedocs.io>`_ (SIMD Smith-Waterman, the Opal
library), and reports what BLAST users expect:

* ``aln_score``: raw local alignment score;
* ``bits``: bit score ``(λS − ln K) / ln 2``;
* ``evalue``: ``m · n · 2^−bits`` with ``m`` the query length and ``n`` the
  catalog's residues (Karlin-Altschul; no edge-effect correction, so values
  are slightly lower than BLAST's for short sequences);
* ``identity``: identical positions over the aligned columns;
* ``query_cov``, ``target_cov``: aligned fraction of each sequence.

Proteins use BLOSUM62 with BLAST's default gap costs (existence 11,
extension 1: a gap of length L costs 11 + L) and BLAST's published statistics
for that system, λ = 0.267 and K = 0.041. Nucleotides use NUC.4.4 (match 5,
mismatch −4) with gap costs 10 + L; BLAST publishes no statistics for it, so
nucleotide hits get scores, identity and coverage but no bit score or
E-value (shown empty rather than made up). A query of one molecule type
against targets of another is refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.core.errors import QueryError

__all__ = ["ALIGNMENT_COLUMNS", "Scheme", "align_to", "scheme_for"]

#: Columns :func:`align_to` returns, in this order.
ALIGNMENT_COLUMNS: Final = ("aln_score", "bits", "evalue", "identity", "query_cov", "target_cov")


@dataclass(frozen=True, slots=True)
class Scheme:
    """A scoring system and its Karlin-Altschul statistics (``None`` when unknown)."""

    name: str
    matrix: str
    gap_open: int  # pyopal's G: a gap of length L costs G + (L - 1) * E
    gap_extend: int
    lam: float | None
    k: float | None
    translate: bytes  # maps residues outside the matrix alphabet


_PROTEIN: Final = Scheme(
    "BLOSUM62, gaps 11+L (BLAST defaults)", "BLOSUM62", 12, 1, 0.267, 0.041,
    bytes.maketrans(b"UOJ", b"XXX"),
)
_NUCLEOTIDE: Final = Scheme("NUC.4.4, gaps 10+L", "NUC.4.4", 11, 1, None, None, bytes.maketrans(b"U", b"T"))
_ALIGNERS: dict[str, Any] = {}


def scheme_for(molecule: str) -> Scheme:
    """The scoring scheme for ``"protein"``, ``"dna"`` or ``"rna"``."""
    return _NUCLEOTIDE if molecule in ("dna", "rna") else _PROTEIN


def _aligner(scheme: Scheme) -> Any:
    aligner = _ALIGNERS.get(scheme.matrix)
    if aligner is None:
        import pyopal

        aligner = pyopal.Aligner(scheme.matrix, gap_open=scheme.gap_open, gap_extend=scheme.gap_extend)
        _ALIGNERS[scheme.matrix] = aligner
    return aligner


def align_to(
    query: str,
    query_molecule: str,
    targets: Sequence[str],
    target_molecules: Sequence[str],
    db_residues: int,
) -> dict[str, np.ndarray]:
    """Align ``query`` to each target (local, Smith-Waterman).

    Parameters
    ----------
    query, query_molecule
        The normalised query and its molecule type.
    targets, target_molecules
        Candidate sequences and their molecule types.
    db_residues
        Residues in the whole catalog (the search space of the E-value).

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
    }
    if n == 0:
        return out
    query_nuc = query_molecule in ("dna", "rna")
    target_nuc = np.array([m in ("dna", "rna") for m in target_molecules])
    if (target_nuc.any() and not target_nuc.all()) or bool(target_nuc.any()) != query_nuc:
        kind = "nucleotide" if query_nuc else "protein"
        raise QueryError(
            f"cannot align a {kind} query to {'mixed ' if 0 < target_nuc.sum() < n else ''}"
            f"{'protein' if query_nuc else 'nucleotide'} hits; restrict the search with 'molecule = {query_molecule}'"
        )
    import pyopal

    scheme = _NUCLEOTIDE if query_nuc else _PROTEIN
    q = query.encode("ascii").translate(scheme.translate)
    aligner = _aligner(scheme)
    database = pyopal.Database(
        [t.encode("ascii").translate(scheme.translate) for t in targets], alphabet=aligner.alphabet
    )
    for hit in aligner.align(q, database, mode="full"):
        i = hit.target_index
        out["aln_score"][i] = hit.score
        if hit.score <= 0:
            continue
        # BLAST's identity: identical columns over all aligned columns, gaps included
        # (pyopal's identity() leaves gap columns out).
        ops = hit.alignment
        out["identity"][i] = ops.count("M") / len(ops) if ops else 0.0
        out["query_cov"][i] = (hit.query_end - hit.query_start + 1) / max(len(query), 1)
        out["target_cov"][i] = (hit.target_end - hit.target_start + 1) / max(len(targets[i]), 1)
    if scheme.lam is not None and scheme.k is not None:
        bits = (scheme.lam * out["aln_score"] - math.log(scheme.k)) / math.log(2)
        out["bits"] = bits
        out["evalue"] = len(query) * max(db_residues, 1) * np.exp2(-bits)
    return out
