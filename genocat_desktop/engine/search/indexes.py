"""Indexes: an ANN vector index, scalar indexes on filter fields, a full-text index.

Why and when
------------
Below :data:`AUTO_INDEX_ROWS` rows (and whenever the vectors fit the
:class:`~genocat_desktop.engine.search.searcher.Searcher`'s memory budget) exact numpy
search is faster than any index and needs none. Larger catalogs, and catalogs
on object storage (where loading every vector on open is slow), are searched
by Lance with an IVF index:

* **IVF_RQ** (RaBitQ, 4 bits per dimension), ``num_partitions ≈ √rows``
  (≤ :data:`MAX_PARTITIONS`), cosine metric: builds fast (see BENCHMARKS.md)
  and is 1/8 the size of the vectors. Its quantised distances alone are
  coarse, so every search re-ranks ``refine_factor × k`` candidates with the
  stored float vectors (exact cosine); see :class:`SearchEffort`. On k-mer
  vectors of related proteins, 1 bit per dimension with refine 10 gave
  recall@10 0.93, 4 bits 1.0 (4k rows). IVF_HNSW_SQ took minutes to build at
  1M in the probe, IVF_PQ without refine stayed near recall 0.7.
* **Calibration.** How many partitions a search must probe depends on the
  data: clustered embeddings reach recall@10 1.0 probing 1-5 % of them, k-mer
  vectors of real proteins (no cluster structure) need most of them. So right
  after the build, :func:`calibrate` measures recall@10 against exact search
  on a sample of the catalog's own rows and stores the cheapest
  ``(nprobes, refine_factor)`` reaching :data:`CALIBRATION_TARGET` in the
  catalog metadata; the default :class:`SearchEffort` uses it.
* The index is built with ``metric="cosine"`` and queried with the same
  metric: a cosine query against an L2 index silently falls back to a flat
  scan in Lance.

Filters
-------
Lance pre-filters ANN candidates, but with a very selective filter the IVF
probes find too few matching rows (0.1 % of rows: 4.6 of 10 hits). So a
filtered search first counts the matching rows (fast with the scalar indexes
built here) and below :data:`BYPASS_FRACTION` of the catalog it bypasses the
vector index: an exact scan of just those rows. A
:class:`~genocat_desktop.engine.search.searcher.Searcher` holding the vectors in RAM
(its half-precision re-ranking copy) does better: it caches the row ids that
pass a filter, searches them exactly when their vectors fit a small float32
matrix, and otherwise post-filters (:func:`ann_candidates` with ``allowed``):
Lance's own pre-filtering evaluated the filter again for every query.

Rows appended after the build are not in the index; Lance scans them flat and
merges them into every result, so they are found. :func:`optimize_indexes`
adds them to the index.

Jobs
----
:func:`build_indexes` is a job like an import: ``progress`` receives phases
from Lance's own progress events (k-means iterations, rows shuffled,
partitions written) and ``cancel`` is checked at each event. The index is
written *uncommitted* (``create_index_uncommitted``) and published only when
complete, so a cancelled or failed build leaves the catalog exactly as it was
(its half-written files are removed from a local catalog). Cancel is honoured
at the next Lance event: within a second during training and shuffling, at
the end of the current partition while partitions are written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genocat_desktop.engine.catalog.query import Condition, to_sql
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import CatalogError, GenoCatError, QueryError, StorageError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, gc_paused, no_progress

if TYPE_CHECKING:
    import lance

__all__ = [
    "AUTO_INDEX_ROWS",
    "BYPASS_FRACTION",
    "CALIBRATION_TARGET",
    "Calibration",
    "CalibrationSample",
    "IndexInfo",
    "IndexStatus",
    "SearchEffort",
    "VectorIndexParams",
    "auto_index",
    "build_indexes",
    "calibrate",
    "calibration_sample",
    "choose_vector_params",
    "drop_indexes",
    "index_status",
    "optimize_indexes",
    "text_search",
]

#: A catalog with at least this many rows gets its indexes built automatically after an import
#: (when the caller asks for it). Below it, exact numpy search takes a few milliseconds.
AUTO_INDEX_ROWS: Final = 100_000
#: A filter matching less than this fraction of rows is searched exactly (bypassing the vector index).
BYPASS_FRACTION: Final = 0.01
#: ... and so is one matching fewer than this many rows, whatever the catalog's size.
BYPASS_ROWS: Final = 2_000
#: A filtered search post-filters ANN candidates (see :func:`ann_candidates`) when it needs at most this
#: many of them: ``refine × k × POSTFILTER_MARGIN / share of rows passing``.
POSTFILTER_MAX_CANDIDATES: Final = 2_000
#: Candidates asked for beyond the expected need, so that chance rarely leaves too few passing.
POSTFILTER_MARGIN: Final = 1.5
#: After an import, re-absorb unindexed rows into the indexes once they exceed this fraction.
OPTIMIZE_FRACTION: Final = 0.05

PREFIX: Final = "genocat_"
TEXT_FIELD: Final = "description"
#: Fields that filters use, and the kind of scalar index each gets. Strings get a
#: Bitmap index when they have few distinct values, else a BTree (see :func:`_scalar_kind`).
SCALAR_FIELDS: Final = (
    "seq_hash", "id", "accession", "organism", "taxid", "gene", "length", "molecule", "db",
    "source_file", "protein_existence", "entry_name",
)
#: At most this many IVF partitions. Above 256 Lance trains them with hierarchical k-means; with
#: pylance 12-13 a 1M-row × 1000-partition build hung on this machine (3 of 6 tries); with pylance
#: 14 it did not (see BENCHMARKS.md), and the build runs in a child process with a watchdog anyway.
MAX_PARTITIONS: Final = 4096
#: Above this many partitions Lance trains with hierarchical k-means and calls the progress callback
#: from a worker thread while the calling thread waits holding the GIL: the build deadlocks (every
#: thread waiting, no CPU used; 2 of 2 builds of 1M rows × 1000 partitions with pylance 14.0.2, 0 of
#: 3 without the callback). Such builds run in the child process without Lance's progress events.
HIERARCHICAL_PARTITIONS: Final = 256
#: From this many rows the vector index is built in a child process (see ``build_indexes(isolate=)``).
ISOLATE_ROWS: Final = 50_000
#: A string column with at most this many distinct values gets a Bitmap index.
BITMAP_MAX_DISTINCT: Final = 1_000


def _quiet_lance() -> None:
    # Lance logs a deprecation warning per query without this, and index statistics
    # would include every centroid (megabytes of JSON at 1M rows).
    os.environ.setdefault("LANCE_LOG", "error")
    os.environ.setdefault("LANCEDB_LOG", "error")
    os.environ.setdefault("LANCE_INCLUDE_VECTOR_CENTROIDS", "false")


# ---------------------------------------------------------------------------- parameters
@dataclass(frozen=True, slots=True)
class VectorIndexParams:
    """How a vector index is built.

    Attributes
    ----------
    index_type
        A Lance vector index type: ``"IVF_RQ"`` (default), ``"IVF_SQ"``,
        ``"IVF_PQ"``, ``"IVF_HNSW_SQ"``, ``"IVF_FLAT"``.
    num_partitions
        IVF partitions (k-means clusters).
    num_bits
        Bits per dimension for RQ (1) or SQ (8); ignored by other types.
    num_sub_vectors
        PQ sub-vectors (``dim / 8`` when ``None``).
    """

    index_type: str = "IVF_RQ"
    num_partitions: int = 256
    num_bits: int | None = 4
    num_sub_vectors: int | None = None

    def lance_kwargs(self, dim: int) -> dict[str, Any]:
        """Keyword arguments for ``create_index``."""
        kw: dict[str, Any] = {"metric": "cosine", "num_partitions": self.num_partitions}
        if self.index_type == "IVF_RQ":
            kw["num_bits"] = self.num_bits or 4
        elif self.index_type == "IVF_PQ":
            kw["num_sub_vectors"] = self.num_sub_vectors or max(1, dim // 8)
        return kw


def choose_vector_params(rows: int, dim: int) -> VectorIndexParams:
    """Pick the vector index for a catalog of ``rows`` vectors of ``dim`` dimensions.

    IVF_RQ, 4 bits per dimension, ``num_partitions ≈ √rows / 2`` (500 at 1M
    rows), at least ~100 rows per partition (so k-means has data to learn
    from) and at most :data:`MAX_PARTITIONS`. Half of the textbook √rows:
    at 1M rows Lance built 500 partitions in 57 s and 1000 in 65 s (the
    assignment of rows to partitions grows with their number; load ~3.5),
    and the probe count calibrated after the build makes up for the larger
    partitions.
    """
    del dim  # RQ's size and speed scale with dim, but its parameters do not need to
    parts = round(math.sqrt(max(rows, 1)) / 2)
    parts = max(1, min(parts, MAX_PARTITIONS, max(1, rows // 100)))
    return VectorIndexParams("IVF_RQ", parts, 4)


#: Re-ranking factor when neither the effort nor a calibration says otherwise.
DEFAULT_REFINE: Final = 10
#: Calibration: the cheapest effort whose recall@10 on the sample reaches this. The margin above the
#: 0.95 promised covers the sample's error and queries unlike it: mutated copies of rows got 0.9375 at
#: an effort calibrated to 0.97 (tests/test_index.py, a clean-clone run).
CALIBRATION_TARGET: Final = 0.99
#: Calibration: how many of the catalog's rows are used as queries.
CALIBRATION_QUERIES: Final = 50
#: Calibration: the probe counts tried, as fractions of the partitions (cheapest first).
CALIBRATION_FRACTIONS: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
#: Calibration: the re-ranking factors tried.
CALIBRATION_REFINES: Final = (5, 10, 20)
#: The catalog metadata key holding each vector column's calibration.
CALIBRATION_KEY: Final = "ann_calibration"


@dataclass(frozen=True, slots=True)
class SearchEffort:
    """How hard an ANN search works: more effort, better recall, slower.

    The default (every field ``None``) uses the effort measured when the index
    was built (:func:`calibrate`: the cheapest one giving recall@10 ≥
    :data:`CALIBRATION_TARGET` on a sample of the catalog), and probes every
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
        of the vectors) plus exact re-ranking. Embeddings that do cluster
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
        """The re-ranking factor: this effort's, else the calibrated one, else :data:`DEFAULT_REFINE`."""
        if self.refine_factor is not None:
            return self.refine_factor
        return calibrated if calibrated is not None else DEFAULT_REFINE

    def resolve(self, index: VectorIndexRef) -> tuple[int, int]:
        """``(nprobes, refine_factor)`` for a search of ``index`` (using its calibration if it has one)."""
        cal = index.calibration
        return (self.probes(index.num_partitions, cal.nprobes if cal else None),
                self.refine(cal.refine_factor if cal else None))


