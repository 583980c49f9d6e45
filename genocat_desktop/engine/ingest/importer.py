"""Import FASTA files into a catalog: two streaming passes, one commit per file.

Pass 1 (*scan*) reads the file once without writing anything: it checks every
record, hashes every sequence and collects identifiers. A file that has to be
rejected is rejected here, before the catalog is touched, and the totals it
gives make the progress bar of pass 2 honest.

Pass 2 (*write*) goes over the records again and writes only sequences that are new
(first occurrence in the file, not yet in the catalog): header metadata,
vectors from the catalog's embedders, in Lance fragments that are not yet part
of the table. When the whole file is written, one commit makes them visible:
the catalog moves by exactly one version, or not at all if nothing is new. On
cancel or failure the written fragments are deleted and the catalog is
unchanged.

Pass 2 takes the records from pass 1's parsed batches: kept in memory when the
file is small, otherwise spilled to a temporary file next to the catalog
(:class:`_Spill`: reading them back costs about an eighth of parsing the FASTA again);
only if spilling fails, for example on a full disk, does pass 2 parse the file
a second time.

With 3 or more CPUs, a file small enough to keep has the rows of its first
occurrences written (uncommitted) during pass 1 already; pass 2 then only
rewrites the groups whose rows changed after they were written (see
:class:`_EarlyWriter`).

Exact duplicates collapse into one row; the other identifiers are kept as
``aliases`` (also when the sequence was already in the catalog).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genocat_desktop.engine.catalog.schema import field_default
from genocat_desktop.engine.catalog.storage import is_remote
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import Cancelled, FastaFormatError, GenoCatError, StorageError
from genocat_desktop.engine.core.progress import (
    CancelToken,
    Progress,
    ProgressCallback,
    RateMeter,
    gc_paused,
    no_progress,
)
from genocat_desktop.engine.ingest.fasta import (
    MOL_AMBIGUOUS,
    MOL_DNA,
    MOL_PROTEIN,
    MOL_RNA,
    MOLECULES,
    FastaReader,
    ParsedBatch,
    RecordIssue,
)
from genocat_desktop.engine.ingest.headers import parse_headers_arrow

__all__ = ["FileReport", "ImportReport", "import_files"]

#: Rows per written Lance fragment batch: large enough for fast scans, small
#: enough that one batch (sequences + vectors) stays well under 100 MB.
WRITE_BATCH: Final = 32_768
#: Files whose residues fit this budget keep pass 1's batches in memory for pass 2.
#: Larger files spill them to a temporary file (:class:`_Spill`) so memory stays bounded.
KEEP_PARSED_BYTES: Final = 128 << 20
#: Vectors of the default (k-mer) embedder computed during the scan, in a worker
#: thread while the main thread parses the next batch, are kept up to this size
#: (16 MiB per 8192 records); the rest are computed in pass 2.
KEEP_VECTOR_BYTES: Final = 256 << 20
#: Rows of kept files are written during the scan only with at least this many CPUs. On two
#: cores the parser and the worker thread already keep both busy: writing alongside them cost
#: ~0.3 CPU-s more per 100k rows (in Lance's background thread) and gave no wall-clock gain
#: (BENCHMARKS.md, import, 2026-11-26 12:50 UTC); with spare cores the write overlaps the scan.
EARLY_WRITE_MIN_CPUS: Final = 3
#: Background writes in flight at once (each a table of up to WRITE_BATCH rows). Two, with two
#: Lance encoding threads (``LANCE_CPU_THREADS``, set in ``engine/__init__.py`` on 2-3 CPUs), took
#: a 1M-record import from 21.0 to 18.6 s median and 100k from 1.91 to 1.77 s once the k-mer
#: counting stopped taking the second core (BENCHMARKS.md, 2026-11-26 22:00 UTC).
WRITES_IN_FLIGHT: Final = 2
#: At most this many warnings per file are kept in the report (the count is exact).
MAX_ISSUES: Final = 200


@dataclass(slots=True)
class FileReport:
    """What happened to one file."""

    path: str
    records: int = 0
    imported: int = 0
    duplicates_in_file: int = 0
    already_in_catalog: int = 0
    aliases_added: int = 0
    skipped: int = 0
    warnings: int = 0
    issues: list[RecordIssue] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    version: int | None = None

    @property
    def ok(self) -> bool:
        """True if the file was read (even if nothing in it was new)."""
        return self.error is None

    def summary(self) -> str:
        """One line for a log or a status bar."""
        name = Path(self.path).name
        if self.error:
            return f"{name}: not imported: {self.error}"
        parts = [f"{self.imported:,} new sequence(s) from {self.records:,} record(s)"]
        if self.duplicates_in_file:
            parts.append(f"{self.duplicates_in_file:,} duplicate(s) in the file")
        if self.already_in_catalog:
            parts.append(f"{self.already_in_catalog:,} already in the catalog")
        if self.skipped:
            parts.append(f"{self.skipped:,} skipped")
        if self.warnings:
            parts.append(f"{self.warnings:,} warning(s)")
        return f"{name}: " + ", ".join(parts)


@dataclass(slots=True)
class ImportReport:
    """The outcome of :func:`import_files`."""

    files: list[FileReport] = field(default_factory=list)
    cancelled: bool = False

    @property
    def imported(self) -> int:
        """New rows over all files."""
        return sum(f.imported for f in self.files)

    @property
    def failed(self) -> list[FileReport]:
        """Files that were rejected or failed."""
        return [f for f in self.files if not f.ok]

    @property
    def records(self) -> int:
        """Records read over all files."""
        return sum(f.records for f in self.files)


class _Issues:
    def __init__(self, report: FileReport) -> None:
        self.report = report

    def add(self, issues: Sequence[RecordIssue], skipped: int = 0) -> None:
        self.report.skipped += skipped
        self.report.warnings += len(issues) - skipped
        room = MAX_ISSUES - len(self.report.issues)
        if room > 0:
            self.report.issues.extend(issues[:room])


@dataclass(slots=True)
class _Scan:
    hashes: np.ndarray  # S32, one per valid record, in file order
    ids: list[str]
    mol_counts: np.ndarray
    records: int
    # The parsed batches, when the file is small enough to keep them (saves reading it twice).
    batches: list[ParsedBatch] | None = None
    # Per kept batch: vector column -> vectors being computed in the background (or None).
    vectors: list[dict[str, Future[np.ndarray]] | None] = field(default_factory=list)
    # Per kept batch: its header columns, parsed in the background.
    headers: list[Future[dict[str, pa.Array]] | None] = field(default_factory=list)
    # The parsed batches of a file too large to keep, on disk (None: kept, or pass 2 parses again).
    spill: _Spill | None = None


class _Spill:
    """Pass 1's parsed batches of a file too large to keep, in a temporary file for pass 2.

    Pickling the batches of 100,000 records and reading them back took 0.06-0.08 CPU-s on the
    benchmark machine, against 0.52-0.65 CPU-s for parsing the FASTA file again. The file is
    unlinked as soon as it is created, so nothing is left behind, even after a crash. It lives
    next to the catalog (an object-store catalog: the user cache folder), not in the system
    temp folder, which is often in memory. It holds about as many bytes as the FASTA text.
    """

    def __init__(self, folder: Path) -> None:
        # Closed by close(), which the import calls in a finally block.
        self._file = tempfile.TemporaryFile(prefix="genocat-import-", suffix=".spill", dir=folder)  # noqa: SIM115
        self.batches = 0

    @staticmethod
    def open(folder: Path, file_bytes: int = 0) -> _Spill | None:
        """A new spill file in ``folder`` (``Catalog.work_folder("import")``), or None if it cannot be made.

        None also when the disk has less free space than twice ``file_bytes`` (the FASTA file's
        size) plus 1 GiB: the spill must not fill the disk that the catalog's writes need.
        """
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if shutil.disk_usage(folder).free < 2 * file_bytes + (1 << 30):
                return None
            return _Spill(folder)
        except OSError:
            return None

    def add(self, batch: ParsedBatch) -> bool:
        """Append ``batch``; False if it could not be written (the spill is then closed)."""
        try:
            pickle.dump(batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError:
            self.close()
            return False
        self.batches += 1
        return True

    def __iter__(self) -> Iterator[ParsedBatch]:
        self._file.flush()
        self._file.seek(0)
        for _ in range(self.batches):
            batch: ParsedBatch = pickle.load(self._file)
            yield batch

    def close(self) -> None:
        """Delete the file (it has no name: closing it frees the space)."""
        self._file.close()


def import_files(
    catalog: Catalog,
    paths: Sequence[str | os.PathLike[str]],
    *,
    strip_gaps: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ImportReport:
    """Import FASTA files, each in one atomic commit.

    A rejected file does not stop the others; its reason is in its
    :class:`FileReport`. Cancelling stops at the next batch; the file being
    imported leaves no trace, files finished before stay imported.

    Parameters
    ----------
    catalog
        Where to import.
    paths
        FASTA files (plain, gzip, bzip2 or xz).
    strip_gaps
        Remove alignment gaps instead of rejecting aligned files.
    progress
        Called with :class:`Progress` (in residue bytes of the current file) a few times a second.
    cancel
        Checked between batches.

    Returns
    -------
    ImportReport
        One :class:`FileReport` per file handled; ``cancelled`` if stopped.
    """
    cancel = cancel or CancelToken()
    # The scan allocates a few container objects per record: full collections, each a walk over
    # every object of the process, took ~8% of an import's CPU time (also outside the window's jobs).
    with gc_paused():
        return _import_files(catalog, paths, strip_gaps, progress, cancel)


def _import_files(
    catalog: Catalog,
    paths: Sequence[str | os.PathLike[str]],
    strip_gaps: bool,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> ImportReport:
    report = ImportReport()
    for index, path in enumerate(paths, start=1):
        if cancel.cancelled:
            report.cancelled = True
            break
        fr = FileReport(str(path))
        report.files.append(fr)
        started = time.perf_counter()
        prefix = f"{Path(path).name} ({index} of {len(paths)})" if len(paths) > 1 else Path(path).name
        try:
            _import_one(catalog, Path(path), fr, strip_gaps, progress, cancel, prefix)
        except Cancelled:
            report.cancelled = True
            fr.error = "cancelled; nothing from this file was imported"
        except GenoCatError as exc:
            fr.error = exc.reason if isinstance(exc, FastaFormatError) else str(exc)
            fr.imported = fr.aliases_added = 0
        fr.seconds = time.perf_counter() - started
        if report.cancelled:
            break
    return report


def _import_one(
    catalog: Catalog,
    path: Path,
    fr: FileReport,
    strip_gaps: bool,
    progress: ProgressCallback,
    cancel: CancelToken,
    prefix: str,
) -> None:
    issues = _Issues(fr)
    # Embedders with a packed fast path (the k-mer one) run during the scan in a worker
    # thread: numpy releases the GIL, so a second core embeds while this one parses.
    early = {col: emb for col in catalog.vector_columns() if hasattr(emb := catalog.embedder(col), "embed_packed")}
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genocat-embed") if early else None
    try:
        _import_scanned(catalog, path, fr, strip_gaps, progress, cancel, prefix, issues, early, pool)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _import_scanned(
    catalog: Catalog,
    path: Path,
    fr: FileReport,
    strip_gaps: bool,
    progress: ProgressCallback,
    cancel: CancelToken,
    prefix: str,
    issues: _Issues,
    early: dict[str, Any],
    pool: ThreadPoolExecutor | None,
) -> None:
    writer = _FragmentWriter(catalog)
    now = datetime.now(UTC)
    scan = _Scan(np.empty(0, dtype="S32"), [], np.zeros(4, dtype=np.int64), 0)
    try:
        ahead = None
        if (pool is not None and early and set(early) == set(catalog.vector_columns())
                and (os.cpu_count() or 1) >= EARLY_WRITE_MIN_CPUS):
            # Only when every vector column is made during the scan: a model embedder in the
            # scan loop would hold it for minutes with no "importing" progress. The catalog's
            # hashes are then read before the scan (otherwise after it, as late as possible).
            read_version = catalog.refresh()
            existing = catalog.existing_hashes()
            ahead = _EarlyWriter(catalog, path.name, now, existing, writer)
        _scan(scan, path, strip_gaps, issues, progress, cancel, prefix, early, pool, ahead,
              catalog.work_folder("import"))
        fr.records = scan.records
        if scan.hashes.size == 0:
            raise FastaFormatError(
                str(path), f"no valid record: all {scan.records:,} record(s) were skipped (see the warnings)"
            )
        if ahead is None:
            read_version = catalog.refresh()
            existing = catalog.existing_hashes()

        uniq, first_idx, inverse = np.unique(scan.hashes, return_index=True, return_inverse=True)
        is_first = np.zeros(scan.hashes.size, dtype=bool)
        is_first[first_idx] = True
        in_catalog_u = np.isin(uniq, existing, assume_unique=True) if existing.size else np.zeros(uniq.size, bool)
        in_catalog = in_catalog_u[inverse]
        write = is_first & ~in_catalog
        fr.duplicates_in_file = int((~is_first).sum())
        fr.already_in_catalog = int(in_catalog_u.sum())

        # Aliases of new rows: identifiers of later records with the same sequence.
        # (dicts keep the file order and make each membership test O(1)).
        groups: dict[int, dict[str, None]] = defaultdict(dict)
        first_of = first_idx[inverse]
        for i in np.flatnonzero(~is_first & ~in_catalog).tolist():
            first = int(first_of[i])
            if scan.ids[i] != scan.ids[first]:
                groups[first][scan.ids[i]] = None
        aliases = {k: list(v) for k, v in groups.items()}
        _warn_duplicate_ids(scan, issues)

        counts = scan.mol_counts
        majority = MOL_DNA if counts[MOL_DNA] + counts[MOL_RNA] > counts[MOL_PROTEIN] else MOL_PROTEIN
        if majority == MOL_DNA and scan.mol_counts[MOL_RNA] > scan.mol_counts[MOL_DNA]:
            majority = MOL_RNA

        todo = None
        if ahead is not None and scan.batches is not None:
            # Rows written during the scan stay unless a later record gave them aliases, or
            # their short records were written as protein and the file is nucleotide.
            total = int(write.sum())
            progress(Progress(ahead.rows, total, "sequences", "importing", f"Importing {prefix}"))
            todo = ahead.finish(scan, aliases, majority)
            if not todo:
                progress(Progress(total, total, "sequences", "importing", f"Importing {prefix}"))
        elif ahead is not None:
            ahead.abandon()
        if write.any() and (todo is None or todo):
            _write_pass(catalog, path, scan, write, aliases, majority, strip_gaps, writer, progress, cancel, prefix,
                        early, pool, now, todo)
        updated, removed, alias_rows = _alias_updates(catalog, scan, in_catalog, writer, fr)
        if not writer.fragments and not updated and not removed:
            fr.version = read_version
            return
        cancel.raise_if_cancelled()
        import lance

        if updated or removed:
            op: Any = lance.LanceOperation.Update(
                removed_fragment_ids=removed, updated_fragments=updated, new_fragments=writer.fragments
            )
        else:
            op = lance.LanceOperation.Append(writer.fragments)
        message = f"import {path.name}: {fr.imported:,} new, {alias_rows:,} with new aliases"
        fr.version = catalog.commit(op, read_version, message)
        writer.committed = True
    finally:
        if scan.spill is not None:
            scan.spill.close()
        writer.close()
        if not writer.committed:
            writer.discard()
    progress(Progress(1, 1, "records", "done", fr.summary()))


class _EarlyWriter:
    """Writes the rows of a kept file's first occurrences during the scan (uncommitted).

    A record is written iff it is the first with its sequence so far and its sequence is not
    in the catalog: the same rows the file's final dedup keeps, because "first" depends only on
    earlier records. What the end of the file can still change is a row's ``aliases`` (a later
    duplicate) and, for records too short to tell their molecule, the file's majority molecule:
    :meth:`finish` deletes the written groups of rows that changed and leaves those batches to
    pass 2. The rows are built one batch behind the scan, so the worker thread's headers and
    vectors for that batch are (nearly always) ready.
    """

    def __init__(
        self, catalog: Catalog, source: str, now: datetime, existing: np.ndarray, writer: _FragmentWriter
    ) -> None:
        self.catalog = catalog
        self.source = source
        self.now = now
        self.existing = existing
        self.writer = writer
        self.embedders = {col: catalog.embedder(col) for col in catalog.vector_columns()}
        self.seen: set[bytes] = set()
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.pending_batches: list[int] = []
        # (first batch, last batch + 1) of each written group, with that group's fragments.
        self.groups: list[tuple[int, int, list[Any]]] = []
        self.sel: list[np.ndarray | None] = []  # per batch, the records written early
        self.positions: list[int] = []
        self.next = 0  # the next batch whose rows are built
        self.rows = 0  # rows built so far
        self.active = True

    def add(self, batch: ParsedBatch, pos: int) -> None:
        """Record a scanned batch (its identifiers already in ``scan.ids``): which of its records are new."""
        seen = self.seen
        fresh: list[int] = []
        for j, h in enumerate(batch.hashes.tolist()):
            if h not in seen:
                seen.add(h)
                fresh.append(j)
        sel = np.asarray(fresh, dtype=np.intp)
        if sel.size and self.existing.size:
            sel = sel[~np.isin(batch.hashes[sel], self.existing)]
        self.sel.append(sel)
        self.positions.append(pos)

    def build(self, scan: _Scan, upto: int) -> None:
        """Build (and, a group at a time, write in the background) the rows of batches before ``upto``."""
        while self.active and self.next < upto:
            number = self.next
            self.next += 1
            sel = self.sel[number]
            assert sel is not None and scan.batches is not None
            if sel.size:
                futures = scan.vectors[number] if number < len(scan.vectors) else None
                ready = {col: future.result() for col, future in futures.items()} if futures else None
                header_future = scan.headers[number] if number < len(scan.headers) else None
                parsed = header_future.result() if header_future is not None else None
                table = _rows(scan.batches[number], sel, self.positions[number], scan, {}, MOL_PROTEIN, self.source,
                              self.now, self.embedders, self.catalog.schema, None, None, ready, parsed)
                self.pending.append(table)
                self.pending_rows += table.num_rows
                self.rows += table.num_rows
            self.pending_batches.append(number)
            if self.pending_rows >= WRITE_BATCH:
                self.flush()

    def flush(self) -> None:
        """Write the pending rows as one group (in the background)."""
        if self.pending_rows:
            first, stop = self.pending_batches[0], self.pending_batches[-1] + 1
            self.writer.write(pa.concat_tables(self.pending), background=True, tag=(first, stop))
        self.pending, self.pending_rows, self.pending_batches = [], 0, []

    def abandon(self) -> None:
        """The file is too large to keep: delete what was written (pass 2 writes everything)."""
        self.active = False
        self.pending, self.pending_rows, self.pending_batches = [], 0, []
        self.writer.close()
        self.writer.discard()

    def finish(self, scan: _Scan, aliases: dict[int, list[str]], majority: int) -> set[int]:
        """Write the last rows; delete the groups whose rows changed. Returns the batches left to write."""
        self.build(scan, len(self.sel))
        self.flush()
        self.writer.wait()
        assert scan.batches is not None
        keys = np.fromiter(aliases, dtype=np.int64, count=len(aliases)) if aliases else np.empty(0, np.int64)
        stale: set[int] = set()
        for (first, stop), _frags in self.writer.groups:
            lo, hi = self.positions[first], self.positions[stop - 1] + len(scan.batches[stop - 1])
            changed = bool(((keys >= lo) & (keys < hi)).any())
            if not changed and majority != MOL_PROTEIN:
                changed = any(
                    (scan.batches[b].molecule[self.sel[b]] == MOL_AMBIGUOUS).any()  # type: ignore[index]
                    for b in range(first, stop)
                )
            if changed:
                stale.update(range(first, stop))
        self.writer.drop_groups(lambda tag: tag[0] in stale)
        return stale


def _scan(
    scan: _Scan,
    path: Path,
    strip_gaps: bool,
    issues: _Issues,
    progress: ProgressCallback,
    cancel: CancelToken,
    prefix: str,
    early: dict[str, Any] | None = None,
    pool: ThreadPoolExecutor | None = None,
    ahead: _EarlyWriter | None = None,
    spill_to: Path | None = None,
) -> _Scan:
    """Pass 1 over ``path`` into ``scan``; batches too large to keep go to a spill file in ``spill_to``.

    The caller owns ``scan`` and closes its spill, also when this raises.
    """
    reader = FastaReader(path, strip_gaps=strip_gaps)
    meter = RateMeter()
    hashes: list[np.ndarray] = []
    ids, mol_counts = scan.ids, scan.mol_counts
    kept: list[ParsedBatch] | None = []
    vectors: list[dict[str, Future[np.ndarray]] | None] = []
    headers: list[Future[dict[str, pa.Array]] | None] = []
    kept_bytes = vector_bytes = 0
    # The object pass 2 gets; _EarlyWriter reads its growing ids and kept batches during the scan.
    scan.batches, scan.vectors, scan.headers = kept, vectors, headers
    pos = 0
    for batch in reader:
        cancel.raise_if_cancelled()
        hashes.append(batch.hashes)
        if kept is not None:
            kept_bytes += len(batch.data) + sum(len(t) for t in batch.titles)
            if kept_bytes > KEEP_PARSED_BYTES:
                # Too large to keep: the batches go to a spill file, and pass 2 does all the work itself.
                if spill_to is not None:
                    scan.spill = _Spill.open(spill_to, reader.size or 0)
                    for old in [*kept, batch]:
                        if scan.spill is not None and not scan.spill.add(old):
                            scan.spill = None
                kept = None
                for future in [*headers, *(f for futures in vectors for f in (futures or {}).values())]:
                    if future is not None:
                        future.cancel()
                vectors, headers = [], []
                scan.batches, scan.vectors, scan.headers = None, vectors, headers
                if ahead is not None:
                    ahead.abandon()
                    ahead = None
            else:
                kept.append(batch)
                if pool is not None:
                    headers.append(pool.submit(parse_headers_arrow, batch.titles))
                    if early and vector_bytes < KEEP_VECTOR_BYTES:
                        # Records too short to tell their molecule are embedded as protein here; pass 2
                        # re-embeds the batch if the file turns out to be nucleotide (see _write_pass).
                        nucleotide = (batch.molecule == MOL_DNA) | (batch.molecule == MOL_RNA)
                        vectors.append({col: pool.submit(emb.embed_packed, batch.data, batch.offsets, nucleotide)
                                        for col, emb in early.items()})
                        vector_bytes += len(batch) * sum(4 * emb.dim for emb in early.values())
                    else:
                        vectors.append(None)
        elif scan.spill is not None and not scan.spill.add(batch):
            scan.spill = None  # e.g. the disk is full: pass 2 parses the file again
        # The first word, as split_title gives it (str.split skips leading whitespace).
        batch_ids = [parts[0] if (parts := title.split(None, 1)) else "" for title in batch.titles]
        if "" in batch_ids:
            for i in [i for i, ident in enumerate(batch_ids) if not ident]:
                number, line = int(batch.numbers[i]), int(batch.lines[i])
                batch_ids[i] = ident = f"{path.name}#{number}"
                issues.add([RecordIssue(number, line, "", f"header has no identifier; named it {ident!r}")])
        ids.extend(batch_ids)
        if ahead is not None and kept is not None:
            ahead.add(batch, pos)
            # Rows one batch behind: the worker has had a batch's parsing time to finish them.
            ahead.build(scan, len(kept) - 1)
        pos += len(batch)
        mol_counts += np.bincount(batch.molecule, minlength=4)
        issues.add(batch.issues, batch.skipped)
        if meter.due():
            rate = meter.update(reader.bytes_read)
            progress(Progress(reader.bytes_read, reader.size, "bytes", "checking", f"Checking {prefix}", rate))
    issues.add(reader.file_issues)
    scan.hashes = np.concatenate(hashes) if hashes else np.empty(0, dtype="S32")
    scan.records = reader.records
    return scan


def _warn_duplicate_ids(scan: _Scan, issues: _Issues) -> None:
    """Warn about identifiers used for different sequences (all are kept)."""
    # A dict pass is linear; sorting a million identifiers as Python objects took seconds.
    first_hash: dict[str, bytes] = {}
    variants: dict[str, set[bytes]] = {}
    for ident, h in zip(scan.ids, scan.hashes.tolist(), strict=True):
        seen = first_hash.setdefault(ident, h)
        if seen != h:
            variants.setdefault(ident, {seen}).add(h)
    for ident, hashes in variants.items():
        message = f"identifier used for {len(hashes)} different sequences; all kept"
        issues.add([RecordIssue(None, None, ident, message)])


class _FragmentWriter:
    """Writes uncommitted Lance fragments and deletes them if they are not committed."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.fragments: list[Any] = []
        self.committed = False
        # Lance writes without holding the GIL: writes run in the background while
        # the next batches are parsed and embedded (at most WRITES_IN_FLIGHT, taken
        # in order, so memory stays bounded and the fragments keep the file's order).
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: deque[tuple[Future[list[Any]], Any]] = deque()
        #: The fragments of each tagged write, in order: ``(tag, fragments)``.
        self.groups: list[tuple[Any, list[Any]]] = []

    def _write_now(self, table: pa.Table) -> list[Any]:
        from lance.fragment import write_fragments  # see distributed._write_local

        try:
            frags: list[Any] = write_fragments(
                table,
                self.catalog.uri,
                schema=self.catalog.schema,
                storage_options=self.catalog.storage_options or None,
            )
        except (OSError, RuntimeError) as exc:
            raise self.catalog._storage_error(
                exc, "write to", "nothing from this file was imported; the catalog was left as it was"
            ) from None
        return frags

    def write(self, table: pa.Table, background: bool = False, tag: Any = None) -> None:
        """Write ``table`` as new uncommitted fragments (maybe in the background).

        The fragments of a write with a ``tag`` are also listed in :attr:`groups`.
        """
        if not background:
            self.wait()
            self._add(self._write_now(table), tag)
            return
        while len(self._inflight) >= WRITES_IN_FLIGHT:
            self._take_oldest()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=WRITES_IN_FLIGHT, thread_name_prefix="genocat-writer")
        self._inflight.append((self._pool.submit(self._write_now, table), tag))

    def _add(self, frags: list[Any], tag: Any) -> None:
        self.fragments.extend(frags)
        if tag is not None:
            self.groups.append((tag, frags))

    def _take_oldest(self) -> None:
        future, tag = self._inflight.popleft()
        self._add(future.result(), tag)

    def wait(self) -> None:
        """Finish the writes in flight, in order (re-raising the first error; the others still finish)."""
        try:
            while self._inflight:
                self._take_oldest()
        finally:
            # After an error, the writes behind it still finish and are listed, so that
            # discard() deletes their files too.
            while self._inflight:
                future, tag = self._inflight.popleft()
                with contextlib.suppress(Exception):
                    self._add(future.result(), tag)

    def drop_groups(self, stale: Callable[[Any], bool]) -> None:
        """Delete the fragments of the tagged writes for which ``stale(tag)`` is true (never committed)."""
        self.wait()
        dropped = [frag for tag, frags in self.groups if stale(tag) for frag in frags]
        if not dropped:
            return
        self.groups = [(tag, frags) for tag, frags in self.groups if not stale(tag)]
        ids = {id(frag) for frag in dropped}
        self.fragments = [frag for frag in self.fragments if id(frag) not in ids]
        self._delete(dropped)

    def close(self) -> None:
        """Stop the background writer (waits for the writes in flight, ignoring their errors)."""
        if self._inflight:
            with contextlib.suppress(GenoCatError):
                self.wait()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def discard(self) -> None:
        """Delete the data files of fragments that were never committed."""
        self._delete(self.fragments)
        self.fragments = []
        self.groups = []

    def _delete(self, fragments: list[Any]) -> None:
        if is_remote(self.catalog.uri):
            return  # on object stores, unreferenced files are removed by cleanup
        for frag in fragments:
            for f in frag.data_files():
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self.catalog.uri, "data", f.path))


