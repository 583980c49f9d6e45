"""Bulk ingest on many cores or machines: parallel tasks write, one driver commit publishes.

The same import as :func:`~genocat_desktop.engine.ingest.importer.import_files`
(same rows, same vectors, same deduplication and aliases), split into tasks
that run in worker processes: a pool of processes on this machine
(``engine="local"``) or a Ray cluster (``engine="ray"``, an optional extra).

The ingest runs in four steps:

1. *Plan* (driver): the inputs (files, or folders of files) are cut into
   parts: one per file, and large uncompressed files into byte ranges that
   start at a ``>`` header (:func:`plan_ingest`).
2. *Scan* (tasks): each part is read, checked and hashed, exactly as the local
   import's first pass; a task returns the ``seq_hash`` of every valid record,
   the identifiers, counters and warnings. Nothing is written.
3. *Deduplicate* (driver): the hashes of all parts, in input order, are
   deduplicated at once (``np.unique``) and against the catalog
   (``np.isin`` with :meth:`Catalog.existing_hashes` at the version read):
   the first occurrence of each new sequence is written; later identifiers
   become aliases (of a new row, or of a catalog row that is rewritten with
   its new aliases, as a local import does). The driver holds ~50 bytes per
   record (hash and identifier), so one driver deduplicates a few hundred
   million records (see ``docs/SCALING.md``).
4. *Write* (tasks) and *commit* (driver): each part is read again, its new
   rows are built (headers, vectors from the catalog's embedders) and written
   as Lance fragments straight to the catalog's storage (a folder or
   ``s3://``), not yet part of the table. The driver commits every fragment in
   one ``LanceDataset.commit`` with the version it deduplicated against: the
   whole ingest appears in one version, or not at all.

Failures. A file that is not valid FASTA is rejected (reported in its
:class:`~genocat_desktop.engine.ingest.importer.FileReport`) before anything is
written, and the other files are ingested. Any other failure (a worker
crash after its retries, a storage error, a file changed between the passes)
stops the ingest: nothing is committed, the fragments that tasks reported
are deleted, and :attr:`IngestReport.failed_parts` names the inputs that
failed. Ray retries a crashed task (``retries``): a retried write task writes
new files and only the fragments of the attempt that returned are
committed, so retries never duplicate rows. Files left by attempts that died
are *orphans*: never visible, removed by :func:`cleanup_orphans`, which
refuses to run while an ingest holds a lease on the catalog and only deletes
files older than ``min_age``.

Progress and cancel. :func:`ingest` takes the ``progress`` callback and
:class:`~genocat_desktop.engine.core.progress.CancelToken` of every long engine job
(a GUI job panel runs it on its engine thread). Cancelling stops the tasks,
deletes what they wrote and commits nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.storage import is_remote
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import (
    Cancelled,
    EmbedderMismatchError,
    FastaFormatError,
    GenoCatError,
    InputError,
    StorageError,
)
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, RateMeter, no_progress
from genocat_desktop.engine.embed.embedders import base as embedders
from genocat_desktop.engine.ingest.fasta import (
    FASTA_SUFFIXES,
    MOL_DNA,
    MOL_PROTEIN,
    MOL_RNA,
    FastaReader,
    RecordIssue,
    is_fasta_name,
    split_title,
)
from genocat_desktop.engine.ingest.importer import (
    MAX_ISSUES,
    FileReport,
    _FragmentWriter,
    _Issues,
    _rows,
    _Scan,
    rewrite_aliases,
)

__all__ = [
    "ENGINES",
    "IngestPlan",
    "IngestReport",
    "Part",
    "cleanup_orphans",
    "ingest",
    "plan_ingest",
    "ray_available",
]

#: The engines :func:`ingest` can run on.
ENGINES: Final = ("local", "ray")
#: How :func:`ingest` deduplicates: all hashes on the driver, or hash partitions decided by tasks.
DEDUP_MODES: Final = ("driver", "partitioned")
#: Uncompressed files larger than this are cut into byte ranges of about this size.
DEFAULT_PART_BYTES: Final = 32 << 20
#: Rows per Lance data file written by a task (one fragment per file).
ROWS_PER_FILE: Final = 1 << 20
#: Where ingest leases live, next to the table (``<catalog>/_genocat/leases``).
LEASE_DIR: Final = "_genocat/leases"
#: A lease older than this is considered dead (its ingest crashed without removing it).
LEASE_TTL: Final = timedelta(hours=24)


def ray_available() -> bool:
    """Whether the optional Ray extra is installed (``pip install 'genocat-desktop[ray]'``)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


# ============================================================================ plan
@dataclass(frozen=True, slots=True)
class Part:
    """A piece of work: a whole file, or the byte range ``[start, end)`` of an uncompressed one."""

    index: int
    file_index: int
    path: str  # a local path, or s3://bucket/key
    start: int = 0
    end: int | None = None  # None: to the end of the file (the whole file)
    length: int | None = None  # the object's size, for s3:// inputs (listed once by the planner)

    @property
    def size(self) -> int:
        """Bytes of the file this part reads (the whole file's size on disk if ``end`` is ``None``)."""
        if self.end is not None:
            return self.end - self.start
        total = self.length if self.length is not None else os.path.getsize(self.path)
        return total - self.start

    @property
    def remote(self) -> bool:
        """Whether the part is read from object storage."""
        return is_remote(self.path)

    def describe(self) -> str:
        """``file.fa`` or ``file.fa [bytes 0-33554432]``."""
        if self.end is None:
            return self.path
        return f"{self.path} [bytes {self.start:,}-{self.end:,}]"


@dataclass(slots=True)
class IngestPlan:
    """The inputs and their parts, in input order."""

    files: list[str]
    parts: list[Part]
    errors: dict[int, str] = field(default_factory=dict)  # file index -> why it cannot be read

    @property
    def bytes(self) -> int:
        """Bytes on disk of all readable parts."""
        return sum(p.size for p in self.parts)




