"""Indexes of a catalog: what they are, and building, updating and dropping them.

Why and when
------------
Below :data:`AUTO_INDEX_ROWS` rows (and whenever the vectors fit the
:class:`~genocat_desktop.engine.search.searcher.Searcher`'s memory budget) exact numpy
search is faster than any index and needs none. Larger catalogs, and catalogs
on object storage (where loading every vector on open is slow), are searched
by Lance with an IVF index (searched by :mod:`.ann`):

* **IVF_RQ** (RaBitQ, 4 bits per dimension), ``num_partitions ≈ √rows / 2``
  (≤ :data:`MAX_PARTITIONS`; one per 16,000 rows where the policy finds that
  queries must probe many, :func:`.index_policy.decision_params`), cosine metric: builds fast (see BENCHMARKS.md)
  and is 1/8 the size of the vectors. Its quantised distances alone are
  coarse, so every search refines ``refine_factor × k`` candidates with the
  stored float vectors (exact cosine). On k-mer vectors of related proteins,
  1 bit per dimension with refine 10 gave recall@10 0.93, 4 bits 1.0 (4k
  rows). IVF_HNSW_SQ took minutes to build at 1M rows, IVF_PQ without
  refinement stayed near recall 0.7.
* **Calibration** (:mod:`.calibration`): right after the build, the cheapest
  search effort reaching the recall target is measured and stored.
* **Policy** (:mod:`.index_policy`): before the build, a sample of the catalog's
  own vectors says whether IVF partitions can prune them; where they cannot,
  the index has one partition (a compressed scan, no k-means), and the
  automatic build after imports builds no vector index at all while the
  searcher holds the vectors in RAM.
* Scalar indexes (BTree, Bitmap) on the filter fields make counting the rows
  that pass a filter fast; a full-text index serves :func:`.text.text_search`.

Rows appended after the build are not in the index; Lance scans them flat and
merges them into every result, so they are found. :func:`optimize_indexes`
adds them to the index.

Jobs
----
:func:`build_indexes` is a job like an import: ``progress`` receives phases
from Lance's own progress events (k-means iterations, rows shuffled,
partitions written) and ``cancel`` is checked at each event. Everything is
written *uncommitted* and published only when complete, so a cancelled or
failed build leaves the catalog exactly as it was (its half-written files are
removed from a local catalog). Cancel is honoured at the next Lance event:
within a second during training and shuffling, at the end of the current
partition while partitions are written.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from genocat_desktop.engine.catalog.commits import retry_conflicts
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.catalog.writers import WriterLease
from genocat_desktop.engine.core.errors import CatalogError, GenoCatError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.search.ann import (
    DEFAULT_REFINE,
    Calibration,
    calibration_of,
    index_kind,
    index_partitions,
)
from genocat_desktop.engine.search.calibration import (
    CalibrationSample,
    calibrate,
    calibration_sample,
    cheap_embedder,
)
from genocat_desktop.engine.search.index_policy import (
    IndexDecision,
    decision_params,
    plan_vector_index,
    store_decision,
    stored_decision,
)
from genocat_desktop.engine.search.lance_errors import storage_errors
from genocat_desktop.engine.search.text import TEXT_FIELD
from genocat_desktop.engine.search.vector_build import (
    MAX_PARTITIONS,
    BuildEvents,
    ChildBuild,
    VectorIndexParams,
    build_vector,
    choose_vector_params,
    commit_vector,
    is_silent,
)

if TYPE_CHECKING:
    import lance

__all__ = [
    "AUTO_INDEX_ROWS",
    "MAX_PARTITIONS",
    "IndexInfo",
    "IndexStatus",
    "VectorIndexParams",
    "build_indexes",
    "choose_vector_params",
    "drop_indexes",
    "index_status",
    "optimize_indexes",
]

#: A catalog with at least this many rows gets its indexes built automatically after an import
#: (when the caller asks for it). Below it, exact numpy search takes a few milliseconds.
AUTO_INDEX_ROWS: Final = 100_000
#: After an import, re-absorb unindexed rows into the indexes once they exceed this fraction.
OPTIMIZE_FRACTION: Final = 0.05

PREFIX: Final = "genocat_"
#: Fields that filters use, and the kind of scalar index each gets. Strings get a
#: Bitmap index when they have few distinct values, else a BTree (see :func:`_scalar_kind`).
SCALAR_FIELDS: Final = (
    "seq_hash", "id", "accession", "organism", "taxid", "gene", "length", "molecule", "db",
    "source_file", "protein_existence", "entry_name",
)
#: From this many rows the vector index is built in a child process (see ``build_indexes(isolate=)``).
ISOLATE_ROWS: Final = 50_000
#: A string column with at most this many distinct values gets a Bitmap index.
BITMAP_MAX_DISTINCT: Final = 1_000


def _quiet_lance() -> None:
    # Quiet logs and centroid-free index statistics are process-wide settings (see
    # configure_process); a library caller that skipped it still gets them here.
    from genocat_desktop.engine.core.process import configure_process

    configure_process()


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
    decision
        The last measured decision on the default vector column's index (:mod:`.index_policy`):
        whether IVF can prune these vectors, and why.
    calibration
        The search effort measured for the default vector column's index right after its build
        (:mod:`.calibration`); ``None`` without one (searches then probe every partition).
    """

    rows: int
    version: int
    indexes: list[IndexInfo] = field(default_factory=list)
    auto_threshold: int = AUTO_INDEX_ROWS
    decision: IndexDecision | None = None
    calibration: Calibration | None = None

    def effort_line(self) -> str | None:
        """The default vector index's measured search effort in one line (``None`` without an index)."""
        vec = self.vector()
        if vec is None:
            return None
        if self.calibration is None:  # built on object storage, or before the measurement existed
            return (f"not measured: every partition probed, {DEFAULT_REFINE} × k candidates re-ranked exactly")
        return self.calibration.describe(vec.num_partitions or 1)

    def vector(self, column: str | None = None) -> IndexInfo | None:
        """The vector index (on ``column``, if given), or ``None``."""
        for info in self.indexes:
            if info.kind == "vector" and (column is None or info.column == column):
                return info
        return None

    @property
    def recommended(self) -> bool:
        """Whether building a vector index is advised (large catalog, none built yet, none measured useless)."""
        useless = self.decision is not None and self.decision.action == "none" and self.decision.rows == self.rows
        return self.vector() is None and self.rows >= self.auto_threshold and not useless

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "rows": self.rows,
            "version": self.version,
            "auto_threshold": self.auto_threshold,
            "recommended": self.recommended,
            "decision": self.decision.to_dict() if self.decision else None,
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "indexes": [
                asdict(i) | {
                    "rows_unindexed": i.rows_unindexed,
                    "built_at": i.built_at.isoformat() if i.built_at else None,
                }
                for i in self.indexes
            ],
        }


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
    calibration = None
    with storage_errors(catalog, "read the indexes of"):
        for desc in ds.describe_indices():
            kind = index_kind(desc.index_type)
            if desc.name.startswith("__"):  # Lance's internal ones (fragment reuse, mem wal)
                continue
            if kind == "vector" and catalog.default_vector in desc.field_names:
                calibration = calibration_of(ds, desc, catalog.default_vector)
            out.append(
                IndexInfo(
                    name=desc.name,
                    column=desc.field_names[0] if desc.field_names else "",
                    kind=kind,
                    index_type=desc.index_type,
                    rows_indexed=int(desc.num_rows_indexed),
                    rows_total=rows,
                    size_bytes=int(desc.total_size_bytes or 0),
                    num_partitions=index_partitions(ds, desc.name) if kind == "vector" else None,
                    built_at=_built_at(desc),
                )
            )
    out.sort(key=lambda i: ({"vector": 0, "text": 1, "scalar": 2}[i.kind], i.name))
    return IndexStatus(rows, ds.version, out, decision=stored_decision(ds, catalog.default_vector),
                       calibration=calibration)


