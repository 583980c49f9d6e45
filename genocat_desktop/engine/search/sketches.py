"""Searching a MinHash sketch column: which records contain the query, and how far genomes are apart.

A sketch column (:mod:`genocat_desktop.engine.embed.embedders.sketch`) holds, per
nucleotide record, the sorted hashes of its canonical k-mers (both strands alike)
that fall below ``2**64 / scaled``. A query is sketched the same way; then, per
record, ``shared_hashes`` = hashes in both, and

* ``containment`` = shared / query hashes: the share of the query's k-mers found in
  the record ("which constructs carry this insert", either orientation);
* ``jaccard`` = shared / hashes in either;
* ``ani``: average nucleotide identity from the containment, ``1 - distance`` as
  sourmash's ``containment_ani`` estimates it (point estimate, ``C ** (1 / k)``);
* ``distance``: the Mash-like distance from the Jaccard index, as sourmash's
  ``jaccard_ani`` estimates it (``1 - (2J / (1 + J)) ** (1 / k)``; strand-blind).

Hits are the records sharing at least one hash, ranked by containment (then Jaccard);
``score`` is the containment. The conversions to ANI and distance are sourmash's own
(``sourmash.distance_utils``, point estimates: no confidence intervals, which need scipy).

How it is fast: the hashes of the searched version are loaded once into RAM, sorted,
each with the position of its record (16 bytes a hash: 10k constructs of 5 kb at
scaled 100 are ~8 MB). A query's hashes are located with two ``searchsorted`` calls
and counted per record with one ``bincount``: no loop over records. The copy is
reloaded when the catalog gets a new version; a filter is evaluated by Lance once
per version into a mask.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.query import Condition, to_sql
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.core.molecules import is_nucleotide
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.search.queries import Query, read_queries

__all__ = ["SKETCH_COLUMNS", "SketchIndex", "ani_from", "search_sketches"]

#: The columns a sketch search adds to each hit, after ``rank`` and ``score``.
SKETCH_COLUMNS: Final = ("containment", "ani", "distance", "jaccard", "shared_hashes")
#: Filter masks kept per searcher (version, filter).
_MASKS_KEPT: Final = 16


@dataclass(slots=True)
class SketchIndex:
    """The hashes of one sketch column at one catalog version, sorted, with their records.

    Attributes
    ----------
    version, column
        What was loaded.
    addresses
        Lance row addresses of the records, sorted (``uint64``).
    sizes
        Hashes per record.
    hashes
        Every record's hashes, sorted (``uint64``).
    rows
        For each of ``hashes``, the position of its record in ``addresses``.
    """

    version: int
    column: str
    addresses: np.ndarray
    sizes: np.ndarray
    hashes: np.ndarray
    rows: np.ndarray

    @classmethod
    def load(cls, ds: Any, column: str, cancel: CancelToken | None = None) -> SketchIndex:
        """Read ``column`` of the dataset version ``ds`` (one fragment at a time; ``cancel`` checked between)."""
        import pyarrow.compute as pc

        addresses, sizes, values = [], [], []
        for frag in sorted(ds.get_fragments(), key=lambda f: f.fragment_id):
            if cancel is not None:
                cancel.raise_if_cancelled()
            table = frag.to_table(columns=[column], with_row_address=True)
            col = table.column(column).combine_chunks()
            addresses.append(table.column("_rowaddr").to_numpy())
            sizes.append(pc.fill_null(pc.list_value_length(col), 0).to_numpy().astype(np.int64))
            values.append(col.flatten().to_numpy().astype(np.uint64, copy=False))
        addr = np.concatenate(addresses) if addresses else np.empty(0, np.uint64)
        size = np.concatenate(sizes) if sizes else np.empty(0, np.int64)
        flat = np.concatenate(values) if values else np.empty(0, np.uint64)
        owner = np.repeat(np.arange(addr.size, dtype=np.int32), size)
        by_address = np.argsort(addr, kind="stable")
        if not np.array_equal(by_address, np.arange(addr.size)):
            # Rows come in fragment and offset order, so this does not happen; kept sorted regardless.
            position = np.empty_like(by_address)
            position[by_address] = np.arange(addr.size)
            addr, size, owner = addr[by_address], size[by_address], position[owner].astype(np.int32)
        order = np.argsort(flat, kind="stable")
        return cls(ds.version, column, addr, size, flat[order], owner[order])

    def shared(self, query: np.ndarray) -> np.ndarray:
        """Hashes shared with the sorted, unique ``query`` hashes, per record (``int64``)."""
        lo = np.searchsorted(self.hashes, query, side="left")
        hi = np.searchsorted(self.hashes, query, side="right")
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            return np.zeros(self.addresses.size, dtype=np.int64)
        starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        hits = self.rows[starts + np.arange(total)]
        return np.bincount(hits, minlength=self.addresses.size).astype(np.int64)

    def mask(self, ds: Any, sql: str) -> np.ndarray:
        """Records passing the Lance filter ``sql`` (``bool`` per record)."""
        allowed = ds.to_table(columns=[], filter=sql, with_row_address=True).column("_rowaddr").to_numpy()
        out = np.zeros(self.addresses.size, dtype=bool)
        pos = np.searchsorted(self.addresses, allowed)
        inside = pos < self.addresses.size
        pos, allowed = pos[inside], allowed[inside]
        out[pos[self.addresses[pos] == allowed]] = True
        return out


@dataclass(slots=True)
class _Cache:
    """What one searcher keeps between sketch searches: the loaded index and filter masks."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    index: SketchIndex | None = None
    masks: dict[tuple[int, str, str], np.ndarray] = field(default_factory=dict)


