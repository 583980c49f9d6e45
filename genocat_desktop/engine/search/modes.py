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
5k, 100k and 1M rows"). At 5k proteins (1.8 M residues) no aligned mode reaches the CPU time MMseqs2
spends per query (22.5 ms on two threads) with BLAST+'s sensitivity: ``exhaustive`` costs ~3.0x that
(sens@50 0.875, BLAST+ 0.812), ``sensitive`` ~1.8x (0.820). Fewer seed candidates do not get there
(``python -m bench.quality.candidates_sweep``, 50 to 1,000 at 5k): the seeds cost ~5 ms a query whatever
their number and the realignments and tracebacks of the hits ~15 ms, so 50 candidates cost MMseqs2's
CPU at sens@50 0.756 and 300 reach 0.813 at ~1.5x; a lower similar-seed threshold (19) reaches 0.829 at
~1.5x with 150. So ``auto`` aligns every row up to a few thousand proteins, the most sensitive at a few
times MMseqs2's CPU, and beyond that the seeded prefilter keeps the sensitivity at a bounded cost.

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
#: Rows the seeds hand to Smith-Waterman per query in ``sensitive`` mode (``candidates`` overrides it),
#: fewer for a long query: past :data:`.seeds.MIN_CANDIDATES` rows, at most :data:`.seeds.CANDIDATE_CELLS`
#: cells (query length times the rows' residues).
SEED_CANDIDATES: Final = 1_000
#: ``sensitive`` protein searches add the embedding's 100 nearest rows to the seeds' up to this many rows
#: (their cost grows with the rows, their gain shrinks: +0.004 sens@50 at 5k, +0.0005 at 100k).
EMBEDDING_NEIGHBOURS_MAX_ROWS: Final = 20_000
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
