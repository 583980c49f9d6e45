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

import os
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from genocat_desktop.engine.catalog.commits import exclusive_append, hashes_added_since
from genocat_desktop.engine.catalog.fields import discard_fragments as discard_uncommitted
from genocat_desktop.engine.catalog.storage import is_remote
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.catalog.writers import WriterLease, collect_quietly
from genocat_desktop.engine.core.errors import Cancelled, GenoCatError, InputError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, RateMeter, no_progress
from genocat_desktop.engine.ingest.distributed.dedup_modes import (
    Dedup,
    FileScan,
    assemble,
    deduplicate,
    deduplicate_partitioned,
)
from genocat_desktop.engine.ingest.distributed.housekeeping import Lease, discard_fragments
from genocat_desktop.engine.ingest.distributed.plan import DEFAULT_PART_BYTES, IngestPlan, Part, plan_ingest
from genocat_desktop.engine.ingest.distributed.report import IngestReport
from genocat_desktop.engine.ingest.distributed.runners import IngestFailed, Runner, gather, make_runner
from genocat_desktop.engine.ingest.distributed.tasks import (
    ScanResult,
    ScanTask,
    WriteResult,
    WriteTask,
    scan_part,
    write_part,
)
from genocat_desktop.engine.ingest.genes import add_gene_fields, missing_gene_fields
from genocat_desktop.engine.ingest.importer import add_aliases
from genocat_desktop.engine.ingest.reports import FileReport

__all__ = ["DEDUP_MODES", "ingest"]

