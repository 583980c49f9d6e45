"""The two ways a bulk ingest deduplicates: on the driver, or by hash partitions decided by tasks.

Both take the scans of every part, joined per file (:func:`assemble`), and decide what a
sequence of local imports would: which records are new rows, which identifiers become aliases
(of a new row, or of a catalog row), and the per-file counts and warnings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.progress import CancelToken
from genocat_desktop.engine.ingest.distributed.plan import IngestPlan, Part
from genocat_desktop.engine.ingest.distributed.report import IngestReport
from genocat_desktop.engine.ingest.distributed.runners import Runner, gather
from genocat_desktop.engine.ingest.distributed.tasks import ScanResult, catalog_map_task, reduce_task
from genocat_desktop.engine.ingest.fasta import RecordIssue
from genocat_desktop.engine.ingest.records import majority_molecule
from genocat_desktop.engine.ingest.reports import MAX_ISSUES, FileReport, IssueLog

__all__ = ["Dedup", "FileScan", "assemble", "deduplicate", "deduplicate_partitioned"]


@dataclass(slots=True)
class FileScan:
    index: int
    parts: list[int]  # part indices, in order
    hashes: np.ndarray
    ids: pa.Array
    offsets: list[int]  # where each part's records start in ``hashes``
    names: dict[int, dict[int, str]]  # part -> part-local index -> name for unnamed records
    majority: int
    record_bases: list[int] = field(default_factory=list)  # per part: its first record's number in the file


def assemble(plan: IngestPlan, scans: dict[int, ScanResult], report: IngestReport) -> dict[int, FileScan]:
    """Join the parts of each file; number records and lines as a whole-file reading would."""
    by_file: dict[int, list[Part]] = defaultdict(list)
    for p in plan.parts:
        by_file[p.file_index].append(p)
    out: dict[int, FileScan] = {}
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
        majority = majority_molecule(mol)
        out[fi] = FileScan(fi, [p.index for p in parts], h, pa.concat_arrays(ids), offsets, names, majority, bases)
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
class Dedup:
    write: dict[int, np.ndarray]  # part -> part-local indices to write
    within: dict[int, dict[int, list[str]]]  # part -> local index -> same-file aliases
    later: dict[int, dict[int, list[str]]]  # part -> local index -> identifiers from later files
    catalog_aliases: dict[str, list[str]]  # seq_hash -> identifiers of catalog rows' sequences
    total: int = 0  # rows to write (partitioned deduplication: ``write`` then holds empty placeholders)


def deduplicate(catalog: Catalog, files: list[FileScan], report: IngestReport) -> Dedup:
    """Decide, for every record of every file in input order, what a sequence of local imports would do."""
    out = Dedup({}, {}, {}, defaultdict(list))
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


def deduplicate_partitioned(
    catalog: Catalog, read_version: int, plan: IngestPlan, files: dict[int, FileScan], report: IngestReport,
    runner: Runner, spill: tuple[Any, int], cancel: CancelToken,
) -> tuple[Dedup, dict[int, list[tuple[int, int]]]]:
    """The decisions of :func:`deduplicate`, made by catalog-map and reduce tasks over hash partitions."""
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
        runner.submit(catalog_map_task, (area, partitions, read_version, g, k)):
            Part(-1, -1, f"catalog fragments {g[0]}-{g[-1]}")
        for k, g in enumerate(groups)
    }
    gather(runner, handles, lambda part, rows: None, cancel)

    results: list[PartitionResult] = []
    handles = {
        runner.submit(reduce_task, (area, p, part_file, part_base, names, len(plan.files))):
            Part(-1, -1, f"hash partition {p}")
        for p in range(partitions)
    }
    gather(runner, handles, lambda part, res: results.append(res), cancel)
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
        IssueLog(report.files[fi]).add(by_file[fi])
    write = {p: np.empty(0, np.int64) for p in np.flatnonzero(writes).tolist()}
    return Dedup(write, {}, {}, load_catalog_aliases(area, partitions), int(writes.sum())), sources


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
        IssueLog(fr).add([
            RecordIssue(None, None, name, f"identifier used for {int(variants[b])} different sequences; all kept")
            for name, b in zip(names, bad.tolist(), strict=True)
        ])
