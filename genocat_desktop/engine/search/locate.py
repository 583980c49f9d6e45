"""Where a nucleotide query lies inside long records: record, start, end and strand.

A k-mer vector describes a whole record, so a 1 kb fragment of a 2.5 Mbp genome only matches its
composition (a 1 kb piece ranked its own record first among 200 pieces of the same genome for 94 %
of 2 kb records, 78 % at 10 kb, 56 % at 20 kb, 4 % at 200 kb), and aligning it to the whole record
costs seconds (pyopal: ~7 µs per record base for a 1 kb query, both strands). Nucleotide records
of at least :data:`LONG_RECORD` residues are therefore located by seeds instead, as minimap2 maps
reads: one minimap2 index (the ``mappy`` binding) over the long records of a catalog, mapped with
the query (both strands at once), gives record, region, strand and an alignment scored with the
project's nucleotide scheme (:mod:`.placement`), so a located hit's ``aln_score``, ``bits`` and
``evalue`` are on the scale of every other nucleotide hit and of the detail pane's alignment.
``bench/dna/locate_run.py`` measures it against minimap2 and blastn.

Why no windows: embedding windows of each long record (the issue's other suggestion) would add
hundreds of vectors per genome at import and still place a fragment only to a window, and a
window's composition is no better than a record's at 15 % divergence; the seeds give exact
coordinates directly, in a few milliseconds per query, and the index costs ~1 s per 5 Mbp, built
on the first nucleotide search, not at import.

The index (:class:`Locator`) is built lazily from the long records of the version searched and
kept in RAM; it is reused while the set of long records (their sequence hashes) is unchanged, so
importing genes does not rebuild it. From :data:`DISK_MIN_RESIDUES` long residues (smaller ones
build in under two seconds) it is also saved in a cache folder (``<user cache>/GenoCat/locate/<hash
of the catalog URI>/``, never inside the catalog; the last :data:`DISK_CATALOGS` catalogs kept), and
a later process loads it instead of building.

The searcher's nucleotide path uses :func:`without_long` (the vectors' hits, less the long
records) and :func:`merge_located` (those hits joined with :meth:`Locator.locate`'s).

Hit columns: the alignment columns of :data:`~.alignment.ALIGNMENT_COLUMNS` (``sstrand``: ``plus``
or ``minus``) and, as the translated search names them, ``hit_start``/``hit_end`` on the record
(1-based, inclusive, ``hit_start > hit_end`` on the minus strand, as BLAST prints them) and
``query_start``/``query_end`` on the query (1-based, inclusive).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.core.molecules import is_nucleotide
from genocat_desktop.engine.search.placement import ALL_CHAINS_CELLS, MAP_OPTIONS, Placement, place_in, seeds
from genocat_desktop.engine.search.scoring import NUCLEOTIDE

__all__ = [
    "LONG_RECORD",
    "LONG_SQL",
    "LocateIndex",
    "Located",
    "Locator",
    "locate_hits",
    "merge_located",
    "without_long",
]

#: Nucleotide records at least this long are located by seeds (and kept out of composition ranking).
LONG_RECORD: Final = 10_000
#: The long records of a catalog, as a Lance filter.
LONG_SQL: Final = f"molecule IN ('dna', 'rna') AND length >= {LONG_RECORD}"
#: Most long residues indexed: the index takes ~10-13 bytes of RAM per residue (41 MB for a 2.5 Mbp
#: genome, 165 MB for 12 Mbp at k = 11; 124 MB at k = 15). Above, long records are searched as before
#: (composition, then alignment of the whole record) and :attr:`Locator.skipped` says why.
MAX_INDEXED: Final = 400_000_000
#: Long residues from which the index is also saved in the cache folder (it builds in ~2 s and more).
DISK_MIN_RESIDUES: Final = 20_000_000
#: Catalogs whose saved indexes the cache folder keeps (the most recently used).
DISK_CATALOGS: Final = 8
_INDEX_VERSION: Final = 1  # bump when the index layout or seeds change: old cache files are then ignored


@dataclass(slots=True)
class LocateIndex:
    """A minimap2 index over a catalog's long nucleotide records, named by their ``seq_hash``."""

    key: str
    aligner: Any
    lengths: dict[str, int]
    residues: int

    def place(self, query: str, allowed: set[str] | None = None) -> list[Placement]:
        """:func:`place_in` with this index."""
        every = len(self.lengths) > 1 and len(query) * self.residues <= ALL_CHAINS_CELLS
        return place_in(self.aligner, query, self._region, allowed, all_chains=every)

    def _region(self, name: str, start: int, end: int) -> str:
        return str(self.aligner.seq(name, start, end) or "")


