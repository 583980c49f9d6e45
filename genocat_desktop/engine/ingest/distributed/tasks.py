"""The tasks of a bulk ingest, run in worker processes: scan a part, write a part, and the dedup tasks.

Tasks are plain functions of one picklable argument: a process pool or Ray imports them by
this module's path in each worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.core.errors import EmbedderMismatchError, FastaFormatError, StorageError
from genocat_desktop.engine.core.progress import CancelToken, no_progress
from genocat_desktop.engine.embed.embedders import base as embedders
from genocat_desktop.engine.ingest.distributed.plan import Part
from genocat_desktop.engine.ingest.distributed.reading import PartReader, readable
from genocat_desktop.engine.ingest.fasta import RecordIssue, split_title
from genocat_desktop.engine.ingest.reports import MAX_ISSUES
from genocat_desktop.engine.ingest.rows import RowContext, build_rows

__all__ = [
    "ROWS_PER_FILE",
    "ScanResult",
    "ScanTask",
    "WriteResult",
    "WriteTask",
    "catalog_map_task",
    "reduce_task",
    "scan_part",
    "write_part",
]

#: Rows per Lance data file written by a task (one fragment per file).
ROWS_PER_FILE: Final = 1 << 20


@dataclass(slots=True)
class ScanTask:
    part: Part
    strip_gaps: bool
    fault: dict[str, Any] | None = None
    input_options: dict[str, str] | None = None
    spill: tuple[Any, int] | None = None  # (SpillArea, partitions): hash-partitioned deduplication
    call_genes: bool = False  # the predicted proteins of DNA records are records too (ingest.genes)


@dataclass(slots=True)
class ScanResult:
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
    proteins: int = 0  # with gene calling: proteins predicted, DNA records called, records per Prodigal mode
    contigs: int = 0
    gene_modes: dict[str, int] = field(default_factory=dict)


def _records(local: Part, task: ScanTask | WriteTask) -> tuple[PartReader, Any]:
    """The part's reader, and the batches to read: with gene calling, each followed by its predicted proteins.

    The same :class:`~genocat_desktop.engine.ingest.genes.GeneCallingReader` as a local import's,
    so both give the same rows; deterministic, so the write pass reads what the scan hashed.
    """
    reader = PartReader(local, task.strip_gaps)
    if not task.call_genes:
        return reader, reader
    from genocat_desktop.engine.ingest.genes import GeneCallingReader

    # No progress from inside a task (the driver reports parts done) and a token of its own: the
    # driver cancels a task by stopping it.
    return reader, GeneCallingReader(reader, no_progress, CancelToken(), Path(task.part.path).name)


def scan_part(task: ScanTask) -> ScanResult:
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
        with readable(part, task.input_options) as local:
            reader, batches = _records(local, task)
            for batch in batches:
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
        return ScanResult(part.index, np.empty(0, "S32"), pa.array([], pa.string()), [], 0, mol_counts, [], 0, 0,
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
    genes = batches if batches is not reader else None
    return ScanResult(part.index, h, id_array, numbers, reader.records, mol_counts, issues,
                       issue_count, skipped,
                       lines, digest.hexdigest(), None, time.perf_counter() - started, valid, unnamed,
                       genes.proteins if genes else 0, genes.contigs if genes else 0,
                       dict(genes.modes) if genes else {})


def _located(exc: FastaFormatError, part: Part) -> str:
    if part.start and exc.line is not None:
        return f"{exc.reason} (line {exc.line:,} of the part starting at byte {part.start:,})"
    return exc.reason


@dataclass(slots=True)
class WriteTask:
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
    call_genes: bool = False  # as the scan: the predicted proteins are records (their rows fill cds_*)


@dataclass(slots=True)
class WriteResult:
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


def write_part(task: WriteTask) -> WriteResult:
    """Pass 2 over one part: build the new rows and write them as uncommitted fragments."""
    started = time.perf_counter()
    part = task.part
    embedder_objs = {col: _embedder(rec) for col, rec in task.embedders.items()}
    if task.decisions is not None:  # hash-partitioned deduplication: this part's decisions are in the spill area
        from genocat_desktop.engine.ingest.distributed.dedup import load_decisions

        d = load_decisions(*task.decisions)
        task.write, task.within, task.later = d.write, d.within, d.later
    with readable(part, task.input_options) as local:
        return _write_local(task, local, embedder_objs, started)


def _write_local(task: WriteTask, local: Part, embedder_objs: dict[str, embedders.Embedder],
                 started: float) -> WriteResult:
    # The function from the submodule itself: in Ray workers the `lance` package can lack its `fragment`
    # attribute ("module 'lance' has no attribute 'fragment'") after `import lance` and even after
    # `import lance.fragment`; `from … import` reads sys.modules instead.
    from lance.fragment import write_fragments

    part = task.part
    _, batches = _records(local, task)
    digest = hashlib.md5()
    written = aliases = 0
    # build_rows reads identifiers as ctx.ids[pos + j], part-local.
    ctx = RowContext([], task.within, task.majority, task.source, task.now, dict(embedder_objs), task.schema)

    def tables() -> Iterator[pa.RecordBatch]:
        nonlocal written, aliases
        pos = 0
        for batch in batches:
            n = len(batch)
            digest.update(batch.hashes.tobytes())
            ctx.ids.extend(split_title(t)[0] or task.names.get(pos + j, "") for j, t in enumerate(batch.titles))
            lo, hi = np.searchsorted(task.write, [pos, pos + n])
            sel = task.write[lo:hi] - pos
            if sel.size:
                table = build_rows(ctx, batch, sel, pos)
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
    return WriteResult(part.index, list(fragments), written, aliases, time.perf_counter() - started)


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


def catalog_map_task(args: tuple[Any, int, int, list[int], int]) -> int:
    """Spill the catalog's hashes (some fragments) into the hash partitions."""
    from genocat_desktop.engine.ingest.distributed.dedup import spill_catalog

    return spill_catalog(*args)


def reduce_task(args: tuple[Any, int, np.ndarray, np.ndarray, list[str], int]) -> Any:
    """Decide one hash partition."""
    from genocat_desktop.engine.ingest.distributed.dedup import reduce_partition

    return reduce_partition(*args)
