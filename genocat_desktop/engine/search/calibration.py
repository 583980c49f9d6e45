"""Calibration of a vector index: the cheapest search effort that keeps recall@10 at its target.

How many partitions a search must probe depends on the data: clustered
embeddings reach recall@10 1.0 probing 1-5 % of them, k-mer vectors of real
proteins (no cluster structure) need most of them. So right after the build,
:func:`calibrate` measures recall@10 against exact search on a sample of
queries and stores the cheapest ``(nprobes, refine_factor)`` reaching
:data:`CALIBRATION_TARGET` in the catalog metadata; the default
:class:`~genocat_desktop.engine.search.ann.SearchEffort` uses it.

The queries are of two kinds, and an effort must reach the target on each: rows of the catalog,
each with its own row left out (a query with no copy in the catalog), and near copies of the same
rows (:data:`NEAR_COPY_SUBSTITUTIONS` of their residues substituted, embedded as a query is: a
homologue of a row). Neither kind alone predicts the other: where rows have no close relatives
(1M real proteins) the rows are the harder queries; where rows form tight families (a catalog of
50 families), the near copies are.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import CatalogError, EmbedderError
from genocat_desktop.engine.core.molecules import is_nucleotide
from genocat_desktop.engine.core.process import configure_process
from genocat_desktop.engine.core.progress import CancelToken
from genocat_desktop.engine.search.ann import CALIBRATION_KEY, Calibration, vector_index
from genocat_desktop.engine.search.composition import AMINO_ACIDS
from genocat_desktop.engine.search.lance_errors import storage_errors

if TYPE_CHECKING:
    import lance

__all__ = [
    "CALIBRATION_FRACTIONS",
    "CALIBRATION_QUERIES",
    "CALIBRATION_REFINES",
    "CALIBRATION_TARGET",
    "NEAR_COPY_PROBE",
    "NEAR_COPY_SECONDS",
    "NEAR_COPY_SUBSTITUTIONS",
    "NO_ROW",
    "CalibrationSample",
    "calibrate",
    "calibration_sample",
    "cheap_embedder",
]

#: The cheapest effort whose recall@10 on each kind of sample query reaches this: the recall the
#: design promises against exact search (0.95) plus a margin for the sample's error (100 queries of
#: each kind). Measured: 1M real proteins and mutated copies, 250-300 of 500 partitions (0.968-0.974 on the
#: sample), fresh mutated copies 0.974-0.986 in four builds, 31 of 62 (0.965; fresh 0.969) in one
#: (``bench/fast_mode_bench.py``); 3,000 rows
#: in 50 families, 10-12 of 16, fresh copies with 15 % substitutions 0.955-1.0 in thirty draws of 40
#: over six builds (with the catalog's rows alone as queries, 10 of 16 and 0.94-0.965).
CALIBRATION_TARGET: Final = 0.96
#: How many of the catalog's rows are used as queries.
CALIBRATION_QUERIES: Final = 100
#: Share of residues substituted in the near copies used as calibration queries.
NEAR_COPY_SUBSTITUTIONS: Final = 0.25
#: A longer row's near copy is a window of this many residues of it.
NEAR_COPY_MAX_RESIDUES: Final = 10_000
#: Embedders whose near copies are always embedded for the calibration: a hundred sequences in
#: milliseconds. Another (a language model) is timed on :data:`NEAR_COPY_PROBE` sequences first and
#: used if all the copies would take at most :data:`NEAR_COPY_SECONDS` (ESM-2 8M or 35M on a
#: workstation's CPU; not 650M, which spends minutes of CPU on them).
_CHEAP_EMBEDDERS: Final = frozenset({"kmer"})
#: The longest embedding of the calibration's near copies worth its better estimate of recall.
NEAR_COPY_SECONDS: Final = 30.0
#: Sequences embedded to time an embedder, after one call that loads it (protein-length, 350 residues).
NEAR_COPY_PROBE: Final = 4
_AMINO_ACIDS: Final = np.frombuffer(AMINO_ACIDS.encode(), np.uint8)
_NUCLEOTIDES: Final = np.frombuffer(b"ACGT", np.uint8)
#: The probe counts measured, as fractions of the partitions (cheapest first). Steps of 5 % where
#: vectors IVF prunes coarsely land (a 1M-protein index needed 38-47 of 62): with 0.6 then 0.75, one
#: build that reached 0.953 at 38 probes was given 47, 24 % more work than 41 or 44 would have been.
CALIBRATION_FRACTIONS: Final = (
    0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.85, 1.0,
)
#: The refinement factors measured. 2 is enough where the 4-bit codes rank well: at 1M real
#: proteins (250 of 500 probed) recall@10 0.9265 without refinement, 0.9745 with 2 and with 5,
#: where Lance re-reading 20 vectors instead of 50 took p99 12.6 -> 10.8 ms.
CALIBRATION_REFINES: Final = (2, 5, 10, 20)
#: ``own`` of a query that has no row of its own (a near copy).
NO_ROW: Final = np.iinfo(np.uint64).max
#: Cost model of one ANN search (see :func:`_effort_cost`), measured at 100k rows with
#: ``analyze_plan``: about 0.12 µs per quantised row compared, 40-50 µs per row re-read for refinement.
_COST_PER_CODE_US: Final = 0.12
_COST_PER_REFINE_ROW_US: Final = 45.0


def _exact_neighbours(
    ds: lance.LanceDataset, column: str, queries: np.ndarray, positions: np.ndarray, k: int,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-``k`` row ids of each query over every row, each query's own row left out.

    One streaming pass over the vector column; returns ``(neighbour row ids (q, k), own row ids (q,))``.
    """
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    best_s = np.full((q.shape[0], k + 1), -np.inf, np.float32)
    best_id = np.zeros((q.shape[0], k + 1), np.uint64)
    own = np.full(q.shape[0], NO_ROW, np.uint64)  # a query outside the catalog has no row of its own
    start = 0
    for batch in ds.to_batches(columns=[column], with_row_id=True, batch_size=65_536):
        if cancel is not None:
            cancel.raise_if_cancelled()
        n = batch.num_rows
        vec = batch.column(column)
        dim = vec.type.list_size
        v = np.asarray(vec.values.to_numpy(zero_copy_only=False), np.float32).reshape(n, dim)
        ids = np.asarray(batch.column("_rowid").to_numpy(), np.uint64)
        here = (positions >= start) & (positions < start + n)
        own[here] = ids[positions[here] - start]
        # Cosine: divide the dot products by the row norms (cheaper than normalising the rows).
        scores = (q @ v.T) / np.maximum(np.sqrt(np.einsum("ij,ij->i", v, v)), 1e-12)
        scores[np.flatnonzero(here), positions[here] - start] = -np.inf  # not its own neighbour
        take = min(k + 1, n)
        top = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        all_s = np.concatenate([best_s, np.take_along_axis(scores, top, 1)], axis=1)
        all_id = np.concatenate([best_id, ids[top]], axis=1)
        keep = np.argsort(-all_s, axis=1, kind="stable")[:, : k + 1]
        best_s, best_id = np.take_along_axis(all_s, keep, 1), np.take_along_axis(all_id, keep, 1)
        start += n
    return best_id[:, :k], own