def _write_pass(
    catalog: Catalog,
    path: Path,
    scan: _Scan,
    write: np.ndarray,
    aliases: dict[int, list[str]],
    majority: int,
    strip_gaps: bool,
    writer: _FragmentWriter,
    progress: ProgressCallback,
    cancel: CancelToken,
    prefix: str,
    early: dict[str, Any] | None = None,
    pool: ThreadPoolExecutor | None = None,
    now: datetime | None = None,
    todo: set[int] | None = None,
) -> None:
    """Write the rows of the records in ``write`` (only of the batches in ``todo``, if given: kept files)."""
    if scan.batches is not None:
        batches: Any = scan.batches
    else:
        again = scan.spill if scan.spill is not None else FastaReader(path, strip_gaps=strip_gaps)
        batches = _read_ahead(again, scan, write, majority, early or {}, pool)
    columns = catalog.vector_columns()
    embedder_objs = {col: catalog.embedder(col) for col in columns}
    # Vectors from the scan are used where the same embedder (same parameters) still makes the column.
    same = {col for col, emb in (early or {}).items()
            if col in embedder_objs and _embedder_key(embedder_objs[col]) == _embedder_key(emb)}
    if todo is None:
        total = int(write.sum())
    else:
        assert scan.batches is not None
        starts = np.cumsum([0, *(len(b) for b in scan.batches)])
        total = sum(int(write[starts[b] : starts[b + 1]].sum()) for b in todo)
    meter = RateMeter()
    now = now or datetime.now(UTC)
    pos = 0
    done = 0
    pending: list[pa.Table] = []
    pending_rows = 0
    for number, batch in enumerate(batches):
        cancel.raise_if_cancelled()
        n = len(batch)
        if not np.array_equal(batch.hashes, scan.hashes[pos : pos + n]):
            raise FastaFormatError(str(path), "the file changed while it was being imported; import it again")
        if todo is not None and number not in todo:
            pos += n  # written during the scan
            continue
        sel = np.flatnonzero(write[pos : pos + n])
        if sel.size:
            def on_embedded(k: int, before: int = done) -> None:
                # Model embedders take seconds per batch: keep the bar and the ETA moving meanwhile.
                if meter.due():
                    rate = meter.update(before + k)
                    progress(Progress(before + k, total, "sequences", "importing", f"Importing {prefix}", rate))

            futures = scan.vectors[number] if number < len(scan.vectors) else None
            ready = None
            # Vectors made during the scan embedded short records as protein: valid unless the file is nucleotide.
            exact = scan.batches is None or majority == MOL_PROTEIN or not (batch.molecule == MOL_AMBIGUOUS).any()
            if futures and exact:
                ready = {col: future.result() for col, future in futures.items() if col in same}
            header_future = scan.headers[number] if number < len(scan.headers) else None
            parsed = header_future.result() if header_future is not None else None
            table = _rows(batch, sel, pos, scan, aliases, majority, path.name, now, embedder_objs, catalog.schema,
                          cancel, on_embedded, ready, parsed)
            if number < len(scan.vectors):
                scan.vectors[number] = None  # free the vectors and columns once the rows hold them
            if number < len(scan.headers):
                scan.headers[number] = None
            pending.append(table)
            pending_rows += table.num_rows
            done += table.num_rows
        pos += n
        if pending_rows >= WRITE_BATCH:
            writer.write(pa.concat_tables(pending), background=True)
            pending, pending_rows = [], 0
        if meter.due():
            rate = meter.update(done)
            progress(Progress(done, total, "sequences", "importing", f"Importing {prefix}", rate))
    if pos != scan.hashes.size:
        raise FastaFormatError(str(path), "the file changed while it was being imported; import it again")
    if pending:
        cancel.raise_if_cancelled()
        writer.write(pa.concat_tables(pending))
    writer.wait()
    progress(Progress(done, total, "sequences", "importing", f"Importing {prefix}"))


