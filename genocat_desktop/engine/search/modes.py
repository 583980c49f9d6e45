"""Search modes: how much of the catalog Smith-Waterman sees, and the default chosen by catalog size.

* ``fast``: embedding similarity only (cosine of the vectors), milliseconds at any size.
* ``align``: the best candidates by embedding, aligned and ranked by alignment (the ``--align`` of
  earlier versions). Cheap, but a distant homologue whose vector is not among the candidates is lost.
* ``sensitive`` (proteins): candidates from substitution-tolerant k-mer seeds scored on diagonals
  (:mod:`.seeds`, the idea of the MMseqs2 and DIAMOND prefilters) together with the embedding's,
  aligned and ranked by bit score.
* ``exhaustive``: every row of the query's molecule type that passes the filter is aligned
  (Smith-Waterman, SIMD through pyopal), as BLAST examines every subject.
* ``auto`` (the GUI's and the CLI's default): the most sensitive of these that holds the latency
  targets at the catalog's size; the results name the mode chosen and why.

The thresholds below come from ``python -m bench.quality.scale_run`` (BENCHMARKS.md, "Protein search at
5k, 100k and 1M rows"): Smith-Waterman over every row costs ~19 ms per million residues per query of
average length on one core, so an exhaustive search of a few thousand proteins stays within the CPU
time MMseqs2 spends on the same catalog, and beyond that the seeded prefilter keeps the sensitivity at a
bounded cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from genocat_desktop.engine.core.errors import QueryError

__all__ = [
    "ALIGNED_MODES",
    "AUTO",
    "EXHAUSTIVE_MAX_RESIDUES",
    "MODES",
    "SEEDED_MAX_RESIDUES",
    "SEED_CANDIDATES",
    "ModeChoice",
    "check_mode",
    "choose_mode",
]

AUTO: Final = "auto"
#: Every mode a search can be asked for, in the order the fronts list them.
MODES: Final = ("auto", "fast", "align", "sensitive", "exhaustive")
#: Modes whose hits carry alignment columns (bits, E-value, identity, coverage).
ALIGNED_MODES: Final = frozenset({"align", "sensitive", "exhaustive"})
#: ``auto`` aligns every passing row up to this many residues of the query's molecule type.
EXHAUSTIVE_MAX_RESIDUES: Final = 2_000_000
#: ``auto`` uses the seeded prefilter up to this many protein residues (its index in RAM: ~6 bytes
#: per residue); beyond, the embedding's candidates are aligned (``align``).
SEEDED_MAX_RESIDUES: Final = 600_000_000
#: Rows the seeds hand to Smith-Waterman per query in ``sensitive`` mode (``candidates`` overrides it).
SEED_CANDIDATES: Final = 1_000
#: Nucleotide residues ``auto`` aligns exhaustively (both strands; long DNA costs more per residue).
EXHAUSTIVE_MAX_NUCLEOTIDES: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class ModeChoice:
    """The mode a search runs in and, for ``auto``, why (shown in the results summary)."""

    mode: str
    reason: str

    @property
    def aligned(self) -> bool:
        """Whether the hits are aligned (and carry the alignment columns)."""
        return self.mode in ALIGNED_MODES


def check_mode(mode: str) -> str:
    """``mode`` if it names a mode, else a :class:`QueryError` that lists them."""
    if mode not in MODES:
        raise QueryError(f"unknown search mode {mode!r}; use one of: {', '.join(MODES)}")
    return mode


def choose_mode(mode: str, nucleotide: bool, residues: int, rows: int) -> ModeChoice:
    """The mode to run for a query of one molecule type against ``rows`` rows (``residues`` residues).

    Parameters
    ----------
    mode
        What was asked (one of :data:`MODES`).
    nucleotide
        Whether the query (and the rows searched) are DNA/RNA.
    residues, rows
        Residues and rows of the query's molecule type that pass the filter.

    Returns
    -------
    ModeChoice
        ``sensitive`` asked for a nucleotide query runs as ``align`` (the seeds are for proteins).
    """
    check_mode(mode)
    if mode != AUTO:
        if mode == "sensitive" and nucleotide:
            return ModeChoice("align", "sensitive seeds are for proteins: nucleotide candidates by embedding")
        return ModeChoice(mode, "as asked")
    size = f"{rows:,} {'nucleotide' if nucleotide else 'protein'} rows, {residues:,} residues"
    if nucleotide:
        if residues <= EXHAUSTIVE_MAX_NUCLEOTIDES:
            return ModeChoice("exhaustive", f"auto: {size}, every row aligned")
        return ModeChoice("align", f"auto: {size}, candidates by embedding aligned")
    if residues <= EXHAUSTIVE_MAX_RESIDUES:
        return ModeChoice("exhaustive", f"auto: {size}, every row aligned")
    if residues <= SEEDED_MAX_RESIDUES:
        return ModeChoice("sensitive", f"auto: {size}, candidates from k-mer seeds aligned")
    return ModeChoice("align", f"auto: {size}, too many for the seed index: candidates by embedding aligned")
