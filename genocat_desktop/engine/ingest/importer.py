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
(:class:`~genocat_desktop.engine.ingest.scanning.Spill`: reading them back costs about an eighth
of parsing the FASTA again);
only if spilling fails, for example on a full disk, does pass 2 parse the file
a second time.

With 3 or more CPUs, a file small enough to keep has the rows of its first
occurrences written (uncommitted) during pass 1 already; pass 2 then only
rewrites the groups whose rows changed after they were written (see
:class:`~genocat_desktop.engine.ingest.writing.EarlyWriter`).

Pass 1 is in :mod:`~genocat_desktop.engine.ingest.scanning`, pass 2 in
:mod:`~genocat_desktop.engine.ingest.writing`, the rows they build in
:mod:`~genocat_desktop.engine.ingest.rows`; this module decides what is new and commits.

Exact duplicates collapse into one row; the other identifiers are kept as
``aliases`` (also when the sequence was already in the catalog).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import Cancelled, FastaFormatError, GenoCatError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, gc_paused, no_progress
from genocat_desktop.engine.ingest.records import majority_molecule
from genocat_desktop.engine.ingest.reports import FileReport, ImportReport, IssueLog
from genocat_desktop.engine.ingest.scanning import FileImport, Scan, scan_file, warn_duplicate_ids
from genocat_desktop.engine.ingest.writing import EarlyWriter, FragmentWriter, WritePlan, rewrite_aliases, write_pass

__all__ = ["FileReport", "ImportReport", "import_files"]

#: Rows of kept files are written during the scan only with at least this many CPUs. On two
#: cores the parser and the worker thread already keep both busy: writing alongside them cost
#: ~0.3 CPU-s more per 100k rows (in Lance's background thread) and gave no wall-clock gain
#: (BENCHMARKS.md, import); with spare cores the write overlaps the scan.
EARLY_WRITE_MIN_CPUS: Final = 3


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
        run = FileImport(catalog, Path(path), fr, IssueLog(fr), strip_gaps, progress, cancel, prefix,
                         datetime.now(UTC))
        try:
            _import_one(run)
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


def _import_one(run: FileImport) -> None:
    catalog = run.catalog
    # Embedders with a packed fast path (the k-mer one) run during the scan in a worker
    # thread: numpy releases the GIL, so a second core embeds while this one parses.
    run.early = {col: emb for col in catalog.vector_columns()
                 if hasattr(emb := catalog.embedder(col), "embed_packed")}
    run.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genocat-embed") if run.early else None
    try:
        _import_scanned(run)
    finally:
        if run.pool is not None:
            run.pool.shutdown(wait=True, cancel_futures=True)


@dataclass(slots=True)
class _Decided:
    """The deduplication of a scanned file against itself and the catalog."""

    plan: WritePlan
    in_catalog: np.ndarray  # bool per valid record: its sequence is in the catalog


def _import_scanned(run: FileImport) -> None:
    catalog, fr = run.catalog, run.report
    writer = FragmentWriter(catalog)
    scan = Scan.empty()
    try:
        ahead = None
        if (run.pool is not None and run.early and set(run.early) == set(catalog.vector_columns())
                and (os.cpu_count() or 1) >= EARLY_WRITE_MIN_CPUS):
            # Only when every vector column is made during the scan: a model embedder in the
            # scan loop would hold it for minutes with no "importing" progress. The catalog's
            # hashes are then read before the scan (otherwise after it, as late as possible).
            read_version = catalog.refresh()
            existing = catalog.existing_hashes()
            ahead = EarlyWriter(run, scan.ids, existing, writer)
        scan_file(run, scan, ahead)
        fr.records = scan.records
        if scan.hashes.size == 0:
            raise FastaFormatError(
                str(run.path), f"no valid record: all {scan.records:,} record(s) were skipped (see the warnings)"
            )
        if ahead is None:
            read_version = catalog.refresh()
            existing = catalog.existing_hashes()
        decided = _deduplicate(run, scan, existing)
        _write_rows(run, scan, decided.plan, writer, ahead)
        _commit(run, scan, decided, writer, read_version)
    finally:
        if scan.spill is not None:
            scan.spill.close()
        writer.close()
        if not writer.committed:
            writer.discard()
    run.progress(Progress(1, 1, "records", "done", fr.summary()))


def _deduplicate(run: FileImport, scan: Scan, existing: np.ndarray) -> _Decided:
    """Decide which records are new rows, which identifiers become aliases, and the file's majority molecule."""
    fr = run.report
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
    warn_duplicate_ids(scan, run.issues)
    return _Decided(WritePlan(write, aliases, majority_molecule(scan.mol_counts)), in_catalog)


def _write_rows(
    run: FileImport, scan: Scan, plan: WritePlan, writer: FragmentWriter, ahead: EarlyWriter | None
) -> None:
    """Pass 2: the rows not written during the scan (or that changed since)."""
    todo = None
    if ahead is not None and scan.batches is not None:
        # Rows written during the scan stay unless a later record gave them aliases, or
        # their short records were written as protein and the file is nucleotide.
        total = int(plan.write.sum())
        run.progress(Progress(ahead.rows, total, "sequences", "importing", f"Importing {run.prefix}"))
        todo = ahead.finish(scan, plan.aliases, plan.majority)
        if not todo:
            run.progress(Progress(total, total, "sequences", "importing", f"Importing {run.prefix}"))
    elif ahead is not None:
        ahead.abandon()
    if plan.write.any() and (todo is None or todo):
        write_pass(run, scan, plan, writer, todo)


def _commit(run: FileImport, scan: Scan, decided: _Decided, writer: FragmentWriter, read_version: int) -> None:
    """Rewrite the catalog rows that gain aliases, then commit everything in one version (if anything changed)."""
    catalog, fr = run.catalog, run.report
    updated, removed, alias_rows = _alias_updates(catalog, scan, decided.in_catalog, writer, fr)
    if not writer.fragments and not updated and not removed:
        fr.version = read_version
        return
    run.cancel.raise_if_cancelled()
    import lance

    if updated or removed:
        op: Any = lance.LanceOperation.Update(
            removed_fragment_ids=removed, updated_fragments=updated, new_fragments=writer.fragments
        )
    else:
        op = lance.LanceOperation.Append(writer.fragments)
    message = f"import {run.path.name}: {fr.imported:,} new, {alias_rows:,} with new aliases"
    fr.version = catalog.commit(op, read_version, message)
    writer.committed = True


def _alias_updates(
    catalog: Catalog, scan: Scan, in_catalog: np.ndarray, writer: FragmentWriter, fr: FileReport
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


def describe_progress(p: Progress) -> str:
    """Format a progress report as one line (used by the CLI)."""
    frac = p.fraction
    pct = f"{frac * 100:5.1f}%" if frac is not None else ""
    return f"{p.message} {pct}".strip()


ProgressPrinter = Callable[[Progress], None]