def _effort_cost(nprobes: int, refine: int, partitions: int, rows: int, k: int) -> float:
    """Estimated microseconds of one search: the quantised rows scanned plus the rows re-read to refine."""
    return nprobes / max(1, partitions) * rows * _COST_PER_CODE_US + refine * k * _COST_PER_REFINE_ROW_US


@dataclass(frozen=True, slots=True)
class CalibrationSample:
    """Calibration queries and their exact top ``k`` (see :func:`calibration_sample`).

    ``own`` is each query's own row id, left out of its results and its answer; :data:`NO_ROW` for a
    near copy, which has no row of its own.
    """

    vectors: np.ndarray
    truth: np.ndarray
    own: np.ndarray
    k: int


def _near_copies(
    ds: lance.LanceDataset, positions: np.ndarray, embedder: Any, seed: int
) -> np.ndarray | None:
    """Vectors of copies of the rows at ``positions`` with :data:`NEAR_COPY_SUBSTITUTIONS` of their residues
    substituted (``None`` if the catalog holds no sequences)."""
    names = ds.schema.names
    if "sequence" not in names:
        return None
    table = ds.take(positions.tolist(), columns=["sequence"] + (["molecule"] if "molecule" in names else []))
    seqs = table.column("sequence").to_pylist()
    molecules = table.column("molecule").to_pylist() if "molecule" in names else ["protein"] * len(seqs)
    rng = np.random.default_rng(seed + 2)
    copies = []
    for seq, molecule in zip(seqs, molecules, strict=True):
        letters = _NUCLEOTIDES if is_nucleotide(molecule) else _AMINO_ACIDS
        residues = np.frombuffer(seq.encode(), np.uint8).copy()
        if residues.size > NEAR_COPY_MAX_RESIDUES:  # a fragment of a contig or genome, as a user would ask
            start = int(rng.integers(0, residues.size - NEAR_COPY_MAX_RESIDUES + 1))
            residues = residues[start : start + NEAR_COPY_MAX_RESIDUES]
        hit = rng.random(residues.size) < NEAR_COPY_SUBSTITUTIONS
        residues[hit] = letters[rng.integers(0, letters.size, int(hit.sum()))]
        copies.append(residues.tobytes().decode())
    return np.asarray(embedder.embed(copies, molecules), np.float32)