def _expand_remote(uri: str, options: dict[str, str] | None, sizes: dict[str, int]) -> list[str]:
    """The FASTA objects under ``s3://bucket/prefix`` (sorted by key), or the one object it names."""
    import pyarrow.fs as pafs

    fs = _s3_filesystem(options or {})
    scheme, _, rest = uri.partition("://")
    key = rest.rstrip("/")
    if not key:
        raise InputError(f"{uri}: no bucket name (write s3://BUCKET/prefix/)")
    try:
        info = fs.get_file_info(key)
        if info.type == pafs.FileType.File and not uri.endswith("/"):
            sizes[uri] = int(info.size or 0)
            return [uri]
        listed = fs.get_file_info(pafs.FileSelector(key, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise StorageError(f"cannot list {uri}: {exc}") from None
    found = sorted(
        (i.path, int(i.size or 0)) for i in listed
        if i.type == pafs.FileType.File and is_fasta_name(i.base_name)
    )
    if not found:
        raise InputError(f"{uri}: no FASTA objects ({', '.join(FASTA_SUFFIXES)}, maybe compressed) under it")
    out = []
    for path, size in found:
        name = f"{scheme}://{path}"
        sizes[name] = size
        out.append(name)
    return out


def _expand(
    inputs: Sequence[str | os.PathLike[str]], options: dict[str, str] | None = None,
    sizes: dict[str, int] | None = None,
) -> list[str]:
    files: list[str] = []
    sizes = {} if sizes is None else sizes
    for item in inputs:
        text = os.fspath(item)
        if is_remote(text):
            files.extend(_expand_remote(text, options, sizes))
            continue
        if "://" in text and not text.startswith("file://"):
            raise InputError(f"{text}: only local files and folders and s3:// locations can be ingested")
        path = Path(text.removeprefix("file://")).expanduser()
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and is_fasta_name(p.name))
            if not found:
                raise InputError(f"{path}: no FASTA files ({', '.join(FASTA_SUFFIXES)}, maybe compressed) in it")
            files.extend(found)
        else:
            files.append(str(path))
    return files


def plan_ingest(
    inputs: Sequence[str | os.PathLike[str]], *, part_bytes: int = DEFAULT_PART_BYTES,
    input_options: dict[str, str] | None = None,
) -> IngestPlan:
    """Cut the inputs into parts.

    Parameters
    ----------
    inputs
        FASTA files, folders (every FASTA file below them, sorted by path), or
        ``s3://bucket/prefix`` locations (every FASTA object under them, sorted by key).
    part_bytes
        Target size of a part. Uncompressed UTF-8 files larger than this are cut
        into byte ranges that start at a ``>`` header; compressed files cannot be
        cut and are one part each (an S3 object is then read whole).
    input_options
        Storage options (Lance's keys, as :func:`~genocat_desktop.engine.catalog.storage.storage_options`
        builds them) for ``s3://`` inputs.

    Raises
    ------
    InputError
        If a folder or prefix has no FASTA file.
    StorageError
        If an ``s3://`` prefix cannot be listed.
    """
    from genocat_desktop.engine.ingest.fasta import sniff

    sizes: dict[str, int] = {}
    files = _expand(inputs, input_options, sizes)
    parts: list[Part] = []
    errors: dict[int, str] = {}
    for fi, path in enumerate(files):
        if path in sizes:
            _plan_remote(path, sizes[path], fi, part_bytes, input_options or {}, parts, errors)
            continue
        try:
            info = sniff(path)
        except FastaFormatError as exc:
            errors[fi] = exc.reason
            continue
        if info.compression != "none" or info.encoding == "utf-16" or info.size <= part_bytes:
            parts.append(Part(len(parts), fi, path))
            continue
        cuts = _record_boundaries(path, info.size, max(1, round(info.size / part_bytes)))
        for start, end in zip([0, *cuts], [*cuts, info.size], strict=True):
            parts.append(Part(len(parts), fi, path, start, end))
    return IngestPlan(files, parts, errors)


def _plan_remote(uri: str, size: int, fi: int, part_bytes: int, options: dict[str, str], parts: list[Part],
                 errors: dict[int, str]) -> None:
    """Parts of one S3 object: compressed objects whole, large plain ones cut at ``>`` headers.

    Only the first bytes are read here (compression magic); whether the content is
    FASTA is decided by the scan task, which reports a bad object as a file error.
    """
    from genocat_desktop.engine.ingest.fasta import _detect_compression

    if size == 0:
        errors[fi] = "the file is empty; there are no sequences to import"
        return
    fs = _s3_filesystem(options)
    key = uri.split("://", 1)[1]
    try:
        with fs.open_input_file(key) as f:
            magic = f.read_at(8, 0)
            compression = _detect_compression(magic, uri)
            if compression != "none" or size <= part_bytes or magic.startswith((b"\xff\xfe", b"\xfe\xff")):
                parts.append(Part(len(parts), fi, uri, length=size))
                return
            cuts = _record_boundaries(f, size, max(1, round(size / part_bytes)))
    except FastaFormatError as exc:
        errors[fi] = exc.reason
        return
    except OSError as exc:
        raise StorageError(f"cannot read {uri}: {exc}") from None
    for start, end in zip([0, *cuts], [*cuts, size], strict=True):
        parts.append(Part(len(parts), fi, uri, start, end, length=size))


def _record_boundaries(path: str | Any, size: int, pieces: int) -> list[int]:
    """Offsets near ``k * size / pieces`` where a line starting with ``>`` begins (sorted, unique).

    ``path`` is a local file, or an open seekable file (an S3 object opened by pyarrow).
    """
    cuts: list[int] = []
    with open(path, "rb") if isinstance(path, str) else contextlib.nullcontext(path) as f:
        for k in range(1, pieces):
            pos = max(k * size // pieces, (cuts[-1] + 1) if cuts else 1)
            f.seek(pos - 1)
            carry = b""
            found = -1
            while True:
                block = f.read(1 << 20)
                if not block:
                    break
                buf = carry + block
                i = buf.find(b"\n>")
                if i >= 0:
                    found = pos - 1 + i + 1 - len(carry)
                    break
                carry = buf[-1:]
                pos += len(block)
            if found < 0 or found >= size:
                break
            if not cuts or found > cuts[-1]:
                cuts.append(found)
    return cuts


# ============================================================================ tasks (run in workers)
class _Range(io.RawIOBase):
    """A read-only window ``[start, end)`` of a file that counts the line feeds it hands out."""

    def __init__(self, raw: Any, length: int) -> None:
        self.raw = raw
        self.left = length
        self.newlines = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        if n <= 0:
            return 0
        data = self.raw.read(n)
        buffer[: len(data)] = data
        self.left -= len(data)
        self.newlines += data.count(b"\n")
        return len(data)


class _PartReader(FastaReader):
    """A :class:`FastaReader` over one part: record and line numbers are counted from the part's start."""

    def __init__(self, part: Part, strip_gaps: bool) -> None:
        super().__init__(part.path, strip_gaps=strip_gaps)
        self.part = part
        self.newlines = 0
        if part.start > 0:
            self.file_issues = []  # the text-before-the-first-header warning belongs to the first part

    def __iter__(self) -> Iterator[Any]:
        part = self.part
        if part.end is None:
            yield from super().__iter__()
            return
        from genocat_desktop.engine.ingest.fasta import _Comments  # the same comment handling as whole files

        with open(self.path, "rb") as raw:
            raw.seek(part.start)
            window = _Range(raw, part.end - part.start)
            self._raw = raw
            comments = _Comments()
            yield from self._byte_batches(io.BufferedReader(window, 1 << 20), comments)
            self.newlines = window.newlines
            self.bytes_read = raw.tell()
        if comments.count:
            self.file_issues.append(
                RecordIssue(
                    None, comments.first, "", f"{comments.count:,} comment line(s) starting with ';' were ignored"
                )
            )


@contextlib.contextmanager
def _readable(part: Part, options: dict[str, str] | None) -> Iterator[Part]:
    """The part itself, or for an S3 object a local copy of its bytes (a ranged read) as a part.

    The FASTA reader works on local files; a part is at most ``part_bytes`` (or one
    compressed object), so a temporary copy bounds neither memory nor disk by much.
    """
    if not part.remote:
        yield part
        return
    import tempfile

    fs = _s3_filesystem(options or {})
    key = part.path.split("://", 1)[1]
    suffix = "".join(Path(key).suffixes[-2:])
    with tempfile.NamedTemporaryFile(prefix="genocat-part-", suffix=suffix) as tmp:
        try:
            with fs.open_input_file(key) as src:
                end = part.end if part.end is not None else part.size + part.start
                pos = part.start
                while pos < end:
                    chunk = src.read_at(min(8 << 20, end - pos), pos)
                    if not chunk:
                        raise StorageError(f"{part.path}: the object ended at byte {pos:,}; it changed or is "
                                           "being rewritten")
                    tmp.write(chunk)
                    pos += len(chunk)
        except OSError as exc:
            raise StorageError(f"cannot read {part.describe()}: {exc}") from None
        tmp.flush()
        length = (part.end - part.start) if part.end is not None else None
        yield Part(part.index, part.file_index, tmp.name, 0, length)


@dataclass(slots=True)
class _ScanTask:
    part: Part
    strip_gaps: bool
    fault: dict[str, Any] | None = None
    input_options: dict[str, str] | None = None
    spill: tuple[Any, int] | None = None  # (SpillArea, partitions): hash-partitioned deduplication


@dataclass(slots=True)
class _ScanResult:
    part: int
    hashes: np.ndarray  # S32, valid records in order
    ids: pa.Array  # strings; "" for a header without an identifier (named by the driver)
    numbers: list[int]  # part-local record numbers of those unnamed records, in order
    records: int
    mol_counts: np.ndarray
    issues: list[RecordIssue]
    issue_count: int
    skipped: int
    lines: int  # line feeds in the part (to number the lines of later parts)
    digest: str  # MD5 of the hashes: the write pass checks the part did not change
    error: str | None = None
    seconds: float = 0.0
    valid: int = -1  # valid records when their hashes were spilled (``hashes`` is then empty)
    unnamed: list[int] = field(default_factory=list)  # positions (among valid records) of unnamed ones


def _scan_part(task: _ScanTask) -> _ScanResult:
    """Pass 1 over one part: check, hash, collect identifiers. Writes nothing."""
    started = time.perf_counter()
    part = task.part
    _maybe_fault(task.fault, "scan", part)
    hashes: list[np.ndarray] = []
    ids: list[str] = []
    numbers: list[int] = []
    unnamed: list[int] = []
    issues: list[RecordIssue] = []
    issue_count = skipped = 0
    mol_counts = np.zeros(4, dtype=np.int64)
    digest = hashlib.md5()
    try:
        with _readable(part, task.input_options) as local:
            reader = _PartReader(local, task.strip_gaps)
            for batch in reader:
                hashes.append(batch.hashes)
                digest.update(batch.hashes.tobytes())
                for number, title in zip(batch.numbers.tolist(), batch.titles, strict=True):
                    ident = split_title(title)[0]
                    if not ident:
                        numbers.append(number)
                        unnamed.append(len(ids))
                    ids.append(ident)
                mol_counts += np.bincount(batch.molecule, minlength=4)
                skipped += batch.skipped
                issue_count += len(batch.issues)
                issues.extend(batch.issues[: max(0, MAX_ISSUES - len(issues))])
            issue_count += len(reader.file_issues)
            issues.extend(reader.file_issues[: max(0, MAX_ISSUES - len(issues))])
    except FastaFormatError as exc:
        return _ScanResult(part.index, np.empty(0, "S32"), pa.array([], pa.string()), [], 0, mol_counts, [], 0, 0,
                           0, "",
                           _located(exc, part), time.perf_counter() - started)
    h = np.concatenate(hashes) if hashes else np.empty(0, dtype="S32")
    lines = reader.newlines if part.end is not None else 0
    # Arrow strings: ~20 bytes per identifier on the driver instead of ~80 for Python strings.
    id_array = pa.array(ids, pa.string())
    valid = -1
    if task.spill is not None:  # hashes and identifiers go to the partitions, not to the driver
        from genocat_desktop.engine.ingest.distributed.dedup import spill_records

        area, partitions = task.spill
        spill_records(area, partitions, part.index, h, id_array, numbers, unnamed)
        valid, h, id_array = h.size, np.empty(0, "S32"), pa.array([], pa.string())
    return _ScanResult(part.index, h, id_array, numbers, reader.records, mol_counts, issues,
                       issue_count, skipped,
                       lines, digest.hexdigest(), None, time.perf_counter() - started, valid, unnamed)


def _located(exc: FastaFormatError, part: Part) -> str:
    if part.start and exc.line is not None:
        return f"{exc.reason} (line {exc.line:,} of the part starting at byte {part.start:,})"
    return exc.reason


@dataclass(slots=True)
class _WriteTask:
    part: Part
    strip_gaps: bool
    uri: str
    schema: pa.Schema
    storage_options: dict[str, str]
    embedders: dict[str, dict[str, Any]]  # vector column -> embedder record
    write: np.ndarray  # part-local indices (valid records) to write, sorted
    within: dict[int, list[str]]  # part-local index -> aliases from the same file (appended as they are)
    later: dict[int, list[str]]  # part-local index -> identifiers from later files (appended if new)
    names: dict[int, str]  # part-local index -> name given to a record without identifier
    majority: int
    source: str
    now: datetime
    digest: str
    fault: dict[str, Any] | None = None
    input_options: dict[str, str] | None = None
    decisions: tuple[Any, list[tuple[int, int]]] | None = None  # (SpillArea, (partition, batch)): read here


@dataclass(slots=True)
class _WriteResult:
    part: int
    fragments: list[Any]
    rows: int
    aliases: int  # identifiers from later files added as aliases
    seconds: float = 0.0


_EMBEDDERS: dict[str, embedders.Embedder] = {}


def _embedder(record: dict[str, Any]) -> embedders.Embedder:
    key = json.dumps(record, sort_keys=True)
    emb = _EMBEDDERS.get(key)
    if emb is None:
        emb = embedders.create(record["name"], **record.get("params", {}))
        if emb.version != record["version"] or emb.dim != record["dim"]:
            raise EmbedderMismatchError(
                f"the catalog's embedder {record['name']} is version {record['version']} (dim {record['dim']}); "
                f"this worker has version {emb.version} (dim {emb.dim}): install the same GenoCat on every worker"
            )
        _EMBEDDERS[key] = emb
    return emb


def _write_part(task: _WriteTask) -> _WriteResult:
    """Pass 2 over one part: build the new rows and write them as uncommitted fragments."""
    started = time.perf_counter()
    part = task.part
    embedder_objs = {col: _embedder(rec) for col, rec in task.embedders.items()}
    if task.decisions is not None:  # hash-partitioned deduplication: this part's decisions are in the spill area
        from genocat_desktop.engine.ingest.distributed.dedup import load_decisions

        d = load_decisions(*task.decisions)
        task.write, task.within, task.later = d.write, d.within, d.later
    with _readable(part, task.input_options) as local:
        return _write_local(task, local, embedder_objs, started)


def _write_local(task: _WriteTask, local: Part, embedder_objs: dict[str, embedders.Embedder],
                 started: float) -> _WriteResult:
    # The function from the submodule itself: in Ray workers the `lance` package was twice seen without
    # its `fragment` attribute ("module 'lance' has no attribute 'fragment'", CI runs), once after
    # `import lance` and once after `import lance.fragment`; `from … import` reads sys.modules instead.
    from lance.fragment import write_fragments

    part = task.part
    reader = _PartReader(local, task.strip_gaps)
    digest = hashlib.md5()
    written = aliases = 0
    # _rows reads identifiers as scan.ids[pos + j], part-local.
    scan = _Scan(np.empty(0, "S32"), [], np.zeros(4, np.int64), 0)

    def tables() -> Iterator[pa.RecordBatch]:
        nonlocal written, aliases
        pos = 0
        for batch in reader:
            n = len(batch)
            digest.update(batch.hashes.tobytes())
            scan.ids.extend(split_title(t)[0] or task.names.get(pos + j, "") for j, t in enumerate(batch.titles))
            lo, hi = np.searchsorted(task.write, [pos, pos + n])
            sel = task.write[lo:hi] - pos
            if sel.size:
                table = _rows(batch, sel, pos, scan, task.within, task.majority, task.source, task.now,
                              embedder_objs, task.schema)
                if task.later:
                    table, added = _add_later_aliases(table, sel + pos, task.later)
                    aliases += added
                written += table.num_rows
                yield from table.to_batches()
            pos += n
        if digest.hexdigest() != task.digest:
            raise FastaFormatError(part.path, "the file changed while it was being ingested; ingest it again")

    stream = pa.RecordBatchReader.from_batches(task.schema, tables())
    try:
        fragments = write_fragments(
            stream, task.uri, schema=task.schema, storage_options=task.storage_options or None,
            max_rows_per_file=ROWS_PER_FILE,
        )
    except OSError as exc:
        raise StorageError(f"could not write to {task.uri}: {exc}") from None
    _maybe_fault(task.fault, "write", part)
    return _WriteResult(part.index, list(fragments), written, aliases, time.perf_counter() - started)


def _add_later_aliases(
    table: pa.Table, index: np.ndarray, later: dict[int, list[str]]
) -> tuple[pa.Table, int]:
    """Append identifiers from later files to ``aliases`` (those the row does not have), as a re-import would."""
    hits = [r for r, i in enumerate(index.tolist()) if i in later]
    if not hits:
        return table, 0
    added = 0
    aliases = table.column("aliases").to_pylist()
    ids = table.column("id").to_pylist()
    for r in hits:
        known = {ids[r], *(aliases[r] or [])}
        extra = [x for x in dict.fromkeys(later[int(index[r])]) if x not in known]
        if extra:
            aliases[r] = list(aliases[r] or []) + extra
            added += len(extra)
    col = table.schema.get_field_index("aliases")
    return table.set_column(col, table.schema.field(col), pa.array(aliases, table.schema.field(col).type)), added


def _maybe_fault(fault: dict[str, Any] | None, step: str, part: Part) -> None:
    """Crash this worker process on purpose (tests of failure handling only)."""
    if not fault or fault.get("step") != step or fault.get("part", part.index) != part.index:
        return
    marker = fault.get("once")
    if marker:
        try:
            with open(marker, "x"):
                pass
        except FileExistsError:
            return  # crashed once already: this is the retry
    os._exit(17)


def _catalog_map_task(args: tuple[Any, int, int, list[int], int]) -> int:
    """Spill the catalog's hashes (some fragments) into the hash partitions."""
    from genocat_desktop.engine.ingest.distributed.dedup import spill_catalog

    return spill_catalog(*args)


def _reduce_task(args: tuple[Any, int, np.ndarray, np.ndarray, list[str], int]) -> Any:
    """Decide one hash partition."""
    from genocat_desktop.engine.ingest.distributed.dedup import reduce_partition

    return reduce_partition(*args)


# ============================================================================ runners
class _Runner(Protocol):
    name: str
    workers: int

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any: ...
    def wait(self, handles: list[Any], timeout: float) -> list[Any]: ...
    def result(self, handle: Any) -> Any: ...
    def cancel(self, handles: list[Any]) -> None: ...
    def close(self) -> None: ...


class _InlineRunner:
    """Runs tasks in this process, one at a time (``workers=0``: tests, debugging, one core)."""

    name = "inline"
    workers = 1

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        from concurrent.futures import Future

        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(arg))
        except BaseException as exc:  # handed to the driver like a worker's error
            fut.set_exception(exc)
        return fut

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        return list(handles)

    def result(self, handle: Any) -> Any:
        return handle.result()

    def cancel(self, handles: list[Any]) -> None:
        pass

    def close(self) -> None:
        pass


class _PoolRunner:
    """A pool of ``spawn``-started processes on this machine (forking after importing Lance can hang)."""

    name = "local"

    def __init__(self, workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return self._pool.submit(fn, arg)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return [h for h in handles if h in done]

    def result(self, handle: Any) -> Any:
        return handle.result()

    def cancel(self, handles: list[Any]) -> None:
        for h in handles:
            h.cancel()  # queued tasks never start; running ones finish their part (seconds)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _ray_worker_setup() -> None:
    """Import Lance whole in each Ray worker process, before its first task runs.

    A failed part makes the driver cancel the others (``ray.cancel``), and Ray stops a running task
    by raising ``KeyboardInterrupt`` in it. If that task was importing Lance for the first time, the
    package stays half-initialised in that worker process, which Ray goes on using: every later task
    there failed with "module 'lance.dataset' has no attribute 'LanceDataset'" (CI, after the
    crash test cancelled its sibling tasks). No task runs while this hook does, so none can be
    interrupted mid-import.
    """
    import lance
    import lance.dataset
    import lance.fragment  # noqa: F401


#: The runtime environment of the Ray jobs this engine starts (the tests' Ray uses it too). The hook
#: is named by its import path: ``ray.init`` replaces a function there with such a path, in place.
RAY_RUNTIME_ENV: Final[dict[str, Any]] = {"worker_process_setup_hook": f"{__name__}._ray_worker_setup"}


class _RayRunner:
    """Ray tasks on a cluster (``address``) or on a Ray started here for the ingest."""

    name = "ray"

    def __init__(self, address: str | None, workers: int | None, retries: int) -> None:
        try:
            import ray
        except ImportError:
            raise InputError("the ray engine needs the Ray extra: pip install 'genocat-desktop[ray]'") from None
        self.ray = ray
        self._owned = False
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            kwargs: dict[str, Any] = {"address": address, "logging_level": "error", "log_to_driver": False,
                                      "runtime_env": dict(RAY_RUNTIME_ENV)}
            if address in (None, "local"):
                kwargs.update(address=None, num_cpus=workers or os.cpu_count(), include_dashboard=False,
                              object_store_memory=512 << 20)
            try:
                with warnings.catch_warnings():
                    # Ray starts its daemons with subprocess (fork + exec at once): Lance's and LanceDB's
                    # fork-safety warnings do not apply to them.
                    warnings.filterwarnings("ignore", message=".*fork", category=UserWarning)
                    warnings.filterwarnings("ignore", message=".*fork", category=RuntimeWarning)
                    ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
            self._owned = True
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._options = {"max_retries": retries, "retry_exceptions": False, "num_cpus": 1}
        self._remote: dict[Callable[[Any], Any], Any] = {}

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self.ray.remote(fn).options(**self._options)
        return remote.remote(arg)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        done, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        if done:  # take everything that is ready, not just one
            done, _ = self.ray.wait(handles, num_returns=len(handles), timeout=0)
        return list(done)

    def result(self, handle: Any) -> Any:
        return self.ray.get(handle)

    def cancel(self, handles: list[Any]) -> None:
        for h in handles:
            with contextlib.suppress(Exception):
                self.ray.cancel(h, force=False)

    def close(self) -> None:
        if self._owned:
            self.ray.shutdown()


def _runner(engine: str, workers: int | None, address: str | None, retries: int) -> _Runner:
    if engine == "local":
        n = (os.cpu_count() or 1) if workers is None else workers
        return _InlineRunner() if n == 0 else _PoolRunner(n)
    if engine == "ray":
        return _RayRunner(address, workers, retries)
    raise InputError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")


# ============================================================================ driver
@dataclass(slots=True)
class IngestReport:
    """The outcome of :func:`ingest`.

    ``committed`` is true when the ingest's rows were published (or nothing was
    new); ``version`` is then the catalog version holding them. On failure
    ``error`` says why and ``failed_parts`` names the inputs whose tasks failed;
    the catalog is unchanged.
    """

    engine: str
    workers: int
    files: list[FileReport] = field(default_factory=list)
    parts: int = 0
    committed: bool = False
    version: int | None = None
    cancelled: bool = False
    error: str | None = None
    failed_parts: list[str] = field(default_factory=list)
    aliases_added: int = 0
    bytes: int = 0
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def imported(self) -> int:
        """New rows over all files (0 unless committed)."""
        return sum(f.imported for f in self.files) if self.committed else 0

    @property
    def records(self) -> int:
        """Records read over all files."""
        return sum(f.records for f in self.files)

    @property
    def failed(self) -> list[FileReport]:
        """Files that were rejected."""
        return [f for f in self.files if not f.ok]

    @property
    def rate(self) -> float:
        """Records per second over the whole ingest."""
        return self.records / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "engine": self.engine, "workers": self.workers, "parts": self.parts, "committed": self.committed,
            "version": self.version, "cancelled": self.cancelled, "error": self.error,
            "failed_parts": self.failed_parts, "records": self.records, "imported": self.imported,
            "aliases_added": self.aliases_added, "bytes": self.bytes, "seconds": round(self.seconds, 3),
            "records_per_second": round(self.rate, 1),
            "phase_seconds": {k: round(v, 3) for k, v in self.phase_seconds.items()},
            "files": [
                {"path": f.path, "records": f.records, "imported": f.imported if self.committed else 0,
                 "duplicates_in_file": f.duplicates_in_file, "already_in_catalog": f.already_in_catalog,
                 "skipped": f.skipped, "warnings": f.warnings, "error": f.error,
                 "issues": [str(i) for i in f.issues]}
                for f in self.files
            ],
        }


class _Failed(Exception):
    def __init__(self, message: str, parts: list[str]) -> None:
        super().__init__(message)
        self.parts = parts


def ingest(
    catalog: Catalog,
    inputs: Sequence[str | os.PathLike[str]],
    *,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    retries: int = 2,
    part_bytes: int = DEFAULT_PART_BYTES,
    strip_gaps: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    input_options: Mapping[str, str] | None = None,
    dedup: str = "driver",
    partitions: int | None = None,
    _fault: dict[str, Any] | None = None,
) -> IngestReport:
    """Ingest FASTA files with parallel tasks and publish them in one commit.

    Parameters
    ----------
    catalog
        Where to ingest: a folder or an ``s3://`` catalog that every worker can reach.
    inputs
        FASTA files or folders of them, or ``s3://bucket/prefix`` locations (every
        FASTA object under them, plain or compressed). Workers read local inputs by
        path (on a cluster: a file system every node mounts) and S3 objects with
        ranged reads.
    engine
        ``"local"``: processes on this machine (``workers``, default one per
        core; ``0`` runs in this process). ``"ray"``: Ray tasks.
    workers
        Local processes, or CPUs of a Ray started here; ignored with ``address``.
    address
        A Ray cluster (``"auto"``, ``"ray://head:10001"``); ``None`` starts one here.
    retries
        Ray retries of a task whose worker died (``0``: a crash fails the ingest).
    part_bytes
        Size of the byte ranges large uncompressed files are cut into.
    strip_gaps
        Remove alignment gaps instead of rejecting aligned files.
    progress, cancel
        As for every long engine job. Cancelling commits nothing.
    input_options
        Storage options for ``s3://`` inputs (Lance's keys, see
        :func:`~genocat_desktop.engine.catalog.storage.storage_options`). Default: the
        catalog's own when it is on S3 (the same store and credentials), else
        those the environment, keyring or AWS profile give for the first input's bucket.
    dedup
        ``"driver"``: the driver deduplicates every hash in memory (~310 bytes per
        record). ``"partitioned"``: tasks spill hashes to ``partitions`` hash
        partitions under the catalog's storage and reduce tasks decide them
        (:mod:`~genocat_desktop.engine.ingest.distributed.dedup`): driver memory independent of the
        number of records. Both give the same rows, aliases and counts.
    partitions
        Hash partitions of ``dedup="partitioned"`` (default
        :data:`~genocat_desktop.engine.ingest.distributed.dedup.DEFAULT_PARTITIONS`).

    Returns
    -------
    IngestReport
        Per-file reports, the version committed, or the failure and its inputs.
    """
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    options = _input_options(catalog, inputs, input_options)
    plan = plan_ingest(inputs, part_bytes=part_bytes, input_options=options)
    runner = _runner(engine, workers, address, retries)
    report = IngestReport(runner.name, runner.workers, [FileReport(f) for f in plan.files], len(plan.parts),
                          bytes=plan.bytes)
    for fi, reason in plan.errors.items():
        report.files[fi].error = reason
    if dedup not in DEDUP_MODES:
        runner.close()
        raise InputError(f"unknown deduplication {dedup!r}; use one of {', '.join(DEDUP_MODES)}")
    spill: tuple[Any, int] | None = None
    if dedup == "partitioned":
        from genocat_desktop.engine.ingest.distributed.dedup import DEFAULT_PARTITIONS, SpillArea

        spill = (SpillArea.new(catalog.uri, dict(catalog.storage_options)), max(1, partitions or DEFAULT_PARTITIONS))
    lease = _Lease(catalog)
    written: list[_WriteResult] = []
    try:
        lease.take()
        _run(catalog, plan, runner, report, written, strip_gaps, progress, cancel, _fault, options, spill)
    except Cancelled:
        report.cancelled = True
        report.error = "cancelled; nothing was committed"
    except _Failed as exc:
        report.error = str(exc)
        report.failed_parts = exc.parts
    except GenoCatError as exc:
        report.error = str(exc)
    finally:
        runner.close()
        if not report.committed:
            _discard(catalog, [f for w in written for f in w.fragments])
        if spill is not None:
            spill[0].remove()
        lease.release()
        report.seconds = time.perf_counter() - started
    progress(Progress(1, 1, "parts", "done", _summary(report)))
    return report


def _input_options(
    catalog: Catalog, inputs: Sequence[str | os.PathLike[str]], given: Mapping[str, str] | None
) -> dict[str, str] | None:
    remote = [os.fspath(i) for i in inputs if is_remote(os.fspath(i))]
    if not remote:
        return None
    if given is not None:
        return dict(given)
    if is_remote(catalog.uri):
        return dict(catalog.storage_options)
    from genocat_desktop.engine.catalog.storage import storage_options

    return dict(storage_options(remote[0]))


def _summary(report: IngestReport) -> str:
    if report.error:
        return f"ingest failed: {report.error}"
    return (f"ingested {report.records:,} records from {len(report.files)} file(s): {report.imported:,} new "
            f"in {report.seconds:.1f} s ({report.rate:,.0f} records/s, {report.engine}, {report.workers} workers)")


def _gather(
    runner: _Runner, handles: dict[Any, Part], on_result: Callable[[Part, Any], None], cancel: CancelToken
) -> None:
    """Wait for every task; fail with the parts whose tasks failed (after the others end)."""
    pending = list(handles)
    failures: list[tuple[Part, str]] = []
    while pending:
        if cancel.cancelled:
            runner.cancel(pending)
            _drain(runner, pending, handles, on_result)
            raise Cancelled()
        for h in runner.wait(pending, 0.1):
            pending.remove(h)
            part = handles[h]
            try:
                value = runner.result(h)
            except Exception as exc:
                if "Cancel" in type(exc).__name__:
                    continue  # stopped by us after another part failed
                failures.append((part, _task_error(exc)))
                if not failures[1:]:
                    runner.cancel(pending)  # no point going on: nothing will be committed
                continue
            on_result(part, value)
    if failures:
        failures.sort(key=lambda f: f[0].index)
        part, why = failures[0]
        more = f" ({len(failures) - 1} other part(s) failed too)" if len(failures) > 1 else ""
        raise _Failed(f"{part.describe()}: {why}{more}", [p.describe() for p, _ in failures])


def _drain(
    runner: _Runner, pending: list[Any], handles: dict[Any, Part], on_result: Callable[[Part, Any], None]
) -> None:
    """After a cancel: wait for the tasks still running, keeping what they wrote (to delete it)."""
    for h in pending:
        with contextlib.suppress(Exception):
            on_result(handles[h], runner.result(h))


def _task_error(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, GenoCatError):
        return str(cause)
    if isinstance(exc, GenoCatError):
        return str(exc)
    name = type(exc).__name__
    if "BrokenProcessPool" in name or "WorkerCrashed" in name or "NodeDied" in name or "ActorDied" in name:
        return "the worker process died (crash, out of memory or killed)"
    first = (str(exc).strip().splitlines() or [name])[-1]
    return f"{name}: {first[:300]}"


def _run(
    catalog: Catalog,
    plan: IngestPlan,
    runner: _Runner,
    report: IngestReport,
    written: list[_WriteResult],
    strip_gaps: bool,
    progress: ProgressCallback,
    cancel: CancelToken,
    fault: dict[str, Any] | None,
    input_options: dict[str, str] | None,
    spill: tuple[Any, int] | None = None,
) -> None:
    phases = report.phase_seconds
    who = f"{runner.name}, {runner.workers} worker(s)"

    # ---- pass 1: scan every part
    t = time.perf_counter()
    scans: dict[int, _ScanResult] = {}
    meter = RateMeter()
    done_bytes = 0
    records = 0

    parts_left: dict[int, int] = defaultdict(int)  # file -> parts not scanned yet (to count finished files)
    for p in plan.parts:
        parts_left[p.file_index] += 1
    files_done = 0

    def scanned(part: Part, res: _ScanResult) -> None:
        nonlocal done_bytes, records, files_done
        scans[part.index] = res
        done_bytes += part.size
        records += res.records
        parts_left[part.file_index] -= 1
        files_done += parts_left[part.file_index] == 0
        rate = meter.update(records)
        progress(Progress(done_bytes, plan.bytes, "bytes", "checking",
                          f"Checking {len(scans)}/{len(plan.parts)} parts, {files_done}/{len(parts_left)} files "
                          f"({who}): {records:,} records" + (f", {rate:,.0f}/s" if rate else ""), rate))

    handles = {runner.submit(_scan_part, _ScanTask(p, strip_gaps, fault, input_options, spill)): p
               for p in plan.parts}
    _gather(runner, handles, scanned, cancel)
    phases["scan"] = time.perf_counter() - t

    # ---- deduplicate on the driver
    t = time.perf_counter()
    progress(Progress(0, None, "records", "deduplicating", f"Deduplicating {records:,} records"))
    read_version = catalog.refresh()
    files = _assemble(plan, scans, report)
    sources: dict[int, list[tuple[int, int]]] = {}
    if spill is None:
        dedup = _deduplicate(catalog, list(files.values()), report)
    else:
        dedup, sources = _deduplicate_partitioned(catalog, read_version, plan, files, report, runner, spill, cancel)
    phases["dedup"] = time.perf_counter() - t
    cancel.raise_if_cancelled()

    # ---- pass 2: write the new rows
    t = time.perf_counter()
    schema = catalog.schema
    columns = catalog.vector_columns()
    for col in columns:
        catalog.embedder(col)  # fail here, not in every task, if this GenoCat lacks the embedder
    now = datetime.now(UTC)
    total = sum(int(w.size) for w in dedup.write.values()) if spill is None else dedup.total
    meter = RateMeter()
    rows = 0

    def wrote(part: Part, res: _WriteResult) -> None:
        nonlocal rows
        written.append(res)
        rows += res.rows
        rate = meter.update(rows)
        progress(Progress(rows, total, "sequences", "writing",
                          f"Writing {len(written)}/{len(dedup.write)} parts ({who}): {rows:,} new sequences"
                          + (f", {rate:,.0f}/s" if rate else ""), rate))

    tasks = {}
    for part in plan.parts:
        idx = dedup.write.get(part.index)
        if idx is None:
            continue
        fa = files[part.file_index]
        tasks[runner.submit(_write_part, _WriteTask(
            part, strip_gaps, catalog.uri, schema, dict(catalog.storage_options), columns, idx,
            dedup.within.get(part.index, {}), dedup.later.get(part.index, {}), fa.names.get(part.index, {}),
            fa.majority, Path(part.path).name, now, scans[part.index].digest, fault, input_options,
            (spill[0], sources[part.index]) if spill is not None else None,
        ))] = part
    _gather(runner, tasks, wrote, cancel)
    phases["write"] = time.perf_counter() - t

    # ---- commit once
    t = time.perf_counter()
    cancel.raise_if_cancelled()
    written.sort(key=lambda w: w.part)
    fragments = [f for w in written for f in w.fragments]
    writer = _FragmentWriter(catalog)
    try:
        updated, removed, alias_rows, added = (
            rewrite_aliases(catalog, dedup.catalog_aliases, writer) if dedup.catalog_aliases else ([], [], 0, 0)
        )
        report.aliases_added = added + sum(w.aliases for w in written)
        new = fragments + writer.fragments
        imported = sum(f.imported for f in report.files)
        if not new and not updated and not removed:
            report.version = read_version
            report.committed = True
            return
        cancel.raise_if_cancelled()
        import lance

        op: Any
        if updated or removed:
            op = lance.LanceOperation.Update(removed_fragment_ids=removed, updated_fragments=updated,
                                             new_fragments=new)
        else:
            op = lance.LanceOperation.Append(new)
        names = ", ".join(Path(f.path).name for f in report.files if f.ok)
        message = (f"ingest ({runner.name}, {len(plan.parts)} parts) {names[:200]}: {imported:,} new, "
                   f"{alias_rows:,} with new aliases")
        progress(Progress(0, None, "rows", "committing", f"Committing {imported:,} new sequences"))
        try:
            report.version = catalog.commit(op, read_version, message)
        except (RuntimeError, ValueError) as exc:  # Lance's commit conflict: another writer changed those rows
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise _Failed(f"could not commit ({first}); another writer changed the catalog, run the ingest "
                          "again", []) from None
        report.committed = True
        writer.committed = True
    finally:
        writer.close()
        if not writer.committed:
            writer.discard()
        phases["commit"] = time.perf_counter() - t
    for f in report.files:
        if f.ok:
            f.version = report.version


@dataclass(slots=True)
class _FileScan:
    index: int
    parts: list[int]  # part indices, in order
    hashes: np.ndarray
    ids: pa.Array
    offsets: list[int]  # where each part's records start in ``hashes``
    names: dict[int, dict[int, str]]  # part -> part-local index -> name for unnamed records
    majority: int
    record_bases: list[int] = field(default_factory=list)  # per part: its first record's number in the file


def _assemble(plan: IngestPlan, scans: dict[int, _ScanResult], report: IngestReport) -> dict[int, _FileScan]:
    """Join the parts of each file; number records and lines as a whole-file reading would."""
    by_file: dict[int, list[Part]] = defaultdict(list)
    for p in plan.parts:
        by_file[p.file_index].append(p)
    out: dict[int, _FileScan] = {}
    for fi, parts in by_file.items():
        fr = report.files[fi]
        errors = [scans[p.index].error for p in parts if scans[p.index].error]
        if errors:
            fr.error = errors[0]
            continue
        hashes: list[np.ndarray] = []
        ids: list[pa.Array] = []
        offsets: list[int] = []
        names: dict[int, dict[int, str]] = {}
        bases: list[int] = []
        mol = np.zeros(4, dtype=np.int64)
        record_base = line_base = 0
        pos = 0
        for p in parts:
            res = scans[p.index]
            bases.append(record_base)
            issues = [_shift(i, record_base, line_base) for i in res.issues]
            local_names: dict[int, str] = {}
            if res.numbers and res.valid >= 0:  # spilled: the positions came back, the identifiers did not
                for j, num in zip(res.unnamed, res.numbers, strict=True):
                    number = num + record_base
                    ident = local_names[j] = f"{Path(p.path).name}#{number}"
                    issues.append(RecordIssue(number, None, "", f"header has no identifier; named it {ident!r}"))
            elif res.numbers:
                unnamed = iter(res.numbers)
                part_ids = res.ids.to_pylist()
                for j, ident in enumerate(part_ids):
                    if not ident:
                        number = next(unnamed) + record_base
                        ident = part_ids[j] = local_names[j] = f"{Path(p.path).name}#{number}"
                        issues.append(RecordIssue(number, None, "", f"header has no identifier; named it {ident!r}"))
                res.ids = pa.array(part_ids, pa.string())
            names[p.index] = local_names
            fr.records += res.records
            fr.skipped += res.skipped
            fr.warnings += res.issue_count - res.skipped + len(local_names)
            room = MAX_ISSUES - len(fr.issues)
            fr.issues.extend(issues[: max(0, room)])
            mol += res.mol_counts
            hashes.append(res.hashes)
            ids.append(res.ids)
            offsets.append(pos)
            pos += res.hashes.size if res.valid < 0 else res.valid
            record_base += res.records
            line_base += res.lines
        h = np.concatenate(hashes) if hashes else np.empty(0, "S32")
        if pos == 0:
            fr.error = f"no valid record: all {fr.records:,} record(s) were skipped (see the warnings)"
            continue
        majority = MOL_DNA if mol[MOL_DNA] + mol[MOL_RNA] > mol[MOL_PROTEIN] else MOL_PROTEIN
        if majority == MOL_DNA and mol[MOL_RNA] > mol[MOL_DNA]:
            majority = MOL_RNA
        out[fi] = _FileScan(fi, [p.index for p in parts], h, pa.concat_arrays(ids), offsets, names, majority, bases)
    return {fi: out[fi] for fi in sorted(out)}


def _shift(issue: RecordIssue, records: int, lines: int) -> RecordIssue:
    if not records and not lines:
        return issue
    return RecordIssue(
        issue.record + records if issue.record is not None else None,
        issue.line + lines if issue.line is not None else None,
        issue.id, issue.message,
    )


@dataclass(slots=True)
class _Dedup:
    write: dict[int, np.ndarray]  # part -> part-local indices to write
    within: dict[int, dict[int, list[str]]]  # part -> local index -> same-file aliases
    later: dict[int, dict[int, list[str]]]  # part -> local index -> identifiers from later files
    catalog_aliases: dict[str, list[str]]  # seq_hash -> identifiers of catalog rows' sequences
    total: int = 0  # rows to write (partitioned deduplication: ``write`` then holds empty placeholders)


def _deduplicate(catalog: Catalog, files: list[_FileScan], report: IngestReport) -> _Dedup:
    """Decide, for every record of every file in input order, what a sequence of local imports would do."""
    out = _Dedup({}, {}, {}, defaultdict(list))
    if not files:
        return out
    sizes = [f.hashes.size for f in files]
    starts = np.concatenate(([0], np.cumsum(sizes)))
    hashes = np.concatenate([f.hashes for f in files])
    ids = pa.chunked_array([f.ids for f in files], pa.string())
    file_of = np.repeat(np.arange(len(files)), sizes)
    existing = catalog.existing_hashes()
    uniq, first_idx, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    first_of = first_idx[inverse]
    is_first = first_of == np.arange(hashes.size)
    in_catalog_u = np.isin(uniq, existing, assume_unique=True) if existing.size else np.zeros(uniq.size, bool)
    in_catalog = in_catalog_u[inverse]
    write = is_first & ~in_catalog

    # Where each global record lives: (part, part-local index).
    part_of = np.empty(hashes.size, dtype=np.int64)
    local_of = np.empty(hashes.size, dtype=np.int64)
    for k, f in enumerate(files):
        bounds = [*f.offsets, sizes[k]]
        for p, lo, hi in zip(f.parts, bounds[:-1], bounds[1:], strict=True):
            part_of[starts[k] + lo: starts[k] + hi] = p
            local_of[starts[k] + lo: starts[k] + hi] = np.arange(hi - lo)

    # Global order is part order, so the records to write split into parts by binary search.
    to_write = np.flatnonzero(write)
    wparts = part_of[to_write]
    for p in np.unique(wparts).tolist():
        lo, hi = np.searchsorted(wparts, [p, p + 1])
        out.write[p] = local_of[to_write[lo:hi]]

    within: dict[int, dict[str, None]] = defaultdict(dict)
    later: dict[int, list[str]] = defaultdict(list)
    same_file = file_of[first_of] == file_of
    dup = np.flatnonzero(~is_first & ~in_catalog)
    dup_ids = ids.take(pa.array(dup)).to_pylist()
    first_ids = ids.take(pa.array(first_of[dup])).to_pylist()
    for i, first, ident, first_id in zip(dup.tolist(), first_of[dup].tolist(), dup_ids, first_ids, strict=True):
        if same_file[i]:
            if ident != first_id:
                within[first][ident] = None
        else:
            later[first].append(ident)
    for first, same in within.items():
        out.within.setdefault(int(part_of[first]), {})[int(local_of[first])] = list(same)
    for first, others in later.items():
        out.later.setdefault(int(part_of[first]), {})[int(local_of[first])] = others
    # Records whose sequence the catalog has: their identifiers become aliases of the catalog's row.
    known = np.flatnonzero(in_catalog)
    for h, ident in zip(hashes[known].tolist(), ids.take(pa.array(known)).to_pylist(), strict=True):
        out.catalog_aliases[h.decode()].append(ident)

    # Per-file counts, as a sequence of local imports would report them.
    seen_before = in_catalog | (first_of < starts[file_of])
    for k, f in enumerate(files):
        fr = report.files[f.index]
        sl = slice(starts[k], starts[k + 1])
        if len(files) == 1:
            distinct, already = uniq.size, int(in_catalog_u.sum())
        else:  # distinct sequences of this file: its distinct global sequence numbers
            u_file, u_first = np.unique(inverse[sl], return_index=True)
            distinct, already = u_file.size, int(seen_before[sl][u_first].sum())
        fr.duplicates_in_file = int(sizes[k] - distinct)
        fr.already_in_catalog = already
        fr.imported = int(write[sl].sum())
        _warn_duplicate_ids(f.ids, f.hashes, fr)
    return out


def _deduplicate_partitioned(
    catalog: Catalog, read_version: int, plan: IngestPlan, files: dict[int, _FileScan], report: IngestReport,
    runner: _Runner, spill: tuple[Any, int], cancel: CancelToken,
) -> tuple[_Dedup, dict[int, list[tuple[int, int]]]]:
    """The decisions of :func:`_deduplicate`, made by catalog-map and reduce tasks over hash partitions."""
    from genocat_desktop.engine.ingest.distributed.dedup import PartitionResult, load_catalog_aliases

    area, partitions = spill
    n_parts = len(plan.parts)
    part_file = np.full(n_parts, -1, dtype=np.int64)
    part_base = np.zeros(n_parts, dtype=np.int64)
    for fi, f in files.items():
        for p, base in zip(f.parts, f.record_bases, strict=True):
            part_file[p], part_base[p] = fi, base
    names = [Path(p.path).name for p in plan.parts]

    # The catalog's hashes (at the version read) into the partitions: ~8 fragments per task.
    fragments = [f.fragment_id for f in catalog.dataset(read_version).get_fragments()]
    groups = [fragments[i:i + 8] for i in range(0, len(fragments), 8)]
    handles = {
        runner.submit(_catalog_map_task, (area, partitions, read_version, g, k)):
            Part(-1, -1, f"catalog fragments {g[0]}-{g[-1]}")
        for k, g in enumerate(groups)
    }
    _gather(runner, handles, lambda part, rows: None, cancel)

    results: list[PartitionResult] = []
    handles = {
        runner.submit(_reduce_task, (area, p, part_file, part_base, names, len(plan.files))):
            Part(-1, -1, f"hash partition {p}")
        for p in range(partitions)
    }
    _gather(runner, handles, lambda part, res: results.append(res), cancel)
    area.remove_map_outputs()

    writes = np.zeros(n_parts, dtype=np.int64)
    per_file = np.zeros((3, len(plan.files)), dtype=np.int64)
    sources: dict[int, list[tuple[int, int]]] = defaultdict(list)
    duplicate_ids: list[tuple[int, int, str, int]] = []
    for res in sorted(results, key=lambda r: r.partition):
        writes += res.writes
        per_file += np.stack([res.duplicates_in_file, res.already_in_catalog, res.imported])
        for k, p in enumerate(res.parts.tolist()):
            sources[p].append((res.partition, k))
        duplicate_ids.extend(res.duplicate_ids)
    for fi in files:
        fr = report.files[fi]
        fr.duplicates_in_file, fr.already_in_catalog, fr.imported = (int(x) for x in per_file[:, fi])
    by_file: dict[int, list[RecordIssue]] = defaultdict(list)
    for part, _, ident, variants in sorted(duplicate_ids):
        by_file[int(part_file[part])].append(
            RecordIssue(None, None, ident, f"identifier used for {variants} different sequences; all kept"))
    for fi in sorted(by_file):
        _Issues(report.files[fi]).add(by_file[fi])
    write = {p: np.empty(0, np.int64) for p in np.flatnonzero(writes).tolist()}
    return _Dedup(write, {}, {}, load_catalog_aliases(area, partitions), int(writes.sum())), sources


def _warn_duplicate_ids(ids: pa.Array, hashes: np.ndarray, fr: FileReport) -> None:
    """Warn about identifiers used for different sequences, as the importer does (without a Python dict).

    Arrow's dictionary encoding numbers the identifiers in order of first appearance; only identifiers that
    occur more than once are compared, so the common case (unique identifiers) costs one hash pass.
    """
    enc = ids.dictionary_encode()
    if len(enc.dictionary) == len(ids):
        return
    codes = enc.indices.to_numpy()
    repeated = np.flatnonzero(np.bincount(codes, minlength=len(enc.dictionary))[codes] > 1)
    c, h = codes[repeated], hashes[repeated]
    order = np.lexsort((h, c))
    c, h = c[order], h[order]
    first = np.ones(c.size, dtype=bool)
    first[1:] = (c[1:] != c[:-1]) | (h[1:] != h[:-1])
    variants = np.bincount(c[first], minlength=len(enc.dictionary))
    bad = np.flatnonzero(variants > 1)
    if bad.size:
        names = enc.dictionary.take(pa.array(bad)).to_pylist()
        _Issues(fr).add([
            RecordIssue(None, None, name, f"identifier used for {int(variants[b])} different sequences; all kept")
            for name, b in zip(names, bad.tolist(), strict=True)
        ])


# ============================================================================ storage housekeeping
def _filesystem(catalog: Catalog) -> tuple[Any, str]:
    """A pyarrow file system and the table's path in it (local folder or S3)."""
    import pyarrow.fs as pafs

    uri = catalog.uri
    if "://" not in uri:
        return pafs.LocalFileSystem(), uri
    if not uri.startswith(("s3://", "s3a://")):
        raise StorageError(f"{uri}: only folders and s3:// catalogs can be cleaned up")
    return _s3_filesystem(catalog.storage_options), uri.split("://", 1)[1]


def _filesystem_for(uri: str, options: Mapping[str, str]) -> tuple[Any, str]:
    """A pyarrow file system and the path of ``uri`` in it (for tasks, which have no :class:`Catalog`)."""
    import pyarrow.fs as pafs

    if "://" not in uri:
        return pafs.LocalFileSystem(), uri
    return _s3_filesystem(options), uri.split("://", 1)[1]


def _s3_filesystem(opts: Mapping[str, str]) -> Any:
    """A pyarrow ``S3FileSystem`` from Lance storage options (the same endpoint, keys and region)."""
    import pyarrow.fs as pafs

    endpoint = opts.get("aws_endpoint") or opts.get("endpoint") or opts.get("aws_endpoint_url")
    kwargs: dict[str, Any] = {
        "access_key": opts.get("aws_access_key_id") or opts.get("access_key_id"),
        "secret_key": opts.get("aws_secret_access_key") or opts.get("secret_access_key"),
        "session_token": opts.get("aws_session_token") or opts.get("session_token"),
        "region": opts.get("aws_region") or opts.get("region") or "us-east-1",
        "connect_timeout": 5, "request_timeout": 30,
    }
    if endpoint:
        scheme, _, rest = endpoint.partition("://")
        kwargs.update(endpoint_override=rest or scheme, scheme=scheme if rest else "https")
        kwargs["force_virtual_addressing"] = str(opts.get("aws_virtual_hosted_style_request", "")).lower() == "true"
    return pafs.S3FileSystem(**{k: v for k, v in kwargs.items() if v is not None})


def _discard(catalog: Catalog, fragments: list[Any]) -> None:
    """Delete the data files of fragments that were written but never committed."""
    if not fragments:
        return
    with contextlib.suppress(Exception):
        fs, base = _filesystem(catalog)
        for frag in fragments:
            for f in frag.files:
                with contextlib.suppress(OSError):
                    fs.delete_file(f"{base}/data/{f.path}")


class _Lease:
    """A marker object saying "an ingest is running on this catalog" (for :func:`cleanup_orphans`)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.path: str | None = None

    def take(self) -> None:
        fs, base = _filesystem(self.catalog)
        folder = f"{base.rsplit('/', 1)[0]}/{LEASE_DIR}"
        with contextlib.suppress(OSError):
            fs.create_dir(folder, recursive=True)
        path = f"{folder}/ingest-{uuid.uuid4().hex}.json"
        body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                           "started": datetime.now(UTC).isoformat(timespec="seconds")}).encode()
        try:
            with fs.open_output_stream(path) as out:
                out.write(body)
        except OSError as exc:
            raise StorageError(f"cannot write to {self.catalog.location}: {exc}") from None
        self.path = path

    def release(self) -> None:
        if self.path is not None:
            with contextlib.suppress(Exception):
                fs, _ = _filesystem(self.catalog)
                fs.delete_file(self.path)
            self.path = None


@dataclass(slots=True)
class CleanupReport:
    """What :func:`cleanup_orphans` found and removed."""

    orphans: list[str] = field(default_factory=list)  # unreferenced data files old enough to delete
    kept_recent: int = 0  # unreferenced but younger than min_age (maybe a write in progress)
    deleted: int = 0
    bytes: int = 0


def cleanup_orphans(
    catalog: Catalog, *, min_age: timedelta = timedelta(hours=6), dry_run: bool = False
) -> CleanupReport:
    """Delete data files no version of the catalog refers to (left by crashed writers).

    Safe while people search and even while a local import runs: only files
    older than ``min_age`` that no stored version references are deleted, and
    not at all while an ingest holds a lease on the catalog.

    Raises
    ------
    StorageError
        If an ingest lease younger than :data:`LEASE_TTL` exists (an ingest may be running).
    """
    import pyarrow.fs as pafs

    fs, base = _filesystem(catalog)
    now = datetime.now(UTC)
    leases = fs.get_file_info(pafs.FileSelector(f"{base.rsplit('/', 1)[0]}/{LEASE_DIR}", allow_not_found=True))
    live = [i for i in leases if i.type == pafs.FileType.File and i.mtime and now - _utc(i.mtime) < LEASE_TTL]
    if live:
        raise StorageError(
            f"an ingest may be running on {catalog.location} ({len(live)} lease(s), newest "
            f"{max(_utc(i.mtime) for i in live):%Y-%m-%d %H:%M} UTC); clean up when it has finished"
        )
    ds = catalog.dataset()
    referenced: set[str] = set()
    for v in ds.versions():
        for frag in catalog.dataset(int(v["version"])).get_fragments():
            referenced.update(f.path for f in frag.metadata.files)
    report = CleanupReport()
    files = fs.get_file_info(pafs.FileSelector(f"{base}/data", allow_not_found=True))
    for info in files:
        if info.type != pafs.FileType.File or info.base_name in referenced:
            continue
        if info.mtime is None or now - _utc(info.mtime) < min_age:
            report.kept_recent += 1
            continue
        report.orphans.append(info.base_name)
        report.bytes += int(info.size or 0)
        if not dry_run:
            fs.delete_file(info.path)
            report.deleted += 1
    # Spill folders of hash-partitioned deduplications whose ingest died (a finished one deletes its own).
    spills = fs.get_file_info(pafs.FileSelector(f"{base.rsplit('/', 1)[0]}/_genocat/spill", allow_not_found=True))
    for info in spills:
        if info.type != pafs.FileType.Directory:
            continue
        if info.mtime is not None and now - _utc(info.mtime) < min_age:
            report.kept_recent += 1
            continue
        report.orphans.append(f"spill/{info.base_name}/")
        if not dry_run:
            fs.delete_dir(info.path)
            report.deleted += 1
    return report


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)