DEFAULT_EFFORT: Final = SearchEffort()


# ---------------------------------------------------------------------------- status
@dataclass(frozen=True, slots=True)
class IndexInfo:
    """One index of the catalog.

    Attributes
    ----------
    name
        Lance's index name (``genocat_vec_kmer``, ``genocat_organism``...).
    column
        The indexed column.
    kind
        ``"vector"``, ``"scalar"`` or ``"text"``.
    index_type
        Lance's type: ``IVF_RQ``, ``BTree``, ``Bitmap``, ``Inverted``...
    rows_indexed
        Rows the index covers; rows appended later are searched without it.
    rows_total
        Rows in the catalog.
    size_bytes
        Size of the index files.
    num_partitions
        IVF partitions (vector indexes only).
    built_at
        When its newest segment was written (``None`` if Lance does not say).
    """

    name: str
    column: str
    kind: str
    index_type: str
    rows_indexed: int
    rows_total: int
    size_bytes: int
    num_partitions: int | None = None
    built_at: dt.datetime | None = None

    @property
    def rows_unindexed(self) -> int:
        """Rows the index does not cover yet (found by a flat scan; :func:`optimize_indexes` adds them)."""
        return max(0, self.rows_total - self.rows_indexed)


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """The indexes of a catalog, for ``genocat index status`` and the GUI.

    Attributes
    ----------
    rows
        Rows in the catalog.
    version
        The catalog version described.
    indexes
        Every index (GenoCat's and any other).
    auto_threshold
        Row count from which an import builds the indexes automatically.
    """

    rows: int
    version: int
    indexes: list[IndexInfo] = field(default_factory=list)
    auto_threshold: int = AUTO_INDEX_ROWS

    def vector(self, column: str | None = None) -> IndexInfo | None:
        """The vector index (on ``column``, if given), or ``None``."""
        for info in self.indexes:
            if info.kind == "vector" and (column is None or info.column == column):
                return info
        return None

    @property
    def recommended(self) -> bool:
        """Whether building a vector index is advised (large catalog, none built yet)."""
        return self.vector() is None and self.rows >= self.auto_threshold

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "rows": self.rows,
            "version": self.version,
            "auto_threshold": self.auto_threshold,
            "recommended": self.recommended,
            "indexes": [
                asdict(i) | {
                    "rows_unindexed": i.rows_unindexed,
                    "built_at": i.built_at.isoformat() if i.built_at else None,
                }
                for i in self.indexes
            ],
        }


