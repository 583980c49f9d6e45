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
candidates that can enter the list (``detail``, ``keep``), scaling for the others), so that two low-complexity or
coiled-coil proteins do not look related by composition alone; ``evalue``,
``m · n · 2^−bits`` with ``m`` the query length and ``n`` the catalog's
residues (Karlin-Altschul; no edge-effect correction, so values are
slightly lower than BLAST's for short sequences); ``identity``, identical
positions over the aligned columns; ``query_cov``, ``target_cov``, the
aligned fraction of each sequence. Nucleotide queries are aligned on both
strands; each hit keeps the better one, and ``sstrand`` says which (``plus``
or ``minus``, BLAST's names). A query of one molecule type against targets of
another is refused.

pyopal runs its SIMD lanes across targets; with the few rows that the nucleotide seeds
leave (about two per query) most lanes idle. Up to :data:`STRIPED_MAX_TARGETS` nucleotide
targets are therefore aligned one pair at a time with parasail's striped SIMD
(:mod:`~genocat_desktop.engine.search.striped`): the same scores, regions and strands
(tested on real genes, both strands), several times faster. Among alignments of equal score
and region the two may keep different paths (identity then differs by a column or two;
parasail's agrees with the detail pane's more often). The tracebacks of protein hits go to parasail
for a long query or a few hits (:func:`_striped_protein`): the same scores; on ties, at times another
path (of 600 real pairs, 10 differ in identity, 0 or 1 in region: ``bench/protein_traced_bench.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from genocat_desktop.engine.catalog.table import ALIGNMENT_COLUMNS
from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.core.molecules import is_nucleotide
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
    "best_scores",
    "encoded",
    "query_regions",
]

_BATCH_ALIGNERS: dict[str, Any] = {}

#: Nucleotide targets up to this many are aligned one pair at a time with parasail (:mod:`.striped`),
#: more with pyopal. Measured (``python -m bench.dna.striped_crossover``, a query with 5 % substitutions
#: against its gene and n - 1 other real genes): both strands' scores cost the same in both at ~32
#: targets for a 150 bp query, and parasail is still faster at 64 for 1 kb; tracebacks of a 1 kb query
#: cost 22x less in parasail for 1 target, 1.5x less for 16, the same at 32; of a 150 bp query (~0.5 ms
#: either way) the same at ~6.
STRIPED_MAX_TARGETS = 16
#: The largest query x target matrix parasail traces: its traceback table takes ~2 bytes per cell (178 MB
#: for a 9.3 kb gene against itself, traced in 0.18 s; pyopal, in linear memory, 0.87 s), so at most
#: ~280 MB here; larger pairs go to pyopal.
STRIPED_MAX_CELLS = 1 << 27
#: Protein hits are traced with parasail for a query of at least this many residues, or when at most
#: :data:`STRIPED_PROTEIN_TARGETS` are traced (:func:`_striped_protein`); otherwise with pyopal.
STRIPED_PROTEIN_QUERY = 400
STRIPED_PROTEIN_TARGETS = 4
#: A protein score pass over at most this many targets runs in parasail, one pair at a time with one query
#: profile (:func:`.striped.protein_scores`); more go to pyopal, whose lanes run across targets. Measured on
#: the seeds' candidates of 193 queries at 5k rows (one core): parasail 0.64x pyopal's time at 30 targets,
#: 0.71x at 100, 1.04x at 300, 1.32x at 1,000.
STRIPED_SCORED_PROTEIN_TARGETS = 200
#: pyopal's targets are split over the usable CPUs in runs of at least this many: a score pass over
#: 128 average proteins costs ~2 ms, a thread's start ~0.1 ms (:func:`_in_parts`).
SCORED_PART_TARGETS = 128
#: The same for tracebacks (each costs several score passes) and parasail's pairs.
TRACED_PART_TARGETS = 8
#: Tracebacks run on several threads only while each pair's table (~2 bytes a cell in parasail) stays
#: within ~32 MB, so that the threads together hold little more than one large pair would.
PARALLEL_TRACE_CELLS = 1 << 24


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
    query_nuc = is_nucleotide(query_molecule)
    target_nuc = np.array([is_nucleotide(m) for m in target_molecules])
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
    shown: Callable[[dict[str, np.ndarray]], Sequence[int]] | None = None,
    keep: int | None = None,
    database: Any = None,
    strands: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Align ``query`` to each target (local, Smith-Waterman).

    Scores come from a score-only pass over every target (both strands for nucleotides;
    pyopal, or parasail for few nucleotide targets); the traceback behind identity, coverage
    and strand, which costs several times more on long true hits, is computed for the
    ``detail`` targets only.

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
        the others keep the standard bit score. With ``shown`` or ``keep``, the
        ``detail`` targets are the *candidates* for the hit list, best first.
    shown
        Given the columns with scores, bits and E-values, the indexes of the targets that
        get identity, coverage and strand (a traceback each); ``None``: the ``detail`` ones.
        The hits shown need tracebacks, the candidates only their bits.
    keep
        The hits the list shows: once ``keep`` candidates are adjusted, those whose standard
        E-value is over :data:`.composition.EVALUE_STRETCH` times the ``keep``-th adjusted one
        are only scaled (BLAST's early termination of its composition-adjusted realignment).
        ``None``: every candidate adjusted.
    database
        The targets already encoded (:func:`encoded`), reused across queries; ``None``: encoded here.
    strands
        Nucleotide queries: per target, the strands to align (``uint8``: 1 the query as given, 2 its
        reverse complement, 3 both; :meth:`.seeds.SeedIndex.significant_strands`); ``None``: both.

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
    ends = None
    traced: dict[int, tuple[Any, str]] | None = None
    if _check_molecules(query_molecule, target_molecules) and _striped(targets):
        if keep is not None and n <= keep and strands is not None and _one_strand(strands) \
                and _striped(targets, len(query)):
            # Every target will be shown, each aligned on one strand: its traceback gives its score too,
            # so the score-only pass (a third of a traceback's time for a gene) is skipped.
            traced = _traced_first(query, targets, strands)
            scores = np.array([hit.score for hit, _ in traced.values()], dtype=np.int64)
            best_strands = [strand if hit.score > 0 else "plus" for hit, strand in traced.values()]
        else:
            scores, best_strands, ends = _striped_scores(query, targets, strands)
    else:
        scores, best_strands = best_scores(query, query_molecule, targets, target_molecules, database=database)
    out["aln_score"][:] = scores
    chosen = range(n) if detail is None else detail(scores)
    scheme = scheme_for(query_molecule)
    if scheme is PROTEIN:
        from genocat_desktop.engine.search.composition import adjusted_bits

        candidates = np.fromiter(chosen, dtype=np.int64)
        # Hits are shown from the candidates only (search.homology): the others keep standard bits.
        out["bits"] = adjusted_bits(query, targets, out["aln_score"], candidates, among=candidates, keep=keep)
    elif scheme.lam is not None and scheme.k is not None:
        out["bits"] = scheme.bits(out["aln_score"])
    if scheme.lam is not None and scheme.k is not None:
        out["evalue"] = evalue(out["bits"], len(query), db_residues)
    if shown is not None:
        chosen = shown(out)
    found = _traced(query, query_molecule, targets, target_molecules, scores, best_strands, chosen, ends) \
        if traced is None else [(i, traced[i]) for i in chosen if scores[i] > 0]
    for i, (hit, strand) in found:
        if is_nucleotide(query_molecule):
            out["sstrand"][i] = strand
        # BLAST's identity: identical columns over all aligned columns, gaps included
        # (pyopal's identity() leaves gap columns out).
        ops = hit.alignment
        out["identity"][i] = ops.count("M") / len(ops) if ops else 0.0
        out["query_cov"][i] = (hit.query_end - hit.query_start + 1) / max(len(query), 1)
        out["target_cov"][i] = (hit.target_end - hit.target_start + 1) / max(len(targets[i]), 1)
    return out


def best_scores(
    query: str, query_molecule: str, targets: Sequence[str], target_molecules: Sequence[str], *,
    database: Any = None, strands: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Each target's best local alignment score to the query, and its strand (score-only pass).

    A nucleotide query is aligned as given (``plus``) and reverse-complemented (``minus``); each
    target keeps the higher score (``plus`` on ties). ``database``: the targets already encoded
    (:func:`encoded`). ``strands``: as for :func:`align_to` (the targets aligned one pair at a time
    skip the strand their seeds did not touch; the many that pyopal aligns get both).
    """
    nucleotide = _check_molecules(query_molecule, target_molecules)
    if nucleotide and _striped(targets):
        return _striped_scores(query, targets, strands)[:2]
    if not nucleotide and len(targets) <= STRIPED_SCORED_PROTEIN_TARGETS:
        from genocat_desktop.engine.search import striped

        return striped.protein_scores(query, targets, PROTEIN), ["plus"] * len(targets)
    if database is None:
        database = encoded(targets, NUCLEOTIDE if nucleotide else PROTEIN)
    scores = np.zeros(len(targets), dtype=np.int64)
    best = ["plus"] * len(targets)
    for hit in _opal_hits(query, query_molecule, targets, target_molecules, mode="score", database=database):
        scores[hit.target_index] = hit.score
    if is_nucleotide(query_molecule):
        for hit in _opal_hits(reverse_complement(query), query_molecule, targets, target_molecules, mode="score",
                              database=database):
            if hit.score > scores[hit.target_index]:
                scores[hit.target_index] = hit.score
                best[hit.target_index] = "minus"
    return scores, best


def _one_strand(strands: np.ndarray) -> bool:
    """Whether the seeds found every target on one strand only (``strands``: as for :func:`align_to`)."""
    seeded = np.asarray(strands)
    return bool(((seeded == 1) | (seeded == 2)).all())


def _traced_first(query: str, targets: Sequence[str], strands: np.ndarray) -> dict[int, tuple[Any, str]]:
    """Each target traced on the one strand that seeded it (:func:`.striped.traced`), by index."""
    from genocat_desktop.engine.search import striped

    minus = reverse_complement(query)
    out: dict[int, tuple[Any, str]] = {}
    for i, (target, seeded) in enumerate(zip(targets, np.asarray(strands).tolist(), strict=True)):
        strand = "plus" if seeded == 1 else "minus"
        out[i] = (striped.traced(query if strand == "plus" else minus, target, target_index=i), strand)
    return out


def _striped_scores(query: str, targets: Sequence[str], strands: np.ndarray | None,
                    ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """:func:`best_scores` of few nucleotide targets (parasail), and per target its best score and end
    cell on its best strand (``(n, 3)``: what :func:`.striped.traced` takes as ``end``)."""
    from genocat_desktop.engine.search import striped

    # A row that the seeds found on one strand only is aligned on that one: a score pass of a strand
    # costs as much as its seeding, and the other strand's best alignment, without an 11-letter word,
    # scores below the seeded one (checked on bench.dna.run: the same hits and bits).
    seeded = np.full(len(targets), 3, dtype=np.uint8) if strands is None else np.asarray(strands)
    found = {}
    for bit, q in ((1, query), (2, reverse_complement(query))):
        score, ends = np.zeros(len(targets), dtype=np.int64), np.full((len(targets), 2), -1, dtype=np.int64)
        picked = np.flatnonzero(seeded & bit)
        if picked.size:
            score[picked], ends[picked] = striped.scored(q, [targets[i] for i in picked.tolist()])
        found[bit] = np.column_stack([score, ends])
    minus = found[2][:, 0] > found[1][:, 0]  # plus on ties
    best = np.where(minus[:, None], found[2], found[1])
    return best[:, 0].copy(), ["minus" if m else "plus" for m in minus.tolist()], best


def _traced(
    query: str,
    query_molecule: str,
    targets: Sequence[str],
    target_molecules: Sequence[str],
    scores: np.ndarray,
    strands: Sequence[str],
    chosen: Sequence[int] | range,
    ends: np.ndarray | None = None,
) -> list[tuple[int, tuple[Any, str]]]:
    """Full results (regions, operations; pyopal or parasail) for the ``chosen`` targets that score above 0, on
    their best strand. A minus hit's query coordinates are those on the reverse complement:
    :func:`_on_query` maps them back. ``ends``: :func:`_striped_scores`'s, or ``None``."""
    out: list[tuple[int, tuple[Any, str]]] = []
    for strand in ("plus", "minus"):
        picked = [i for i in chosen if scores[i] > 0 and strands[i] == strand]
        if not picked:
            continue
        q = query if strand == "plus" else reverse_complement(query)
        if is_nucleotide(query_molecule) and _striped([targets[i] for i in picked]):
            from genocat_desktop.engine.search import striped

            fits = {i: _striped([targets[i]], len(q)) for i in picked}
            small = [i for i in picked if fits[i]]
            out += [(i, (striped.traced(q, targets[i], target_index=n,
                                        end=None if ends is None else tuple(ends[i].tolist())), strand))
                    for n, i in enumerate(small)]
            picked = [i for i in picked if not fits[i]]
            if not picked:
                continue
        if not is_nucleotide(query_molecule) and _striped_protein(len(q), len(picked)):
            small = [i for i in picked if len(q) * len(targets[i]) <= STRIPED_MAX_CELLS]
            paired = [targets[i] for i in small]
            hits = _each_in_parts(functools.partial(_protein_traced, q, paired), len(paired),
                                  max((len(q) * len(t) for t in paired), default=0))
            out += [(i, (hit, strand)) for i, hit in zip(small, hits, strict=True)]
            picked = [i for i in picked if len(q) * len(targets[i]) > STRIPED_MAX_CELLS]
            if not picked:
                continue
        found = _opal_hits(q, query_molecule, [targets[i] for i in picked], [target_molecules[i] for i in picked])
        out += [(picked[hit.target_index], (hit, strand)) for hit in found]
    return out


def _protein_traced(query: str, targets: Sequence[str], n: int) -> Any:
    """Target ``n``'s traceback with parasail (:func:`.striped.protein_traced`)."""
    from genocat_desktop.engine.search import striped

    return striped.protein_traced(query, targets[n], PROTEIN, target_index=n)


def _each_in_parts(work: Callable[[int], Any], count: int, largest_cells: int) -> list[Any]:
    """``work(n)`` for each ``n`` in ``range(count)``, in interleaved runs on the usable CPUs (parasail's
    calls release the GIL); the results in order. Pairs whose traceback table could be large
    (``largest_cells`` over :data:`PARALLEL_TRACE_CELLS`) run one at a time, as the memory allows."""
    from genocat_desktop.engine.core.parallel import part_count, run_parts

    parts = part_count(count, TRACED_PART_TARGETS) if largest_cells <= PARALLEL_TRACE_CELLS else 1
    out: list[Any] = [None] * count

    def part(p: int) -> None:
        for n in range(p, count, parts):
            out[n] = work(n)

    run_parts(part, parts, "genocat-trace")
    return out


def _striped(targets: Sequence[str], traced_length: int = 0) -> bool:
    """Whether nucleotide ``targets`` are aligned with parasail (:mod:`.striped`), not pyopal.

    pyopal's SIMD lanes run across targets, parasail's within one pair: parasail wins while the
    targets are few (:data:`STRIPED_MAX_TARGETS`). A traceback (``traced_length``: the query's length)
    takes ~2 bytes per cell of the pair's matrix in parasail, linear memory in pyopal: a pair over
    :data:`STRIPED_MAX_CELLS` cells goes to pyopal.
    """
    if len(targets) > STRIPED_MAX_TARGETS:
        return False
    return not traced_length or all(traced_length * len(t) <= STRIPED_MAX_CELLS for t in targets)


def _striped_protein(query_length: int, n_targets: int) -> bool:
    """Whether protein tracebacks go to parasail (:func:`.striped.protein_traced`), not pyopal.

    Measured (``bench/protein_traced_bench.py``, a family's longest member against 4 to 51 of its
    homologues): parasail traces a 500 to 1,300 residue query's hits 1.0 to 6 times as fast as pyopal
    whatever their number (pyopal's full mode slows down most on long queries), a 150 to 300 residue
    query's 1.1 to 1.3 times as fast at 4 targets but 0.3 to 1.0 times from 16 (pyopal's lanes fill up).
    """
    return query_length >= STRIPED_PROTEIN_QUERY or n_targets <= STRIPED_PROTEIN_TARGETS


def _on_query(hit: Any, strand: str, query_length: int) -> tuple[int, int]:
    """The hit's aligned query region on the query as given: 0-based start, end exclusive."""
    if strand == "minus":
        return query_length - (hit.query_end + 1), query_length - hit.query_start
    return hit.query_start, hit.query_end + 1


def encoded(targets: Sequence[str], scheme: Scheme) -> Any:
    """``targets`` encoded for the batch aligner of ``scheme`` (a ``pyopal.Database``).

    Encoding costs about as much as a tenth of a score-only pass: a caller that aligns many
    queries to the same rows encodes them once (:class:`.homology.SequenceStore`).
    """
    import pyopal

    aligner = _batch_aligner(scheme)
    return pyopal.Database([t.encode("ascii").translate(scheme.translate) for t in targets], alphabet=aligner.alphabet)


def _opal_hits(
    query: str, query_molecule: str, targets: Sequence[str], target_molecules: Sequence[str], mode: str = "full",
    database: Any = None,
) -> Any:
    """pyopal's results of ``query`` against each target (``mode="full"``: score, regions, operations)."""
    scheme = NUCLEOTIDE if _check_molecules(query_molecule, target_molecules) else PROTEIN
    q = query.encode("ascii").translate(scheme.translate)
    if database is None:
        database = encoded(targets, scheme)
    if mode == "score":
        # Every target in 8 bits first, the saturated ones again in 16 and 32: the same scores as the
        # default "buckets" and 11-22 % less CPU over a catalog (bench/quality/candidates_sweep.py).
        return _in_parts(_batch_aligner(scheme), q, database, SCORED_PART_TARGETS, mode=mode, overflow="simple")
    return _in_parts(_batch_aligner(scheme), q, database, TRACED_PART_TARGETS, mode=mode)


def _in_parts(aligner: Any, query: bytes, database: Any, least: int, **options: str) -> list[Any]:
    """pyopal's results of ``query`` against every target of ``database`` (``options``: ``mode``,
    ``overflow``), the targets cut into runs of at least ``least`` aligned at once on the usable CPUs
    (:mod:`..core.parallel`; pyopal releases the GIL). The same results as one call, in target order."""
    from genocat_desktop.engine.core.parallel import part_count, run_parts

    n = len(database)
    parts = part_count(n, least)
    if parts < 2:
        return list(aligner.align(query, database, **options))
    bounds = np.linspace(0, n, parts + 1).astype(int).tolist()
    found: list[list[Any]] = [[] for _ in range(parts)]

    def part(i: int) -> None:
        found[i] = list(aligner.align(query, database, start=bounds[i], end=bounds[i + 1], **options))

    run_parts(part, parts, "genocat-align")
    return [hit for run in found for hit in run]


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
