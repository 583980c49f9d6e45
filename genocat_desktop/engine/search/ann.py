"""Approximate nearest-neighbour search through a catalog's IVF vector index.

The index (built by :func:`~genocat_desktop.engine.search.indexes.build_indexes`)
is IVF_RQ with the cosine metric, queried with the same metric: a cosine query
against an L2 index silently falls back to a flat scan in Lance. Its quantised
distances alone are coarse, so every search refines ``refine_factor × k``
candidates with exact cosine scores (see :class:`SearchEffort`).

Filters
-------
Lance pre-filters ANN candidates, but with a very selective filter the IVF
probes find too few matching rows (0.1 % of rows: 4.6 of 10 hits). So a
filtered search first counts the matching rows (fast with the scalar indexes)
and below :data:`BYPASS_FRACTION` of the catalog it bypasses the vector index:
an exact scan of just those rows. A
:class:`~genocat_desktop.engine.search.searcher.Searcher` holding the vectors
in RAM (its half-precision refinement copy) does better: it caches the row ids
that pass a filter, searches them exactly when their vectors fit a small
float32 matrix, and otherwise post-filters (:func:`ann_candidates` with
``allowed``): Lance's own pre-filtering evaluated the filter again for every query.

Rows appended after the build are not in the index; Lance scans them flat and
merges them into every result, so they are found.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.core.process import configure_process
from genocat_desktop.engine.core.progress import gc_paused

if TYPE_CHECKING:
    import lance

__all__ = [
    "BYPASS_FRACTION",
    "BYPASS_ROWS",
    "CALIBRATION_KEY",
    "DEFAULT_EFFORT",
    "DEFAULT_REFINE",
    "Calibration",
    "SearchEffort",
    "VectorIndexRef",
    "ann_candidates",
    "ann_search",
    "calibration_of",
    "index_kind",
    "index_partitions",
    "vector_index",
]

#: A filter matching less than this fraction of rows is searched exactly (bypassing the vector index).
BYPASS_FRACTION: Final = 0.01
#: ... and so is one matching fewer than this many rows, whatever the catalog's size.
BYPASS_ROWS: Final = 2_000
#: A filtered search post-filters ANN candidates (see :func:`ann_candidates`) when it needs at most this
#: many of them: ``refine × k × POSTFILTER_MARGIN / share of rows passing``.
POSTFILTER_MAX_CANDIDATES: Final = 2_000
#: Candidates asked for beyond the expected need, so that chance rarely leaves too few passing.
POSTFILTER_MARGIN: Final = 1.5
#: Refinement factor when neither the effort nor a calibration says otherwise.
DEFAULT_REFINE: Final = 10
#: The catalog metadata key holding each vector column's calibration.
CALIBRATION_KEY: Final = "ann_calibration"


@dataclass(frozen=True, slots=True)
class Calibration:
    """The search effort measured for one vector index right after its build.

    See :func:`~genocat_desktop.engine.search.calibration.calibrate`.

    Attributes
    ----------
    index_uuid
        The index segment it was measured on (a rebuilt index is calibrated anew).
    nprobes, refine_factor
        The cheapest effort measured whose recall reached ``target``.
    recall
        Its recall@``k`` on the sample: the lower of the catalog's own rows as queries (each one's own
        row excluded) and near copies of them (see :mod:`~genocat_desktop.engine.search.calibration`).
    target, k, queries
        What was asked and how much was measured.
    median_ms
        Median latency of those sample queries with that effort (on the machine that built it).
    seconds
        How long the calibration took.
    tried
        Every ``(nprobes, refine_factor, recall, median_ms)`` measured.
    """

    index_uuid: str
    nprobes: int
    refine_factor: int
    recall: float
    target: float
    k: int
    queries: int
    median_ms: float
    seconds: float
    tried: list[list[float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (what the catalog metadata stores)."""
        return asdict(self)

    def describe(self, partitions: int) -> str:
        """One line for the person: the effort and the recall it was measured to reach."""
        return (f"probe {self.nprobes} of {partitions} partitions, re-rank {self.refine_factor} × k candidates "
                f"exactly: recall@{self.k} {self.recall:.2f} on {self.queries} sample queries (target "
                f"{self.target:.2f})")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration | None:
        """Read a stored calibration; ``None`` if it is unreadable (then the search uses the safe default)."""
        try:
            return cls(**{f: data[f] for f in cls.__dataclass_fields__ if f in data})
        except TypeError:
            return None


