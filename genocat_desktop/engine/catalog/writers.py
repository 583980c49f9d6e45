"""Writer records: which process on which host is writing files into a catalog, and what a dead one left.

Every job that writes files before it commits them (an import, a bulk ingest, an index build)
holds a :class:`WriterLease` while it runs: a small JSON record in the catalog's shared work area,
``<catalog>/_genocat/writers/<host>-<pid>-<uuid>.json`` (in the folder of a local catalog, under the
same prefix on S3, so every machine sharing the catalog sees it), with the host, the PID, the start
time and an expiry that a background thread renews while the writer lives. A writer that finishes,
fails or is cancelled deletes its own files and then its record.

A writer that is killed leaves both. :func:`collect_leftovers` (run by the next writer, by
``genocat info`` and when the window opens a catalog) finds the records of writers that are gone (a
dead PID on this host, an expired record from another host) and deletes the data files and index
segments they wrote and no version committed: unreferenced files whose modification time falls
within a dead writer's lifetime and before the start of every live writer. A live writer's files and
every file a stored version references are never touched.

The same area holds the marker of an automatic index build (:func:`mark_index_pending`), so that a
build interrupted by a kill is resumed by the next writer or the next opening of the catalog.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

from genocat_desktop.engine.catalog.filesystems import catalog_filesystem
from genocat_desktop.engine.catalog.storage import is_remote

if TYPE_CHECKING:
    from types import TracebackType

    from genocat_desktop.engine.catalog.table import Catalog

__all__ = [
    "RENEW_SECONDS",
    "WRITERS_DIR",
    "WRITER_TTL_SECONDS",
    "Leftovers",
    "WriterLease",
    "WriterRecord",
    "clear_index_pending",
    "collect_leftovers",
    "collect_quietly",
    "index_pending",
    "live_writers",
    "mark_index_pending",
    "read_writers",
    "writes_files",
]

P = ParamSpec("P")
R = TypeVar("R")

#: Where writer records live, next to the table (``<catalog>/_genocat/writers``).
WRITERS_DIR: Final = "_genocat/writers"
#: The automatic index build's marker (present from its start until its indexes are published).
INDEX_PENDING: Final = "_genocat/index-pending.json"
#: How often a live writer renews its record, and how long a record stays valid without renewal.
RENEW_SECONDS: Final = 60.0
WRITER_TTL_SECONDS: Final = 5 * RENEW_SECONDS
#: Slack between a record's times and file modification times: the coarse file system clock on
#: one machine; the object store's clock against the writers' clocks on S3.
LOCAL_SLACK_SECONDS: Final = 2.0
REMOTE_SLACK_SECONDS: Final = 120.0


@dataclass(frozen=True, slots=True)
class WriterRecord:
    """One writer's record, as read from the work area."""

    path: str  # in the catalog's file system
    host: str
    pid: int
    purpose: str
    started: float  # seconds since the epoch
    expires: float
    proc_start: str | None = None  # the process's start tick on Linux (guards against a reused PID)

    def gone(self, now: float | None = None) -> bool:
        """Whether the writer is certainly not running any more.

        On this host: its process is dead (or the PID now belongs to another process). Elsewhere:
        its record expired (a live writer renews it every :data:`RENEW_SECONDS`).
        """
        if self.host == socket.gethostname():
            return not _process_alive(self.pid, self.proc_start)
        return (now if now is not None else time.time()) > self.expires


