"""Which vector index a catalog gets: decided from a sample of its own vectors, before anything is built.

An IVF index answers a query by probing the partitions (k-means cells) nearest to it; it is only
faster than a scan of every row's codes if a query's true neighbours sit in a few of them. Clustered
embeddings do (1-5 % of the partitions reach recall@10 1.0); the k-mer vectors of real proteins do
not (1M rows, 500 partitions: recall@10 0.95 needed 35 % of them, 0.99 nearly all), and an index that
must probe every partition is a compressed scan that spent minutes on k-means.

:func:`plan_vector_index` decides, in this order:

* ``"none"``: a local catalog whose float32 vectors fit the searcher's memory budget is searched
  exactly in RAM, and the searcher ignores a vector index there: none is built (this skips ~20 s of
  every 100k-row import). Nothing is measured.
* ``"ivf"`` or ``"flat"``: otherwise :func:`measure_pruning` (1-2 s at 1M rows) draws
  :data:`SAMPLE_ROWS` random rows, clusters them (spherical k-means, :data:`SAMPLE_PARTITIONS`
  cells), uses :data:`SAMPLE_QUERIES` of them as queries, ranks the cells of each as IVF would probe
  them, and reads off the share of cells needed before :data:`POLICY_TARGET` of the queries' true
  neighbours (within the sample) are seen. At most :data:`COARSE_FROM`: an IVF index as
  :func:`~.vector_build.choose_vector_params` says; at most :data:`MAX_PROBE_FRACTION`, one with
  fewer, larger partitions (:func:`decision_params`); above it, one partition (every row's RaBitQ
  codes scanned, then refined exactly: the same search cost as probing every partition, no k-means).
  Neighbours in a sample are farther than in the whole catalog, so the estimate errs towards "cannot
  prune" (real 4-mer vectors: 0.80 in the sample at recall 0.99; clustered synthetic ones: 0.01-0.3).

The measured decision (:class:`IndexDecision`) is stored in the catalog metadata beside the index
calibration (:data:`POLICY_KEY`) and reused until the catalog grows by :data:`REMEASURE_GROWTH`;
``genocat index status`` shows its reason, and an explicit build reports it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from genocat_desktop.engine.core.progress import CancelToken
from genocat_desktop.engine.search.calibration import CALIBRATION_TARGET
from genocat_desktop.engine.search.vector_build import VectorIndexParams, choose_vector_params

if TYPE_CHECKING:
    import lance

    from genocat_desktop.engine.catalog.table import Catalog

__all__ = [
    "COARSE_FROM",
    "COARSE_PARTITION_ROWS",
    "MAX_PROBE_FRACTION",
    "POLICY_KEY",
    "POLICY_TARGET",
    "IndexDecision",
    "decision_params",
    "held_in_memory",
    "measure_pruning",
    "needed_probe_fraction",
    "plan_vector_index",
    "spherical_kmeans",
    "still_valid",
    "store_decision",
    "stored_decision",
]

#: The catalog metadata key holding each vector column's last index decision.
POLICY_KEY: Final = "index_policy"
#: recall@10 the index must reach on the sample's queries (their neighbours within the sample): the
#: calibration's, since a built index is searched with the effort that reaches it.
POLICY_TARGET: Final = CALIBRATION_TARGET
#: An IVF index that needs more than this share of its partitions is not built: probing half of
#: them saves at most 2× over a scan of every partition's codes, for minutes of k-means.
MAX_PROBE_FRACTION: Final = 0.5
#: An index whose queries must probe more than this share of the partitions gets fewer, larger ones
#: (:data:`COARSE_PARTITION_ROWS` rows each): Lance pays a cost per probed partition besides its rows'
#: codes, and finer cells only help where a query's neighbours sit in a few of them.
COARSE_FROM: Final = 0.1
#: Rows per partition of a coarse index. At 1M real protein k-mer vectors (4-bit RaBitQ codes, the
#: same hour, ``bench/fast_mode_bench.py``): 64 partitions, 38 probed, p50 / p99 6.0 / 7.5 ms at
#: recall@10 0.98; 500, 300 probed, 10.0 / 13.0 ms at 0.98; 32 and 128 partitions as fast as 64 within
#: the noise, 250 between; the recall for a share probed was the same at every count.
COARSE_PARTITION_ROWS: Final = 16_000
#: Rows drawn for the measurement, and how many of them are queries.
SAMPLE_ROWS: Final = 10_000
SAMPLE_QUERIES: Final = 200
#: Partitions of the sample's k-means (fewer than the index's: each needs enough sampled rows).
SAMPLE_PARTITIONS: Final = 64
KMEANS_ITERATIONS: Final = 8
#: Re-measure when the catalog has grown by this factor since the stored decision.
REMEASURE_GROWTH: Final = 1.5


@dataclass(frozen=True, slots=True)
class IndexDecision:
    """Which vector index a catalog gets, and the figures it was decided from.

    Attributes
    ----------
    action
        ``"ivf"``: a partitioned index (the measurement says IVF prunes); ``"flat"``: one partition,
        a compressed scan of every row's codes with exact refinement (IVF cannot prune these vectors,
        and k-means partitions would only cost build time); ``"none"``: no vector index (the searcher
        holds the vectors in RAM and searches them exactly, which an index would not replace).
    reason
        One line for the person: why (names the measured figure).
    rows
        Rows in the catalog when decided.
    in_memory
        Whether the searcher holds these vectors in RAM (local catalog, within its memory budget).
    probe_fraction
        Estimated share of the partitions an IVF search must probe to reach ``target`` (``None``
        when nothing was measured).
    target
        recall@10 asked of the estimate.
    curve
        ``[share of partitions probed, recall@10]`` measured on the sample (a few points).
    sample_rows, queries, partitions
        What was measured: sampled rows, queries among them, k-means partitions.
    seconds
        How long the measurement took.
    """

    action: str
    reason: str
    rows: int
    in_memory: bool = False
    probe_fraction: float | None = None
    target: float = POLICY_TARGET
    curve: list[list[float]] = field(default_factory=list)
    sample_rows: int = 0
    queries: int = 0
    partitions: int = 0
    seconds: float = 0.0

    @property
    def prunes(self) -> bool | None:
        """Whether IVF prunes these vectors (``None``: not measured)."""
        return None if self.probe_fraction is None else self.probe_fraction <= MAX_PROBE_FRACTION

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (what the catalog metadata stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexDecision | None:
        """Read a stored decision; ``None`` if it is unreadable (then it is measured again)."""
        try:
            return cls(**{f: data[f] for f in cls.__dataclass_fields__ if f in data})
        except TypeError:
            return None


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def spherical_kmeans(x: np.ndarray, parts: int, *, iterations: int = KMEANS_ITERATIONS, seed: int = 0,
                     cancel: CancelToken | None = None) -> np.ndarray:
    """Unit centroids of ``parts`` cosine k-means clusters of the unit rows ``x`` (as IVF trains them).

    Returns
    -------
    numpy.ndarray
        ``(parts, dim)`` float32 centroids; an empty cluster keeps a random row.
    """
    rng = np.random.default_rng(seed)
    parts = max(1, min(parts, x.shape[0]))
    centroids = x[rng.choice(x.shape[0], parts, replace=False)].copy()
    for _ in range(iterations):
        if cancel is not None:
            cancel.raise_if_cancelled()
        assign = np.argmax(x @ centroids.T, axis=1)
        # Each cluster's sum over its rows in sorted order (np.add.at adds one element at a time:
        # seconds per iteration at 20k rows).
        order = np.argsort(assign, kind="stable")
        counts = np.bincount(assign, minlength=parts)
        sums = np.zeros_like(centroids)
        present = np.flatnonzero(counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[present]
        sums[present] = np.add.reduceat(x[order], starts, axis=0)
        empty = np.flatnonzero(counts == 0)
        sums[empty] = x[rng.choice(x.shape[0], empty.size)]
        centroids = _unit(sums)
    return centroids


def needed_probe_fraction(x: np.ndarray, centroids: np.ndarray, queries: np.ndarray, *, k: int = 10,
                          target: float = POLICY_TARGET) -> tuple[float, list[list[float]]]:
    """The share of partitions an IVF search over ``x`` must probe for recall@``k`` ≥ ``target``.

    ``queries`` are row numbers of ``x`` (unit rows); each one's true neighbours are its ``k``
    nearest other rows of ``x``, and each neighbour is found once the partition holding it is
    probed, partitions being probed nearest centroid first (as Lance's IVF does).

    Returns
    -------
    tuple
        The share (a probe count over the partitions, 1.0 when only every partition reaches the
        target) and the curve ``[share, recall]`` at every probe count.
    """
    parts = centroids.shape[0]
    k = max(1, min(k, x.shape[0] - 1))
    q = x[queries]
    scores = q @ x.T
    scores[np.arange(queries.size), queries] = -np.inf  # not its own neighbour
    nearest = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    cell = np.argmax(x @ centroids.T, axis=1)  # the partition of every row
    order = np.argsort(-(q @ centroids.T), axis=1)  # each query's probe order
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(parts)[None, :], axis=1)
    needed = np.take_along_axis(rank, cell[nearest], axis=1).ravel()  # probes before each neighbour is seen
    found = np.cumsum(np.bincount(needed, minlength=parts)) / needed.size  # recall after n + 1 probes
    probes = int(np.searchsorted(found, target - 1e-9)) + 1
    curve = [[round((n + 1) / parts, 4), round(float(found[n]), 4)] for n in range(parts)]
    return min(1.0, probes / parts), curve


def _sample_vectors(ds: lance.LanceDataset, column: str, rows: int, size: int, seed: int) -> np.ndarray:
    """``size`` random rows' vectors (sorted positions: one take reads them in file order)."""
    picked = np.sort(np.random.default_rng(seed).choice(rows, size=min(size, rows), replace=False))
    values = ds.take(picked.tolist(), columns=[column]).column(column).combine_chunks()
    return _unit(np.asarray(values.values.to_numpy(zero_copy_only=False), np.float32).reshape(picked.size, -1))


def measure_pruning(
    catalog: Catalog,
    column: str,
    *,
    target: float = POLICY_TARGET,
    sample_rows: int = SAMPLE_ROWS,
    queries: int = SAMPLE_QUERIES,
    partitions: int = SAMPLE_PARTITIONS,
    seed: int = 0,
    cancel: CancelToken | None = None,
) -> IndexDecision:
    """Measure whether an IVF index on ``column`` could prune, from a sample of the catalog's rows.

    Parameters
    ----------
    catalog
        The catalog (its current version).
    column
        The vector column.
    target, sample_rows, queries, partitions, seed
        What to measure and how much (see the module's constants).
    cancel
        Checked between k-means iterations.

    Returns
    -------
    IndexDecision
        ``"ivf"`` when the estimated share of partitions to probe is at most
        :data:`MAX_PROBE_FRACTION`, else ``"flat"``; ``in_memory`` is left ``False``.
    """
    from genocat_desktop.engine.search.lance_errors import storage_errors

    started = time.perf_counter()
    ds = catalog.dataset()
    rows = ds.count_rows()
    with storage_errors(catalog, "sample the vectors of"):
        x = _sample_vectors(ds, column, rows, sample_rows, seed)
    parts = max(1, min(partitions, x.shape[0] // 40))  # at least ~40 sampled rows per partition
    centroids = spherical_kmeans(x, parts, seed=seed, cancel=cancel)
    m = max(1, min(queries, x.shape[0] - 1))
    picks = np.random.default_rng(seed + 1).choice(x.shape[0], size=m, replace=False)
    fraction, curve = needed_probe_fraction(x, centroids, picks, target=target)
    prunes = fraction <= MAX_PROBE_FRACTION
    share = f"{fraction:.0%} of its partitions"
    reason = (f"an IVF index reaches recall@10 {target:.2f} probing {share} (measured on {x.shape[0]:,} rows)"
              if prunes else
              f"an IVF index would have to probe {share} to reach recall@10 {target:.2f} "
              f"(measured on {x.shape[0]:,} rows): these vectors have no cluster structure to prune")
    return IndexDecision("ivf" if prunes else "flat", reason, rows, False, round(fraction, 4), target,
                         curve[:: max(1, parts // 16)], int(x.shape[0]), int(m), parts,
                         round(time.perf_counter() - started, 2))


def held_in_memory(catalog: Catalog, column: str, rows: int) -> bool:
    """Whether a default :class:`~genocat_desktop.engine.search.searcher.Searcher` holds these vectors in RAM.

    Then it searches them exactly and ignores a vector index (a local catalog whose float32 vectors
    fit its memory budget).
    """
    from genocat_desktop.engine.catalog.storage import is_remote
    from genocat_desktop.engine.search.searcher import DEFAULT_MEMORY_BUDGET

    dim = int(catalog.vector_columns()[column]["dim"])
    return not is_remote(catalog.uri) and rows * dim * 4 <= DEFAULT_MEMORY_BUDGET


def plan_vector_index(
    catalog: Catalog, column: str | None = None, *, measure: bool = False, cancel: CancelToken | None = None
) -> IndexDecision:
    """The vector index the catalog should have now: none, a flat compressed scan, or IVF.

    A catalog whose vectors the searcher holds in RAM needs none (nothing is measured unless
    ``measure``). Otherwise a stored decision is reused while the catalog has not grown by
    :data:`REMEASURE_GROWTH`; else the sample is measured (:func:`measure_pruning`, seconds).

    Returns
    -------
    IndexDecision
        Not stored: :func:`store_decision` does that.
    """
    column = column or catalog.default_vector
    ds = catalog.dataset()
    rows = ds.count_rows()
    in_memory = held_in_memory(catalog, column, rows)
    if in_memory and not measure:
        return IndexDecision("none", _in_memory_reason(catalog, column, rows), rows, True)
    stored = stored_decision(ds, column)
    if stored is not None and stored.probe_fraction is not None and still_valid(stored, rows):
        measured = stored
    else:
        measured = measure_pruning(catalog, column, cancel=cancel)
    if in_memory:
        return replace(measured, action="none", in_memory=True, rows=rows,
                       reason=f"{_in_memory_reason(catalog, column, rows)}; {measured.reason}")
    return replace(measured, in_memory=False, rows=rows)


def _in_memory_reason(catalog: Catalog, column: str, rows: int) -> str:
    dim = int(catalog.vector_columns()[column]["dim"])
    return (f"the searcher holds these {rows:,} vectors ({rows * dim * 4 / 1e6:,.0f} MB) in RAM and searches "
            "them exactly: it would not use a vector index")


def decision_params(decision: IndexDecision, rows: int, dim: int) -> VectorIndexParams:
    """The vector index to build for ``decision`` (an explicit build of ``"none"`` gets what the measurement chose).

    One partition where the index cannot prune; fewer, larger partitions than
    :func:`~.vector_build.choose_vector_params` says where it prunes only coarsely (more than
    :data:`COARSE_FROM` of the partitions probed): one per :data:`COARSE_PARTITION_ROWS` rows.
    """
    if decision.prunes is False:
        return VectorIndexParams("IVF_RQ", 1, 4)  # no k-means: one partition, every row's codes scanned
    chosen = choose_vector_params(rows, dim)
    if decision.probe_fraction is not None and decision.probe_fraction > COARSE_FROM:
        return replace(chosen, num_partitions=max(1, min(chosen.num_partitions, rows // COARSE_PARTITION_ROWS)))
    return chosen


def store_decision(catalog: Catalog, column: str, decision: IndexDecision) -> None:
    """Save the decision in the catalog metadata beside the index calibration (one new version).

    The metadata is read again from the latest version at each try, so a change another process
    committed meanwhile (a new field, a calibration) is kept; a lost commit is retried.

    Raises
    ------
    CatalogBusyError
        If every try lost to another process's change.
    """
    from genocat_desktop.engine.catalog.commits import retry_conflicts
    from genocat_desktop.engine.catalog.table import META_KEY

    def attempt() -> None:
        catalog.refresh()
        meta = dict(catalog.meta)
        meta[POLICY_KEY] = {**meta.get(POLICY_KEY, {}), column: decision.to_dict()}
        catalog.dataset().update_schema_metadata({META_KEY.decode(): json.dumps(meta)}, replace=False)

    retry_conflicts(attempt, catalog=catalog)
    catalog.refresh()


def stored_decision(ds: lance.LanceDataset, column: str) -> IndexDecision | None:
    """The index decision stored for ``column`` at this dataset version, if any."""
    from genocat_desktop.engine.catalog.table import META_KEY

    try:
        meta = json.loads((ds.schema.metadata or {}).get(META_KEY, b"{}"))
    except ValueError:
        return None
    found = meta.get(POLICY_KEY, {}).get(column)
    return IndexDecision.from_dict(found) if isinstance(found, dict) else None


def still_valid(decision: IndexDecision | None, rows: int) -> bool:
    """Whether a stored decision still describes a catalog of ``rows`` rows (it has not grown much)."""
    return decision is not None and decision.rows > 0 and rows < math.ceil(decision.rows * REMEASURE_GROWTH)