@dataclass(frozen=True, slots=True)
class VectorIndexRef:
    """What a search needs to know about a vector index (cached per version by the searcher)."""

    name: str
    column: str
    num_partitions: int
    rows_indexed: int
    calibration: Calibration | None = None


@dataclass(frozen=True, slots=True)
class SearchEffort:
    """How hard an ANN search works: more effort, better recall, slower.

    The default (every field ``None``) uses the effort measured when the index
    was built (the cheapest one giving recall@10 ≥ ``CALIBRATION_TARGET`` on a
    sample of the catalog, see :mod:`.calibration`), and probes every
    partition with refine :data:`DEFAULT_REFINE` for an index without one.

    Attributes
    ----------
    nprobes
        IVF partitions searched; ``None`` = ``probe_fraction`` of the index's
        partitions (at least ``min_probes``), or the calibrated number.
    refine_factor
        ``refine_factor × k`` candidates are re-scored exactly with the stored
        vectors; ``None`` = the calibrated factor, or :data:`DEFAULT_REFINE`.
    probe_fraction, min_probes
        See ``nprobes``. Without a calibration every partition is probed: k-mer
        vectors of real proteins have no cluster structure for IVF to exploit
        (recall@10 at 30k rows: 0.46 probing 20 %, 0.66 at 50 %, 0.99 at
        100 %), so the index then works as a compressed scan (4-bit codes, 1/8
        of the vectors) plus exact refinement. Embeddings that do cluster
        (protein language models; synthetic clusters: 1.0 at 20 %) can use
        :meth:`fast`.
    """

    nprobes: int | None = None
    refine_factor: int | None = None
    probe_fraction: float | None = None
    min_probes: int = 20

    @classmethod
    def fast(cls) -> SearchEffort:
        """Probe 20 % of the partitions: for clustered embeddings (recall 1.0 on synthetic clusters)."""
        return cls(probe_fraction=0.2)

    def probes(self, num_partitions: int, calibrated: int | None = None) -> int:
        """The number of partitions to probe in an index of ``num_partitions``.

        ``calibrated`` is the index's calibrated probe count, used when neither
        ``nprobes`` nor ``probe_fraction`` is set.
        """
        if self.nprobes is not None:
            return max(1, self.nprobes)
        if self.probe_fraction is None and calibrated is not None:
            return max(1, min(num_partitions, calibrated))
        fraction = 1.0 if self.probe_fraction is None else self.probe_fraction
        return max(1, min(num_partitions, max(self.min_probes, math.ceil(num_partitions * fraction))))

    def refine(self, calibrated: int | None = None) -> int:
        """The refinement factor: this effort's, else the calibrated one, else :data:`DEFAULT_REFINE`."""
        if self.refine_factor is not None:
            return self.refine_factor
        return calibrated if calibrated is not None else DEFAULT_REFINE

    def resolve(self, index: VectorIndexRef) -> tuple[int, int]:
        """``(nprobes, refine_factor)`` for a search of ``index`` (using its calibration if it has one)."""
        cal = index.calibration
        return (self.probes(index.num_partitions, cal.nprobes if cal else None),
                self.refine(cal.refine_factor if cal else None))


DEFAULT_EFFORT: Final = SearchEffort()


def index_kind(index_type: str) -> str:
    """``"vector"``, ``"text"`` or ``"scalar"`` for a Lance index type (``IVF_RQ``, ``INVERTED``, ``BTREE``...)."""
    t = index_type.upper()
    if t.startswith("IVF") or "HNSW" in t or t.startswith("VECTOR"):
        return "vector"
    if t in ("INVERTED", "FTS", "NGRAM"):
        return "text"
    return "scalar"