# ---------------------------------------------------------------------------- building
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


@dataclass
class _IndexBuild:
    """One :func:`build_indexes` call: what it wrote, so that nothing is left if nothing is published."""

    catalog: Catalog
    ds: Any
    progress: ProgressCallback
    cancel: CancelToken
    existing: set[str]
    frags: list[int]
    segments: list[str] = field(default_factory=list)
    vector: Any = None  # a ChildBuild, or Lance's Index of an in-process build
    spec: dict[str, Any] = field(default_factory=dict)
    others: list[Any] = field(default_factory=list)
    sample: CalibrationSample | None = None
    decision: IndexDecision | None = None
    committed: bool = False


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
    decision: IndexDecision | None = None,
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
        Vector index parameters; if ``None``, what the measurement chose
        (:func:`.index_policy.decision_params`: :func:`choose_vector_params`, or one partition when
        IVF cannot prune these vectors).
    rebuild
        Rebuild indexes that exist already (the vector index is always rebuilt).
    isolate
        Build the vector index in a child process (default: from :data:`ISOLATE_ROWS` rows): cancel
        stops it at once, and a Lance build that stops making progress cannot hang the caller.
    calibration
        After publishing, measure the search effort the vector index needs (:func:`.calibration.calibrate`)
        and store it in the catalog metadata; without it searches probe every partition. ``None``: on
        local catalogs only (on object storage every refinement read is a request, ~1 s per query).
    decision
        The index policy's decision (:func:`.index_policy.plan_vector_index`); measured here if
        ``None`` (seconds). Its reason is reported when the index will not help (the searcher
        keeps the vectors in RAM, or IVF cannot prune them), and it is stored in the catalog
        metadata with the index.
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
    CatalogError, StorageError
        If the catalog is empty or too small for the index; if it cannot be read or written.
    """
    _quiet_lance()
    catalog.refresh()
    ds = catalog.dataset()
    if ds.count_rows() == 0:
        raise CatalogError("the catalog is empty; import sequences before building indexes")
    column = column or catalog.default_vector
    calibration = "://" not in catalog.uri if calibration is None else calibration
    job = _IndexBuild(catalog, ds, progress, cancel or CancelToken(), {d.name for d in ds.describe_indices()},
                      _fragment_ids(ds), decision=decision)
    lease = WriterLease(catalog, "index").take()  # a kill leaves segments: the record says whose
    try:
        if vector:
            _build_vector_index(job, column, params, isolate, calibration)
        _build_scalar_indexes(job, scalar, text, rebuild)
        job.cancel.raise_if_cancelled()
        _publish(job)
        if vector and calibration:
            _calibrate_after_build(job, column)
        if vector:
            _store_decision(job, column)
    finally:
        _discard_unpublished(job)
        lease.release()
    catalog.refresh()
    status = index_status(catalog)
    progress(Progress(1, 1, "steps", "done", f"Indexes ready ({len(status.indexes)})"))
    return status


def _discard_unpublished(job: _IndexBuild) -> None:
    """Stop a vector build's child process and, unless the build was published, remove what it wrote."""
    if isinstance(job.vector, ChildBuild):
        job.vector.close()
    if not job.committed:
        for seg in job.segments:
            _remove_segment(job.catalog, seg)