def calibration_sample(
    ds: lance.LanceDataset, column: str, *, k: int = 10, queries: int = CALIBRATION_QUERIES, seed: int = 0,
    embedder: Any = None, cancel: CancelToken | None = None,
) -> CalibrationSample:
    """Pick ``queries`` rows (seeded), and near copies of them, and find their exact top ``k`` by one scan of
    every vector (seconds at 1M).

    Parameters
    ----------
    embedder
        The column's embedder, for the near copies (none without it, or when the catalog holds no
        sequences).

    Returns
    -------
    CalibrationSample
        The queries' vectors, their exact neighbours and their own row ids.
    """
    rows = ds.count_rows()
    m = max(1, min(queries, rows - 1))
    positions = np.sort(np.random.default_rng(seed).choice(rows, size=m, replace=False))
    picked = ds.take(positions.tolist(), columns=[column]).column(column).combine_chunks()
    vectors = np.asarray(picked.values.to_numpy(zero_copy_only=False), np.float32).reshape(m, -1)
    copies = _near_copies(ds, positions, embedder, seed) if embedder is not None else None
    if copies is not None:
        vectors = np.concatenate([vectors, copies])
        positions = np.concatenate([positions, np.full(m, -1, positions.dtype)])  # no row of their own
    truth, own = _exact_neighbours(ds, column, vectors, positions, k, cancel)
    return CalibrationSample(vectors, truth, own, k)


def cheap_embedder(
    catalog: Catalog, column: str, *, queries: int = CALIBRATION_QUERIES, budget: float = NEAR_COPY_SECONDS,
    clock: Any = time.perf_counter,
) -> Any:
    """The column's embedder if it embeds the calibration's ``queries`` near copies within ``budget`` seconds.

    A k-mer embedder always does; another is built and timed on
    :data:`NEAR_COPY_PROBE` protein-length sequences (``clock`` reads the time).
    ``None`` when it would take longer, or cannot be built or run here: the
    calibration then uses the catalog's rows alone.
    """
    record = catalog.vector_columns().get(column, {})
    try:
        embedder = catalog.embedder(column)
        if record.get("name") in _CHEAP_EMBEDDERS:
            return embedder
        rng = np.random.default_rng(0)
        probe = [_AMINO_ACIDS[rng.integers(0, _AMINO_ACIDS.size, 350)].tobytes().decode()
                 for _ in range(NEAR_COPY_PROBE)]
        embedder.embed(probe[:1], ["protein"])  # the first call loads the model
        start = clock()
        embedder.embed(probe, ["protein"] * len(probe))
        per_copy = (clock() - start) / len(probe)
    except (EmbedderError, CatalogError, OSError, RuntimeError, ValueError):
        return None
    return embedder if per_copy * queries <= budget else None


@dataclass
class _Sweep:
    """Recall and latency of the sample's queries through the index, measured once per effort."""

    ds: Any
    column: str
    sample: CalibrationSample
    target: float
    ladder: list[int]
    measured: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)

    def measure(self, nprobes: int, refine: int) -> tuple[float, float]:
        """Recall@k (the lower of the two kinds of queries) and median milliseconds of the sample with this effort."""
        if (nprobes, refine) not in self.measured:
            k, m = self.sample.k, self.sample.vectors.shape[0]
            nearest = {"column": self.column, "k": k + 1, "metric": "cosine", "nprobes": nprobes,
                       "refine_factor": refine}
            hits, times = np.zeros(m), []
            for i in range(m):
                t = time.perf_counter()
                found = self.ds.to_table(columns=["_distance"], nearest={**nearest, "q": self.sample.vectors[i]},
                                         with_row_id=True).column("_rowid").to_numpy()
                times.append(time.perf_counter() - t)
                found = found[found != self.sample.own[i]][:k]
                hits[i] = len(np.intersect1d(found, self.sample.truth[i]))
            copies = self.sample.own == NO_ROW
            recall = min(float(hits[group].mean()) / k for group in (~copies, copies) if group.any())
            self.measured[nprobes, refine] = (recall, float(np.median(times)) * 1000)
        return self.measured[nprobes, refine]

    def smallest(self, refine: int, start: int = 0) -> int | None:
        """The first rung from ``start`` reaching the target: galloping up, then bisection (``None``: none does)."""
        ladder, top = self.ladder, len(self.ladder) - 1
        below, i = start - 1, start
        while self.measure(ladder[i], refine)[0] < self.target:
            if i >= top:
                return None
            below, i = i, min(top, start + 2 * (i - start) + 1)
        lo, hi = below + 1, i
        while lo < hi:  # recall grows with probes
            mid = (lo + hi) // 2
            if self.measure(ladder[mid], refine)[0] >= self.target:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def cheapest(self, partitions: int, rows: int) -> tuple[int, int]:
        """``(nprobes, refine)``: the cheapest passing effort by the cost model, else the most thorough.

        Recall grows with the refine factor too, so the largest one finds the fewest probes any factor
        can pass with; each smaller factor is then tried from there up (one or two measurements each,
        where it needs no more probes), not from the cheapest rung again.
        """
        most = CALIBRATION_REFINES[-1]
        floor = self.smallest(most)
        if floor is None:
            return self.ladder[-1], most
        passing: list[tuple[float, int, int]] = []
        for refine in CALIBRATION_REFINES:
            rung = floor if refine == most else self.smallest(refine, floor)
            if rung is not None:
                nprobes = self.ladder[rung]
                passing.append((_effort_cost(nprobes, refine, partitions, rows, self.sample.k), nprobes, refine))
        _, nprobes, refine = min(passing)
        return nprobes, refine