#: How :func:`ingest` deduplicates: all hashes on the driver, or hash partitions decided by tasks.
DEDUP_MODES: Final = ("driver", "partitioned")


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
    call_genes: bool = False,
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
    call_genes
        Predict the proteins of DNA records with Prodigal in the tasks and ingest them too, as
        ``import_files(call_genes=True)`` does (:mod:`~genocat_desktop.engine.ingest.genes`): the
        same rows, linked to their record by the ``cds_*`` fields, which the catalog gets in a
        schema-only version after the scan when a protein was predicted.

    Returns
    -------
    IngestReport
        Per-file reports, the version committed, or the failure and its inputs.
    """
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    options = _input_options(catalog, inputs, input_options)
    plan = plan_ingest(inputs, part_bytes=part_bytes, input_options=options)
    runner = make_runner(engine, workers, address, retries)
    report = IngestReport(runner.name, runner.workers, [FileReport(f) for f in plan.files], len(plan.parts),
                          bytes=plan.bytes)
    for fi, reason in plan.errors.items():
        report.files[fi].error = reason
    if dedup not in DEDUP_MODES:
        runner.close()
        raise InputError(f"unknown deduplication {dedup!r}; use one of {', '.join(DEDUP_MODES)}")
    run = _IngestRun(catalog, plan, runner, report, strip_gaps, progress, cancel, _fault, options,
                     _spill_area(catalog, dedup, partitions), call_genes=call_genes)
    _execute(run)
    report.seconds = time.perf_counter() - started
    progress(Progress(1, 1, "parts", "done", _summary(report)))
    return report


@dataclass(slots=True)
class _IngestRun:
    """One bulk ingest: what its steps share."""

    catalog: Catalog
    plan: IngestPlan
    runner: Runner
    report: IngestReport
    strip_gaps: bool
    progress: ProgressCallback
    cancel: CancelToken
    fault: dict[str, Any] | None
    input_options: dict[str, str] | None
    spill: tuple[Any, int] | None = None  # (SpillArea, partitions): hash-partitioned deduplication
    written: list[WriteResult] = field(default_factory=list)
    call_genes: bool = False

    @property
    def who(self) -> str:
        """The engine and its workers, for progress messages."""
        return f"{self.runner.name}, {self.runner.workers} worker(s)"


def _spill_area(catalog: Catalog, dedup: str, partitions: int | None) -> tuple[Any, int] | None:
    """The spill area and partition count of a hash-partitioned deduplication (None: on the driver)."""
    if dedup != "partitioned":
        return None
    from genocat_desktop.engine.ingest.distributed.dedup import DEFAULT_PARTITIONS, SpillArea

    return SpillArea.new(catalog.uri, dict(catalog.storage_options)), max(1, partitions or DEFAULT_PARTITIONS)


def _execute(run: _IngestRun) -> None:
    """Run the ingest under a lease; on any failure nothing is committed and what tasks wrote is deleted."""
    report = run.report
    lease = Lease(run.catalog)
    collect_quietly(run.catalog)  # what killed writers left, before this ingest writes anything
    writer = WriterLease(run.catalog, "ingest")
    try:
        lease.take()
        writer.take()
        _run(run)
    except Cancelled:
        report.cancelled = True
        report.error = "cancelled; nothing was committed"
    except IngestFailed as exc:
        report.error = str(exc)
        report.failed_parts = exc.parts
    except GenoCatError as exc:
        report.error = str(exc)
    finally:
        run.runner.close()
        if not report.committed:
            discard_fragments(run.catalog, [f for w in run.written for f in w.fragments])
        if run.spill is not None:
            run.spill[0].remove()
        writer.release()
        lease.release()


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


def _run(run: _IngestRun) -> None:
    phases = run.report.phase_seconds
    t = time.perf_counter()
    scans, records = _scan_parts(run)
    phases["scan"] = time.perf_counter() - t
    if run.call_genes:
        _gene_fields(run, scans)

    t = time.perf_counter()
    run.progress(Progress(0, None, "records", "deduplicating", f"Deduplicating {records:,} records"))
    read_version = run.catalog.refresh()
    files = assemble(run.plan, scans, run.report)
    sources: dict[int, list[tuple[int, int]]] = {}
    if run.spill is None:
        dedup = deduplicate(run.catalog, list(files.values()), run.report)
    else:
        dedup, sources = deduplicate_partitioned(run.catalog, read_version, run.plan, files, run.report, run.runner,
                                                 run.spill, run.cancel)
    phases["dedup"] = time.perf_counter() - t
    run.cancel.raise_if_cancelled()

    t = time.perf_counter()
    _write_parts(run, scans, files, dedup, sources)
    phases["write"] = time.perf_counter() - t

    t = time.perf_counter()
    try:
        if not _commit(run, dedup, read_version):
            return  # nothing new: the files keep no version of their own
    finally:
        phases["commit"] = time.perf_counter() - t
    for f in run.report.files:
        if f.ok:
            f.version = run.report.version


def _gene_fields(run: _IngestRun, scans: dict[int, ScanResult]) -> None:
    """Count the predicted proteins per file; give the catalog the ``cds_*`` fields if any was predicted.

    As a local import does (``importer._add_gene_fields``): a schema-only version of its own,
    before the write tasks build rows with the catalog's schema.
    """
    for p in run.plan.parts:
        res, fr = scans[p.index], run.report.files[p.file_index]
        fr.proteins_predicted += res.proteins
        fr.contigs_called += res.contigs
        for mode, n in res.gene_modes.items():
            fr.gene_modes[mode] = fr.gene_modes.get(mode, 0) + n
    if any(f.proteins_predicted for f in run.report.files) and missing_gene_fields(run.catalog):
        run.cancel.raise_if_cancelled()
        add_gene_fields(run.catalog)


def _scan_parts(run: _IngestRun) -> tuple[dict[int, ScanResult], int]:
    """Pass 1: scan every part. Returns the results by part and the records read."""
    plan, progress = run.plan, run.progress
    scans: dict[int, ScanResult] = {}
    meter = RateMeter()
    done_bytes = records = files_done = 0
    parts_left: dict[int, int] = defaultdict(int)  # file -> parts not scanned yet (to count finished files)
    for p in plan.parts:
        parts_left[p.file_index] += 1

    def scanned(part: Part, res: ScanResult) -> None:
        nonlocal done_bytes, records, files_done
        scans[part.index] = res
        done_bytes += part.size
        records += res.records
        parts_left[part.file_index] -= 1
        files_done += parts_left[part.file_index] == 0
        rate = meter.update(records)
        progress(Progress(done_bytes, plan.bytes, "bytes", "checking",
                          f"Checking {len(scans)}/{len(plan.parts)} parts, {files_done}/{len(parts_left)} files "
                          f"({run.who}): {records:,} records" + (f", {rate:,.0f}/s" if rate else ""), rate))

    handles = {run.runner.submit(scan_part, ScanTask(p, run.strip_gaps, run.fault, run.input_options, run.spill,
                                                     run.call_genes)): p
               for p in plan.parts}
    gather(run.runner, handles, scanned, run.cancel)
    return scans, records


def _write_parts(
    run: _IngestRun, scans: dict[int, ScanResult], files: dict[int, FileScan], dedup: Dedup,
    sources: dict[int, list[tuple[int, int]]],
) -> None:
    """Pass 2: every part with new rows writes them (uncommitted); the results go to ``run.written``."""
    catalog, spill = run.catalog, run.spill
    schema = catalog.schema
    columns = catalog.vector_columns()
    for col in columns:
        catalog.embedder(col)  # fail here, not in every task, if this GenoCat lacks the embedder
    now = datetime.now(UTC)
    total = sum(int(w.size) for w in dedup.write.values()) if spill is None else dedup.total
    meter = RateMeter()
    rows = 0

    def wrote(part: Part, res: WriteResult) -> None:
        nonlocal rows
        run.written.append(res)
        rows += res.rows
        rate = meter.update(rows)
        run.progress(Progress(rows, total, "sequences", "writing",
                              f"Writing {len(run.written)}/{len(dedup.write)} parts ({run.who}): {rows:,} new "
                              "sequences" + (f", {rate:,.0f}/s" if rate else ""), rate))

    tasks = {}
    for part in run.plan.parts:
        idx = dedup.write.get(part.index)
        if idx is None:
            continue
        fa = files[part.file_index]
        tasks[run.runner.submit(write_part, WriteTask(
            part, run.strip_gaps, catalog.uri, schema, dict(catalog.storage_options), columns, idx,
            dedup.within.get(part.index, {}), dedup.later.get(part.index, {}), fa.names.get(part.index, {}),
            fa.majority, Path(part.path).name, now, scans[part.index].digest, run.fault, run.input_options,
            (spill[0], sources[part.index]) if spill is not None else None, run.call_genes,
        ))] = part
    gather(run.runner, tasks, wrote, run.cancel)


def _commit(run: _IngestRun, dedup: Dedup, read_version: int) -> bool:
    """Add the new aliases of catalog rows and commit every fragment in one version.

    Returns False when there was nothing to commit (the report then names the version read).
    """
    catalog, report, cancel = run.catalog, run.report, run.cancel
    cancel.raise_if_cancelled()
    written = run.written
    written.sort(key=lambda w: w.part)
    fragments = [f for w in written for f in w.fragments]
    alias_files: list[Any] = []
    committed = False
    try:
        done = add_aliases(catalog, dedup.catalog_aliases)
        alias_files, alias_rows = done.fragments, done.alias_rows
        report.aliases_added = done.aliases_added + sum(w.aliases for w in written)
        imported = sum(f.imported for f in report.files)
        if not fragments and not alias_files:
            report.version = read_version
            report.committed = True
            return False
        cancel.raise_if_cancelled()
        names = ", ".join(Path(f.path).name for f in report.files if f.ok)
        message = (f"ingest ({run.runner.name}, {len(run.plan.parts)} parts) {names[:200]}: {imported:,} new, "
                   f"{alias_rows:,} with new aliases")
        run.progress(Progress(0, None, "rows", "committing", f"Committing {imported:,} new sequences"))
        since = read_version

        def replan() -> tuple[Any, int, str]:
            # Lost to another process's commit (see exclusive_append). Rows it added may be sequences
            # this ingest wrote too: those would need the parts rewritten, so the ingest stops cleanly.
            nonlocal since, alias_files
            if hashes_added_since(catalog, since).size:
                raise IngestFailed("another program added sequences to the catalog during this ingest; nothing "
                                   "was saved: run the ingest again (what is now in the catalog is skipped)", [])
            since = catalog.version
            # Alias files are written again from the latest rows: an edit committed meanwhile stays.
            discard_uncommitted(catalog, alias_files)
            alias_files = add_aliases(catalog, dedup.catalog_aliases).fragments
            return exclusive_append(catalog.dataset(), fragments, alias_files), since, message

        op = exclusive_append(catalog.dataset(), fragments, alias_files)
        report.version = catalog.commit(op, read_version, message, replan=replan, cancel=cancel)
        report.committed = committed = True
        return True
    finally:
        if not committed:
            discard_uncommitted(catalog, alias_files)
