"""The embedding columns of a catalog: add, resume, remove and choose the default vector column.

A catalog holds one vector column per embedder; this module owns them.
``add_embedding`` embeds every row of the catalog into a new vector column
(``vec_<model>``) and records the embedder in the catalog metadata; searches
then name the column (``genocat search --embedding``), and later imports fill
every vector column the catalog has.

How, and why this way:

* **No rewrite.** Lance schema evolution: each fragment gets one new data file
  holding only the new column (``LanceFragment.merge_columns`` with a batch
  UDF that reads ``seq_hash``, ``sequence`` and ``molecule``); one ``Merge``
  commit makes them visible. The other columns' files are never touched.
* **Resumable.** Embedding 10k proteins with ESM-2 takes minutes to hours on a
  laptop. Every few dozen sequences the vectors are saved, keyed by
  ``seq_hash``, in a checkpoint (SQLite, one file per column, in the
  catalog's work folder: ``<catalog>/.genocat/embed-<column>.sqlite`` for a
  local catalog). Running :func:`add_embedding` again after a cancel, a crash
  or a power cut re-uses them and embeds only the rest, even if rows were
  imported or deleted in between. The checkpoint is deleted
  after the commit. It is valid only for the same embedder record (model
  SHA-256 and parameters); another model starts afresh.
* **Atomic.** Until the final commit the catalog is unchanged: a cancelled run
  changes nothing but the checkpoint (uncommitted column files are deleted).
  Two commits finish it: the ``Merge`` (the column) then the metadata; if the
  process dies between them, the next run only writes the metadata.
* **Cancel** is checked between small batches and interrupts the ONNX Runtime
  call in flight, so it takes effect within a second.

One writer at a time: run it from the same engine thread as imports.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.commits import raise_if_conflict, retried, retry_conflicts
from genocat_desktop.engine.catalog.table import META_KEY, Catalog, vector_column_name
from genocat_desktop.engine.catalog.writers import writes_files
from genocat_desktop.engine.core.errors import CatalogError, SchemaError, StorageError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, RateMeter, no_progress
from genocat_desktop.engine.embed.embedders import base as embedders
from genocat_desktop.engine.embed.embedders.sketch import is_sketch

__all__ = [
    "EmbedReport",
    "PendingEmbedding",
    "add_embedding",
    "column_for",
    "discard_pending_embedding",
    "pending_embeddings",
    "remove_embedding",
    "resolve_column",
    "set_default_embedding",
]

_SKETCH_NOT_DEFAULT: Final = ("a MinHash sketch column answers containment and ANI searches when chosen; "
                               "it cannot be the default embedding")
#: Rows per Lance batch handed to the UDF.
SCAN_BATCH: Final = 1024
#: Sequences embedded between two checkpoint saves for slow (model) embedders:
#: a crash loses at most this much work, and the bucketing still has enough
#: sequences of similar length to pack tight batches.
SAVE_EVERY: Final = 128


@dataclass(frozen=True, slots=True)
class EmbedReport:
    """The outcome of :func:`add_embedding`.

    Attributes
    ----------
    column
        The vector column.
    rows
        Rows in the catalog.
    embedded
        Rows embedded by this run.
    reused
        Rows whose vectors came from the checkpoint of an interrupted run.
    version
        The catalog version with the new column (``None`` if nothing changed).
    seconds
        Wall time.
    """

    column: str
    rows: int
    embedded: int
    reused: int
    version: int | None
    seconds: float

    @property
    def rate(self) -> float:
        """Rows embedded per second."""
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class PendingEmbedding:
    """An interrupted :func:`add_embedding` that can be resumed."""

    column: str
    record: dict[str, Any]
    done: int
    path: Path


def column_for(embedder: embedders.Embedder) -> str:
    """The column an embedder's vectors go to: ``vec_<model>`` for models, ``vec_<name>`` otherwise."""
    model = embedder.params().get("model")
    return vector_column_name(f"{embedder.name}_{model}" if model and not str(model).startswith(embedder.name)
                              else str(model or embedder.name))


def resolve_column(catalog: Catalog, name: str) -> str:
    """The vector column meant by ``name``: a column, an embedder name or a model name.

    ``vec_esm2_t6_8m_ur50d``, ``esm2_t6_8M_UR50D`` and ``kmer`` all work.

    Raises
    ------
    CatalogError
        If nothing matches (the message lists the catalog's embeddings).
    """
    columns = catalog.vector_columns()
    if name in columns:
        return name
    for column, record in columns.items():
        if name in (record.get("name"), record.get("params", {}).get("model")) or vector_column_name(name) == column:
            return column
    raise CatalogError(f"the catalog has no embedding {name!r}; it has {', '.join(columns)}")