def calibrate(
    catalog: Catalog,
    column: str | None = None,
    *,
    k: int = 10,
    queries: int = CALIBRATION_QUERIES,
    target: float = CALIBRATION_TARGET,
    seed: int = 0,
    store: bool = True,
    sample: CalibrationSample | None = None,
) -> Calibration:
    """Measure the cheapest search effort of the vector index that keeps recall@``k`` ≥ ``target``.

    ``queries`` rows of the catalog (a seeded random sample) are searched
    through the index, each with its own row excluded from both the results
    and the exact answer (an exact scan of every row), and so are near copies
    of them where the column's embedder is cheap enough (:func:`cheap_embedder`);
    an effort's recall is the lower of the two kinds'. For each refine factor
    in :data:`CALIBRATION_REFINES`, the smallest probe count among
    :data:`CALIBRATION_FRACTIONS` of the partitions reaching ``target`` is
    found by galloping and bisection (recall grows with probes, and with the
    refine factor: the largest factor's count is found first, the others' from
    there up); of those, the cheapest by
    :func:`_effort_cost` is kept (a model, not the measured latency, so that
    the choice does not depend on the load of the moment). If nothing reaches
    the target, the most thorough effort (every partition, the largest refine
    factor) is kept, with the recall it got.

    Parameters
    ----------
    catalog
        A catalog with a vector index on ``column`` (the default vector column if ``None``).
    k, queries, target, seed
        What to measure and how much.
    store
        Save the result in the catalog metadata (one new version), where the
        default :class:`~genocat_desktop.engine.search.ann.SearchEffort` finds it.
    sample
        Queries and exact answers computed beforehand (:func:`calibration_sample`;
        :func:`~genocat_desktop.engine.search.indexes.build_indexes` computes them while Lance builds the index).

    Returns
    -------
    Calibration
        The chosen effort and every measurement.

    Raises
    ------
    CatalogError
        If ``column`` has no vector index.
    StorageError
        If the catalog cannot be read or written.
    """
    configure_process()
    started = time.perf_counter()
    column = column or catalog.default_vector
    catalog.refresh()
    ds = catalog.dataset()
    index = vector_index(ds, column)
    if index is None:
        raise CatalogError(f"{column} has no vector index to calibrate")
    uuid_ = next(str(seg.uuid) for d in ds.describe_indices() if d.name == index.name for seg in d.segments)
    with storage_errors(catalog, "calibrate the vector index of"):
        if sample is None or sample.k != k:
            sample = calibration_sample(ds, column, k=k, queries=queries, seed=seed,
                                        embedder=cheap_embedder(catalog, column))
        parts = index.num_partitions
        ladder = sorted({max(1, min(parts, math.ceil(parts * f))) for f in CALIBRATION_FRACTIONS})
        sweep = _Sweep(ds, column, sample, target, ladder)
        # Warm the index cache with one query before anything is timed.
        ds.to_table(columns=["_distance"], nearest={"column": column, "k": k, "metric": "cosine",
                                                    "nprobes": ladder[0], "q": sample.vectors[0]})
        nprobes, refine = sweep.cheapest(parts, index.rows_indexed)
        got, ms = sweep.measure(nprobes, refine)
    cal = Calibration(
        uuid_, nprobes, refine, round(got, 4), target, k, sample.vectors.shape[0], round(ms, 3),
        round(time.perf_counter() - started, 2),
        [[p, r, round(rc, 4), round(t, 3)] for (p, r), (rc, t) in sorted(sweep.measured.items())],
    )
    if store:
        _store_calibration(catalog, column, cal)
    return cal


def _store_calibration(catalog: Catalog, column: str, cal: Calibration) -> None:
    from genocat_desktop.engine.catalog.table import META_KEY

    meta = dict(catalog.meta)
    meta[CALIBRATION_KEY] = {**meta.get(CALIBRATION_KEY, {}), column: cal.to_dict()}
    with storage_errors(catalog, "save the index calibration of"):
        catalog.dataset().update_schema_metadata({META_KEY.decode(): json.dumps(meta)}, replace=False)
    catalog.refresh()