_CACHES: weakref.WeakKeyDictionary[Any, _Cache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _cache_of(owner: Any) -> _Cache:
    with _CACHES_LOCK:
        cache = _CACHES.get(owner)
        if cache is None:
            cache = _CACHES[owner] = _Cache()
        return cache


def ani_from(containment: np.ndarray, jaccard: np.ndarray, query_hashes: int, record_hashes: np.ndarray,
             ksize: int, scaled: int) -> tuple[np.ndarray, np.ndarray]:
    """Containment ANI and the Mash-like (Jaccard) distance per hit, by sourmash's point estimates.

    As sourmash's ``MinHash.containment_ani`` (k-mers estimated as query hashes × scaled) and
    ``MinHash.jaccard_ani`` (the mean of both sketches' sizes × scaled).

    Returns
    -------
    tuple of numpy.ndarray
        ``ani`` and ``distance`` (``float64``).
    """
    from genocat_desktop.engine.embed.embedders.sketch import load_sourmash

    load_sourmash()  # imports sourmash where scipy is absent, too
    from sourmash.distance_utils import containment_to_distance, jaccard_to_distance

    ani = np.empty(containment.size)
    dist = np.empty(containment.size)
    for i, (c, j, size) in enumerate(zip(containment.tolist(), jaccard.tolist(), record_hashes.tolist(),
                                         strict=True)):
        ani[i] = 1.0 - containment_to_distance(c, ksize, scaled, n_unique_kmers=query_hashes * scaled).dist
        mean_kmers = round((query_hashes + size) / 2 * scaled)
        dist[i] = jaccard_to_distance(j, ksize, scaled, n_unique_kmers=mean_kmers).dist
    return ani, dist


def search_sketches(
    searcher: Any,
    queries: Sequence[Query | str],
    column: str,
    *,
    k: int = 10,
    conditions: Sequence[Condition] = (),
    fields: Sequence[str] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    result: type[Any],
) -> list[Any]:
    """Search a sketch column for each query: records containing it, with ANI and distance.

    Called by :meth:`Searcher.search_many <genocat_desktop.engine.search.searcher.Searcher.search_many>`
    for a sketch column; the loaded hashes are kept per ``searcher``.

    Parameters
    ----------
    searcher
        The searcher (its ``catalog``); the index and masks are cached for it.
    queries
        Nucleotide queries (a bare sequence or a :class:`Query`).
    column
        The sketch column.
    k
        At most this many hits per query (records sharing no hash are never hits).
    conditions, fields
        Filters; the metadata fields returned (default: all).
    progress, cancel
        As for every job.
    result
        The searcher's ``SearchResult`` class (passed in: this module does not import the searcher).

    Returns
    -------
    list of SearchResult
        One per query, hits ranked by containment, with :data:`SKETCH_COLUMNS`.

    Raises
    ------
    QueryError
        A protein query, or a query too short to keep a single hash.
    """
    catalog: Catalog = searcher.catalog  # the searcher has checked k
    emb = catalog.embedder(column)
    qs = [q if isinstance(q, Query) else read_queries(q)[0] for q in queries]
    for q in qs:
        if not is_nucleotide(q.molecule):
            raise QueryError(f"{q.id}: MinHash sketches compare DNA; this query is {q.molecule}. "
                             "Search protein queries with the k-mer or an ESM-2 embedding")
    cancel = cancel or CancelToken()
    cache = _cache_of(searcher)
    with cache.lock:
        index, ds = _index(cache, searcher, column, cancel)
        sql = to_sql(conditions, ds.schema)
        mask = _mask(cache, index, ds, sql)
    columns = _hit_columns(catalog, ds, fields)
    passing = int(mask.sum()) if mask is not None else int(index.addresses.size)
    out = []
    for n, q in enumerate(qs):
        cancel.raise_if_cancelled()
        started = time.perf_counter()
        hits = _search_one(emb, index, ds, mask, columns, q, k)
        out.append(result(q, hits, index.version, column, sql, True, time.perf_counter() - started,
                                passing, {"strategy": "sketch"}))
        progress(Progress(n + 1, len(qs), "queries", "searching", f"Searched {n + 1:,} of {len(qs):,}"))
    return out


def _index(cache: _Cache, searcher: Any, column: str, cancel: CancelToken) -> tuple[SketchIndex, Any]:
    """The index of the version the searcher searches (it looks for a newer one every few seconds)."""
    version = searcher.current_version()
    ds = searcher.catalog.dataset(version)
    index = cache.index
    if index is None or index.version != version or index.column != column:
        index = cache.index = SketchIndex.load(ds, column, cancel)
    return index, ds


def _mask(cache: _Cache, index: SketchIndex, ds: Any, sql: str | None) -> np.ndarray | None:
    if sql is None:
        return None
    key = (index.version, index.column, sql)
    mask = cache.masks.get(key)
    if mask is None:
        mask = index.mask(ds, sql)
        if len(cache.masks) >= _MASKS_KEPT:
            cache.masks.pop(next(iter(cache.masks)))
        cache.masks[key] = mask
    return mask


def _hit_columns(catalog: Catalog, ds: Any, fields: Sequence[str] | None) -> list[str]:
    vector_columns = catalog.vector_columns()
    columns = [c for c in ds.schema.names if c not in vector_columns]
    if fields is None:
        return columns
    unknown = [f for f in fields if f not in columns]
    if unknown:
        raise QueryError(f"unknown field(s) to return: {', '.join(map(repr, unknown))}")
    return [c for c in columns if c in fields]


def _search_one(
    emb: Any, index: SketchIndex, ds: Any, mask: np.ndarray | None, columns: list[str], q: Query, k: int
) -> pa.Table:
    """The hits of one query, ranked by containment then Jaccard, as an Arrow table."""
    query = np.unique(emb.sketch_one(q.sequence))
    if query.size == 0:
        raise QueryError(
            f"{q.id}: {len(q.sequence):,} bases keep no hash of the sketch (one {emb.ksize}-mer in about "
            f"{emb.scaled} is kept): sketches need queries of about 1 kb or more; search short ones with the k-mer "
            "embedding"
        )
    shared = index.shared(query)
    if mask is not None:
        shared[~mask] = 0
    found = np.flatnonzero(shared)
    shared_found = shared[found]
    sizes = index.sizes[found]
    containment = shared_found / query.size
    jaccard = shared_found / (query.size + sizes - shared_found)
    top = np.lexsort((found, -jaccard, -containment))[:k]
    found, shared_found, sizes, containment, jaccard = (
        found[top], shared_found[top], sizes[top], containment[top], jaccard[top])
    ani, distance = ani_from(containment, jaccard, int(query.size), sizes, emb.ksize, emb.scaled)
    rows = ds._take_rows(index.addresses[found].tolist(), columns=columns) if found.size else \
        ds.to_table(columns=columns, limit=0)
    values = {
        "rank": pa.array(np.arange(1, found.size + 1, dtype=np.int32)),
        "score": pa.array(np.round(containment, 6)),
        "containment": pa.array(np.round(containment, 6)),
        "ani": pa.array(np.round(ani, 6)),
        "distance": pa.array(np.round(distance, 6)),
        "jaccard": pa.array(np.round(jaccard, 6)),
        "shared_hashes": pa.array(shared_found.astype(np.int64)),
    }
    for i, (name, array) in enumerate(values.items()):
        rows = rows.add_column(i, name, array)
    return rows