def index_partitions(ds: lance.LanceDataset, name: str) -> int | None:
    """The IVF partitions of the vector index ``name``, or ``None`` if Lance does not say."""
    configure_process()  # index statistics without the centroids (see configure_process)
    try:
        stats = ds.stats.index_stats(name)
        parts = [int(s.get("num_partitions", 0)) for s in stats.get("indices", [])]
        return max(parts) if parts else None
    except (ValueError, OSError, RuntimeError, KeyError):
        return None


def _stored_calibration(ds: lance.LanceDataset, column: str) -> dict[str, Any]:
    from genocat_desktop.engine.catalog.table import META_KEY

    try:
        meta = json.loads((ds.schema.metadata or {}).get(META_KEY, b"{}"))
    except ValueError:
        return {}
    found = meta.get(CALIBRATION_KEY, {}).get(column)
    return found if isinstance(found, dict) else {}


def calibration_of(ds: lance.LanceDataset, desc: Any, column: str) -> Calibration | None:
    """The stored calibration of the vector index ``desc`` (one of ``ds.describe_indices()``) on ``column``;
    ``None`` if there is none or it was measured on an index that has since been replaced."""
    cal = Calibration.from_dict(_stored_calibration(ds, column))
    uuids = {str(seg.uuid) for seg in getattr(desc, "segments", [])}
    return cal if cal is not None and cal.index_uuid in uuids else None


def vector_index(ds: lance.LanceDataset, column: str) -> VectorIndexRef | None:
    """The vector index on ``column`` of this dataset version, if there is one (with its calibration)."""
    for desc in ds.describe_indices():
        if index_kind(desc.index_type) == "vector" and column in desc.field_names:
            return VectorIndexRef(desc.name, column, index_partitions(ds, desc.name) or 1,
                                  int(desc.num_rows_indexed), calibration_of(ds, desc, column))
    return None


# A full garbage collection during a query holds the GIL: it made the 1M-row p99 115 ms instead of
# 26 ms (bench/index_bench.py with and without the collector).
@gc_paused()
def _nearest(
    ds: lance.LanceDataset,
    index: VectorIndexRef,
    vector: np.ndarray,
    k: int,
    *,
    sql: str | None,
    candidates: int,
    effort: SearchEffort,
) -> tuple[dict[str, Any], bool]:
    """Lance's ``nearest`` argument for one query, and whether the filter bypasses the index."""
    bypass = sql is not None and candidates < max(BYPASS_ROWS, BYPASS_FRACTION * ds.count_rows())
    nearest: dict[str, Any] = {"column": index.column, "q": vector, "k": k, "metric": "cosine"}
    if bypass:
        nearest["use_index"] = False
    else:
        probes, refine = effort.resolve(index)
        if sql is not None:
            # A filter keeping a fraction f of the rows leaves ~f of each probed partition:
            # probe up to 4× more partitions so enough matching rows are candidates.
            share = candidates / max(1, ds.count_rows())
            probes = min(index.num_partitions, math.ceil(probes * min(4.0, 1.0 / max(share, 1e-9))))
        nearest["nprobes"] = probes
        if refine:
            nearest["refine_factor"] = refine
    return nearest, bypass