def _process_start(pid: int) -> str | None:
    """The start tick of a process (Linux ``/proc``), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: state is field 3, starttime field 22 (man proc).
    return "Z" if fields[0] in ("Z", "X") else fields[19]


def _process_alive(pid: int, proc_start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    now_start = _process_start(pid)
    if now_start == "Z":
        return False  # a zombie writes nothing
    return proc_start is None or now_start is None or now_start == proc_start


def _area(catalog: Catalog) -> tuple[Any, str]:
    """The catalog's file system and its work area (``<catalog>/_genocat``'s parent: the catalog root)."""
    fs, base = catalog_filesystem(catalog.uri, catalog.storage_options)
    return fs, base.rsplit("/", 1)[0]


def _slack(catalog: Catalog) -> float:
    return REMOTE_SLACK_SECONDS if is_remote(catalog.uri) else LOCAL_SLACK_SECONDS


class WriterLease:
    """The record of one writer, held while it writes (a context manager).

    Parameters
    ----------
    catalog
        The catalog written to.
    purpose
        What writes (``"import"``, ``"ingest"``, ``"index"``...), for messages.
    """

    def __init__(self, catalog: Catalog, purpose: str) -> None:
        self.catalog = catalog
        self.purpose = purpose
        self.path: str | None = None
        self.started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        fs, _ = _area(self.catalog)
        now = time.time()
        body = {"host": socket.gethostname(), "pid": os.getpid(), "purpose": self.purpose,
                "started": self.started, "expires": now + WRITER_TTL_SECONDS,
                "proc_start": _process_start(os.getpid())}
        assert self.path is not None
        with fs.open_output_stream(self.path) as out:
            out.write(json.dumps(body).encode())

    def take(self) -> WriterLease:
        """Write the record (before the writer writes any file) and start renewing it.

        A record that cannot be written does not stop the writer: its own writes then fail with
        the storage's message, and without a record its files are collected only by a cleanup.
        """
        fs, root = _area(self.catalog)
        folder = f"{root}/{WRITERS_DIR}"
        self.started = time.time()
        self.path = f"{folder}/{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}.json"
        try:
            with contextlib.suppress(OSError):
                fs.create_dir(folder, recursive=True)
            self._write()
        except OSError:
            self.path = None
            return self
        self._thread = threading.Thread(target=self._renew, name="genocat-writer-lease", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_SECONDS):
            with contextlib.suppress(Exception):  # a store that is down now may answer at the next renewal
                self._write()

    def release(self) -> None:
        """Stop renewing and delete the record (after the writer committed or deleted its files)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.path is not None:
            with contextlib.suppress(Exception):
                fs, _ = _area(self.catalog)
                fs.delete_file(self.path)
            self.path = None

    def __enter__(self) -> WriterLease:
        return self.take()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def writes_files(purpose: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a function whose first argument is the catalog hold a :class:`WriterLease` while it runs.

    For every change that writes data files before its commit (a field's default values, edited
    values, annotations, a new embedding column): a cleanup by another process then sees a live
    writer and leaves its uncommitted files alone.
    """

    def wrap(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def held(*args: P.args, **kwargs: P.kwargs) -> R:
            from genocat_desktop.engine.catalog.table import Catalog

            catalog = args[0]
            assert isinstance(catalog, Catalog), "the decorated function takes the catalog first"
            with WriterLease(catalog, purpose):
                return function(*args, **kwargs)

        return held

    return wrap


def read_writers(catalog: Catalog) -> list[WriterRecord]:
    """Every writer record of the catalog (live or not).

    A record that cannot be read (being written right now) counts as a live writer that started
    when the file was last changed.
    """
    import pyarrow.fs as pafs

    fs, root = _area(catalog)
    try:
        infos = fs.get_file_info(pafs.FileSelector(f"{root}/{WRITERS_DIR}", allow_not_found=True))
    except OSError:
        return []
    out = []
    for info in infos:
        if info.type != pafs.FileType.File or not info.base_name.endswith(".json"):
            continue
        try:
            with fs.open_input_stream(info.path) as f:
                body = json.loads(f.read())
            out.append(WriterRecord(info.path, str(body["host"]), int(body["pid"]), str(body.get("purpose", "")),
                                    float(body["started"]), float(body["expires"]), body.get("proc_start")))
        except (OSError, ValueError, KeyError, TypeError):
            when = _epoch(info.mtime) if info.mtime is not None else time.time()
            out.append(WriterRecord(info.path, "?", 0, "?", when, float("inf")))
    return out


def _epoch(when: datetime) -> float:
    """Seconds since the epoch of a file time (pyarrow gives local files' times without a zone, in UTC)."""
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _unreadable(record: WriterRecord) -> bool:
    return record.host == "?"


def live_writers(catalog: Catalog, purpose: str | None = None) -> list[WriterRecord]:
    """The records of writers still running (of ``purpose``, if given)."""
    now = time.time()
    return [r for r in read_writers(catalog)
            if (_unreadable(r) or not r.gone(now)) and (purpose is None or r.purpose == purpose)]


@dataclass(slots=True)
class Leftovers:
    """What :func:`collect_leftovers` removed."""

    writers: int = 0  # records of dead writers removed
    files: int = 0  # data files and index segment files deleted
    bytes: int = 0
    index_interrupted: bool = False  # a dead writer was building indexes
    paths: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """One line for the status bar and ``genocat info`` ("" when nothing was found)."""
        if not self.files:
            return ""  # a dead writer's record alone is removed without a word
        return (f"Removed {self.files:,} uncommitted file(s), {_size(self.bytes)}, left by "
                f"{self.writers} interrupted writer(s)")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{n:,} bytes"


def collect_leftovers(catalog: Catalog) -> Leftovers:
    """Delete what writers that are gone wrote and never committed, and their records.

    Costs one listing of the work area when no writer died; otherwise one listing of the data and
    index folders and a read of every stored version's manifest. Call it before taking a
    :class:`WriterLease` of one's own.

    Returns
    -------
    Leftovers
        The records, files and bytes removed.
    """
    import pyarrow.fs as pafs

    now = time.time()
    dead = [r for r in read_writers(catalog) if not _unreadable(r) and r.gone(now)]
    report = Leftovers()
    if not dead:
        return report
    fs, base = catalog_filesystem(catalog.uri, catalog.storage_options)
    files = fs.get_file_info(pafs.FileSelector(f"{base}/data", allow_not_found=True))
    segments = fs.get_file_info(pafs.FileSelector(f"{base}/_indices", allow_not_found=True, recursive=True))
    # Read again after listing: a writer that started meanwhile wrote its record before its files.
    live = [r for r in read_writers(catalog) if _unreadable(r) or not r.gone(now)]
    slack = _slack(catalog)
    first_live = min((r.started for r in live), default=float("inf")) - slack
    windows = [(r.started - slack, r.expires + slack) for r in dead]

    def orphan(info: Any, directory: bool = False) -> bool:
        wanted = pafs.FileType.Directory if directory else pafs.FileType.File
        if info.type != wanted or info.mtime is None:
            return False
        m = _epoch(info.mtime)
        return m < first_live and any(lo <= m <= hi for lo, hi in windows)

    data_refs, index_refs = _referenced(catalog)
    for info in files:
        if info.base_name not in data_refs and orphan(info):
            _delete(fs, info, report)
    _collect_segments(fs, f"{base}/_indices", segments, index_refs, orphan, report)
    for r in dead:
        report.index_interrupted |= r.purpose == "index"
        with contextlib.suppress(OSError):
            fs.delete_file(r.path)
            report.writers += 1
    return report


def _collect_segments(fs: Any, folder: str, listing: list[Any], referenced: set[str], orphan: Any,
                      report: Leftovers) -> None:
    """Delete unreferenced index segments whose every file is a dead writer's (then their folders)."""
    import pyarrow.fs as pafs

    by_segment: dict[str, list[Any]] = {}
    for info in listing:
        segment = info.path[len(folder) + 1:].split("/", 1)[0]
        if segment not in referenced:
            by_segment.setdefault(segment, []).append(info)
    for segment, infos in by_segment.items():
        files = [i for i in infos if i.type == pafs.FileType.File]
        if not files and not any(orphan(i, directory=True) for i in infos):
            continue
        if not all(orphan(i) for i in files):
            continue  # a live writer may still be writing into it
        for info in files:
            _delete(fs, info, report)
        with contextlib.suppress(OSError):
            fs.delete_dir(f"{folder}/{segment}")


def collect_quietly(catalog: Catalog) -> Leftovers:
    """:func:`collect_leftovers` for a writer about to start: a failure to collect never stops it."""
    from genocat_desktop.engine.core.errors import GenoCatError

    try:
        return collect_leftovers(catalog)
    except (GenoCatError, OSError, RuntimeError, ValueError):
        return Leftovers()


def _delete(fs: Any, info: Any, report: Leftovers) -> None:
    with contextlib.suppress(OSError):
        fs.delete_file(info.path)
        report.files += 1
        report.bytes += int(info.size or 0)
        report.paths.append(info.path)


def _referenced(catalog: Catalog) -> tuple[set[str], set[str]]:
    """The data files and index segments any stored version refers to (read at the latest version)."""
    import lance

    opts = catalog.storage_options or None
    latest = lance.dataset(catalog.uri, storage_options=opts)
    data: set[str] = set()
    index: set[str] = set()
    for v in latest.versions():
        ds = latest if int(v["version"]) == latest.version else latest.checkout_version(int(v["version"]))
        for frag in ds.get_fragments():
            data.update(f.path for f in frag.metadata.files)
        with contextlib.suppress(Exception):  # a version without index metadata
            index.update(str(seg.uuid) for desc in ds.describe_indices() for seg in desc.segments)
    return data, index


# ---------------------------------------------------------------------------- automatic index marker
def mark_index_pending(catalog: Catalog, threshold: int) -> None:
    """Record that an automatic index build starts (kept until :func:`clear_index_pending`)."""
    fs, root = _area(catalog)
    with contextlib.suppress(OSError):
        fs.create_dir(f"{root}/_genocat", recursive=True)
        with fs.open_output_stream(f"{root}/{INDEX_PENDING}") as out:
            out.write(json.dumps({"threshold": threshold, "since": time.time()}).encode())


def index_pending(catalog: Catalog) -> bool:
    """Whether an automatic index build started and its indexes were never published."""
    import pyarrow.fs as pafs

    fs, root = _area(catalog)
    try:
        return bool(fs.get_file_info(f"{root}/{INDEX_PENDING}").type == pafs.FileType.File)
    except OSError:
        return False


def clear_index_pending(catalog: Catalog) -> None:
    """Remove the marker of the automatic index build (its indexes are published)."""
    fs, root = _area(catalog)
    with contextlib.suppress(OSError):
        fs.delete_file(f"{root}/{INDEX_PENDING}")