def _kind(index_type: str) -> str:
    t = index_type.upper()
    if t.startswith("IVF") or "HNSW" in t or t.startswith("VECTOR"):
        return "vector"
    if t in ("INVERTED", "FTS", "NGRAM"):
        return "text"
    return "scalar"


def _partitions(ds: lance.LanceDataset, name: str) -> int | None:
    _quiet_lance()
    try:
        stats = ds.stats.index_stats(name)
        parts = [int(s.get("num_partitions", 0)) for s in stats.get("indices", [])]
        return max(parts) if parts else None
    except (ValueError, OSError, RuntimeError, KeyError):
        return None


def _built_at(desc: Any) -> dt.datetime | None:
    """The newest segment's creation time (an optimize adds a segment, so this is the last update)."""
    times = [t for t in (getattr(seg, "created_at", None) for seg in getattr(desc, "segments", [])) if t]
    return max(times) if times else None


def index_status(catalog: Catalog) -> IndexStatus:
    """Describe the catalog's indexes at its current version.

    Raises
    ------
    StorageError
        If the catalog cannot be read.
    """
    catalog.refresh()
    ds = catalog.dataset()
    rows = ds.count_rows()
    out = []
    with _storage_errors(catalog, "read the indexes of"):
        for desc in ds.describe_indices():
            kind = _kind(desc.index_type)
            if desc.name.startswith("__"):  # Lance's internal ones (fragment reuse, mem wal)
                continue
            out.append(
                IndexInfo(
                    name=desc.name,
                    column=desc.field_names[0] if desc.field_names else "",
                    kind=kind,
                    index_type=desc.index_type,
                    rows_indexed=int(desc.num_rows_indexed),
                    rows_total=rows,
                    size_bytes=int(desc.total_size_bytes or 0),
                    num_partitions=_partitions(ds, desc.name) if kind == "vector" else None,
                    built_at=_built_at(desc),
                )
            )
    out.sort(key=lambda i: ({"vector": 0, "text": 1, "scalar": 2}[i.kind], i.name))
    return IndexStatus(rows, ds.version, out)


@dataclass(frozen=True, slots=True)
class VectorIndexRef:
    """What a search needs to know about a vector index (cached per version by the searcher)."""

    name: str
    column: str
    num_partitions: int
    rows_indexed: int
    calibration: Calibration | None = None