@dataclass(slots=True)
class _Listing:
    """The long records of one version: their hashes, row addresses and lengths."""

    version: int
    hashes: list[str]
    addresses: np.ndarray
    lengths: np.ndarray
    key: str  # what the index over these records is called (hashes and seeds)
    where: dict[str, int]  # a hash's position in these lists


class Locator:
    """Locates nucleotide queries inside the long records of one catalog; thread-safe.

    Parameters
    ----------
    cache_dir
        Where indexes are saved between processes (``None``: the user cache folder; ``False``: RAM only).
    disk_min_residues
        Indexes of fewer long residues are kept in RAM only: they build faster (~0.1 s per Mbp) than
        a saved copy is worth keeping on disk.
    """

    def __init__(self, cache_dir: Path | bool | None = None, disk_min_residues: int = DISK_MIN_RESIDUES) -> None:
        self._lock = threading.Lock()
        self._cache_dir = cache_dir
        self._disk_min = disk_min_residues
        self._listing: _Listing | None = None
        self._index: LocateIndex | None = None
        self._allowed: dict[tuple[int, str], set[str]] = {}
        self._residues: tuple[int, int] | None = None
        self._empty: tuple[tuple[int, tuple[str, ...]], pa.Table] | None = None
        #: Why the long records of the last version checked are not located (too many, or no mappy), or None.
        self.skipped: str | None = None

    def listing(self, ds: Any) -> _Listing:
        """The long records of the dataset's version (cached per version)."""
        listing = self._listing
        if listing is not None and listing.version == ds.version:
            return listing
        table = ds.to_table(columns=["seq_hash", "length"], filter=LONG_SQL, with_row_address=True)
        hashes = table.column("seq_hash").to_pylist()
        lengths = np.asarray(table.column("length").to_numpy(zero_copy_only=False), dtype=np.int64)
        residues = int(lengths.sum())
        digest = hashlib.sha1(repr((_INDEX_VERSION, seeds(residues), sorted(hashes))).encode()).hexdigest()
        listing = _Listing(ds.version, hashes, table.column("_rowaddr").to_numpy(), lengths, digest[:20],
                           {h: i for i, h in enumerate(hashes)})
        self._listing = listing
        return listing

    def has_long_records(self, ds: Any) -> bool:
        """Whether the dataset's version holds long records that are located here (at most :data:`MAX_INDEXED`)."""
        listing = self.listing(ds)
        residues = int(listing.lengths.sum())
        self.skipped = None
        if listing.hashes and not _has_mappy():
            self.skipped = "minimap2's Python binding (mappy) is not installed: long records are ranked by composition"
            return False
        if residues > MAX_INDEXED:
            self.skipped = (f"the long nucleotide records hold {residues:,} residues, more than the "
                            f"{MAX_INDEXED:,} placed by seeds: they are ranked by composition")
            return False
        return bool(listing.hashes)

    def index(self, ds: Any) -> LocateIndex | None:
        """The index over the version's long records (built, loaded or reused), or ``None`` if there are none."""
        with self._lock:
            listing = self.listing(ds)
            if not listing.hashes:
                return None
            if self._index is not None and self._index.key == listing.key:
                return self._index
            residues = int(listing.lengths.sum())
            if not self.has_long_records(ds):
                return None
            folder = self._folder(ds) if residues >= self._disk_min else None
            self._index = _load(folder, listing, residues) or _build(ds, folder, listing, residues)
            return self._index

    def _folder(self, ds: Any) -> Path | None:
        if self._cache_dir is False:
            return None
        if self._cache_dir is None or self._cache_dir is True:
            import platformdirs

            base = Path(platformdirs.user_cache_dir("GenoCat", appauthor=False)) / "locate"
        else:
            base = Path(self._cache_dir)
        return base / hashlib.sha1(str(ds.uri).encode()).hexdigest()[:16]

    def _allowed_names(self, ds: Any, sql: str | None) -> set[str] | None:
        if sql is None:
            return None
        key = (ds.version, sql)
        names = self._allowed.get(key)
        if names is None:
            table = ds.to_table(columns=["seq_hash"], filter=f"({sql}) AND {LONG_SQL}")
            names = set(table.column("seq_hash").to_pylist())
            self._allowed = {key: names}  # one filter at a time: a new search replaces it
        return names

    def _db_residues(self, ds: Any) -> int:
        if self._residues is None or self._residues[0] != ds.version:
            import pyarrow.compute as pc

            total = int(pc.sum(ds.to_table(columns=["length"]).column("length")).as_py() or 0)
            self._residues = (ds.version, total)
        return self._residues[1]

    def locate(
        self, ds: Any, sql: str | None, columns: Sequence[str], query: str, k: int, db_residues: int | None = None
    ) -> Located:
        """The ``k`` long records that hold the best placements of ``query``, with where and how well.

        Parameters
        ----------
        ds
            The Lance dataset (the version searched).
        sql
            The search's filter (Lance SQL) or ``None``.
        columns
            The hit columns to return (as the searcher's other hits).
        query
            The nucleotide query (both strands are searched).
        k
            Most hits (one per record: its best placement).
        db_residues
            The E-value's search space (the catalog's residues, as for the other hits; default:
            every row's length summed).

        Returns
        -------
        Located
            The hit rows (``columns`` plus the alignment columns, ``hit_start``, ``hit_end``,
            ``query_start``, ``query_end``), their bit scores and row addresses, best first; empty
            without long records.
        """
        index = self.index(ds)
        placements = index.place(query, self._allowed_names(ds, sql)) if index is not None else []
        listing = self.listing(ds)
        best: dict[str, Placement] = {}
        for p in placements:
            if p.name in listing.where:  # (another thread may have indexed another version meanwhile)
                best.setdefault(p.name, p)
        chosen = list(best.values())[:k]
        at = np.array([listing.where[p.name] for p in chosen], dtype=np.int64)
        addresses = listing.addresses[at].astype(np.uint64)
        if not chosen:
            return Located(self._no_rows(ds, columns), np.zeros(0), addresses)
        rows = ds._take_rows(addresses.tolist(), columns=list(columns))
        residues = db_residues if db_residues is not None else self._db_residues(ds)
        rows, bits = _with_columns(rows, chosen, len(query), residues, listing.lengths[at])
        return Located(rows, bits, addresses)

    def _no_rows(self, ds: Any, columns: Sequence[str]) -> pa.Table:
        """No hit rows: ``columns`` as Lance types them and the located columns. Most queries of a gene
        catalog place nothing in its long records, and a scan of no rows costs ~0.7 ms, the columns
        added ~0.2 ms: the empty table is kept per version and columns."""
        key = (ds.version, tuple(columns))
        found = self._empty
        if found is None or found[0] != key:
            empty = _with_columns(ds.to_table(columns=list(columns), limit=0), [], 0, 0, np.zeros(0, np.int64))[0]
            found = self._empty = (key, empty)
        return found[1]

    def hits(
        self, ds: Any, sql: str | None, columns: Sequence[str], query: str, k: int, db_residues: int | None = None
    ) -> tuple[pa.Table, np.ndarray]:
        """:meth:`locate`'s rows and bit scores (the translated search's shape: rows, ranking score)."""
        found = self.locate(ds, sql, columns, query, k, db_residues)
        return found.rows, found.bits