def _read_ahead(
    reader: Iterable[ParsedBatch],
    scan: _Scan,
    write: np.ndarray,
    majority: int,
    early: dict[str, Any],
    pool: ThreadPoolExecutor | None,
) -> Any:
    """Pass 2's batches (spilled, or the file parsed again), with their headers and vectors started one batch ahead.

    While the caller builds and writes the rows of batch ``i``, the worker thread parses the
    headers and embeds batch ``i + 1``; the futures go into ``scan.headers`` and ``scan.vectors``
    (at most two batches in flight, so memory stays bounded).
    """
    scan.vectors, scan.headers = [], []
    pos = 0
    previous: ParsedBatch | None = None
    for batch in reader:
        n = len(batch)
        wanted = pool is not None and bool(write[pos : pos + n].any())
        pos += n
        if wanted and pool is not None:
            mol = batch.molecule.copy()
            mol[mol == MOL_AMBIGUOUS] = majority
            nucleotide = (mol == MOL_DNA) | (mol == MOL_RNA)
            scan.headers.append(pool.submit(parse_headers_arrow, batch.titles))
            scan.vectors.append({col: pool.submit(emb.embed_packed, batch.data, batch.offsets, nucleotide)
                                 for col, emb in early.items()} or None)
        else:
            scan.headers.append(None)
            scan.vectors.append(None)
        if previous is not None:
            yield previous
        previous = batch
    if previous is not None:
        yield previous


