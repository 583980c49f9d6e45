"""Pass 1 of a local import: read the file once, check and hash every record, collect identifiers.

Nothing is written to the catalog here. The parsed batches are kept in memory for pass 2 when
the file is small (with their headers and k-mer vectors computed meanwhile in a worker thread),
or spilled to a temporary file (:class:`Spill`); a file that has to be rejected is rejected here.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, RateMeter
from genocat_desktop.engine.ingest.fasta import MOL_DNA, MOL_RNA, FastaReader, ParsedBatch, RecordIssue
from genocat_desktop.engine.ingest.genes import GeneCallingReader
from genocat_desktop.engine.ingest.headers import parse_headers_arrow
from genocat_desktop.engine.ingest.reports import FileReport, IssueLog

__all__ = [
    "KEEP_PARSED_BYTES",
    "KEEP_VECTOR_BYTES",
    "FileImport",
    "Scan",
    "ScanFollower",
    "Spill",
    "batches_again",
    "scan_file",
    "warn_duplicate_ids",
]

#: Files whose residues fit this budget keep pass 1's batches in memory for pass 2.
#: Larger files spill them to a temporary file (:class:`Spill`) so memory stays bounded.
KEEP_PARSED_BYTES: Final = 128 << 20
#: Vectors of the default (k-mer) embedder computed during the scan, in a worker
#: thread while the main thread parses the next batch, are kept up to this size
#: (16 MiB per 8192 records); the rest are computed in pass 2.
KEEP_VECTOR_BYTES: Final = 256 << 20


@dataclass(slots=True)
class FileImport:
    """The import of one file: what both passes and the commit share.

    Attributes
    ----------
    early
        Vector column -> embedder with a packed fast path, run during the scan in ``pool``.
    pool
        The worker thread that parses headers and embeds during the scan (None: no such embedder).
    """

    catalog: Catalog
    path: Path
    report: FileReport
    issues: IssueLog
    strip_gaps: bool
    progress: ProgressCallback
    cancel: CancelToken
    prefix: str  # the file's name in progress messages
    now: datetime
    early: dict[str, Any] = field(default_factory=dict)
    pool: ThreadPoolExecutor | None = None
    call_genes: bool = False  # predicted proteins of DNA records become records too (ingest.genes)


@dataclass(slots=True)
class Scan:
    """What pass 1 learnt about a file, and the work it kept for pass 2."""

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
    spill: Spill | None = None

    @classmethod
    def empty(cls) -> Scan:
        """A scan before the first batch."""
        return cls(np.empty(0, dtype="S32"), [], np.zeros(4, dtype=np.int64), 0)


class ScanFollower(Protocol):
    """Work done during the scan on the kept batches (the early writer of pass 2)."""

    def add(self, batch: ParsedBatch, pos: int) -> None:
        """A batch was scanned; its first record is at ``pos``."""

    def build(self, scan: Scan, upto: int) -> None:
        """Do the work of the kept batches before ``upto``."""

    def abandon(self) -> None:
        """The batches are no longer kept: undo the work."""


class Spill:
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
    def open(folder: Path, file_bytes: int = 0) -> Spill | None:
        """A new spill file in ``folder`` (``Catalog.work_folder("import")``), or None if it cannot be made.

        None also when the disk has less free space than twice ``file_bytes`` (the FASTA file's
        size) plus 1 GiB: the spill must not fill the disk that the catalog's writes need.
        """
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if shutil.disk_usage(folder).free < 2 * file_bytes + (1 << 30):
                return None
            return Spill(folder)
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


def scan_file(run: FileImport, scan: Scan, ahead: ScanFollower | None = None) -> Scan:
    """Pass 1 over ``run.path`` into ``scan``; batches too large to keep go to a spill file.

    The caller owns ``scan`` and closes its spill, also when this raises.

    Parameters
    ----------
    run
        The file's import.
    scan
        Filled in place (the early writer reads its growing identifiers and kept batches).
    ahead
        Work done on the kept batches during the scan, if any.

    Returns
    -------
    Scan
        ``scan``.
    """
    return _Scanner(run, scan, ahead).run()


def batches_again(run: FileImport, scan: Scan) -> Iterable[ParsedBatch]:
    """Pass 2's batches of a file whose batches were not kept: the spill file, or the file parsed again."""
    if scan.spill is not None:
        return scan.spill
    return _reader(run)


def _reader(run: FileImport) -> FastaReader | GeneCallingReader:
    """The file's records; with gene calling, each batch followed by the proteins predicted on it."""
    reader = FastaReader(run.path, strip_gaps=run.strip_gaps)
    if not run.call_genes:
        return reader
    return GeneCallingReader(reader, run.progress, run.cancel, run.prefix, run.report)