@dataclass(frozen=True, slots=True)
class Located:
    """A query's located hits: rows with their columns, bit scores and row addresses, best first."""

    rows: pa.Table
    bits: np.ndarray
    addresses: np.ndarray


def without_long(rows: pa.Table, scores: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """The hits found by the vectors, less the long records (located instead; aligning them whole takes seconds).

    Rows without a ``length`` column are returned as they are.
    """
    if "length" not in rows.column_names or rows.num_rows == 0:
        return rows, scores
    lengths = np.asarray(rows.column("length").to_numpy(zero_copy_only=False))
    keep = np.flatnonzero(lengths < LONG_RECORD)
    if "molecule" in rows.column_names:
        protein = np.asarray([not is_nucleotide(m) for m in rows.column("molecule").to_pylist()])
        keep = np.flatnonzero((lengths < LONG_RECORD) | protein)
    if keep.size == rows.num_rows:
        return rows, scores
    return rows.take(pa.array(keep)), scores[keep]


def merge_located(
    rows: pa.Table, scores: np.ndarray, located: Located, cosines: np.ndarray, k: int, *, aligned: bool
) -> tuple[pa.Table, np.ndarray]:
    """A nucleotide query's hits from the vectors joined with its located hits in long records.

    Parameters
    ----------
    rows, scores
        The hits the vectors found (aligned when ``aligned``), long records already removed
        (:func:`without_long`), and their cosine scores.
    located, cosines
        :meth:`Locator.locate`'s hits and their cosine scores (the ``score`` column of every hit).
    k
        Most hits.
    aligned
        Whether ``rows`` carry alignment columns: then all hits are ranked by bit score (the same
        scheme and search space), else the located hits (alignments with an E-value) come first.

    Returns
    -------
    tuple
        The rows (columns a side lacks are null) and their cosine scores, best first, at most ``k``.
    """
    if located.rows.num_rows == 0:
        return rows.slice(0, k), scores[:k]
    # A long record the vectors found is kept once, located (rows without a length column kept them).
    key = next((c for c in ("seq_hash", "id") if c in rows.column_names and c in located.rows.column_names), None)
    if key is not None and rows.num_rows:
        seen = set(located.rows.column(key).to_pylist())
        keep = np.flatnonzero([v not in seen for v in rows.column(key).to_pylist()])
        rows, scores = rows.take(pa.array(keep, type=pa.int64())), np.asarray(scores)[keep]
    both = pa.concat_tables([located.rows, rows], promote_options="default")
    score = np.concatenate([np.asarray(cosines, dtype=np.float64), np.asarray(scores, dtype=np.float64)])
    if aligned:
        bits = np.nan_to_num(both.column("bits").to_numpy(zero_copy_only=False).astype(np.float64), nan=-np.inf)
        order = np.lexsort((np.arange(both.num_rows), -score, -bits))[:k]
    else:
        order = np.arange(min(k, both.num_rows))
    return both.take(pa.array(order)), score[order]


def _with_columns(rows: pa.Table, chosen: list[Placement], query_length: int, db_residues: int,
                  lengths: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """The hit rows with their alignment and coordinate columns, and their bit scores."""
    score = np.array([p.score for p in chosen], dtype=np.int64)
    bits = NUCLEOTIDE.bits(score) if chosen else np.zeros(0)
    columns: dict[str, Any] = {
        "aln_score": score,
        "bits": np.round(bits, 6),
        "evalue": query_length * max(db_residues, 1) * np.exp2(-bits),
        "identity": np.round([p.identities / max(p.columns, 1) for p in chosen], 6),
        "query_cov": np.round([(p.query_end - p.query_start) / max(query_length, 1) for p in chosen], 6),
        "target_cov": np.round([(p.target_end - p.target_start) / max(int(n), 1)
                                for p, n in zip(chosen, lengths, strict=True)], 6),
        "sstrand": [p.strand for p in chosen],
        # BLAST's subject coordinates: 1-based, inclusive, counting down on the minus strand.
        "hit_start": [p.target_start + 1 if p.strand == "plus" else p.target_end for p in chosen],
        "hit_end": [p.target_end if p.strand == "plus" else p.target_start + 1 for p in chosen],
        "query_start": [p.query_start + 1 for p in chosen],
        "query_end": [p.query_end for p in chosen],
    }
    types = {"aln_score": pa.int64(), "bits": pa.float64(), "evalue": pa.float64(), "identity": pa.float64(),
             "query_cov": pa.float64(), "target_cov": pa.float64(), "sstrand": pa.string()}
    for name, values in columns.items():
        rows = rows.append_column(name, pa.array(values, type=types.get(name, pa.int64())))
    return rows, bits


def _load(folder: Path | None, listing: _Listing, residues: int) -> LocateIndex | None:
    """The saved index for these records, or ``None`` (absent or unreadable)."""
    if folder is None:
        return None
    path = folder / f"{listing.key}.mmi"
    if not path.is_file():
        return None
    import mappy

    try:
        aligner = mappy.Aligner(str(path), **MAP_OPTIONS)
    except (OSError, RuntimeError, ValueError):
        return None
    if not aligner or set(aligner.seq_names) != set(listing.hashes):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept when the cache folder is pruned
    return LocateIndex(listing.key, aligner, dict(zip(listing.hashes, map(int, listing.lengths), strict=True)),
                       residues)


def _build(ds: Any, folder: Path | None, listing: _Listing, residues: int) -> LocateIndex:
    """Build the index from the long records (a FASTA file minimap2 reads), saving it in ``folder`` if it can."""
    import tempfile

    import mappy

    saved: Path | None = None
    if folder is not None:
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            saved = folder / f"{listing.key}.mmi"
    scratch = Path(tempfile.mkdtemp(prefix="genocat-locate-"))
    try:
        fasta = scratch / "long.fa"
        with fasta.open("w", encoding="ascii") as out:
            for batch in ds.to_batches(columns=["seq_hash", "sequence"], filter=LONG_SQL, batch_size=64):
                for name, seq in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                    out.write(f">{name}\n{seq}\n")
        partial = scratch / "index.mmi"
        aligner = mappy.Aligner(str(fasta), **seeds(residues), **MAP_OPTIONS,
                                fn_idx_out=str(partial) if saved is not None else None)
        if not aligner:
            raise QueryError("the long records could not be indexed for positions (minimap2)")
        if saved is not None:
            _keep_only(saved, partial)
    finally:
        for leftover in scratch.iterdir():
            leftover.unlink(missing_ok=True)
        scratch.rmdir()
    return LocateIndex(listing.key, aligner, dict(zip(listing.hashes, map(int, listing.lengths), strict=True)),
                       residues)


def _keep_only(saved: Path, built: Path) -> None:
    """Move the new index into the cache, delete the catalog's older ones (another set of long records)
    and the indexes of all but the :data:`DISK_CATALOGS` catalogs used last."""
    with contextlib.suppress(OSError):
        os.replace(built, saved)
        for old in saved.parent.glob("*.mmi"):
            if old != saved:
                old.unlink(missing_ok=True)
        others = sorted(saved.parent.parent.glob("*/*.mmi"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in others[DISK_CATALOGS:]:
            old.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                old.parent.rmdir()


def _has_mappy() -> bool:
    import importlib.util

    return importlib.util.find_spec("mappy") is not None


_DEFAULT: dict[str, Locator] = {}
_DEFAULT_LOCK = threading.Lock()


def locate_hits(
    ds: Any, sql: str | None, columns: Sequence[str], query: str, k: int, db_residues: int | None = None
) -> tuple[pa.Table, np.ndarray]:
    """:meth:`Locator.hits` with one process-wide :class:`Locator` per catalog (by the dataset's URI)."""
    with _DEFAULT_LOCK:
        locator = _DEFAULT.setdefault(str(ds.uri), Locator())
    return locator.hits(ds, sql, columns, query, k, db_residues)