def _build_vector_index(
    job: _IndexBuild, column: str, params: VectorIndexParams | None, isolate: bool | None, calibration: bool
) -> None:
    """Write the vector index as an uncommitted segment (in a child process for large or silent builds)."""
    catalog, ds, rows = job.catalog, job.ds, job.ds.count_rows()
    dim = int(catalog.vector_columns()[column]["dim"])
    if dim == 0:  # a MinHash sketch column (hashes, not vectors): searched in memory, no index
        raise CatalogError(f"{column} holds MinHash sketches, which are searched without a vector index")
    if job.decision is None:
        job.progress(Progress(0, None, "steps", "policy", "Measuring whether an index can prune these vectors"))
        job.decision = plan_vector_index(catalog, column, measure=True, cancel=job.cancel)
    if job.decision.action != "ivf":
        job.progress(Progress(0, None, "steps", "policy", f"Measured: {job.decision.reason}"))
    chosen = params or decision_params(job.decision, rows, dim)
    if chosen.num_partitions > rows:
        raise CatalogError(
            f"{chosen.num_partitions:,} partitions need at least as many rows; the catalog has {rows:,}"
        )
    seg = str(uuid.uuid4())
    job.segments.append(seg)
    what = f"{chosen.index_type} index on {column} ({rows:,} rows, {chosen.num_partitions} partitions)"
    job.progress(Progress(0, None, "steps", "vector", f"Building the {what}"))
    events = BuildEvents(f"Vector index ({chosen.index_type})", job.progress, job.cancel)
    job.spec = {
        "uri": catalog.uri, "version": ds.version, "storage_options": dict(catalog.storage_options),
        "column": column, "index_type": chosen.index_type, "name": PREFIX + column, "fragment_ids": job.frags,
        "index_uuid": seg, "kwargs": chosen.lance_kwargs(dim),
    }
    # A build without Lance's progress events can only be cancelled by stopping its process.
    if is_silent(job.spec) or (isolate if isolate is not None else rows >= ISOLATE_ROWS):
        job.vector = ChildBuild(job.spec, events, job.cancel)
        if calibration:
            # The exact answers for the calibration need no index: find them while the child
            # builds it (Lance's row assignment keeps about one core busy; this uses the other).
            with storage_errors(catalog, "calibrate the vector index of"):
                job.sample = calibration_sample(ds, column, embedder=cheap_embedder(catalog, column),
                                                cancel=job.cancel)
        job.vector.build()
    else:
        with storage_errors(catalog, "build the vector index of"):
            job.vector = build_vector(job.spec, events)