class _Scanner:
    """The state of one pass 1: what is kept, spilled, and computed in the background."""

    def __init__(self, run: FileImport, scan: Scan, ahead: ScanFollower | None) -> None:
        self.run_ = run
        self.scan = scan
        self.ahead = ahead
        self.reader = _reader(run)
        self.kept: list[ParsedBatch] | None = []
        self.kept_bytes = 0
        self.vector_bytes = 0
        self.spill_to = run.catalog.work_folder("import")
        # The object pass 2 gets; the early writer reads its growing ids and kept batches during the scan.
        scan.batches, scan.vectors, scan.headers = self.kept, [], []

    def run(self) -> Scan:
        run, scan, reader = self.run_, self.scan, self.reader
        meter = RateMeter()
        hashes: list[np.ndarray] = []
        pos = 0
        for batch in reader:
            run.cancel.raise_if_cancelled()
            hashes.append(batch.hashes)
            if self.kept is not None:
                self.kept_bytes += len(batch.data) + sum(len(t) for t in batch.titles)
                if self.kept_bytes > KEEP_PARSED_BYTES:
                    self._stop_keeping(batch)
                else:
                    self._keep(batch)
            elif scan.spill is not None and not scan.spill.add(batch):
                scan.spill = None  # e.g. the disk is full: pass 2 parses the file again
            scan.ids.extend(self._identifiers(batch))
            if self.ahead is not None and self.kept is not None:
                self.ahead.add(batch, pos)
                # Rows one batch behind: the worker has had a batch's parsing time to finish them.
                self.ahead.build(scan, len(self.kept) - 1)
            pos += len(batch)
            scan.mol_counts += np.bincount(batch.molecule, minlength=4)
            run.issues.add(batch.issues, batch.skipped)
            if meter.due():
                rate = meter.update(reader.bytes_read)
                run.progress(Progress(reader.bytes_read, reader.size, "bytes", "checking",
                                      f"Checking {run.prefix}", rate))
        run.issues.add(reader.file_issues)
        scan.hashes = np.concatenate(hashes) if hashes else np.empty(0, dtype="S32")
        scan.records = reader.records
        return scan

    def _keep(self, batch: ParsedBatch) -> None:
        """Keep ``batch`` for pass 2 and start its headers (and vectors, within budget) in the worker."""
        assert self.kept is not None
        run, scan = self.run_, self.scan
        self.kept.append(batch)
        if run.pool is None:
            return
        scan.headers.append(run.pool.submit(parse_headers_arrow, batch.titles))
        if run.early and self.vector_bytes < KEEP_VECTOR_BYTES:
            # Records too short to tell their molecule are embedded as protein here; pass 2
            # re-embeds the batch if the file turns out to be nucleotide (see writing.write_pass).
            nucleotide = (batch.molecule == MOL_DNA) | (batch.molecule == MOL_RNA)
            scan.vectors.append({col: run.pool.submit(emb.embed_packed, batch.data, batch.offsets, nucleotide)
                                 for col, emb in run.early.items()})
            self.vector_bytes += len(batch) * sum(4 * emb.dim for emb in run.early.values())
        else:
            scan.vectors.append(None)

    def _stop_keeping(self, batch: ParsedBatch) -> None:
        """Too large to keep: the batches go to a spill file, and pass 2 does all the work itself."""
        assert self.kept is not None
        scan = self.scan
        scan.spill = Spill.open(self.spill_to, self.reader.size or 0)
        for old in [*self.kept, batch]:
            if scan.spill is not None and not scan.spill.add(old):
                scan.spill = None
        self.kept = None
        for future in [*scan.headers, *(f for futures in scan.vectors for f in (futures or {}).values())]:
            if future is not None:
                future.cancel()
        scan.batches, scan.vectors, scan.headers = None, [], []
        if self.ahead is not None:
            self.ahead.abandon()
            self.ahead = None

    def _identifiers(self, batch: ParsedBatch) -> list[str]:
        """The batch's identifiers; a header without one is named ``<file>#<record>`` (warned)."""
        # The first word, as split_title gives it (str.split skips leading whitespace).
        batch_ids = [parts[0] if (parts := title.split(None, 1)) else "" for title in batch.titles]
        if "" in batch_ids:
            for i in [i for i, ident in enumerate(batch_ids) if not ident]:
                number, line = int(batch.numbers[i]), int(batch.lines[i])
                batch_ids[i] = ident = f"{self.run_.path.name}#{number}"
                self.run_.issues.add([RecordIssue(number, line, "", f"header has no identifier; named it {ident!r}")])
        return batch_ids


def warn_duplicate_ids(scan: Scan, issues: IssueLog) -> None:
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
