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
``aliases`` (also when the sequence was already in the catalog). A sequence already in
the catalog also fills its row's empty header fields (:data:`FILLABLE_FIELDS`) from the
file's first record with that sequence; a field with a value is never overwritten. Both
go into the file's one commit, whose message says what the report says.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.commits import exclusive_append, hashes_added_since
from genocat_desktop.engine.catalog.fields import discard_fragments
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.catalog.writers import WriterLease, collect_quietly
from genocat_desktop.engine.core.errors import Cancelled, FastaFormatError, GenoCatError, StorageError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, gc_paused, no_progress
from genocat_desktop.engine.ingest.genes import add_gene_fields, missing_gene_fields
from genocat_desktop.engine.ingest.headers import parse_headers_arrow
from genocat_desktop.engine.ingest.records import majority_molecule
from genocat_desktop.engine.ingest.reports import FileReport, ImportReport, IssueLog
from genocat_desktop.engine.ingest.scanning import FileImport, Scan, batches_again, scan_file, warn_duplicate_ids
from genocat_desktop.engine.ingest.writing import EarlyWriter, FragmentWriter, WritePlan, write_pass

__all__ = ["FILLABLE_FIELDS", "FileReport", "ImportReport", "RowUpdates", "add_aliases", "import_files"]

#: Rows of kept files are written during the scan only with at least this many CPUs. On two
#: cores the parser and the worker thread already keep both busy: writing alongside them cost
#: ~0.3 CPU-s more per 100k rows (in Lance's background thread) and gave no wall-clock gain
#: (BENCHMARKS.md, import); with spare cores the write overlaps the scan.
EARLY_WRITE_MIN_CPUS: Final = 3

#: Header fields that a later import of a sequence already in the catalog fills where its row has
#: them empty (null or ""). A value that is set is never overwritten: the first import's text and
#: the user's edits stay, and a re-import can only add information. The gene fields (``cds_*``,
#: :data:`~genocat_desktop.engine.ingest.genes.GENE_FIELDS`) count where the catalog has them.
FILLABLE_FIELDS: Final = ("description", "name", "organism", "taxid", "gene",
                          "cds_contig", "cds_start", "cds_end", "cds_strand")

#: Maps ``seq_hash`` values to the header fields (:data:`FILLABLE_FIELDS`) the file gives them.
HeaderFields = Callable[[Collection[str]], dict[str, dict[str, Any]]]


def import_files(
    catalog: Catalog,
    paths: Sequence[str | os.PathLike[str]],
    *,
    strip_gaps: bool = False,
    call_genes: bool = False,
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
    call_genes
        Predict the proteins of every DNA record (pyrodigal) and import them as rows too,
        with their contig, coordinates and strand (:mod:`~genocat_desktop.engine.ingest.genes`);
        the first file that brings coordinates adds the ``cds_*`` fields (one schema-only version).
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
    # What killed writers left is removed first; this import's own record (taken before it writes
    # anything) tells the next writer what to remove if this process dies in turn.
    collect_quietly(catalog)
    # The scan allocates a few container objects per record: full collections, each a walk over
    # every object of the process, took ~8% of an import's CPU time (also outside the window's jobs).
    with gc_paused(), WriterLease(catalog, "import"):
        return _import_files(catalog, paths, strip_gaps, progress, cancel, call_genes)


def _import_files(
    catalog: Catalog,
    paths: Sequence[str | os.PathLike[str]],
    strip_gaps: bool,
    progress: ProgressCallback,
    cancel: CancelToken,
    call_genes: bool = False,
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
                         datetime.now(UTC), call_genes=call_genes)
        try:
            _import_one(run)
        except Cancelled:
            report.cancelled = True
            fr.error = "cancelled; nothing from this file was imported"
        except GenoCatError as exc:
            fr.fail(exc)  # a FASTA error keeps its line and column
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
                and (os.cpu_count() or 1) >= EARLY_WRITE_MIN_CPUS and not run.call_genes):
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
            _add_gene_fields(run)
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


def _add_gene_fields(run: FileImport) -> None:
    """Give the catalog the ``cds_*`` fields before the rows of a file that fills them are written.

    A schema-only version of its own, made after the scan (a rejected or cancelled scan adds
    nothing). Gene calling writes no row during the scan (no early writer), so every row of the
    file is built with the new schema.
    """
    if not run.call_genes or not run.report.proteins_predicted:
        return
    if missing_gene_fields(run.catalog):
        run.cancel.raise_if_cancelled()
        add_gene_fields(run.catalog)