_MOLECULE_NAMES: Final = np.array([*MOLECULES, "protein"], dtype=object)
#: The same names as an Arrow array, indexed by molecule code (``take``).
_MOLECULE_ARROW: Final = pa.array(_MOLECULE_NAMES.tolist(), pa.string())


def _rows(
    batch: Any,
    sel: np.ndarray,
    pos: int,
    scan: _Scan,
    aliases: dict[int, list[str]],
    majority: int,
    source: str,
    now: datetime,
    embedder_objs: dict[str, Any],
    schema: pa.Schema,
    cancel: CancelToken | None = None,
    on_embedded: Callable[[int], None] | None = None,
    vectors: dict[str, np.ndarray] | None = None,
    headers: dict[str, pa.Array] | None = None,
) -> pa.Table:
    """Build the Arrow rows for the selected records of one parsed batch.

    ``vectors`` (by vector column) and ``headers`` (:func:`parse_headers_arrow` of the batch's
    titles), when given, were already computed for every record of the batch.
    """
    # Columns are built whole (Arrow kernels, numpy buffers): a Python object per
    # value and column cost more than the parsing, hashing and embedding together.
    n = sel.size
    whole = n == len(batch)
    picked = sel.tolist()
    if headers is not None:
        index = None if whole else pa.array(sel)
        cols = {name: values if index is None else values.take(index) for name, values in headers.items()}
    else:
        cols = parse_headers_arrow(batch.titles if whole else [batch.titles[j] for j in picked])
    # A header without an identifier was named "<file>#<record>" by the scan.
    ids = pa.array(scan.ids[pos : pos + n] if whole else [scan.ids[pos + j] for j in picked], pa.string())
    cols["id"] = ids
    acc = cols["accession"]
    cols["accession"] = pc.if_else(pc.fill_null(pc.equal(acc, ""), True), ids, acc)
    name = cols["name"]
    cols["name"] = pc.if_else(pc.fill_null(pc.equal(name, ""), False), pa.scalar(None, pa.string()), name)
    if aliases and any(pos + j in aliases for j in picked):
        cols["aliases"] = pa.array(
            [list(al) + aliases.get(pos + j, []) for al, j in zip(cols["aliases"].to_pylist(), picked, strict=True)],
            pa.list_(pa.string()),
        )
    if whole:
        packed: Any = batch.data
        sub_off = batch.offsets
    else:
        packed, sub_off = _gather(np.frombuffer(batch.data, dtype=np.uint8), batch.offsets, sel)
    mol = batch.molecule[sel].copy()
    mol[mol == MOL_AMBIGUOUS] = majority
    hashes = np.ascontiguousarray(batch.hashes[sel])
    stamp = pa.scalar(now, pa.timestamp("us", tz="UTC")).value
    arrays: dict[str, pa.Array] = {
        "seq_hash": pa.StringArray.from_buffers(
            n, pa.py_buffer(np.arange(0, 32 * (n + 1), 32, dtype=np.int32)), pa.py_buffer(hashes)
        ),
        "sequence": pa.StringArray.from_buffers(n, pa.py_buffer(sub_off.astype(np.int32)), pa.py_buffer(packed)),
        "length": pa.array(np.diff(sub_off).astype(np.int32)),
        "molecule": _MOLECULE_ARROW.take(pa.array(mol)),
        "source_file": pa.array([source], pa.string()).take(pa.array(np.zeros(n, dtype=np.int32))),
        "imported_at": pa.array(np.full(n, stamp, dtype=np.int64), pa.timestamp("us", tz="UTC")),
    }
    for col_name, values in cols.items():
        wanted = schema.field(col_name).type
        arrays[col_name] = values if values.type == wanted else values.cast(wanted)
    nucleotide = (mol == MOL_DNA) | (mol == MOL_RNA)
    for col, emb in embedder_objs.items():
        if vectors is not None and col in vectors:
            vecs = vectors[col] if whole else vectors[col][sel]
        elif hasattr(emb, "embed_packed"):
            vecs = emb.embed_packed(packed, sub_off, nucleotide)
        else:
            raw, o = bytes(packed), sub_off.tolist()
            seqs = [raw[o[i] : o[i + 1]].decode() for i in range(n)]
            molecules = _MOLECULE_NAMES[mol].tolist()
            if getattr(emb, "cancellable", False):
                # Slow (model) embedders check the token between their own small batches.
                vecs = emb.embed(seqs, molecules, cancel=cancel, on_progress=on_embedded)
            else:
                vecs = emb.embed(seqs, molecules)
        flat = np.ascontiguousarray(vecs, dtype=np.float32).reshape(-1)
        arrays[col] = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), emb.dim)
    return pa.Table.from_arrays([_fill(arrays, f, n) for f in schema], schema=schema)


