"""Pass 2 of a local import: write the new rows as uncommitted Lance fragments.

:class:`FragmentWriter` writes fragments (in the background, a bounded number at a time) and
deletes them if they are not committed; it is shared with the distributed ingest's commit.
:class:`EarlyWriter` writes a kept file's rows during the scan already; :func:`write_pass`
writes the rest; :func:`rewrite_aliases` writes new versions of catalog rows that gain aliases.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.storage import is_remote
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import FastaFormatError, GenoCatError, StorageError
from genocat_desktop.engine.core.progress import Progress, RateMeter
from genocat_desktop.engine.ingest.fasta import MOL_AMBIGUOUS, MOL_DNA, MOL_PROTEIN, MOL_RNA, ParsedBatch
from genocat_desktop.engine.ingest.headers import parse_headers_arrow
from genocat_desktop.engine.ingest.rows import RowContext, build_rows, embedder_key
from genocat_desktop.engine.ingest.scanning import FileImport, Scan, batches_again

__all__ = [
    "WRITES_IN_FLIGHT",
    "WRITE_BATCH",
    "EarlyWriter",
    "FragmentWriter",
    "WritePlan",
    "rewrite_aliases",
    "write_pass",
]

#: Rows per written Lance fragment batch: large enough for fast scans, small
#: enough that one batch (sequences + vectors) stays well under 100 MB.
WRITE_BATCH: Final = 32_768
#: Background writes in flight at once (each a table of up to WRITE_BATCH rows). Two, with two
#: Lance encoding threads (``LANCE_CPU_THREADS``, set in ``engine/__init__.py`` on 2-3 CPUs), took
#: a 1M-record import from 21.0 to 18.6 s median and 100k from 1.91 to 1.77 s, with the k-mer
#: counting off the second core (BENCHMARKS.md, import).
WRITES_IN_FLIGHT: Final = 2


@dataclass(slots=True)
class WritePlan:
    """What the deduplication decided for a file's valid records."""

    write: np.ndarray  # bool per valid record: a new row
    aliases: dict[int, list[str]]  # position of a new row -> later identifiers with its sequence
    majority: int  # the molecule code short records take


class FragmentWriter:
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
        from lance.fragment import write_fragments  # see distributed.tasks.write_part

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


class EarlyWriter:
    """Writes the rows of a kept file's first occurrences during the scan (uncommitted).

    A record is written iff it is the first with its sequence so far and its sequence is not
    in the catalog: the same rows the file's final dedup keeps, because "first" depends only on
    earlier records. What the end of the file can still change is a row's ``aliases`` (a later
    duplicate) and, for records too short to tell their molecule, the file's majority molecule:
    :meth:`finish` deletes the written groups of rows that changed and leaves those batches to
    pass 2. The rows are built one batch behind the scan, so the worker thread's headers and
    vectors for that batch are (nearly always) ready.
    """

    def __init__(self, run: FileImport, ids: list[str], existing: np.ndarray, writer: FragmentWriter) -> None:
        catalog = run.catalog
        self.existing = existing
        self.writer = writer
        embedders = {col: catalog.embedder(col) for col in catalog.vector_columns()}
        # Rows built during the scan have no aliases yet and take short records as protein.
        self.context = RowContext(ids, {}, MOL_PROTEIN, run.path.name, run.now, embedders, catalog.schema)
        self.seen: set[bytes] = set()
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.pending_batches: list[int] = []
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

    def build(self, scan: Scan, upto: int) -> None:
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
                table = build_rows(self.context, scan.batches[number], sel, self.positions[number],
                                   vectors=ready, headers=parsed)
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

    def finish(self, scan: Scan, aliases: dict[int, list[str]], majority: int) -> set[int]:
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


def write_pass(
    run: FileImport, scan: Scan, plan: WritePlan, writer: FragmentWriter, todo: set[int] | None = None
) -> None:
    """Write the rows of the records in ``plan.write`` (only of the batches in ``todo``, if given: kept files).

    Parameters
    ----------
    run
        The file's import.
    scan
        Pass 1's result (its kept batches, or pass 2 reads the spill or the file again).
    plan
        The deduplication's decisions.
    writer
        Writes the fragments (uncommitted).
    todo
        Kept batches still to write (the others were written during the scan).

    Raises
    ------
    FastaFormatError
        If the file changed since pass 1.
    """
    catalog, path, cancel, write = run.catalog, run.path, run.cancel, plan.write
    if scan.batches is not None:
        batches: Iterable[ParsedBatch] = scan.batches
    else:
        batches = _read_ahead(batches_again(run, scan), run, scan, plan)
    embedder_objs = {col: catalog.embedder(col) for col in catalog.vector_columns()}
    # Vectors from the scan are used where the same embedder (same parameters) still makes the column.
    same = {col for col, emb in run.early.items()
            if col in embedder_objs and embedder_key(embedder_objs[col]) == embedder_key(emb)}
    ctx = RowContext(scan.ids, plan.aliases, plan.majority, path.name, run.now, embedder_objs, catalog.schema,
                     cancel)
    if todo is None:
        total = int(write.sum())
    else:
        assert scan.batches is not None
        starts = np.cumsum([0, *(len(b) for b in scan.batches)])
        total = sum(int(write[starts[b] : starts[b + 1]].sum()) for b in todo)
    meter = RateMeter()
    pos = done = pending_rows = 0
    pending: list[pa.Table] = []

    def report(k: int = 0, before: int | None = None, final: bool = False) -> None:
        count = (done if before is None else before) + k
        rate = None if final else meter.update(count)
        run.progress(Progress(count, total, "sequences", "importing", f"Importing {run.prefix}", rate))

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
                    report(k, before)

            table = _batch_rows(ctx, scan, plan, (number, batch, sel, pos), same, on_embedded)
            pending.append(table)
            pending_rows += table.num_rows
            done += table.num_rows
        pos += n
        if pending_rows >= WRITE_BATCH:
            writer.write(pa.concat_tables(pending), background=True)
            pending, pending_rows = [], 0
        if meter.due():
            report()
    if pos != scan.hashes.size:
        raise FastaFormatError(str(path), "the file changed while it was being imported; import it again")
    if pending:
        cancel.raise_if_cancelled()
        writer.write(pa.concat_tables(pending))
    writer.wait()
    report(final=True)


