"""The catalog: one LanceDB table of sequences, their metadata and vectors.

A catalog lives in a folder (the embedded default) or under an object-store
prefix (``s3://bucket/lab-catalog``). It holds one Lance table,
``sequences``, keyed by ``seq_hash`` (the MD5 of the normalised residues, as
UniParc publishes it). Which embedder made each vector column, and with which
parameters, is recorded in the table's schema metadata under ``genocat``, so a
query is embedded exactly like the rows it is compared with, whoever opens the
catalog later.

Every change is one Lance version; old versions stay readable (time travel)
until they are cleaned up.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.summaries import CatalogInfo, FieldInfo, VersionInfo
from genocat_desktop.engine.core.errors import CatalogError, CatalogNotFoundError, EmbedderMismatchError, StorageError
from genocat_desktop.engine.embed.embedders import base as embedders

if TYPE_CHECKING:
    import lance

    from genocat_desktop.engine.core.progress import CancelToken

__all__ = [
    "BUILTIN_FIELDS",
    "Catalog",
    "default_location",
    "vector_column_name",
]

TABLE: Final = "sequences"
FORMAT: Final = 1
META_KEY: Final = b"genocat"

#: The fields every catalog has, in order, with what they hold.
BUILTIN_FIELDS: Final[tuple[tuple[str, pa.DataType, str], ...]] = (
    ("seq_hash", pa.string(), "MD5 of the normalised sequence, upper-case hex (as UniParc); the key"),
    ("id", pa.string(), "first word of the FASTA header, verbatim"),
    ("accession", pa.string(), "accession parsed from the identifier (UniProt, NCBI accession.version)"),
    ("aliases", pa.list_(pa.string()), "identifiers of other records with the same sequence"),
    ("description", pa.string(), "rest of the FASTA header, verbatim"),
    ("name", pa.string(), "protein name, without organism and tags"),
    ("db", pa.string(), "source database (sp, tr, ref, UniRef90...)"),
    ("entry_name", pa.string(), "UniProt entry name (HBA_HUMAN)"),
    ("organism", pa.string(), "organism name (OS=, Tax=, [organism=...])"),
    ("taxid", pa.int64(), "NCBI taxonomy id (OX=, TaxID=, [taxid=...])"),
    ("gene", pa.string(), "gene name (GN=, [gene=...])"),
    ("protein_existence", pa.int32(), "UniProt protein existence level 1-5 (PE=)"),
    ("sequence_version", pa.int32(), "UniProt sequence version (SV=)"),
    ("sequence", pa.string(), "normalised residues (upper case)"),
    ("length", pa.int32(), "number of residues"),
    ("molecule", pa.string(), "protein, dna or rna"),
    ("source_file", pa.string(), "name of the imported file"),
    ("imported_at", pa.timestamp("us", tz="UTC"), "when the row was imported"),
)
BUILTIN_NAMES: Final = frozenset(name for name, _, _ in BUILTIN_FIELDS)
#: Columns an aligned search adds to its hits, in this order (reserved: no user field may take these names).
ALIGNMENT_COLUMNS: Final = ("aln_score", "bits", "evalue", "identity", "query_cov", "target_cov", "sstrand")


def vector_column_name(embedder_name: str) -> str:
    """Return the column that holds an embedder's vectors (``vec_<name>``)."""
    return "vec_" + "".join(c if c.isalnum() else "_" for c in embedder_name.lower())


def default_location() -> str:
    """The catalog used when none is given.

    ``$GENOCAT_CATALOG`` if set, else ``catalogs/default`` in the user's data
    directory (``~/.local/share/GenoCat`` on Linux).
    """
    env = os.environ.get("GENOCAT_CATALOG")
    if env:
        return env
    import platformdirs

    return str(Path(platformdirs.user_data_dir("GenoCat", appauthor=False)) / "catalogs" / "default")


def _is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