def ann_search(
    ds: lance.LanceDataset,
    index: VectorIndexRef,
    vector: np.ndarray,
    k: int,
    *,
    sql: str | None,
    columns: list[str],
    candidates: int,
    effort: SearchEffort = DEFAULT_EFFORT,
) -> tuple[pa.Table, bool]:
    """One vector search through Lance; returns the hits (with ``_distance``) and whether it was exact.

    ``candidates`` is the number of rows passing ``sql`` (the caller counts
    them); a filter matching few rows bypasses the vector index (exact scan of
    those rows), because IVF probing would return fewer than ``k`` of them.
    The ``refine × k`` best candidates by the index's codes are re-ranked by
    exact cosine from their stored vectors, read with the hit fields in one
    pass by row id; :func:`ann_candidates` leaves the re-ranking to a caller
    that holds the vectors in memory.
    """
    nearest, bypass = _nearest(ds, index, vector, k, sql=sql, candidates=candidates, effort=effort)
    refine = 0 if bypass else int(nearest.get("refine_factor") or 0)
    if refine > 1:
        # The refine x k candidates' ids, then their vectors and the hit fields in one read by row id:
        # the same candidates and order as Lance's own refinement, ~1 ms less at 1M rows (its
        # refinement and the fields' read are separate passes over the data files).
        nearest = {**nearest, "k": k * refine}
        del nearest["refine_factor"]
        ids = _candidate_ids(ds, nearest, sql)
        rows = ds._take_rows(ids.tolist(), columns=list(dict.fromkeys([*columns, index.column])))
        matrix = rows.column(index.column).combine_chunks().flatten().to_numpy().reshape(len(ids), -1)
        query = np.asarray(vector, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
        distance = 1.0 - (np.asarray(matrix, dtype=np.float32) @ query) / np.maximum(norms, 1e-12)
        top = np.argsort(distance, kind="stable")[:k]
        picked = pa.array(top)
        table = pa.table({**{c: rows.column(c).take(picked) for c in columns}, "_distance": distance[top]})
        return table, bypass
    # Naming _distance keeps Lance from logging a deprecation warning on every query.
    table = ds.to_table(columns=[*columns, "_distance"], nearest=nearest, filter=sql, prefilter=True)
    return table, bypass


def ann_candidates(
    ds: lance.LanceDataset,
    index: VectorIndexRef,
    vector: np.ndarray,
    k: int,
    *,
    sql: str | None,
    candidates: int,
    effort: SearchEffort = DEFAULT_EFFORT,
    allowed: np.ndarray | None = None,
) -> np.ndarray | None:
    """Row ids of the ``refine × k`` best candidates by the index's approximate distances.

    The first half of :func:`ann_search` for a caller that refines the
    candidates itself, from vectors it already holds in memory: Lance's own
    refinement re-reads each candidate's vector from the data files, which
    was 4-7 ms of a 10 ms query at 1M rows. Returns ``None`` when the filter
    bypasses the index (use :func:`ann_search`: its answer is exact).

    ``allowed``, the sorted row ids passing ``sql`` (the caller caches them),
    lets a filtered search post-filter instead: Lance returns the best
    ``POSTFILTER_MARGIN × refine × k / share`` candidates (at most
    :data:`POSTFILTER_MAX_CANDIDATES`) of the same probed partitions without
    evaluating the filter, and those outside ``allowed`` are dropped. If fewer
    than ``refine × k`` remain (a filter whose rows lie away from the query),
    Lance pre-filters as without ``allowed``.
    """
    nearest, bypass = _nearest(ds, index, vector, k, sql=sql, candidates=candidates, effort=effort)
    if bypass:
        return None
    want = k * max(1, int(nearest.pop("refine_factor", 1) or 1))
    if sql is not None and allowed is not None and allowed.size:
        # Lance evaluates the filter again for every query; the same probes without it, a few more
        # candidates kept, and a lookup in ``allowed`` cost less.
        share = allowed.size / max(1, ds.count_rows())
        wide = math.ceil(want * POSTFILTER_MARGIN / share)
        if wide <= POSTFILTER_MAX_CANDIDATES:
            found = _candidate_ids(ds, {**nearest, "k": wide}, None)
            pos = np.minimum(np.searchsorted(allowed, found), allowed.size - 1)
            passing = found[allowed[pos] == found]
            if passing.size >= want:
                return passing
    nearest["k"] = want
    return _candidate_ids(ds, nearest, sql)


def _candidate_ids(ds: lance.LanceDataset, nearest: dict[str, Any], sql: str | None) -> np.ndarray:
    # Row ids, not addresses: asking for _rowaddr made the query ~2 ms slower.
    table = ds.to_table(columns=["_distance"], with_row_id=True, nearest=nearest, filter=sql, prefilter=True)
    return np.asarray(table.column("_rowid").to_numpy(), dtype=np.uint64)
