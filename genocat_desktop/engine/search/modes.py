"""Search modes: how much of the catalog Smith-Waterman sees, and the default chosen by catalog size.

* ``fast``: embedding similarity only (cosine of the vectors), milliseconds at any size.
* ``align``: the best candidates by embedding, aligned and ranked by alignment (the ``--align`` of
  earlier versions). Cheap, but a distant homologue whose vector is not among the candidates is lost.
* ``sensitive``: candidates from seeds scored on diagonals (:mod:`.seeds`), aligned and ranked by
  bit score. Proteins: substitution-tolerant k-mer seeds (the idea of the MMseqs2 and DIAMOND
  prefilters), with the embedding's nearest rows where its vectors are in RAM. Nucleotides:
  blastn's exact words of 11 on both strands, each hit extended without gaps; a row is aligned when
  its best diagonal is significant (:data:`NUCLEOTIDE_SEED_EVALUE`), at most
  :data:`NUCLEOTIDE_SEED_CANDIDATES` of them.
* ``exhaustive``: every row of the query's molecule type that passes the filter is aligned
  (Smith-Waterman, SIMD through pyopal), as BLAST examines every subject.
* ``auto`` (the GUI's and the CLI's default): the most sensitive of these that holds the latency
  targets at the catalog's size; the results name the mode chosen and why.

The thresholds below come from ``python -m bench.quality.scale_run`` (BENCHMARKS.md, "Protein search at
5k, 100k and 1M rows") and ``python -m bench.quality.small_catalogs`` (the 579 labelled queries in 0 to
4,421 real background proteins, MMseqs2 and BLAST+ on the same database in the same run). Aligning every
row costs ~26 CPU-ms per million residues and a query: as much as MMseqs2 -s 7.5 (~20 ms a query) at
~0.28 M residues, 1.6x at 0.66 M, 2.8x at 1.8 M. The seeded search with the small-catalog settings
(:func:`seeded_settings`) costs about MMseqs2's CPU at 0.66 M and at 1.8 M residues (5k proteins) and
stays above BLAST+'s sens@50 (0.852 against 0.844, 0.816 against 0.812); aligning every row is more
sensitive still (0.906, 0.875). So ``auto`` aligns every row up to ~0.25 M residues (a few hundred
proteins), then seeds; past :data:`SMALL_SEEDED_MAX_RESIDUES` with more candidates and the index's own
threshold, its hit budget and cell bound keeping the cost per query bounded.

For nucleotides (``python -m bench.dna.run``, BENCHMARKS.md "DNA"): the word seeds put the same
row first as aligning every row, with the same bits, on both strands and up to 15 % divergence
(R@1 equal to blastn's), and hand Smith-Waterman ~2 rows per query instead of all; the seeds
themselves cost ~1-2 ms per query at 1-40 M nucleotides, the alignment of those rows the rest.
Both ways cost the same at ~25,000 nucleotides (``EXHAUSTIVE_MAX_NUCLEOTIDES``), and seeding is
3x faster at 100,000 and 4x at 0.9 M; so ``auto`` aligns every row only of a tiny nucleotide
catalog and otherwise seeds, up to what the index may hold in RAM (~5 bytes per nucleotide).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from genocat_desktop.engine.core.errors import QueryError

__all__ = [
    "ALIGNED_MODES",
    "AUTO",
    "EMBEDDING_NEIGHBOURS_MAX_ROWS",
    "EXHAUSTIVE_MAX_NUCLEOTIDES",
    "EXHAUSTIVE_MAX_RESIDUES",
    "MODES",
    "NUCLEOTIDE_SEED_CANDIDATES",
    "NUCLEOTIDE_SEED_EVALUE",
    "SEEDED_MAX_NUCLEOTIDES",
    "SEEDED_MAX_RESIDUES",
    "SEED_CANDIDATES",
    "SMALL_SEEDED_MAX_RESIDUES",
    "SMALL_SEED_CANDIDATES",
    "SMALL_SEED_THRESHOLD",
    "ModeChoice",
    "SeededSettings",
    "check_mode",
    "choose_mode",
    "seeded_settings",
]

AUTO: Final = "auto"
#: Every mode a search can be asked for, in the order the fronts list them.
MODES: Final = ("auto", "fast", "align", "sensitive", "exhaustive")
#: Modes whose hits carry alignment columns (bits, E-value, identity, coverage).
ALIGNED_MODES: Final = frozenset({"align", "sensitive", "exhaustive"})
#: ``auto`` aligns every passing protein row up to this many residues: where it costs no more CPU than
#: MMseqs2 -s 7.5 (~20 ms a query at 0.28 M residues, ``bench.quality.small_catalogs``).
EXHAUSTIVE_MAX_RESIDUES: Final = 250_000
#: ``auto`` uses the seeded prefilter up to this many protein residues (its index in RAM: ~6 bytes
#: per residue); beyond, the embedding's candidates are aligned (``align``).
SEEDED_MAX_RESIDUES: Final = 600_000_000
#: Rows the seeds hand to Smith-Waterman per query in ``sensitive`` mode (``candidates`` overrides it),
#: fewer for a long query: past :data:`.seeds.MIN_CANDIDATES` rows, at most :data:`.seeds.CANDIDATE_CELLS`
#: cells (query length times the rows' residues).
SEED_CANDIDATES: Final = 1_000
#: ``sensitive`` protein searches add the embedding's 100 nearest rows to the seeds' up to this many rows
#: (their cost grows with the rows, their gain shrinks: +0.004 sens@50 at 5k, +0.0005 at 100k).
EMBEDDING_NEIGHBOURS_MAX_ROWS: Final = 20_000
#: A protein seed index of at most this many residues is seeded with the small-catalog settings below:
#: there the hit budget (:data:`.seeds.MIN_HITS`) is far from spent, so more similar seeds cost little
#: (their enumeration, ~1.5 ms a query), and fewer rows need aligning to keep the homologues.
SMALL_SEEDED_MAX_RESIDUES: Final = 2_000_000
#: The similar seeds' least score in a small catalog (the index's own, :data:`.seeds.THRESHOLD`, elsewhere).
SMALL_SEED_THRESHOLD: Final = 19.0
#: Rows the seeds hand to Smith-Waterman in a small catalog (without the embedding's nearest rows).
SMALL_SEED_CANDIDATES: Final = 100
#: Nucleotide residues ``auto`` aligns exhaustively (both strands); beyond, the seeds choose the rows.
EXHAUSTIVE_MAX_NUCLEOTIDES: Final = 25_000
#: ``auto`` seeds nucleotide catalogs up to this many nucleotides (the index: ~5 bytes each, plus
#: 36 MB of key table per segment); beyond, the embedding's candidates are aligned (``align``).
SEEDED_MAX_NUCLEOTIDES: Final = 600_000_000
#: Nucleotide rows the seeds hand to Smith-Waterman per query at most (``candidates`` overrides it).
NUCLEOTIDE_SEED_CANDIDATES: Final = 100
#: A nucleotide row is aligned only when its best ungapped diagonal would be expected by chance at
#: most this often in the whole search (BLAST's ungapped statistics; blastn's default E cut-off).
NUCLEOTIDE_SEED_EVALUE: Final = 10.0


@dataclass(frozen=True, slots=True)
class ModeChoice:
    """The mode a search runs in and, for ``auto``, why (shown in the results summary)."""

    mode: str
    reason: str

    @property
    def aligned(self) -> bool:
        """Whether the hits are aligned (and carry the alignment columns)."""
        return self.mode in ALIGNED_MODES


@dataclass(frozen=True, slots=True)
class SeededSettings:
    """How ``sensitive`` seeds a protein query, by the size of the seed index (:func:`seeded_settings`)."""

    threshold: float | None  # the similar seeds' least score; None: the index's own
    candidates: int  # rows handed to Smith-Waterman at most
    cells: bool  # whether a long query aligns fewer of them (.seeds.CANDIDATE_CELLS)
    neighbours: bool  # whether the embedding's 100 nearest rows join them (vectors in RAM only)

    def describe(self) -> str:
        """A few words for the results summary."""
        threshold = f"similar seeds from score {self.threshold:g}, " if self.threshold is not None else ""
        return f"{threshold}the best {self.candidates:,} rows aligned"


def seeded_settings(residues: int, rows: int) -> SeededSettings:
    """The seeded protein search's settings for a seed index of ``residues`` residues in ``rows`` rows.

    Measured at 5k proteins (1.8 M residues, ``python -m bench.quality.candidates_sweep`` and
    ``small_catalogs``): similar seeds from 19 and the best 100 rows reach sens@50 0.816 (BLAST+
    0.812) at ~21 CPU-ms a query (MMseqs2 ~23); the larger catalogs' settings (20, up to 1,000 rows,
    the embedding's 100 nearest) 0.82 at ~30.
    """
    if residues <= SMALL_SEEDED_MAX_RESIDUES:
        return SeededSettings(SMALL_SEED_THRESHOLD, SMALL_SEED_CANDIDATES, cells=False, neighbours=False)
    return SeededSettings(None, SEED_CANDIDATES, cells=True, neighbours=rows <= EMBEDDING_NEIGHBOURS_MAX_ROWS)


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
        For nucleotides ``sensitive`` seeds with exact words on both strands (:mod:`.seeds`).
    """
    check_mode(mode)
    if mode != AUTO:
        return ModeChoice(mode, "as asked")
    size = f"{rows:,} {'nucleotide' if nucleotide else 'protein'} rows, {residues:,} residues"
    if nucleotide:
        if residues <= EXHAUSTIVE_MAX_NUCLEOTIDES:
            return ModeChoice("exhaustive", f"auto: {size}, every row aligned")
        if residues <= SEEDED_MAX_NUCLEOTIDES:
            return ModeChoice("sensitive", f"auto: {size}, rows with a significant word match on either "
                              "strand aligned (as blastn; no others listed)")
        return ModeChoice("align", f"auto: {size}, too many for the seed index: candidates by embedding aligned")
    if residues <= EXHAUSTIVE_MAX_RESIDUES:
        return ModeChoice("exhaustive", f"auto: {size}, every row aligned")
    if residues <= SEEDED_MAX_RESIDUES:
        return ModeChoice("sensitive", f"auto: {size}, candidates from k-mer seeds aligned")
    return ModeChoice("align", f"auto: {size}, too many for the seed index: candidates by embedding aligned")