def _batch_rows(
    ctx: RowContext, scan: Scan, plan: WritePlan, where: tuple[int, ParsedBatch, np.ndarray, int], same: set[str],
    on_embedded: Callable[[int], None],
) -> pa.Table:
    """The rows of one batch's new records (``where``: batch number, batch, selected records, position)."""
    number, batch, sel, pos = where
    futures = scan.vectors[number] if number < len(scan.vectors) else None
    ready = None
    # Vectors made during the scan embedded short records as protein: valid unless the file is nucleotide.
    exact = scan.batches is None or plan.majority == MOL_PROTEIN or not (batch.molecule == MOL_AMBIGUOUS).any()
    if futures and exact:
        ready = {col: future.result() for col, future in futures.items() if col in same}
    header_future = scan.headers[number] if number < len(scan.headers) else None
    parsed = header_future.result() if header_future is not None else None
    table = build_rows(ctx, batch, sel, pos, vectors=ready, headers=parsed, on_embedded=on_embedded)
    if number < len(scan.vectors):
        scan.vectors[number] = None  # free the vectors and columns once the rows hold them
    if number < len(scan.headers):
        scan.headers[number] = None
    return table


def _read_ahead(reader: Iterable[ParsedBatch], run: FileImport, scan: Scan, plan: WritePlan) -> Iterator[ParsedBatch]:
    """Pass 2's batches (spilled, or the file parsed again), with their headers and vectors started one batch ahead.

    While the caller builds and writes the rows of batch ``i``, the worker thread parses the
    headers and embeds batch ``i + 1``; the futures go into ``scan.headers`` and ``scan.vectors``
    (at most two batches in flight, so memory stays bounded).
    """
    scan.vectors, scan.headers = [], []
    pool, pos = run.pool, 0
    previous: ParsedBatch | None = None
    for batch in reader:
        n = len(batch)
        wanted = pool is not None and bool(plan.write[pos : pos + n].any())
        pos += n
        if wanted and pool is not None:
            mol = batch.molecule.copy()
            mol[mol == MOL_AMBIGUOUS] = plan.majority
            nucleotide = (mol == MOL_DNA) | (mol == MOL_RNA)
            scan.headers.append(pool.submit(parse_headers_arrow, batch.titles))
            scan.vectors.append({col: pool.submit(emb.embed_packed, batch.data, batch.offsets, nucleotide)
                                 for col, emb in run.early.items()} or None)
        else:
            scan.headers.append(None)
            scan.vectors.append(None)
        if previous is not None:
            yield previous
        previous = batch
    if previous is not None:
        yield previous


def rewrite_aliases(
    catalog: Catalog, new_ids: dict[str, list[str]], writer: FragmentWriter
) -> tuple[list[Any], list[int], int, int]:
    """Write new versions of the catalog rows whose sequence gains identifiers (``seq_hash`` -> ids).

    Identifiers the row already has (its ``id`` or an alias) are not added twice.

    Returns
    -------
    tuple
        The updated fragments, the fragments removed entirely, the number of rows rewritten and
        the number of aliases added; the rewritten rows are written (uncommitted) by ``writer``.
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
    updated, removed = _delete_old_rows(catalog, changed.column("seq_hash").to_pylist(), addresses)
    writer.write(changed.select(catalog.schema.names))
    return updated, removed, len(changed_rows), added


def _delete_old_rows(catalog: Catalog, hashes: list[str], addresses: np.ndarray) -> tuple[list[Any], list[int]]:
    """Delete the old versions of rewritten rows: the updated fragments and those removed entirely."""
    ds = catalog.dataset()
    updated, removed = [], []
    for frag_id in np.unique(addresses >> 32).tolist():
        frag = ds.get_fragment(int(frag_id))
        if frag is None:
            raise StorageError("the catalog changed during the import; import the file again")
        in_frag = [h for h, a in zip(hashes, addresses.tolist(), strict=True) if a >> 32 == frag_id]
        pred = "seq_hash IN (" + ",".join(f"'{h}'" for h in in_frag) + ")"
        meta = frag.delete(pred)
        if meta is None:
            removed.append(int(frag_id))
        else:
            updated.append(meta)
    return updated, removed