class Catalog:
    """A sequence catalog. Open one with :meth:`open`.

    A ``Catalog`` may be used from one thread at a time for writes; reads are
    safe from any thread. It always reads the latest committed version unless
    told otherwise, so changes made by another process (a colleague on the
    shared S3 catalog, the CLI next to the GUI) appear on :meth:`refresh`.
    """

    def __init__(self, location: str, dataset_uri: str, storage_options: Mapping[str, str] | None) -> None:
        self.location = location
        self.uri = dataset_uri
        self.storage_options = dict(storage_options or {})
        self._lock = threading.RLock()
        self._ds: lance.LanceDataset | None = None
        self._embedders: dict[str, embedders.Embedder] = {}
        self._meta_cache: tuple[int, dict[str, Any]] | None = None

    def work_folder(self, purpose: str) -> Path:
        """Where this machine keeps its own working files for this catalog (the folder may not exist yet).

        Checkpoints of an embedding job (``purpose="embed"``) and an import's spilled batches
        (``"import"``) are not part of the catalog. A local catalog keeps them in its ``.genocat``
        folder; an object-store catalog on this machine, in the user cache folder under
        ``purpose`` and a hash of the table's URI, so nothing but the catalog goes to the store.
        """
        if "://" not in self.location:
            return Path(self.location) / ".genocat"
        import hashlib

        import platformdirs

        key = hashlib.sha1(self.uri.encode()).hexdigest()[:16]
        return Path(platformdirs.user_cache_dir("GenoCat", appauthor=False)) / purpose / key

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        location: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        embedder: str = "kmer",
        embedder_params: Mapping[str, Any] | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> Catalog:
        """Open a catalog, creating an empty one if asked to.

        Parameters
        ----------
        location
            A folder, or an object-store URI such as ``s3://bucket/prefix``;
            :func:`default_location` if ``None``.
        create
            Create the catalog if it does not exist yet.
        embedder, embedder_params
            The embedder of a new catalog (ignored when it exists).
        storage_options
            Object-store options passed to Lance (``aws_endpoint``, keys...).

        Raises
        ------
        CatalogNotFoundError
            If it does not exist and ``create`` is false.
        StorageError
            If the location cannot be read or written.
        """
        loc = str(location) if location is not None else default_location()
        if not _is_remote(loc):
            loc = str(Path(loc).expanduser().resolve())
        else:
            from genocat_desktop.engine.catalog.access import prepare_options

            # Completes endpoint/credentials/timeouts and checks access first: a wrong key, a missing
            # bucket, a dead endpoint each get their own error in seconds (see storage.py).
            storage_options = prepare_options(loc, storage_options)
        from genocat_desktop.engine.catalog.damage import refuse_unless_empty, register

        uri = loc.rstrip("/") + f"/{TABLE}.lance"
        cat = cls(loc, uri, storage_options)
        try:
            cat._load()
        except CatalogNotFoundError:
            # A damaged catalog, or a folder of other files, is never replaced by a new catalog.
            refuse_unless_empty(loc)
            if not create:
                raise
            cat._create(embedder, dict(embedder_params or {}))

        register(cat)  # so that a failed read anywhere can be traced to a damaged file of this catalog
        return cat

    def _load(self) -> None:
        import time

        import lance

        started = time.monotonic()
        try:
            ds = lance.dataset(self.uri, storage_options=self.storage_options or None)
        except (ValueError, FileNotFoundError, OSError) as exc:
            text = str(exc)
            if "not found" in text.lower() or "does not exist" in text.lower() or isinstance(exc, FileNotFoundError):
                raise CatalogNotFoundError(f"no catalog at {self.location}") from None
            raise self._storage_error(exc, "open the catalog at", started=started) from None
        if META_KEY not in (ds.schema.metadata or {}):
            raise CatalogError(f"{self.location} holds a Lance table that is not a GenoCat catalog")
        self._ds = ds
        fmt = self.meta.get("format", 0)
        if fmt > FORMAT:
            raise CatalogError(
                f"this catalog was written by a newer GenoCat (format {fmt}); update GenoCat to open it"
            )

    def _create(self, embedder_name: str, params: dict[str, Any]) -> None:
        # An empty Lance dataset with the schema: the same table lancedb's create_table writes (data
        # storage 2.2, V2 manifest paths), so lancedb.connect(location).open_table("sequences") opens it
        # (tests/test_lancedb_interop.py), without lancedb's second copy of the Rust core in the bundle.
        import lance

        emb = embedders.create(embedder_name, **embedders.new_column_params(embedder_name, params))
        if emb.dim == 0:  # MinHash sketches (hashes, not vectors) are never the default embedding
            raise CatalogError(f"a catalog starts with a vector embedding (kmer or esm), not {emb.name}; "
                               "add sketches afterwards (genocat embed --embedder sketch)")
        column = vector_column_name(emb.name)
        meta = {
            "format": FORMAT,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "embedders": {column: _embedder_record(emb)},
            "default_vector": column,
            "user_fields": {},
        }
        fields = [pa.field(n, t, metadata={"doc": d}) for n, t, d in BUILTIN_FIELDS]
        fields.append(pa.field(column, pa.list_(pa.float32(), emb.dim)))
        schema = pa.schema(fields, metadata={META_KEY: json.dumps(meta).encode()})
        try:
            if not _is_remote(self.location):
                Path(self.location).mkdir(parents=True, exist_ok=True)
            lance.write_dataset(schema.empty_table(), self.uri, schema=schema, mode="create",
                                storage_options=self.storage_options or None)
        except (OSError, RuntimeError, ValueError) as exc:
            # Another process created it between our open and this write: open theirs.
            if "already exists" not in str(exc).lower():
                raise self._storage_error(exc, "create a catalog at") from None
        self._load()

    # ------------------------------------------------------------------ state
    def dataset(self, version: int | None = None) -> lance.LanceDataset:
        """The Lance dataset at the latest version seen (or at ``version``)."""
        import lance

        with self._lock:
            assert self._ds is not None
            if version is None or version == self._ds.version:
                return self._ds
        return lance.dataset(self.uri, version=version, storage_options=self.storage_options or None)

    def refresh(self) -> int:
        """Move to the latest committed version; return it."""
        with self._lock:
            assert self._ds is not None
            latest = self._ds.latest_version
            if latest != self._ds.version:
                self._ds = self._ds.checkout_version(latest)
            return self._ds.version

    @property
    def version(self) -> int:
        """The version this object reads."""
        return self.dataset().version

    @property
    def meta(self) -> dict[str, Any]:
        """The GenoCat metadata stored with the table."""
        ds = self.dataset()
        cached = self._meta_cache
        if cached is not None and cached[0] == ds.version:
            return cached[1]
        raw = (ds.schema.metadata or {}).get(META_KEY, b"{}")
        value: dict[str, Any] = json.loads(raw)
        self._meta_cache = (ds.version, value)
        return value

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the table."""
        return self.dataset().schema

    @property
    def default_vector(self) -> str:
        """The vector column searched when none is named."""
        return str(self.meta["default_vector"])

    def vector_columns(self) -> dict[str, dict[str, Any]]:
        """Vector column name to the record of its embedder."""
        return dict(self.meta.get("embedders", {}))

    def embedder(self, column: str | None = None) -> embedders.Embedder:
        """The embedder that made ``column`` (the default vector column if ``None``).

        Raises
        ------
        EmbedderMismatchError
            If the embedder is not available here or differs from the one recorded.
        """
        column = column or self.default_vector
        with self._lock:
            if column in self._embedders:
                return self._embedders[column]
            record = self.vector_columns().get(column)
            if record is None:
                raise EmbedderMismatchError(f"the catalog has no vector column {column!r}")
            emb = embedders.create(record["name"], **record.get("params", {}))
            if emb.version != record["version"] or emb.dim != record["dim"]:
                raise EmbedderMismatchError(
                    f"column {column!r} was made by {record['name']} version {record['version']} "
                    f"(dim {record['dim']}); this GenoCat has version {emb.version} (dim {emb.dim}). "
                    "Re-embed the catalog with this version."
                )
            self._embedders[column] = emb
            return emb

    def count(self, filter: str | None = None) -> int:
        """Number of rows (matching a Lance SQL filter, if given)."""
        with self.reading():
            return int(self.dataset().count_rows(filter))

    def fields(self) -> list[FieldInfo]:
        """The columns, with their kind and description."""
        meta = self.meta
        user = meta.get("user_fields", {})
        out = []
        for f in self.schema:
            if f.name in meta.get("embedders", {}):
                kind = "vector"
            elif f.name in BUILTIN_NAMES:
                kind = "builtin"
            else:
                kind = "user"
            doc = (f.metadata or {}).get(b"doc", b"").decode() or str(user.get(f.name, {}).get("description", ""))
            out.append(FieldInfo(f.name, str(f.type), kind, doc))
        return out

    def versions(self, recent: int = 100) -> list[VersionInfo]:
        """The ``recent`` latest versions still stored, oldest first, with their commit messages."""
        ds = self.dataset()
        found = ds.versions()[-recent:]
        messages: dict[int, str] = {}
        try:
            # Transactions come newest first, one per version.
            for i, tx in enumerate(ds.get_transactions(len(found))):
                if tx is not None:
                    props = tx.transaction_properties or {}
                    messages[ds.version - i] = str(props.get("__lance_commit_message", ""))
        except (OSError, ValueError):  # old versions may have been cleaned up
            pass
        out = []
        for v in found:
            rows = (v.get("metadata") or {}).get("total_rows")
            number = int(v["version"])
            when = _as_datetime(v["timestamp"])
            message = messages.get(number, "")
            if not message and number > 1:
                # Lance's schema-only operations (add/rename/drop column) carry no message.
                from genocat_desktop.engine.catalog.history import version_description

                message = version_description(self, number)
            out.append(VersionInfo(number, when, int(rows) if rows else None, message))
        return out

    def info(self) -> CatalogInfo:
        """A summary of the catalog."""
        meta = self.meta
        found = self.dataset().versions()
        size = (found[-1].get("metadata") or {}).get("total_files_size") if found else None
        return CatalogInfo(
            size_bytes=int(size) if size is not None else None,
            versions=len(found),
            location=self.location,
            rows=self.count(),
            version=self.version,
            embedders=self.vector_columns(),
            default_vector=str(meta["default_vector"]),
            fields=self.fields(),
            created=str(meta.get("created", "")),
        )

    # ------------------------------------------------------------------ reads
    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Raise a read that failed on a missing or damaged data file as a :class:`CatalogError`.

        The error names the file and the version to restore (see :mod:`.damage`); any
        other failure passes unchanged.
        """
        try:
            yield
        except (OSError, ValueError, RuntimeError) as exc:
            from genocat_desktop.engine.catalog.damage import damage_error, is_read_failure

            error = damage_error(self, exc) if is_read_failure(exc) else None
            if error is None:
                raise
            raise error from None

    def existing_hashes(self) -> np.ndarray:
        """Sorted ``S32`` array of every ``seq_hash`` in the catalog."""
        with self.reading():
            return self._existing_hashes()

    def _existing_hashes(self) -> np.ndarray:
        ds = self.dataset()
        if ds.count_rows() == 0:
            return np.empty(0, dtype="S32")
        col = ds.to_table(columns=["seq_hash"]).column("seq_hash").combine_chunks()
        if col.null_count == 0 and len(col) and isinstance(col, pa.StringArray):
            # Every hash is 32 ASCII characters: view Arrow's data buffer as S32 without
            # building a million Python strings (1M rows: ~0.05 s instead of ~1 s).
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int32, count=len(col) + 1, offset=col.offset * 4)
            if np.all(np.diff(offsets) == 32):
                arr = np.frombuffer(col.buffers()[2], dtype="S32", count=len(col), offset=int(offsets[0])).copy()
                arr.sort()
                return arr
        arr = np.array(col.to_pylist(), dtype="S32")
        arr.sort()
        return arr

    def rows_by_hash(self, hashes: Iterable[str], columns: list[str] | None = None) -> pa.Table:
        """The rows whose ``seq_hash`` is one of ``hashes``."""
        hs = list(hashes)
        parts = []
        for i in range(0, len(hs), 5000):
            chunk = hs[i : i + 5000]
            pred = "seq_hash IN (" + ",".join(f"'{h}'" for h in chunk if h.isalnum()) + ")"
            with self.reading():
                parts.append(self.dataset().to_table(columns=columns, filter=pred, with_row_address=True))
        if not parts:
            return self.dataset().to_table(columns=columns, limit=0, with_row_address=True)
        return pa.concat_tables(parts)

    def take(self, row_ids: np.ndarray | list[int], columns: list[str] | None = None) -> pa.Table:
        """Rows by their stable row ids, in the order given."""
        ids = np.asarray(row_ids, dtype=np.uint64)
        if ids.size == 0:
            return self.dataset().to_table(columns=columns, limit=0)
        with self.reading():
            return self.dataset()._take_rows(ids.tolist(), columns=columns)

    # ------------------------------------------------------------------ writes
    def commit(
        self,
        operation: Any,
        read_version: int,
        message: str,
        *,
        replan: Callable[[], tuple[Any, int, str]] | None = None,
        cancel: CancelToken | None = None,
    ) -> int:
        """Commit a Lance operation as one new version; return that version.

        Parameters
        ----------
        operation, read_version
            The change and the version it was computed from.
        message
            The commit message (``versions()`` shows it).
        replan
            Rebuilds the change after it lost to another process's commit: called with the
            catalog at the latest version, it returns the new operation, its read version and message.
            With it, conflicts are retried here (:func:`.commits.retry_conflicts`); without it,
            a conflict raises :class:`.commits.CommitConflict` for the caller's retry around the
            whole change.
        cancel
            Ends a wait between tries.

        Raises
        ------
        CatalogBusyError
            If the change kept losing to other processes' changes (or lost once, without ``replan``).
        StorageError
            If the commit fails (for example the object store is unreachable).
        """
        from genocat_desktop.engine.catalog.commits import retry_conflicts

        if replan is None:
            return self._commit_once(operation, read_version, message)
        planned: tuple[Any, int, str] = (operation, read_version, message)
        tries = 0

        def attempt() -> int:
            nonlocal tries, planned
            tries += 1
            if tries > 1:
                planned = replan()
            return self._commit_once(*planned)

        return retry_conflicts(attempt, catalog=self, cancel=cancel)

    def _commit_once(self, operation: Any, read_version: int, message: str) -> int:
        import lance

        from genocat_desktop.engine.catalog.commits import CommitConflict, is_retryable_conflict

        try:
            ds = lance.LanceDataset.commit(
                self.uri,
                operation,
                read_version=read_version,
                storage_options=self.storage_options or None,
                commit_message=message,
            )
        except (OSError, RuntimeError, ValueError) as exc:
            if is_retryable_conflict(exc):
                raise CommitConflict() from None
            if isinstance(exc, ValueError):
                raise
            raise self._storage_error(exc, "save the change to", "the catalog was left as it was") from None
        with self._lock:
            self._ds = ds
        return int(ds.version)

    def _storage_error(self, exc: BaseException, doing: str, outcome: str = "",
                       started: float | None = None) -> StorageError:
        """A specific :class:`StorageError` for a failed Lance call (object stores: re-checks access to say why).

        ``started`` (``time.monotonic()`` when the call began) lets the message say how long Lance tried.
        """
        tail = f"; {outcome}" if outcome else ""
        if _is_remote(self.location):
            import time

            from genocat_desktop.engine.catalog.access import describe_failure

            seconds = time.monotonic() - started if started is not None else None
            err = describe_failure(self.location, self.storage_options, exc, doing, seconds)
            return type(err)(f"{err}{tail}")
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        return StorageError(f"could not {doing} {self.location}: {first}{tail}")

    def restore(self, version: int) -> int:
        """Make ``version``'s content the latest version again (nothing is deleted)."""
        from genocat_desktop.engine.catalog.commits import retry_conflicts

        def attempt() -> int:
            self.dataset(version).restore()
            return self.refresh()

        try:
            return retry_conflicts(attempt, catalog=self)
        except OSError as exc:
            # A read-only folder or bucket (or a full disk): one line saying so, nothing changed.
            raise self._storage_error(exc, f"restore version {version} of", "the catalog was left as it "
                                      "was (is the catalog read-only here?)") from None

    def __repr__(self) -> str:
        return f"Catalog({self.location!r})"


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(float(value) / (1e6 if float(value) > 1e11 else 1), UTC)  # type: ignore[arg-type]


def _embedder_record(emb: embedders.Embedder) -> dict[str, Any]:
    return {"name": emb.name, "version": emb.version, "dim": emb.dim, "params": emb.params()}