def _deduplicate(run: FileImport, scan: Scan, existing: np.ndarray, warn: bool = True) -> _Decided:
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
    if warn:
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
    """Add the new aliases to catalog rows, then commit everything in one version (if anything changed).

    The commit fails if another process committed anything since ``read_version`` (see
    :func:`~genocat_desktop.engine.catalog.commits.exclusive_append`); the file is then deduplicated
    again against what was committed, so a sequence the other process stored meanwhile becomes an
    alias of its row instead of a second row, and the commit is retried.
    """
    catalog, fr = run.catalog, run.report
    fr.imported = sum(f.physical_rows for f in writer.fragments)
    plan = _Commit(run, scan, decided, writer, read_version)
    try:
        updated, _ = plan.aliases()
        if not writer.fragments and not updated:
            fr.version = read_version
            return
        run.cancel.raise_if_cancelled()
        op = exclusive_append(catalog.dataset(), writer.fragments, updated)
        fr.version = catalog.commit(op, read_version, plan.message(), replan=plan.replan, cancel=run.cancel)
        writer.committed = True
    finally:
        if not writer.committed:
            discard_fragments(catalog, plan.alias_files)


@dataclass(slots=True)
class _Commit:
    """What a file's commit needs to be planned again after it lost to another process's commit."""

    run: FileImport
    scan: Scan
    decided: _Decided
    writer: FragmentWriter
    read_version: int
    alias_files: list[Any] = field(default_factory=list)  # fragments with new alias files, not committed

    def message(self) -> str:
        """The version's description in History: the same words as the import report."""
        fr = self.run.report
        text = f"import {self.run.path.name}: {fr.imported:,} new"
        return f"{text}; {fr.catalog_changes()}" if fr.aliases_added or fr.rows_filled else text

    def aliases(self) -> tuple[list[Any], int]:
        """Give the catalog rows of sequences this file repeats its identifiers, and fill their empty fields.

        Read on the latest version read; see :func:`add_aliases` for the rule.
        """
        scan, catalog, fr = self.scan, self.run.catalog, self.run.report
        discard_fragments(catalog, self.alias_files)
        new_ids: dict[str, list[str]] = defaultdict(list)
        for i in np.flatnonzero(self.decided.in_catalog).tolist():
            new_ids[scan.hashes[i].decode()].append(scan.ids[i])
        done = add_aliases(catalog, new_ids, self.header_fields)
        self.alias_files = done.fragments
        fr.aliases_added, fr.alias_rows, fr.rows_filled = done.aliases_added, done.alias_rows, done.rows_filled
        return self.alias_files, done.rows

    def header_fields(self, hashes: Collection[str]) -> dict[str, dict[str, Any]]:
        """Per ``seq_hash``: the non-empty fillable fields of this file's first record with that sequence.

        The first record, as for a new row: importing the same file again then finds nothing to fill
        (a later duplicate within the file never fills its own row either).
        """
        run, scan = self.run, self.scan
        first: dict[str, int] = {}
        for i in np.flatnonzero(self.decided.in_catalog).tolist():
            first.setdefault(scan.hashes[i].decode(), i)
        positions = sorted(first[h] for h in set(hashes) if h in first)
        parsed = parse_headers_arrow(_titles_at(run, scan, positions))
        columns = {name: parsed[name].to_pylist() for name in FILLABLE_FIELDS}
        return {
            scan.hashes[i].decode(): {name: v[k] for name, v in columns.items() if v[k] not in (None, "")}
            for k, i in enumerate(positions)
        }

    def replan(self) -> tuple[Any, int, str]:
        """The file's change against the latest version (the catalog has just been refreshed)."""
        run, scan, writer, catalog = self.run, self.scan, self.writer, self.run.catalog
        run.cancel.raise_if_cancelled()
        latest = catalog.version
        added = hashes_added_since(catalog, self.read_version)
        self.read_version = latest
        if added.size and np.isin(scan.hashes[self.decided.plan.write], added).any():
            # The other process stored sequences this file wrote: deduplicate against it, write again.
            writer.discard()
            self.decided = _deduplicate(run, scan, catalog.existing_hashes(), warn=False)
            _write_rows(run, scan, self.decided.plan, writer, None)
            run.report.imported = sum(f.physical_rows for f in writer.fragments)
        # Alias files are rewritten from the latest rows: an edit committed meanwhile stays.
        updated, _ = self.aliases()
        return exclusive_append(catalog.dataset(), writer.fragments, updated), latest, self.message()


def _titles_at(run: FileImport, scan: Scan, positions: list[int]) -> list[str]:
    """The header lines of the valid records at ``positions`` (ascending), from the kept or spilled batches."""
    titles: list[str] = []
    if not positions:
        return titles
    wanted = iter(positions)
    target = next(wanted, None)
    start = 0
    for batch in scan.batches if scan.batches is not None else batches_again(run, scan):
        end = start + len(batch)
        while target is not None and target < end:
            titles.append(batch.titles[target - start])
            target = next(wanted, None)
        if target is None:
            break
        start = end
        run.cancel.raise_if_cancelled()
    return titles


@dataclass(slots=True)
class RowUpdates:
    """What :func:`add_aliases` wrote: uncommitted fragments and what they change."""

    fragments: list[Any]  # to commit, or to discard with :func:`.fields.discard_fragments`
    rows: int = 0  # rows changed (new aliases, filled fields, or both)
    aliases_added: int = 0
    alias_rows: int = 0  # rows that gained aliases
    rows_filled: int = 0  # rows that had empty fields filled