@dataclass(frozen=True, slots=True)
class Calibration:
    """The search effort measured for one vector index right after its build (see :func:`calibrate`).

    Attributes
    ----------
    index_uuid
        The index segment it was measured on (a rebuilt index is calibrated anew).
    nprobes, refine_factor
        The cheapest effort measured whose recall reached ``target``.
    recall
        Its recall@``k`` on the sample (the catalog's own rows as queries, each one's own row excluded).
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration | None:
        """Read a stored calibration; ``None`` if it is unreadable (then the search uses the safe default)."""
        try:
            return cls(**{f: data[f] for f in cls.__dataclass_fields__ if f in data})
        except TypeError:
            return None


def _stored_calibration(ds: lance.LanceDataset, column: str) -> dict[str, Any]:
    from genocat_desktop.engine.catalog.table import META_KEY

    try:
        meta = json.loads((ds.schema.metadata or {}).get(META_KEY, b"{}"))
    except ValueError:
        return {}
    found = meta.get(CALIBRATION_KEY, {}).get(column)
    return found if isinstance(found, dict) else {}


def vector_index(ds: lance.LanceDataset, column: str) -> VectorIndexRef | None:
    """The vector index on ``column`` of this dataset version, if there is one (with its calibration)."""
    for desc in ds.describe_indices():
        if _kind(desc.index_type) == "vector" and column in desc.field_names:
            cal = Calibration.from_dict(_stored_calibration(ds, column))
            uuids = {str(seg.uuid) for seg in getattr(desc, "segments", [])}
            if cal is not None and cal.index_uuid not in uuids:
                cal = None  # measured on an index that has since been replaced
            return VectorIndexRef(desc.name, column, _partitions(ds, desc.name) or 1, int(desc.num_rows_indexed),
                                  cal)
    return None


# ---------------------------------------------------------------------------- building
class _Events:
    """Turns Lance's ``IndexProgress`` events into :class:`Progress` reports and checks cancel."""

    STAGES: Final = {
        "train_ivf": "training the partitions (k-means)",
        "train_quantizer": "training the quantizer",
        "shuffle": "assigning rows to partitions",
        "merge_partitions": "writing partitions",
        "build": "training, assigning and writing partitions",
    }

    def __init__(self, what: str, progress: ProgressCallback, cancel: CancelToken) -> None:
        self.what = what
        self.progress = progress
        self.cancel = cancel
        self.started = time.perf_counter()

    def __call__(self, event: Any) -> None:
        # Raising here aborts the Lance build (measured: within 0.2 s during training).
        self.cancel.raise_if_cancelled()
        stage = str(getattr(event, "stage", "") or "")
        label = self.STAGES.get(stage, stage.replace("_", " "))
        done = int(event.completed or 0)
        total = int(event.total) if event.total else None
        unit = str(event.unit or "steps")
        elapsed = time.perf_counter() - self.started
        message = f"{self.what}: {label}" + (f" ({done:,}/{total:,} {unit})" if total else "") + f", {elapsed:.0f} s"
        self.progress(Progress(done, total, unit, stage or "indexing", message))


@contextlib.contextmanager
def _storage_errors(catalog: Catalog, doing: str) -> Iterator[None]:
    try:
        yield
    except GenoCatError:
        raise
    except OSError as exc:
        raise StorageError(f"could not {doing} {catalog.location}: {_first_line(exc)}") from None
    except (RuntimeError, ValueError) as exc:
        raise CatalogError(f"could not {doing} {catalog.location}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _remove_segment(catalog: Catalog, segment: str) -> None:
    """Delete the files of an uncommitted index segment (local catalogs; object stores keep orphans
    until a cleanup, as with an interrupted import)."""
    if "://" in catalog.uri:
        return
    shutil.rmtree(os.path.join(catalog.uri, "_indices", segment), ignore_errors=True)


def _scalar_kind(ds: lance.LanceDataset, column: str) -> str:
    """``"BITMAP"`` for low-cardinality columns, else ``"BTREE"``."""
    typ = ds.schema.field(column).type
    if pa.types.is_floating(typ) or pa.types.is_timestamp(typ):
        return "BTREE"
    if column in ("seq_hash", "id", "accession", "entry_name", "length", "taxid"):
        return "BTREE"  # (nearly) unique or numeric ranges
    values = ds.to_table(columns=[column]).column(column)
    distinct = len(pc.unique(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values))
    return "BITMAP" if distinct <= BITMAP_MAX_DISTINCT else "BTREE"


def _fragment_ids(ds: lance.LanceDataset) -> list[int]:
    return [f.fragment_id for f in ds.get_fragments()]


def _build_vector(spec: dict[str, Any], callback: Any) -> Any:
    """Write the vector index of ``spec`` as an uncommitted segment; return Lance's ``Index``."""
    import lance

    ds = lance.dataset(spec["uri"], version=spec["version"], storage_options=spec["storage_options"] or None)
    if _silent(spec):
        callback = None  # (see HIERARCHICAL_PARTITIONS)
    return ds.create_index_uncommitted(
        spec["column"], spec["index_type"], name=spec["name"], replace=True, fragment_ids=spec["fragment_ids"],
        index_uuid=spec["index_uuid"], progress_callback=callback, **spec["kwargs"],
    )


def _silent(spec: dict[str, Any]) -> bool:
    """Whether this build must run without Lance's progress callback (see :data:`HIERARCHICAL_PARTITIONS`)."""
    return int(spec["kwargs"].get("num_partitions", 1)) > HIERARCHICAL_PARTITIONS


def _commit_vector(spec: dict[str, Any], index: Any) -> None:
    import lance

    # A plain CreateIndex commit panics for the new vector index format; this call publishes
    # it (on the latest version) and replaces an older index of the same name.
    ds = lance.dataset(spec["uri"], storage_options=spec["storage_options"] or None)
    ds.commit_existing_index_segments(spec["name"], spec["column"], [index])


def _child_main(spec: dict[str, Any], conn: Any) -> None:
    """Child process: build, report events, wait for "commit" (or be killed), commit, report."""
    _quiet_lance()

    def callback(e: Any) -> None:
        conn.send(("event", e.event, e.stage, e.completed, e.total, e.unit))

    try:
        index = _build_vector(spec, callback)
        conn.send(("built",))
        if conn.recv() == "commit":
            _commit_vector(spec, index)
            conn.send(("committed",))
    except BaseException as exc:  # reported to the parent, which raises it as a GenoCatError
        conn.send(("error", isinstance(exc, OSError), _first_line(exc)))


@dataclass
class _Event:
    event: str
    stage: str
    completed: int | None
    total: int | None
    unit: str


class _ChildBuild:
    """A vector index build in a spawned process (not forked: forking after lance is loaded can hang)."""

    POLL_SECONDS: Final = 0.2

    def __init__(self, spec: dict[str, Any], events: _Events, cancel: CancelToken) -> None:
        import multiprocessing

        self.spec = spec
        self.events = events
        self.cancel = cancel
        self.beat = time.perf_counter()
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=_child_main, args=(spec, child_conn), daemon=True,
                                name="genocat-index-build")
        self.proc.start()
        child_conn.close()

    def _next(self) -> tuple[Any, ...]:
        while not self.conn.poll(self.POLL_SECONDS):
            if self.cancel.cancelled:
                self.close()
                self.cancel.raise_if_cancelled()
            if _silent(self.spec) and time.perf_counter() - self.beat >= 1.0:
                # No events come from a build without Lance's callback: say it is still working.
                self.beat = time.perf_counter()
                self.events(_Event("progress", "build", None, None, "steps"))
            if not self.proc.is_alive() and not self.conn.poll(0):
                raise CatalogError(f"the index build stopped unexpectedly (exit code {self.proc.exitcode})")
        try:
            message: tuple[Any, ...] = self.conn.recv()
        except EOFError:
            raise CatalogError(f"the index build stopped unexpectedly (exit code {self.proc.exitcode})") from None
        if message[0] == "error":
            where = self.spec["uri"]
            if message[1]:
                raise StorageError(f"could not build the vector index of {where}: {message[2]}")
            raise CatalogError(f"could not build the vector index of {where}: {message[2]}")
        return message

    def build(self) -> None:
        """Wait until the index is written (relaying progress); raises Cancelled after killing the child."""
        while True:
            message = self._next()
            if message[0] == "built":
                return
            try:
                self.events(_Event(*message[1:]))
            except BaseException:
                self.close()
                raise

    def commit(self) -> None:
        """Tell the child to publish the index and wait for it."""
        self.conn.send("commit")
        while self._next()[0] != "committed":
            pass

    def close(self) -> None:
        """Stop the child (killing it if it is still working) and release the pipe."""
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(10)
        self.conn.close()


