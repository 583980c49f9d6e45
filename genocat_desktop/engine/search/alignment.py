"""Alignment of hits to their query for the hit list, scored like the detail pane.

Embedding similarity finds candidates fast; biologists judge a hit by its
alignment. The hit list and the detail pane (:mod:`~genocat_desktop.engine.search.pairwise`)
score with the same :class:`~genocat_desktop.engine.search.scoring.Scheme`, so the score a hit
gets in the list is the score its alignment shows in the detail pane.

:func:`align_to` (the hit list) aligns a query to many candidates with
`pyopal <https://pyopal.readthedocs.io>`_ (SIMD Smith-Waterman, the Opal
library) and reports what BLAST users expect: ``aln_score`` (raw local
score); ``bits``, the bit score ``(λS − ln K) / ln 2``, for proteins with
composition-based statistics as BLAST+ computes them by default
(:mod:`~genocat_desktop.engine.search.composition`: matrix adjustment for the
hits traced (``detail``), scaling for the other candidates), so that two low-complexity or
coiled-coil proteins do not look related by composition alone; ``evalue``,
``m · n · 2^−bits`` with ``m`` the query length and ``n`` the catalog's
residues (Karlin-Altschul; no edge-effect correction, so values are
slightly lower than BLAST's for short sequences); ``identity``, identical
positions over the aligned columns; ``query_cov``, ``target_cov``, the
aligned fraction of each sequence. Nucleotide queries are aligned on both
strands; each hit keeps the better one, and ``sstrand`` says which (``plus``
or ``minus``, BLAST's names). A query of one molecule type against targets of
another is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from genocat_desktop.engine.catalog.table import ALIGNMENT_COLUMNS
from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.search.scoring import (
    NUCLEOTIDE,
    PROTEIN,
    Scheme,
    evalue,
    opal_matrix,
    reverse_complement,
    scheme_for,
)

__all__ = [
    "ALIGNMENT_COLUMNS",
    "align_to",
    "query_regions",
]

_BATCH_ALIGNERS: dict[str, Any] = {}


def _batch_aligner(scheme: Scheme) -> Any:
    aligner = _BATCH_ALIGNERS.get(scheme.matrix)
    if aligner is None:
        import pyopal

        aligner = pyopal.Aligner(opal_matrix(scheme), gap_open=scheme.gap_open, gap_extend=scheme.gap_extend)
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
        keep 0 and an empty strand. For proteins the same targets get the full
        composition adjustment (an alignment each, as the detail pane computes it);
        the others get the cheaper scaling, which never makes them more significant.

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
    if scheme is PROTEIN:
        from genocat_desktop.engine.search.composition import adjusted_bits

        traced = np.fromiter(chosen, dtype=np.int64)
        # Hits are shown from the traced targets only (search.homology): the others keep standard bits.
        out["bits"] = adjusted_bits(query, targets, out["aln_score"], traced, among=traced)
    elif scheme.lam is not None and scheme.k is not None:
        out["bits"] = scheme.bits(out["aln_score"])
    if scheme.lam is not None and scheme.k is not None:
        out["evalue"] = evalue(out["bits"], len(query), db_residues)
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