@dataclass(slots=True)
class _RowChanges:
    """The new values of the catalog rows an import changes (positions in the table read)."""

    rows: list[int] = field(default_factory=list)
    aliases: list[list[str]] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)  # fillable field -> value per changed row
    filled: set[str] = field(default_factory=set)  # the fields that some row had filled
    aliases_added: int = 0
    alias_rows: int = 0
    rows_filled: int = 0


def _row_changes(
    table: pa.Table, new_ids: dict[str, list[str]], fill: list[str], header_fields: HeaderFields | None
) -> _RowChanges:
    """New aliases and filled fields of the rows in ``table`` (see :func:`add_aliases`)."""
    hashes, ids, old_aliases = (table.column(c).to_pylist() for c in ("seq_hash", "id", "aliases"))
    current = {name: table.column(name).to_pylist() for name in fill}
    empty = [h for r, h in enumerate(hashes) if any(current[name][r] in (None, "") for name in fill)]
    # The file's headers are read again only for rows that have something to fill.
    found = header_fields(empty) if empty and header_fields is not None else {}
    out = _RowChanges(values={name: [] for name in fill})
    for r, h in enumerate(hashes):
        known = {ids[r], *(old_aliases[r] or [])}
        extra = [x for x in dict.fromkeys(new_ids[h]) if x not in known]
        given = found.get(h, {})
        filled = {name: given[name] for name in fill if current[name][r] in (None, "") and name in given}
        if not extra and not filled:
            continue
        out.rows.append(r)
        out.aliases.append([*(old_aliases[r] or []), *extra])
        for name in fill:
            out.values[name].append(filled.get(name, current[name][r]))
        out.filled.update(filled)
        out.aliases_added += len(extra)
        out.alias_rows += bool(extra)
        out.rows_filled += bool(filled)
    return out


def add_aliases(
    catalog: Catalog, new_ids: dict[str, list[str]], header_fields: HeaderFields | None = None
) -> RowUpdates:
    """Write the new aliases of catalog rows (``seq_hash`` -> identifiers) and fill their empty fields, uncommitted.

    Identifiers a row already has (its ``id`` or an alias) are not added twice. With
    ``header_fields``, a row's :data:`FILLABLE_FIELDS` that are empty (null or ``""``) take the values
    the file's records of that sequence give; a field that has a value keeps it. Each touched fragment
    gets one new data file holding only the changed columns (its rows keep their place and every other
    column), so the change fits in the same commit as the new rows.

    Parameters
    ----------
    catalog
        The catalog, at the version the change is planned on.
    new_ids
        ``seq_hash`` -> identifiers of this import's records with that sequence.
    header_fields
        Called with the hashes of rows that have an empty fillable field; returns, per hash, the
        non-empty field values the import has for it (``None``: aliases only).

    Returns
    -------
    RowUpdates
        The updated fragments and the counts of what changed.
    """
    if not new_ids:
        return RowUpdates([])
    ds = catalog.dataset()
    fill = [name for name in FILLABLE_FIELDS if name in ds.schema.names] if header_fields is not None else []
    hashes = [h for h in new_ids if h.isalnum()]
    parts = [
        ds.to_table(columns=["seq_hash", "id", "aliases", *fill], with_row_id=True, with_row_address=True,
                    filter="seq_hash IN (" + ",".join(f"'{h}'" for h in hashes[i : i + 5000]) + ")")
        for i in range(0, len(hashes), 5000)
    ]
    table = pa.concat_tables(parts)
    changes = _row_changes(table, new_ids, fill, header_fields)
    if not changes.rows:
        return RowUpdates([])
    changed = table.take(changes.rows)
    columns: dict[str, Any] = {"_rowid": changed.column("_rowid")}
    if changes.aliases_added:
        columns["aliases"] = pa.array(changes.aliases, pa.list_(pa.string()))
    for name in fill:
        if name in changes.filled:  # only the columns that change get a new data file
            columns[name] = pa.array(changes.values[name], table.schema.field(name).type)
    update = pa.table(columns)
    fragment_of = changed.column("_rowaddr").to_numpy() >> np.uint64(32)
    updated: list[Any] = []
    try:
        for frag_id in np.unique(fragment_of).tolist():
            fragment = ds.get_fragment(int(frag_id))
            if fragment is None:  # the version read has it; only a bug could make it vanish
                raise StorageError(f"fragment {frag_id} of {catalog.location} is missing; import the file again")
            meta, _ = fragment.update_columns(update.filter(pa.array(fragment_of == frag_id)), left_on="_rowid")
            updated.append(meta)
    except BaseException as exc:
        discard_fragments(catalog, updated)
        if isinstance(exc, OSError):
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise StorageError(f"could not write new aliases to {catalog.location}: {first}") from None
        raise
    return RowUpdates(updated, len(changes.rows), changes.aliases_added, changes.alias_rows, changes.rows_filled)


def describe_progress(p: Progress) -> str:
    """Format a progress report as one line (used by the CLI)."""
    frac = p.fraction
    pct = f"{frac * 100:5.1f}%" if frac is not None else ""
    return f"{p.message} {pct}".strip()


ProgressPrinter = Callable[[Progress], None]