def _gather(arr: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pack the records ``rows`` of a packed buffer into a new one (buffer, offsets)."""
    starts, ends = offsets[rows], offsets[rows + 1]
    lens = ends - starts
    new_off = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lens, out=new_off[1:])
    if new_off[-1] == 0:
        return arr[:0], new_off
    idx = np.repeat(starts - new_off[:-1], lens) + np.arange(new_off[-1])
    return arr[idx], new_off


def _embedder_key(emb: Any) -> tuple[Any, ...]:
    return emb.name, emb.version, emb.dim, json.dumps(emb.params(), sort_keys=True)


def _fill(arrays: dict[str, pa.Array], f: pa.Field, n: int) -> pa.Array:
    # User fields added by the schema editor start empty for new rows, or with the field's default.
    if f.name in arrays:
        return arrays[f.name]
    default = field_default(f)
    if default is None:
        return pa.nulls(n, f.type)
    return pa.array([default], f.type).take(pa.array(np.zeros(n, dtype=np.int32)))


def _alias_updates(
    catalog: Catalog, scan: _Scan, in_catalog: np.ndarray, writer: _FragmentWriter, fr: FileReport
) -> tuple[list[Any], list[int], int]:
    """Rewrite catalog rows that gain identifiers from this file as aliases.

    Returns the updated fragments, the fragments removed entirely, and the number of rows rewritten.
    """
    fr.imported = sum(f.physical_rows for f in writer.fragments)
    new_ids: dict[str, list[str]] = defaultdict(list)
    for i in np.flatnonzero(in_catalog).tolist():
        new_ids[scan.hashes[i].decode()].append(scan.ids[i])
    if not new_ids:
        return [], [], 0
    updated, removed, rows, added = rewrite_aliases(catalog, new_ids, writer)
    fr.aliases_added += added
    return updated, removed, rows


def rewrite_aliases(
    catalog: Catalog, new_ids: dict[str, list[str]], writer: _FragmentWriter
) -> tuple[list[Any], list[int], int, int]:
    """Write new versions of the catalog rows whose sequence gains identifiers (``seq_hash`` -> ids).

    Identifiers the row already has (its ``id`` or an alias) are not added twice.
    Returns the updated fragments, the fragments removed entirely, the number of
    rows rewritten and the number of aliases added; the rewritten rows are
    written (uncommitted) by ``writer``.
    """
    added = 0
    existing = catalog.rows_by_hash(new_ids)
    changed_rows = []
    aliases_col = existing.column("aliases").to_pylist()
    id_col = existing.column("id").to_pylist()
    hash_col = existing.column("seq_hash").to_pylist()
    for r, (h, ident, al) in enumerate(zip(hash_col, id_col, aliases_col, strict=True)):
        known = {ident, *(al or [])}
        extra = [x for x in dict.fromkeys(new_ids[h]) if x not in known]
        if extra:
            aliases_col[r] = list(al or []) + extra
            changed_rows.append(r)
            added += len(extra)
    if not changed_rows:
        return [], [], 0, 0
    changed = existing.take(changed_rows)
    changed = changed.set_column(
        changed.schema.get_field_index("aliases"),
        "aliases",
        pa.array([aliases_col[r] for r in changed_rows], pa.list_(pa.string())),
    )
    addresses = changed.column("_rowaddr").to_numpy()
    changed = changed.drop_columns(["_rowaddr"])
    ds = catalog.dataset()
    updated, removed = [], []
    changed_hashes = changed.column("seq_hash").to_pylist()
    for frag_id in np.unique(addresses >> 32).tolist():
        frag = ds.get_fragment(int(frag_id))
        if frag is None:
            raise StorageError("the catalog changed during the import; import the file again")
        in_frag = [h for h, a in zip(changed_hashes, addresses.tolist(), strict=True) if a >> 32 == frag_id]
        pred = "seq_hash IN (" + ",".join(f"'{h}'" for h in in_frag) + ")"
        meta = frag.delete(pred)
        if meta is None:
            removed.append(int(frag_id))
        else:
            updated.append(meta)
    writer.write(changed.select(catalog.schema.names))
    return updated, removed, len(changed_rows), added


def describe_progress(p: Progress) -> str:
    """Format a progress report as one line (used by the CLI)."""
    frac = p.fraction
    pct = f"{frac * 100:5.1f}%" if frac is not None else ""
    return f"{p.message} {pct}".strip()


ProgressPrinter = Callable[[Progress], None]