def _record(emb: embedders.Embedder) -> dict[str, Any]:
    return {"name": emb.name, "version": emb.version, "dim": emb.dim, "params": emb.params()}


class _Checkpoint:
    """Vectors already computed, by ``seq_hash``, for one column and one embedder record."""

    def __init__(self, path: Path, record: dict[str, Any], dim: int) -> None:
        self.path = path
        self.dim = dim
        path.parent.mkdir(parents=True, exist_ok=True)
        # Lance calls the UDF from its own worker threads (one at a time per fragment): one
        # connection shared under a lock.
        self.conn = sqlite3.connect(path, check_same_thread=False)
        self.lock = threading.Lock()
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vec BLOB)")
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'record'").fetchone()
        wanted = json.dumps(record, sort_keys=True)
        if row is not None and row[0] != wanted:
            # Another model or other parameters: those vectors are not ours.
            self.conn.execute("DELETE FROM vectors")
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('record', ?)", (wanted,))
        self.conn.commit()

    def count(self) -> int:
        with self.lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def get(self, hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):  # SQLite's limit on bound parameters
            chunk = hashes[i : i + 500]
            marks = ",".join("?" * len(chunk))
            with self.lock:
                found = self.conn.execute(f"SELECT hash, vec FROM vectors WHERE hash IN ({marks})", chunk).fetchall()
            for h, blob in found:
                out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put(self, hashes: list[str], vectors: np.ndarray) -> None:
        rows = [(h, v.astype(np.float32).tobytes()) for h, v in zip(hashes, vectors, strict=True)]
        with self.lock:
            self.conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()

    def delete(self) -> None:
        self.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def pending_embeddings(catalog: Catalog) -> list[PendingEmbedding]:
    """Interrupted :func:`add_embedding` runs of this catalog that can be resumed (for a "Resume" button)."""
    folder = catalog.work_folder("embed")
    out = []
    for path in sorted(folder.glob("embed-*.sqlite")) if folder.is_dir() else []:
        try:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                record = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'record'").fetchone()[0])
                done = int(conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        except (sqlite3.Error, TypeError, ValueError):
            continue
        column = path.stem.removeprefix("embed-")
        if column not in catalog.vector_columns():
            out.append(PendingEmbedding(column, record, done, path))
    return out


def discard_pending_embedding(catalog: Catalog, column: str) -> bool:
    """Delete the checkpoint of an interrupted :func:`add_embedding` (a "Discard" button); True if one existed."""
    path = catalog.work_folder("embed") / f"embed-{column}.sqlite"
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


@retried
@writes_files("embed")
def add_embedding(
    catalog: Catalog,
    embedder: str | embedders.Embedder = "esm",
    params: Mapping[str, Any] | None = None,
    *,
    column: str | None = None,
    make_default: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> EmbedReport:
    """Embed every row of ``catalog`` into a new vector column, resuming an interrupted run.

    Parameters
    ----------
    catalog
        The catalog (local or object store).
    embedder, params
        A registered embedder's name and parameters (``"esm", {"model": "esm2_t6_8M_UR50D"}``),
        or an embedder object.
    column
        The new column's name; by default :func:`column_for` the embedder (``vec_esm2_t6_8m_ur50d``).
    make_default
        Make the new column the one searched when none is named.
    progress
        Called a few times a second with rows done (including rows re-used from a checkpoint) and an ETA.
    cancel
        Stops within a second; the catalog is unchanged, and the next run resumes.

    Returns
    -------
    EmbedReport

    Raises
    ------
    Cancelled
        If cancelled (the work done so far is kept in the checkpoint).
    SchemaError
        If the column exists and was made by another embedder.
    EmbedderError, ModelNotFoundError
        If the embedder cannot be built or run.
    """
    started = time.perf_counter()
    cancel = cancel or CancelToken()
    if isinstance(embedder, str):
        emb = embedders.create(embedder, **embedders.new_column_params(embedder, params))
    else:
        emb = embedder
    record = _record(emb)
    if is_sketch(record) and make_default:
        raise SchemaError(_SKETCH_NOT_DEFAULT)
    column = column or column_for(emb)
    if not column.startswith("vec_") or not column.replace("_", "").isalnum():
        raise SchemaError(f"{column!r}: a vector column is named vec_ followed by letters, digits and '_'")
    read_version = catalog.refresh()
    ds = catalog.dataset()
    if is_sketch(record) and ds.count_rows() and not ds.count_rows("molecule IN ('dna', 'rna')"):
        raise SchemaError("MinHash sketches are made of DNA/RNA k-mers and this catalog holds only proteins: "
                          "search proteins with the k-mer or an ESM-2 embedding")
    if _has_column_of(catalog, column, record, make_default):
        return EmbedReport(column, ds.count_rows(), 0, 0, None, time.perf_counter() - started)
    checkpoint = _Checkpoint(catalog.work_folder("embed") / f"embed-{column}.sqlite", record, emb.dim)
    total = ds.count_rows()
    if column in ds.schema.names:
        # The column was committed but the process stopped before the metadata: finish that.
        if not checkpoint.count() and total:
            checkpoint.close()
            raise SchemaError(f"the catalog has a field {column!r} that is not a GenoCat embedding; "
                              "choose another column name")
        version = _finish(catalog, column, record, make_default)
        checkpoint.delete()
        return EmbedReport(column, total, 0, total, version, time.perf_counter() - started)

    label = str(emb.params().get("model") or emb.name)
    field = pa.field(column, getattr(emb, "arrow_type", None) or pa.list_(pa.float32(), emb.dim))
    udf = _EmbedUdf(emb, checkpoint, field, total, label, progress, cancel)
    written: list[str] = []
    try:
        _write_column(catalog, ds, read_version, udf, written)
        version = _finish(catalog, column, record, make_default)
    except BaseException:
        _discard(catalog, written)
        checkpoint.close()
        raise
    checkpoint.delete()
    progress(Progress(total, total, "sequences", "done", f"Added {column}: {total:,} rows"))
    return EmbedReport(column, total, udf.embedded, udf.reused, version, time.perf_counter() - started)


def _has_column_of(catalog: Catalog, column: str, record: dict[str, Any], make_default: bool) -> bool:
    """True if ``column`` exists and was made by the embedder ``record`` (made the default if asked).

    Raises
    ------
    SchemaError
        If the column exists and was made by another embedder.
    """
    existing = catalog.vector_columns()
    if column not in existing:
        return False
    if not _same(existing[column], record):
        raise SchemaError(f"the catalog already has a column {column!r} made by {existing[column]['name']} "
                          f"{existing[column].get('params', {})}; choose another column name")
    if make_default:
        set_default_embedding(catalog, column)
    return True


def _write_column(
    catalog: Catalog, ds: Any, read_version: int, udf: _EmbedUdf, written: list[str]
) -> None:
    """Compute ``udf.field`` for every fragment and commit the column in one ``Merge`` version.

    The data files written are appended to ``written`` as they are made, so that
    the caller can delete them if anything fails before the commit (cleared after it).
    """
    from lance.udf import BatchUDF

    column, total, cancel = udf.field.name, udf.total, udf.cancel
    fragments: list[Any] = []
    schema = None
    for frag in ds.get_fragments():
        cancel.raise_if_cancelled()
        before = {f.path for f in frag.metadata.files}
        try:
            meta, schema = frag.merge_columns(
                BatchUDF(udf, output_schema=pa.schema([udf.field])),
                columns=["seq_hash", "sequence", "molecule"],
                batch_size=SCAN_BATCH,
            )
        except (ValueError, OSError) as exc:
            # Lance wraps what the UDF raised; give back the original (Cancelled, EmbedderError...).
            if udf.error is not None:
                raise udf.error from None
            raise StorageError(f"could not write the new column to {catalog.location}: {exc}") from None
        written.extend(f.path for f in meta.files if f.path not in before)
        fragments.append(meta)
    cancel.raise_if_cancelled()
    udf.progress(Progress(total, total, "sequences", "saving", f"Saving the {column} column"))
    import lance

    if schema is None:  # an empty catalog: only the schema changes
        ds.add_columns(udf.field)
    else:
        catalog.commit(lance.LanceOperation.Merge(fragments, schema), read_version,
                       f"add embedding {column} ({udf.label}): {total:,} rows")
    written.clear()
    catalog.refresh()


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class _EmbedUdf:
    """The batch UDF: vectors for a batch of rows, from the checkpoint or the embedder."""

    def __init__(
        self, emb: embedders.Embedder, checkpoint: _Checkpoint, field: pa.Field, total: int, label: str,
        progress: ProgressCallback, cancel: CancelToken,
    ) -> None:
        self.emb = emb
        self.checkpoint = checkpoint
        self.field = field
        self.total = total
        self.label = label
        self.progress = progress
        self.cancel = cancel
        self.slow = bool(getattr(emb, "cancellable", False))
        self.embedded = 0
        self.reused = 0
        self.error: BaseException | None = None
        self.meter = RateMeter(0.25)

    def _report(self, extra: int = 0) -> None:
        if self.meter.due():
            done = self.embedded + self.reused + extra
            rate = self.meter.update(self.embedded + extra)
            self.progress(Progress(done, self.total, "sequences", "embedding",
                                   f"Embedding with {self.label}: {done:,} of {self.total:,}", rate))

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        try:
            return self._embed(batch)
        except BaseException as exc:
            self.error = exc
            raise

    def _embed(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.cancel.raise_if_cancelled()
        hashes = batch.column("seq_hash").to_pylist()
        seqs = batch.column("sequence").to_pylist()
        mols = batch.column("molecule").to_pylist()
        if hasattr(self.emb, "sketch_arrow"):
            # MinHash sketches: hashes, not vectors, made in milliseconds; no checkpoint needed.
            sketches = self.emb.sketch_arrow([s or "" for s in seqs], [m or "protein" for m in mols])
            self.embedded += len(hashes)
            self._report()
            return pa.RecordBatch.from_arrays([sketches], schema=pa.schema([self.field]))
        out = np.empty((len(hashes), self.emb.dim), dtype=np.float32)
        cached = self.checkpoint.get(hashes)
        todo = []
        for i, h in enumerate(hashes):
            vec = cached.get(h)
            if vec is not None and vec.size == self.emb.dim:
                out[i] = vec
            else:
                todo.append(i)
        self.reused += len(hashes) - len(todo)
        step = SAVE_EVERY if self.slow else max(1, len(todo))
        for start in range(0, len(todo), step):
            idx = todo[start : start + step]
            sub_seqs = [seqs[i] or "" for i in idx]
            sub_mols = [m or "protein" for m in (mols[i] for i in idx)]
            if self.slow:
                on_progress: Callable[[int], None] = self._report
                vecs = self.emb.embed(sub_seqs, sub_mols, cancel=self.cancel,  # type: ignore[call-arg]
                                      on_progress=on_progress)
            else:
                vecs = self.emb.embed(sub_seqs, sub_mols)
            out[idx] = vecs
            self.checkpoint.put([hashes[i] for i in idx], vecs)
            self.embedded += len(idx)
            self._report()
            self.cancel.raise_if_cancelled()
        values = pa.array(out.ravel(), pa.float32())
        return pa.RecordBatch.from_arrays([pa.FixedSizeListArray.from_arrays(values, self.emb.dim)],
                                          schema=pa.schema([self.field]))


def _discard(catalog: Catalog, paths: list[str]) -> None:
    """Delete column files that were written but never committed (object stores: left to cleanup)."""
    if "://" in catalog.uri:
        return
    for p in paths:
        with contextlib.suppress(OSError):
            os.remove(os.path.join(catalog.uri, "data", p))


def _write_meta(catalog: Catalog, meta: dict[str, Any]) -> int:
    ds = catalog.dataset()
    try:
        ds.update_schema_metadata({META_KEY.decode(): json.dumps(meta)}, replace=False)
    except OSError as exc:
        raise_if_conflict(exc)
        raise StorageError(f"could not save the catalog's metadata at {catalog.location}: {exc}") from None
    return catalog.refresh()


def _finish(catalog: Catalog, column: str, record: dict[str, Any], make_default: bool) -> int:
    meta = dict(catalog.meta)
    meta["embedders"] = {**meta.get("embedders", {}), column: record}
    if make_default:
        meta["default_vector"] = column
    return _write_meta(catalog, meta)


@retried
def set_default_embedding(catalog: Catalog, column: str) -> int:
    """Make ``column`` the vector column searched when none is named; return the new version.

    Raises
    ------
    CatalogError
        If the catalog has no such vector column.
    """
    catalog.refresh()
    if column not in catalog.vector_columns():
        raise CatalogError(f"the catalog has no embedding {column!r}; it has {', '.join(catalog.vector_columns())}")
    if is_sketch(catalog.vector_columns()[column]):
        raise CatalogError(_SKETCH_NOT_DEFAULT)
    if catalog.default_vector == column:
        return catalog.version
    return _write_meta(catalog, {**catalog.meta, "default_vector": column})


@retried
def remove_embedding(catalog: Catalog, column: str) -> int:
    """Drop a vector column (not the last one); return the new version.

    The default moves to another column if needed. Old versions still hold the
    vectors (``genocat restore``) until they are cleaned up.

    Raises
    ------
    CatalogError
        If there is no such column, or it is the only one.
    """
    catalog.refresh()
    columns = catalog.vector_columns()
    if column not in columns:
        raise CatalogError(f"the catalog has no embedding {column!r}")
    if not any(c != column and not is_sketch(r) for c, r in columns.items()):
        raise CatalogError("a catalog needs at least one embedding; add another before removing this one")
    meta = dict(catalog.meta)
    meta["embedders"] = {c: r for c, r in columns.items() if c != column}
    if meta["default_vector"] == column:
        meta["default_vector"] = next(c for c, r in meta["embedders"].items() if not is_sketch(r))
    # Metadata first: a column no record points to is only an unused field.
    _write_meta(catalog, meta)
    retry_conflicts(lambda: catalog.dataset().drop_columns([column]), catalog=catalog)
    return catalog.refresh()