def _build_scalar_indexes(job: _IndexBuild, scalar: bool, text: bool, rebuild: bool) -> None:
    """Write the scalar indexes of the filter fields and the full-text index, uncommitted."""
    ds = job.ds
    jobs: list[tuple[str, str, dict[str, Any]]] = []
    if scalar:
        for name in SCALAR_FIELDS:
            if name in ds.schema.names and (rebuild or PREFIX + name not in job.existing):
                jobs.append((name, _scalar_kind(ds, name), {}))
    if text and TEXT_FIELD in ds.schema.names and (rebuild or PREFIX + "text_" + TEXT_FIELD not in job.existing):
        # with_position: phrase queries ("heat shock") need token positions.
        jobs.append((TEXT_FIELD, "INVERTED", {"with_position": True, "lower_case": True}))
    for n, (name, kind, extra) in enumerate(jobs, start=1):
        job.cancel.raise_if_cancelled()
        index_name = PREFIX + ("text_" if kind == "INVERTED" else "") + name
        job.progress(Progress(n, len(jobs), "indexes", "scalar", f"{kind.title()} index on {name}"))
        with storage_errors(job.catalog, f"index {name} in"):
            # (Lance picks scalar segment ids itself; a failure mid-build may leave an orphan segment.)
            idx = ds.create_index_uncommitted(
                name, kind, name=index_name, replace=True, fragment_ids=job.frags, **extra
            )
            if kind == "INVERTED":
                # The inverted index is written per fragment into a staging area; merge it.
                ds.merge_index_metadata(str(idx.uuid), kind)
        job.others.append(idx)
        job.segments.append(str(idx.uuid))


def _commit_others(job: _IndexBuild) -> None:
    """Publish the scalar and text segments on the latest version, but none that another process published meanwhile."""
    import lance

    catalog = job.catalog
    present = {d.name for d in catalog.dataset().describe_indices()}
    todo = [idx for idx in job.others if idx.name not in present]
    if not todo:
        return
    names = ", ".join(i.name.removeprefix(PREFIX) for i in todo)
    catalog.commit(lance.LanceOperation.CreateIndex(new_indices=todo, removed_indices=[]), catalog.version,
                   f"index: {names}")


def _publish(job: _IndexBuild) -> None:
    """Commit every segment written; past this point the build is not cancellable (each commit is atomic)."""
    catalog = job.catalog
    job.progress(Progress(0, None, "steps", "commit", "Saving the indexes"))
    with storage_errors(catalog, "save the indexes of"):
        job.committed = True
        if job.others:
            for idx in job.others:
                if idx.name in job.existing:  # rebuild: CreateIndex cannot replace an index of the same name
                    catalog.dataset().drop_index(idx.name)
                    catalog.refresh()
            retry_conflicts(lambda: _commit_others(job), catalog=catalog)
        if isinstance(job.vector, ChildBuild):
            job.vector.commit()
        elif job.vector is not None:
            # commit_vector publishes on the latest version: after losing to another commit, it is tried again.
            retry_conflicts(lambda: commit_vector(job.spec, job.vector), catalog=catalog)


def _calibrate_after_build(job: _IndexBuild, column: str) -> None:
    """Measure and store the search effort (after publishing: a search needs the committed index)."""
    job.catalog.refresh()
    job.progress(Progress(0, None, "steps", "calibrate", "Measuring the search effort the index needs"))
    cal = calibrate(job.catalog, column, sample=job.sample)
    job.progress(Progress(0, None, "steps", "calibrate",
                          f"Search effort: probe {cal.nprobes} partitions, refine {cal.refine_factor} × k "
                          f"(recall@{cal.k} {cal.recall:.2f} on {cal.queries} sample queries)"))


def _store_decision(job: _IndexBuild, column: str) -> None:
    """Record a measured decision with the published index (unless the same one is stored already)."""
    decision = job.decision
    if decision is None or decision.probe_fraction is None:
        return
    job.catalog.refresh()
    if stored_decision(job.catalog.dataset(), column) != decision:
        try:
            with storage_errors(job.catalog, "save the index decision of"):
                store_decision(job.catalog, column, decision)
        except GenoCatError as exc:
            # The index is published: a decision that could not be saved is measured again next time.
            job.progress(Progress(0, None, "steps", "policy", f"Index decision not saved: {exc}"))


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
            with storage_errors(catalog, f"drop index {info.name} of"):
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
        with storage_errors(catalog, "compact"):
            retry_conflicts(lambda: catalog.dataset().optimize.compact_files(), catalog=catalog)
        catalog.refresh()
    cancel.raise_if_cancelled()
    progress(Progress(1, 2, "steps", "optimize", "Adding new rows to the indexes"))
    with storage_errors(catalog, "update the indexes of"):
        retry_conflicts(lambda: catalog.dataset().optimize.optimize_indices(), catalog=catalog)
    catalog.refresh()
    progress(Progress(2, 2, "steps", "done", "Indexes up to date"))
    return index_status(catalog)