def build_indexes(
    catalog: Catalog,
    *,
    vector: bool = True,
    scalar: bool = True,
    text: bool = True,
    column: str | None = None,
    params: VectorIndexParams | None = None,
    rebuild: bool = False,
    isolate: bool | None = None,
    calibration: bool | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> IndexStatus:
    """Build the catalog's indexes: a vector index, scalar indexes on filter fields, full text.

    Everything is built before anything is published, so a cancelled or failed
    build changes nothing. Scalar and text indexes that already exist are kept
    (:func:`optimize_indexes` brings them up to date) unless ``rebuild``.

    Parameters
    ----------
    catalog
        The catalog to index.
    vector, scalar, text
        Which kinds to build.
    column
        The vector column (the catalog's default if ``None``).
    params
        Vector index parameters; :func:`choose_vector_params` if ``None``.
    rebuild
        Rebuild indexes that exist already (the vector index is always rebuilt).
    isolate
        Build the vector index in a child process (default: from
        :data:`ISOLATE_ROWS` rows). Cancel then stops it at once (the child is
        killed; nothing was published), and a Lance build that stops making
        progress cannot hang the caller's thread: 1M-row builds with 1000
        partitions hung here with older pylance (every Lance thread waiting).
    calibration
        After the vector index is published, measure the search effort it
        needs (:func:`calibrate`, seconds) and store it in the catalog
        metadata for the default :class:`SearchEffort`. Without it searches
        probe every partition. ``None`` (default): on local catalogs only; on
        object storage every re-ranking read is a request (~1 s per query on
        the S3 benchmark), so the sweep could take minutes (call
        :func:`calibrate` to do it anyway).
    progress, cancel
        As for every job. In-process, cancel is honoured at Lance's next progress event.

    Returns
    -------
    IndexStatus
        The indexes after the build.

    Raises
    ------
    Cancelled
        If cancelled; the catalog is unchanged.
    CatalogError
        If the catalog is empty or too small for the requested index.
    StorageError
        If the catalog cannot be read or written.
    """
    import lance

    _quiet_lance()
    cancel = cancel or CancelToken()
    catalog.refresh()
    ds = catalog.dataset()
    rows = ds.count_rows()
    if rows == 0:
        raise CatalogError("the catalog is empty; import sequences before building indexes")
    column = column or catalog.default_vector
    if calibration is None:
        calibration = "://" not in catalog.uri
    existing = {d.name for d in ds.describe_indices()}
    frags = _fragment_ids(ds)
    segments: list[str] = []
    vector_index_obj: Any = None
    vector_name = PREFIX + column
    others: list[Any] = []
    committed = False
    sample: CalibrationSample | None = None
    try:
        if vector:
            dim = int(catalog.vector_columns()[column]["dim"])
            chosen = params or choose_vector_params(rows, dim)
            if chosen.num_partitions > rows:
                raise CatalogError(
                    f"{chosen.num_partitions:,} partitions need at least as many rows; the catalog has {rows:,}"
                )
            seg = str(uuid.uuid4())
            segments.append(seg)
            what = f"{chosen.index_type} index on {column} ({rows:,} rows, {chosen.num_partitions} partitions)"
            progress(Progress(0, None, "steps", "vector", f"Building the {what}"))
            events = _Events(f"Vector index ({chosen.index_type})", progress, cancel)
            spec = {
                "uri": catalog.uri, "version": ds.version, "storage_options": dict(catalog.storage_options),
                "column": column, "index_type": chosen.index_type, "name": vector_name, "fragment_ids": frags,
                "index_uuid": seg, "kwargs": chosen.lance_kwargs(dim),
            }
            # A build without Lance's progress events can only be cancelled by stopping its process.
            in_child = _silent(spec) or (isolate if isolate is not None else rows >= ISOLATE_ROWS)
            if in_child:
                vector_index_obj = _ChildBuild(spec, events, cancel)
                if calibration:
                    # The exact answers for the calibration need no index: find them while the child
                    # builds it (Lance's row assignment keeps about one core busy; this uses the other).
                    with _storage_errors(catalog, "calibrate the vector index of"):
                        sample = calibration_sample(ds, column, cancel=cancel)
                vector_index_obj.build()
            else:
                with _storage_errors(catalog, "build the vector index of"):
                    vector_index_obj = _build_vector(spec, events)
        jobs: list[tuple[str, str, dict[str, Any]]] = []
        if scalar:
            for name in SCALAR_FIELDS:
                if name in ds.schema.names and (rebuild or PREFIX + name not in existing):
                    jobs.append((name, _scalar_kind(ds, name), {}))
        if text and TEXT_FIELD in ds.schema.names and (rebuild or PREFIX + "text_" + TEXT_FIELD not in existing):
            # with_position: phrase queries ("heat shock") need token positions.
            jobs.append((TEXT_FIELD, "INVERTED", {"with_position": True, "lower_case": True}))
        for n, (name, kind, extra) in enumerate(jobs, start=1):
            cancel.raise_if_cancelled()
            index_name = PREFIX + ("text_" if kind == "INVERTED" else "") + name
            progress(Progress(n, len(jobs), "indexes", "scalar", f"{kind.title()} index on {name}"))
            with _storage_errors(catalog, f"index {name} in"):
                # (Lance picks scalar segment ids itself; a failure mid-build may leave an orphan segment.)
                idx = ds.create_index_uncommitted(
                    name, kind, name=index_name, replace=True, fragment_ids=frags, **extra
                )
                if kind == "INVERTED":
                    # The inverted index is written per fragment into a staging area; merge it.
                    ds.merge_index_metadata(str(idx.uuid), kind)
            others.append(idx)
            segments.append(str(idx.uuid))
        cancel.raise_if_cancelled()
        # Publishing: past this point the build is not cancellable (each commit is one atomic version).
        progress(Progress(0, None, "steps", "commit", "Saving the indexes"))
        with _storage_errors(catalog, "save the indexes of"):
            committed = True
            if others:
                for idx in others:
                    if idx.name in existing:  # rebuild: CreateIndex cannot replace an index of the same name
                        catalog.dataset().drop_index(idx.name)
                        catalog.refresh()
                names = ", ".join(i.name.removeprefix(PREFIX) for i in others)
                catalog.commit(
                    lance.LanceOperation.CreateIndex(new_indices=others, removed_indices=[]),
                    catalog.version,
                    f"index: {names}",
                )
            if isinstance(vector_index_obj, _ChildBuild):
                vector_index_obj.commit()
            elif vector_index_obj is not None:
                _commit_vector(spec, vector_index_obj)
        if vector and calibration:
            # After publishing (a search needs the committed index); not cancellable, a few seconds.
            catalog.refresh()
            progress(Progress(0, None, "steps", "calibrate", "Measuring the search effort the index needs"))
            cal = calibrate(catalog, column, sample=sample)
            progress(Progress(0, None, "steps", "calibrate",
                              f"Search effort: probe {cal.nprobes} partitions, re-rank {cal.refine_factor} × k "
                              f"(recall@{cal.k} {cal.recall:.2f} on {cal.queries} sample queries)"))
    finally:
        if isinstance(vector_index_obj, _ChildBuild):
            vector_index_obj.close()
        if not committed:
            for seg in segments:
                _remove_segment(catalog, seg)
    catalog.refresh()
    status = index_status(catalog)
    progress(Progress(1, 1, "steps", "done", f"Indexes ready ({len(status.indexes)})"))
    return status


def drop_indexes(
    catalog: Catalog,
    *,
    kinds: Sequence[str] = ("vector", "scalar", "text"),
    names: Sequence[str] | None = None,
) -> IndexStatus:
    """Drop the catalog's indexes of the given kinds (each drop is one version; data is untouched).

    Parameters
    ----------
    kinds
        Which kinds of index to drop.
    names
        Only these indexes (by :attr:`IndexInfo.name`), if given.

    Returns
    -------
    IndexStatus
        What is left.
    """
    catalog.refresh()
    for info in index_status(catalog).indexes:
        if info.kind in kinds and (names is None or info.name in names):
            with _storage_errors(catalog, f"drop index {info.name} of"):
                catalog.dataset().drop_index(info.name)
            catalog.refresh()
    return index_status(catalog)


def optimize_indexes(
    catalog: Catalog,
    *,
    compact: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> IndexStatus:
    """Add rows imported since the indexes were built to them (no retraining).

    Parameters
    ----------
    compact
        Also merge small fragments first (many imports of small files leave
        many fragments; scans get slower). Old versions are kept.
    progress, cancel
        Cancel is checked between the two steps; each step is atomic.
    """
    cancel = cancel or CancelToken()
    catalog.refresh()
    if compact:
        progress(Progress(0, 2, "steps", "compact", "Merging small fragments"))
        with _storage_errors(catalog, "compact"):
            catalog.dataset().optimize.compact_files()
        catalog.refresh()
    cancel.raise_if_cancelled()
    progress(Progress(1, 2, "steps", "optimize", "Adding new rows to the indexes"))
    with _storage_errors(catalog, "update the indexes of"):
        catalog.dataset().optimize.optimize_indices()
    catalog.refresh()
    progress(Progress(2, 2, "steps", "done", "Indexes up to date"))
    return index_status(catalog)


def auto_index(
    catalog: Catalog,
    *,
    threshold: int = AUTO_INDEX_ROWS,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> str | None:
    """After an import: build the indexes once the catalog reaches ``threshold`` rows,
    or add new rows to existing indexes once they are more than 5 % of the catalog.

    Returns
    -------
    str or None
        ``"built"``, ``"optimized"``, or ``None`` when nothing was needed.
    """
    status = index_status(catalog)
    vec = status.vector(catalog.default_vector)
    if vec is None:
        if status.rows < threshold:
            return None
        build_indexes(catalog, progress=progress, cancel=cancel)
        return "built"
    if vec.rows_unindexed > OPTIMIZE_FRACTION * status.rows:
        optimize_indexes(catalog, progress=progress, cancel=cancel)
        return "optimized"
    return None


# ---------------------------------------------------------------------------- calibration
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
    own = np.zeros(q.shape[0], np.uint64)
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


#: Cost model of one ANN search (see :func:`_effort_cost`), measured at 100k rows on this machine
#: with ``analyze_plan``: about 0.12 µs per quantised row compared, 40-50 µs per row re-read for re-ranking.
_COST_PER_CODE_US: Final = 0.12
_COST_PER_REFINE_ROW_US: Final = 45.0


def _effort_cost(nprobes: int, refine: int, partitions: int, rows: int, k: int) -> float:
    """Estimated microseconds of one search: the quantised rows scanned plus the rows re-read to re-rank."""
    return nprobes / max(1, partitions) * rows * _COST_PER_CODE_US + refine * k * _COST_PER_REFINE_ROW_US


@dataclass(frozen=True, slots=True)
class CalibrationSample:
    """Calibration queries (rows of the catalog) and their exact top ``k`` (see :func:`calibration_sample`)."""

    vectors: np.ndarray
    truth: np.ndarray
    own: np.ndarray
    k: int


def calibration_sample(
    ds: lance.LanceDataset, column: str, *, k: int = 10, queries: int = CALIBRATION_QUERIES, seed: int = 0,
    cancel: CancelToken | None = None,
) -> CalibrationSample:
    """Pick ``queries`` rows (seeded) and find their exact top ``k`` by one scan of every vector (seconds at 1M)."""
    rows = ds.count_rows()
    m = max(1, min(queries, rows - 1))
    positions = np.sort(np.random.default_rng(seed).choice(rows, size=m, replace=False))
    picked = ds.take(positions.tolist(), columns=[column]).column(column).combine_chunks()
    vectors = np.asarray(picked.values.to_numpy(zero_copy_only=False), np.float32).reshape(m, -1)
    truth, own = _exact_neighbours(ds, column, vectors, positions, k, cancel)
    return CalibrationSample(vectors, truth, own, k)


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
    and the exact answer (an exact scan of every row). For each refine factor
    in :data:`CALIBRATION_REFINES`, the smallest probe count among
    :data:`CALIBRATION_FRACTIONS` of the partitions reaching ``target`` is
    found by bisection (recall grows with probes); of those, the cheapest by
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
        default :class:`SearchEffort` finds it.
    sample
        Queries and exact answers computed beforehand (:func:`calibration_sample`;
        :func:`build_indexes` computes them while Lance builds the index).

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
    _quiet_lance()
    started = time.perf_counter()
    column = column or catalog.default_vector
    catalog.refresh()
    ds = catalog.dataset()
    index = vector_index(ds, column)
    if index is None:
        raise CatalogError(f"{column} has no vector index to calibrate")
    uuid_ = next(str(seg.uuid) for d in ds.describe_indices() if d.name == index.name for seg in d.segments)
    with _storage_errors(catalog, "calibrate the vector index of"):
        if sample is None or sample.k != k:
            sample = calibration_sample(ds, column, k=k, queries=queries, seed=seed)
        vectors, truth, own, m = sample.vectors, sample.truth, sample.own, sample.vectors.shape[0]
        parts = index.num_partitions
        ladder = sorted({max(1, min(parts, math.ceil(parts * f))) for f in CALIBRATION_FRACTIONS})
        measured: dict[tuple[int, int], tuple[float, float]] = {}

        def measure(nprobes: int, refine: int) -> tuple[float, float]:
            if (nprobes, refine) not in measured:
                nearest = {"column": column, "k": k + 1, "metric": "cosine", "nprobes": nprobes,
                           "refine_factor": refine}
                hits, times = 0, []
                for i in range(m):
                    t = time.perf_counter()
                    found = ds.to_table(columns=["_distance"], nearest={**nearest, "q": vectors[i]},
                                        with_row_id=True).column("_rowid").to_numpy()
                    times.append(time.perf_counter() - t)
                    found = found[found != own[i]][:k]
                    hits += len(np.intersect1d(found, truth[i]))
                measured[nprobes, refine] = (hits / (m * k), float(np.median(times)) * 1000)
            return measured[nprobes, refine]

        # Warm the index cache with one query before anything is timed.
        ds.to_table(columns=["_distance"], nearest={"column": column, "k": k, "metric": "cosine",
                                                    "nprobes": ladder[0], "q": vectors[0]})

        def smallest(refine: int, top: int) -> int | None:
            """The first rung up to ``top`` reaching the target: galloping up from the cheapest, then bisection."""
            below, i = -1, 0
            while measure(ladder[i], refine)[0] < target:
                if i >= top:
                    return None
                below, i = i, min(top, 2 * i + 1)
            lo, hi = below + 1, i
            while lo < hi:  # recall grows with probes
                mid = (lo + hi) // 2
                if measure(ladder[mid], refine)[0] >= target:
                    hi = mid
                else:
                    lo = mid + 1
            return lo

        passing: list[tuple[float, int, int]] = []
        top = len(ladder) - 1
        for refine in CALIBRATION_REFINES:
            # A larger refine factor costs more re-reads: only worth it with fewer probes than found so far.
            rung = smallest(refine, top)
            if rung is None:
                continue
            passing.append((_effort_cost(ladder[rung], refine, parts, index.rows_indexed, k), ladder[rung], refine))
            top = rung - 1
            if top < 0:
                break
        if passing:
            _, nprobes, refine = min(passing)
        else:
            nprobes, refine = ladder[-1], CALIBRATION_REFINES[-1]
        got, ms = measure(nprobes, refine)
    cal = Calibration(
        uuid_, nprobes, refine, round(got, 4), target, k, m, round(ms, 3), round(time.perf_counter() - started, 2),
        [[p, r, round(rc, 4), round(t, 3)] for (p, r), (rc, t) in sorted(measured.items())],
    )
    if store:
        _store_calibration(catalog, column, cal)
    return cal


def _store_calibration(catalog: Catalog, column: str, cal: Calibration) -> None:
    from genocat_desktop.engine.catalog.table import META_KEY

    meta = dict(catalog.meta)
    meta[CALIBRATION_KEY] = {**meta.get(CALIBRATION_KEY, {}), column: cal.to_dict()}
    with _storage_errors(catalog, "save the index calibration of"):
        catalog.dataset().update_schema_metadata({META_KEY.decode(): json.dumps(meta)}, replace=False)
    catalog.refresh()


# ---------------------------------------------------------------------------- searching
# A full garbage collection during a query held the GIL and made the 1M-row p99 115 ms instead of 26 ms
# (bench/index_bench.py with and without the collector, 2026-11-26).
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
    Lance re-ranks the ``refine × k`` best candidates itself, re-reading
    their stored vectors; :func:`ann_candidates` leaves that to the caller.
    """
    nearest, bypass = _nearest(ds, index, vector, k, sql=sql, candidates=candidates, effort=effort)
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

    The first half of :func:`ann_search` for a caller that re-ranks the
    candidates itself, from vectors it already holds in memory: Lance's own
    re-ranking re-reads each candidate's vector from the data files, which
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


def text_search(
    catalog: Catalog,
    text: str,
    *,
    k: int = 50,
    conditions: Sequence[Condition] = (),
    field: str = TEXT_FIELD,
) -> pa.Table:
    """Find rows whose ``field`` (the FASTA description) contains the words of ``text``.

    With the full-text index (built by :func:`build_indexes`) this is a BM25
    ranked search (``"heat shock"`` in quotes is a phrase); without it, a
    case-insensitive substring scan of the whole column (exact, slower).

    Returns
    -------
    pyarrow.Table
        ``rank``, ``score`` (BM25, or 1.0 for the substring scan) and the row's
        columns (no vectors), best first.

    Raises
    ------
    QueryError
        If ``text`` is empty.
    FilterError
        If a condition is invalid.
    """
    _quiet_lance()
    words = text.strip()
    if not words:
        raise QueryError("the text query is empty")
    ds = catalog.dataset()
    sql = to_sql(conditions, ds.schema)
    columns = [c for c in ds.schema.names if c not in catalog.vector_columns()]
    indexed = any(
        _kind(d.index_type) == "text" and field in d.field_names for d in ds.describe_indices()
    )
    with _storage_errors(catalog, "search the text of"):
        if indexed:
            query: Any = {"query": words, "columns": [field]}
            if words.startswith('"') and words.endswith('"') and len(words) > 2:
                from lance.query import PhraseQuery

                query = PhraseQuery(words.strip('"'), field)
            table = ds.to_table(
                columns=[*columns, "_score"], full_text_query=query, filter=sql, prefilter=True, limit=k
            )
            scores = table.column("_score").to_numpy()
            table = table.drop_columns(["_score"])
        else:
            escaped = words.strip('"').lower().replace("\\", "\\\\").replace("'", "''").replace("%", "\\%")
            like = f"lower(`{field}`) LIKE '%{escaped}%'"
            table = ds.to_table(columns=columns, filter=like if sql is None else f"({sql}) AND {like}", limit=k)
            scores = np.ones(table.num_rows)
    order = np.argsort(-scores, kind="stable")
    table = table.take(order)
    scores = scores[order]
    table = table.add_column(0, "score", pa.array(np.round(scores.astype(np.float64), 6)))
    return table.add_column(0, "rank", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int32)))
