"""Similarity search: exact cosine search over a catalog's vectors, with filters.

Vectors are L2-normalised, so cosine similarity is one matrix-vector product.
For catalogs that fit a memory budget (the default 1 GiB is 500k rows of the
512-d k-mer vectors) the :class:`Searcher` keeps the vector column of the
current version in RAM and answers with numpy: a few milliseconds at 100k
rows, where a flat LanceDB scan pays a fixed ~3 ms per query and is 4-11×
slower than numpy (see the LanceDB findings in ARCHITECTURE.md). Larger
catalogs are searched by Lance: through the ANN vector index when one is built
(:mod:`.index`: IVF probes plus exact re-ranking; selective filters bypass the
index for exact results), else by a flat scan.

Filters are applied *before* ranking (Lance evaluates the SQL predicate,
the matching row addresses become a mask), so a selective filter still returns
``k`` hits when ``k`` rows match.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.query import Condition, to_sql
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, gc_paused, no_progress
from genocat_desktop.engine.ingest.fasta import (
    MOL_DNA,
    MOL_PROTEIN,
    MOL_RNA,
    MOLECULES,
    FastaReader,
    _molecules,
    normalise_query,
    split_title,
)
from genocat_desktop.engine.search.indexes import (
    DEFAULT_EFFORT,
    SearchEffort,
    VectorIndexRef,
    ann_candidates,
    ann_search,
    vector_index,
)

__all__ = ["HIT_COLUMNS", "Query", "SearchResult", "Searcher", "detect_molecule", "read_queries"]

#: Columns returned for each hit (the vector columns are never returned).
HIT_COLUMNS: Final = (
    "id", "accession", "name", "organism", "taxid", "gene", "length", "molecule",
    "description", "aliases", "db", "entry_name", "protein_existence", "sequence_version",
    "source_file", "seq_hash", "sequence",
)
DEFAULT_MEMORY_BUDGET: Final = 1 << 30
#: How often the searcher looks for a newer version (a request on object stores).
REFRESH_SECONDS: Final = 2.0
MAX_K: Final = 10_000
#: A searcher that has not been warmed loads the RAM copy for re-ranking ANN candidates only for a
#: batch of at least this many queries (loading 1M rows takes seconds; each query saves a few ms).
RERANK_LOAD_QUERIES: Final = 500
_QUERY_BLOCK: Final = 64
_MASK_CACHE: Final = 16
#: Columns the re-ranking copy does not hold in RAM (the bulk of a catalog's bytes); a hit's are read.
RAM_ROW_SKIP: Final = frozenset({"sequence"})
#: A filtered search of an indexed catalog keeps the vectors of the rows passing the filter as one
#: float32 matrix, and searches them exactly, when it takes at most this much memory (25,000 rows of
#: 320-d vectors): a matrix-vector product of them took 3.7 ms, while Lance probing its index with the
#: filter took 9-16 ms at 1M rows, and converting the half-precision copy per query 1.8 µs a row.
FILTER_MATRIX_BYTES: Final = 32 << 20
#: ... and keeps such matrices for the most recent filters up to this much memory in all.
FILTER_CACHE_BYTES: Final = 128 << 20


@dataclass(frozen=True, slots=True)
class Query:
    """A query sequence."""

    id: str
    sequence: str
    molecule: str = "protein"


@dataclass(slots=True)
class SearchResult:
    """The hits for one query, best first.

    Attributes
    ----------
    hits
        Arrow table: ``rank``, ``score`` (cosine similarity, 1 = identical
        composition) and :data:`HIT_COLUMNS` plus any user fields.
    """

    query: Query
    hits: pa.Table
    version: int
    column: str
    filter: str | None
    exact: bool
    seconds: float
    candidates: int  # rows that passed the filter
    extra: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.hits.num_rows)


def detect_molecule(sequence: str) -> str:
    """``"protein"``, ``"dna"`` or ``"rna"`` for one normalised sequence (short ones count as protein)."""
    arr = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    code = int(_molecules(arr, np.array([0, arr.size], dtype=np.int64))[0])
    return MOLECULES[code] if code in (MOL_PROTEIN, MOL_DNA, MOL_RNA) else "protein"


def read_queries(source: str | Path, *, limit: int = 100_000) -> list[Query]:
    """Read queries from a FASTA file, FASTA text, or one bare sequence.

    Raises
    ------
    QueryError
        If nothing usable is found, or a bare sequence has characters that are not residues.
    """
    if isinstance(source, Path) or _is_file(source):
        reader = FastaReader(source)
        out: list[Query] = []
        for batch in reader:
            for i, title in enumerate(batch.titles):
                ident = split_title(title)[0] or f"query{len(out) + 1}"
                seq = batch.sequence(i)
                out.append(Query(ident, seq, detect_molecule(seq)))
                if len(out) > limit:
                    raise QueryError(f"more than {limit:,} queries in {source}; split the file")
        if not out:
            raise QueryError(f"no usable query sequence in {source}")
        return out
    text = str(source).strip()
    if not text:
        raise QueryError("the query is empty; paste a sequence or a FASTA record")
    if text.startswith(">"):
        queries: list[Query] = []
        for block in text[1:].split("\n>"):
            title, _, body = block.partition("\n")
            seq = _normalise(body, split_title(title)[0] or f"query{len(queries) + 1}")
            queries.append(Query(split_title(title)[0] or f"query{len(queries) + 1}", seq, detect_molecule(seq)))
        return queries
    seq = _normalise(text, "query")
    return [Query("query", seq, detect_molecule(seq))]


def _is_file(text: str) -> bool:
    if "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).expanduser().is_file()
    except OSError:  # e.g. a long pasted sequence is "too long" as a file name
        return False


def _normalise(text: str, ident: str) -> str:
    try:
        seq = normalise_query(text)
    except ValueError as exc:
        raise QueryError(f"query {ident!r}: {exc}") from None
    if not seq:
        raise QueryError(f"query {ident!r} has no residues")
    return seq


@dataclass(slots=True)
class _Piece:
    """One fragment's vectors and rows, with the file signatures that say when they are stale.

    ``keys`` are the rows' addresses (exact search) or row ids (the re-ranking copy).
    """

    vec_sig: tuple[Any, ...]
    full_sig: tuple[Any, ...]
    vectors: np.ndarray
    keys: np.ndarray
    rows: pa.Table | None


class _Matrix:
    """One vector column of one version, in RAM."""

    def __init__(
        self, version: int, column: str, vectors: np.ndarray, addresses: np.ndarray, rows: pa.Table | None
    ) -> None:
        self.version = version
        self.column = column
        self.vectors = vectors
        self.addresses = addresses  # sorted uint64 row addresses
        # The other columns, aligned with ``vectors``: a hit's row is then a
        # microsecond in-memory take instead of ~4 ms of random reads in Lance.
        self.rows = rows


def _signatures(meta: Any, vector_field: int, other: list[str]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """What identifies a fragment's vectors (its deletions and the data files holding the column) and
    its rows (the deletions, every data file and the columns ``other`` read from them)."""
    d = meta.deletion_file
    deletions = (d.id, d.read_version, d.num_deleted_rows) if d is not None else None
    vec_sig = (deletions, tuple(sorted(f.path for f in meta.files if vector_field in f.fields)))
    return vec_sig, (deletions, tuple(sorted((f.path, tuple(f.fields)) for f in meta.files)), tuple(other))


class _Rerank:
    """One vector column of one version in half precision, for re-ranking ANN candidates in RAM.

    Lance's own re-ranking re-reads each candidate's vector from the data
    files; this copy (half the memory of the exact searcher's float32 matrix:
    640 MB for 1M 320-d vectors) scores the candidates in microseconds.
    """

    def __init__(
        self, version: int, column: str, vectors: np.ndarray, ids: np.ndarray, rows: pa.Table | None
    ) -> None:
        self.version = version
        self.column = column
        self.vectors = vectors
        self.ids = ids  # sorted uint64 row ids
        # The metadata columns but the sequences (:data:`RAM_ROW_SKIP`), aligned with ``ids`` when they
        # fit the memory budget too: a hit's fields without a Lance take (~1 ms for one column of 10
        # rows at 1M, 2.4 ms for six).
        self.rows = rows


class _Subset:
    """The float32 vectors of the rows passing one filter, for exact filtered search (one version)."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.ids = ids  # sorted uint64 row ids
        self.vectors = vectors


class Searcher:
    """Searches one catalog; thread-safe, reusable, caches vectors per version.

    Parameters
    ----------
    catalog
        The catalog to search.
    memory_budget
        Largest vector matrix kept in RAM, in bytes; beyond it Lance searches
        through the ANN index. Its candidates are re-ranked with a
        half-precision copy of the vectors once :meth:`warm` has loaded it
        (or for a batch of :data:`RERANK_LOAD_QUERIES` queries), if it fits
        the budget; else Lance re-ranks them from the data files (a few ms
        more per query).
    use_index
        ``None`` (default): use the ANN vector index when there is one and the
        vectors do not fit ``memory_budget``; ``True``: whenever there is one;
        ``False``: never (always exact).
    effort
        ANN search effort (probes, exact re-ranking); see :class:`SearchEffort`.
    """

    def __init__(
        self,
        catalog: Catalog,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        *,
        use_index: bool | None = None,
        effort: SearchEffort = DEFAULT_EFFORT,
    ) -> None:
        self.catalog = catalog
        self.memory_budget = memory_budget
        self.use_index = use_index
        self.effort = effort
        self._index_cache: tuple[int, str, VectorIndexRef | None] | None = None
        self._lock = threading.Lock()
        self._matrix: _Matrix | None = None
        self._masks: dict[tuple[int, str], np.ndarray] = {}
        self._counts: dict[tuple[int, str], int] = {}
        self._residue_count: tuple[int, int] | None = None
        self._fragment_cache: dict[int, _Piece] = {}
        self._fragment_cache_key: str | None = None
        self._checked = 0.0
        self._rerank: _Rerank | None = None
        self._subsets: dict[tuple[int, str, str], _Subset] = {}  # least recently used first
        self._rerank_cache: dict[int, _Piece] = {}
        self._rerank_cache_key: str | None = None

    def _current(self) -> int:
        now = time.monotonic()
        if now - self._checked > REFRESH_SECONDS:
            self._checked = now
            return self.catalog.refresh()
        return self.catalog.version

    def _load(self, version: int, column: str, cancel: CancelToken | None = None) -> _Matrix | None:
        m = self._matrix
        if m is not None and m.version == version and m.column == column:
            return m
        ds = self.catalog.dataset(version)
        dim = int(self.catalog.vector_columns()[column]["dim"])
        rows = ds.count_rows()
        if rows * dim * 4 > self.memory_budget:
            self._matrix = None
            return None
        vector_columns = set(self.catalog.vector_columns())
        other = [c for c in ds.schema.names if c not in vector_columns]
        pieces = self._pieces(ds, column, other, dim, cancel)
        if pieces:
            vectors = np.concatenate([p.vectors for p in pieces]) if len(pieces) > 1 else pieces[0].vectors
            addresses = np.concatenate([p.keys for p in pieces])
            rows_table: pa.Table | None = pa.concat_tables([p.rows for p in pieces if p.rows is not None])
        else:
            vectors, addresses = np.empty((0, dim), np.float32), np.empty(0, np.uint64)
            rows_table = ds.to_table(columns=other, limit=0)
        assert rows_table is not None
        if vectors.nbytes + rows_table.nbytes > self.memory_budget:
            rows_table = None
        else:
            rows_table = rows_table.combine_chunks()
        self._matrix = _Matrix(
            version, column, np.ascontiguousarray(vectors, dtype=np.float32), addresses, rows_table
        )
        return self._matrix

    def _load_rerank(self, ds: Any, column: str, cancel: CancelToken | None = None) -> _Rerank | None:
        """The half-precision vectors of ``column`` at this version, or ``None`` beyond the budget.

        Loaded per fragment; fragments whose vector files did not change since
        the last version are reused (after an import only the new ones are read).
        """
        r = self._rerank
        if r is not None and r.version == ds.version and r.column == column:
            return r
        dim = int(self.catalog.vector_columns()[column]["dim"])
        if ds.count_rows() * dim * 2 > self.memory_budget:
            self._rerank = None
            return None
        vector_field = ds.lance_schema.field(column).id()
        vector_columns = set(self.catalog.vector_columns())
        other = [c for c in ds.schema.names if c not in vector_columns and c not in RAM_ROW_SKIP]
        # The metadata too if it fits beside the vectors (~200 bytes a row without the sequences).
        room = self.memory_budget - ds.count_rows() * dim * 2
        previous = self._rerank_cache if self._rerank_cache_key == column else {}
        cache: dict[int, _Piece] = {}
        for frag in ds.get_fragments():
            vec_sig, full_sig = _signatures(frag.metadata, vector_field, other)
            old = previous.get(frag.fragment_id)
            if old is not None and old.vec_sig == vec_sig and (old.full_sig == full_sig or room <= 0):
                piece = old
            else:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                if old is not None and old.vec_sig == vec_sig:
                    piece = _Piece(vec_sig, full_sig, old.vectors, old.keys, frag.to_table(columns=other))
                else:
                    table = frag.to_table(columns=[column, *other] if room > 0 else [column], with_row_id=True)
                    flat = table.column(column).combine_chunks().flatten().to_numpy()
                    piece = _Piece(
                        vec_sig, full_sig, flat.reshape(-1, dim).astype(np.float16),
                        table.column("_rowid").to_numpy().astype(np.uint64),
                        table.select(other) if room > 0 else None,
                    )
            cache[frag.fragment_id] = piece
            if piece.rows is not None:
                room -= piece.rows.nbytes
        self._rerank_cache, self._rerank_cache_key = cache, column
        pieces = [cache[i] for i in sorted(cache)]
        vectors = np.concatenate([p.vectors for p in pieces]) if pieces else np.empty((0, dim), np.float16)
        ids = np.concatenate([p.keys for p in pieces]) if pieces else np.empty(0, np.uint64)
        rows = None
        if room > 0 and all(p.rows is not None and p.full_sig[2] == tuple(other) for p in pieces):
            rows = pa.concat_tables([p.rows for p in pieces if p.rows is not None]) if pieces else None
        else:
            for p in pieces:  # the fields did not all fit: keep none of them
                p.rows = None
        if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            # Row ids follow fragment order unless the dataset has stable row ids: sort to be sure.
            order = np.argsort(ids, kind="stable")
            ids, vectors = ids[order], vectors[order]
            rows = rows.take(order) if rows is not None else None
        self._rerank = _Rerank(ds.version, column, vectors, ids, rows.combine_chunks() if rows is not None else None)
        return self._rerank

    def _reranked(
        self, ds: Any, rerank: _Rerank, vec: np.ndarray, found: np.ndarray, k: int, columns: list[str]
    ) -> tuple[pa.Table, np.ndarray] | None:
        """The best ``k`` of the ANN candidates ``found`` (row ids), re-ranked with the RAM copy.

        Returns ``None`` if a candidate is missing from the copy (then Lance re-ranks).
        """
        ids = rerank.ids
        if ids.size == 0:
            return None
        pos = np.minimum(np.searchsorted(ids, found), ids.size - 1)
        if not bool(np.all(ids[pos] == found)):
            return None
        # Half-precision vectors, float32 arithmetic: within 1e-4 of the float32 score (6.6e-5 at most
        # on 1M synthetic 320-d rows), so the order of any two hits is right unless they are that close.
        scores = rerank.vectors[pos].astype(np.float32) @ vec.astype(np.float32)
        return _ranked(ds, found, scores, k, columns, rerank)

    def _filtered_subset(self, ds: Any, rerank: _Rerank, sql: str, allowed: np.ndarray) -> _Subset | None:
        """The vectors of the rows ``allowed`` (passing ``sql``) in float32, or ``None`` beyond the budget.

        Cached for the most recent filters (:data:`FILTER_CACHE_BYTES`): the first query with a new
        filter gathers them from the half-precision copy (63 ms measured for 50,000 rows; at most
        25,000 320-d rows fit :data:`FILTER_MATRIX_BYTES`), the next ones only multiply. Called under the lock.
        """
        dim = rerank.vectors.shape[1]
        if allowed.size == 0 or allowed.size * dim * 4 > FILTER_MATRIX_BYTES:
            return None
        key = (ds.version, rerank.column, sql)
        subset = self._subsets.pop(key, None)
        if subset is None:
            pos = np.minimum(np.searchsorted(rerank.ids, allowed), rerank.ids.size - 1)
            if not bool(np.all(rerank.ids[pos] == allowed)):
                return None
            subset = _Subset(allowed, rerank.vectors[pos].astype(np.float32))
            # Matrices of other versions are stale: a search always uses the newest version.
            self._subsets = {k: v for k, v in self._subsets.items() if k[0] == ds.version}
            while self._subsets and subset.vectors.nbytes + sum(
                v.vectors.nbytes for v in self._subsets.values()
            ) > FILTER_CACHE_BYTES:
                self._subsets.pop(next(iter(self._subsets)))
        self._subsets[key] = subset  # most recently used last
        return subset

    def _matching_ids(self, ds: Any, sql: str) -> np.ndarray:
        """Sorted row ids of the rows passing ``sql``; cached per version like :meth:`_mask`."""
        key = (-ds.version - 1, sql)  # negative versions: apart from the masks' keys
        with self._lock:  # called per query, outside search_many's locked set-up
            cached = self._masks.get(key)
            if cached is None:
                cached = ds.to_table(columns=[], filter=sql, with_row_id=True).column("_rowid").to_numpy()
                cached = np.asarray(cached, dtype=np.uint64)
                if cached.size > 1 and not bool(np.all(cached[1:] > cached[:-1])):
                    cached = np.sort(cached)  # index.ann_candidates looks candidates up in it
                _remember(self._masks, key, cached)
            return cached

    def _count(self, ds: Any, sql: str) -> int:
        """Rows passing ``sql``, cached per version (called under the lock)."""
        key = (ds.version, sql)
        count = self._counts.get(key)
        if count is None:
            count = ds.count_rows(sql)
            _remember(self._counts, key, count)
        return count

    def _mask(self, ds: Any, matrix: _Matrix, sql: str) -> np.ndarray:
        """Rows of ``matrix`` that pass ``sql``; cached per version (refining a search reuses it)."""
        key = (matrix.version, sql)
        cached = self._masks.get(key)
        if cached is not None:
            return cached
        allowed = ds.to_table(columns=[], filter=sql, with_row_address=True).column("_rowaddr").to_numpy()
        mask = np.zeros(matrix.addresses.size, dtype=bool)
        pos = np.searchsorted(matrix.addresses, allowed)
        inside = pos < matrix.addresses.size
        pos, allowed = pos[inside], allowed[inside]
        mask[pos[matrix.addresses[pos] == allowed]] = True
        _remember(self._masks, key, mask)
        return mask

    def _residues(self, ds: Any, matrix: _Matrix | None) -> int:
        """Residues in the catalog (the E-value's search space), cached per version."""
        if self._residue_count is not None and self._residue_count[0] == ds.version:
            return self._residue_count[1]
        import pyarrow.compute as pc

        table = matrix.rows if matrix is not None and matrix.rows is not None else ds.to_table(columns=["length"])
        total = int(pc.sum(table.column("length")).as_py() or 0)
        self._residue_count = (ds.version, total)
        return total

    def _align(
        self, ds: Any, matrix: _Matrix | None, q: Query, rows: pa.Table, scores: np.ndarray, k: int, rank_by: str
    ) -> tuple[pa.Table, np.ndarray]:
        from genocat_desktop.engine.search.alignment import ALIGNMENT_COLUMNS, align_to

        stats = align_to(
            q.sequence, q.molecule, rows.column("sequence").to_pylist(), rows.column("molecule").to_pylist(),
            self._residues(ds, matrix),
        )
        for name in ALIGNMENT_COLUMNS:
            values = stats[name]
            # E-values span hundreds of orders of magnitude: never round them.
            exact_values = name in ("aln_score", "evalue")
            rows = rows.append_column(name, pa.array(values if exact_values else np.round(values, 6)))
        if rank_by == "alignment":
            # Best alignment first; the embedding score breaks ties.
            order = np.lexsort((-scores, -stats["aln_score"]))
        else:
            order = np.arange(len(scores))
        order = order[:k]
        return rows.take(order), scores[order]

    def _pieces(
        self, ds: Any, column: str, other: list[str], dim: int, cancel: CancelToken | None = None
    ) -> list[_Piece]:
        """Per-fragment vectors and rows of ``ds``, reusing what an earlier version already loaded.

        After an import (new fragments) only the new fragments are read; after
        a field edit (new files for that field only) only the other columns are
        re-read, never the vectors: at 100k rows a full reload took ~4 s.
        """
        vector_field = ds.lance_schema.field(column).id()
        previous = self._fragment_cache if self._fragment_cache_key == column else {}
        cache: dict[int, _Piece] = {}
        for frag in ds.get_fragments():
            vec_sig, full_sig = _signatures(frag.metadata, vector_field, other)
            old = previous.get(frag.fragment_id)
            if cancel is not None and (old is None or old.full_sig != full_sig):
                cancel.raise_if_cancelled()
            if old is not None and old.full_sig == full_sig:
                piece = old
            elif old is not None and old.vec_sig == vec_sig:
                rows = frag.to_table(columns=other)
                piece = _Piece(vec_sig, full_sig, old.vectors, old.keys, rows)
            else:
                table = frag.to_table(columns=[column, *other], with_row_address=True)
                col = table.column(column).combine_chunks()
                vecs = col.flatten().to_numpy().reshape(-1, dim) if table.num_rows else np.empty((0, dim), np.float32)
                addrs = table.column("_rowaddr").to_numpy()
                piece = _Piece(vec_sig, full_sig, np.asarray(vecs, dtype=np.float32), addrs, table.select(other))
            cache[frag.fragment_id] = piece
        self._fragment_cache, self._fragment_cache_key = cache, column
        # Fragments in id order and rows in offset order: row addresses come out sorted.
        return [cache[i] for i in sorted(cache)]

    def _vector_index(self, ds: Any, column: str) -> VectorIndexRef | None:
        """The ANN index to search with at this version, or ``None`` for exact search."""
        if self.use_index is False:
            return None
        cached = self._index_cache
        if cached is None or cached[:2] != (ds.version, column):
            cached = (ds.version, column, vector_index(ds, column))
            self._index_cache = cached
        ref = cached[2]
        if ref is None or self.use_index:
            return ref
        dim = int(self.catalog.vector_columns()[column]["dim"])
        return ref if ds.count_rows() * dim * 4 > self.memory_budget else None

    def warm(self, column: str | None = None, cancel: CancelToken | None = None) -> None:
        """Load the vectors now, so the first search is as fast as the others.

        The float32 matrix for exact search, or, for a catalog searched through
        its ANN index, the half-precision copy that re-ranks the candidates
        (1M 320-d rows: 640 MB, several seconds) and the index itself (into
        Lance's cache). ``cancel`` is checked between fragments.
        """
        column = column or self.catalog.default_vector
        with self._lock:
            version = self._current()
            ds = self.catalog.dataset(version)
            index = self._vector_index(ds, column)
            if index is not None:
                self._load_rerank(ds, column, cancel)
                self._prewarm(ds, index)
            else:
                self._load(version, column, cancel)

    def _prewarm(self, ds: Any, index: VectorIndexRef) -> None:
        """Load a local catalog's whole vector index into Lance's index cache.

        Otherwise each IVF partition is read and decoded by the first query that
        probes it: at 1M rows (500 partitions, 185 MB) the first 200 queries had
        a p50 of 6.6 ms against 3.9 ms after this (0.5 s). Not on object storage,
        where it would download the whole index at every open.
        """
        from genocat_desktop.engine.catalog.storage import is_remote

        if is_remote(self.catalog.uri):
            return
        # Only a speed-up: if it fails, queries load the partitions themselves.
        with contextlib.suppress(AttributeError, OSError, RuntimeError, ValueError):
            ds.prewarm_index(index.name)

    def search(
        self,
        query: Query | str,
        *,
        k: int = 10,
        conditions: Sequence[Condition] = (),
        column: str | None = None,
        align: bool = False,
        candidates: int | None = None,
        rank_by: str = "alignment",
        fields: Sequence[str] | None = None,
    ) -> SearchResult:
        """Find the ``k`` rows most similar to ``query`` that satisfy all ``conditions``.

        Parameters
        ----------
        query
            A :class:`Query`, or a bare sequence.
        k
            Number of hits (at most 10,000).
        conditions
            Metadata filters, all of which must hold.
        column
            The vector column (embedder) to search; the catalog's default if ``None``.
        align
            Align the query to the best ``candidates`` rows by embedding
            (Smith-Waterman, see :mod:`.rerank`) and add ``aln_score``,
            ``bits``, ``evalue``, ``identity``, ``query_cov``, ``target_cov``.
        candidates
            How many rows to align (default ``max(10 * k, 100)``).
        rank_by
            With ``align``: ``"alignment"`` (by alignment score, the default)
            or ``"embedding"`` (by cosine score, alignments only reported).
        fields
            The metadata fields to return for each hit (default: all); fewer
            fields make a search through the ANN index faster.

        Raises
        ------
        QueryError, FilterError, EmbedderMismatchError
        """
        return self.search_many(
            [query], k=k, conditions=conditions, column=column, align=align, candidates=candidates,
            rank_by=rank_by, fields=fields,
        )[0]

    @gc_paused()  # no full GC pass inside a query (see index.ann_search)
    def search_many(
        self,
        queries: Sequence[Query | str],
        *,
        k: int = 10,
        conditions: Sequence[Condition] = (),
        column: str | None = None,
        align: bool = False,
        candidates: int | None = None,
        rank_by: str = "alignment",
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
        vectors: np.ndarray | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[SearchResult]:
        """Search several queries against the same version; see :meth:`search`.

        ``vectors`` (one row per query, the column's dimension) are query
        embeddings computed beforehand; the embedder is then not run (the
        benchmarks search with vectors that no embedder makes). ``fields``
        limits the metadata returned per hit (default: every field); a
        catalog searched through its ANN index reads each returned field of
        each hit from the data files, ~0.3 ms per field at 1M rows.
        """
        if not 1 <= k <= MAX_K:
            raise QueryError(f"the number of hits must be between 1 and {MAX_K:,}, not {k}")
        if rank_by not in ("alignment", "embedding"):
            raise QueryError(f"rank_by must be 'alignment' or 'embedding', not {rank_by!r}")
        fetch = k
        if align:
            fetch = min(MAX_K, max(candidates or max(10 * k, 100), k))
        qs = [q if isinstance(q, Query) else read_queries(q)[0] for q in queries]
        column = column or self.catalog.default_vector
        embedder = self.catalog.embedder(column) if vectors is None else None
        if vectors is not None:
            dim = int(self.catalog.vector_columns()[column]["dim"])
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.shape != (len(qs), dim):
                raise QueryError(f"expected {len(qs)} query vectors of {dim} values, got shape {vectors.shape}")
        cancel = cancel or CancelToken()
        with self._lock:
            version = self._current()
            ds = self.catalog.dataset(version)
            sql = to_sql(conditions, ds.schema)
            index = self._vector_index(ds, column)
            matrix = self._load(version, column) if index is None else None
            rerank = None
            if index is not None and (self._rerank_cache_key == column or len(qs) >= RERANK_LOAD_QUERIES):
                # Kept up to date once loaded (after an import only new fragments are read); loading it
                # for a query or two (a one-shot CLI search) would cost seconds to save milliseconds.
                rerank = self._load_rerank(ds, column)
            mask = None
            allowed = None
            if matrix is not None:
                passing = matrix.addresses.size
                if sql is not None:
                    mask = self._mask(ds, matrix, sql)
                    passing = int(mask.sum())
            elif sql is None:
                passing = ds.count_rows()
            elif rerank is None:
                passing = self._count(ds, sql)
        subset = None
        if rerank is not None and sql is not None:
            # Cached like the masks: counting the rows that pass took 3.5 ms a query (10 % of 1M rows).
            allowed = self._matching_ids(ds, sql)
            passing = int(allowed.size)
            with self._lock:
                subset = self._filtered_subset(ds, rerank, sql, allowed)
        vector_columns = self.catalog.vector_columns()
        columns = [c for c in ds.schema.names if c not in vector_columns]
        if fields is not None:
            unknown = [f for f in fields if f not in columns]
            if unknown:
                raise QueryError(f"unknown field(s) to return: {', '.join(map(repr, unknown))}")
            needed = ("sequence", "molecule", "length") if align else ()
            columns = [c for c in columns if c in fields or c in needed]
        out = []
        if embedder is not None and len(qs) > 1:
            vectors = embedder.embed([q.sequence for q in qs], [q.molecule for q in qs])
        block: np.ndarray | None = None
        for n, q in enumerate(qs):
            cancel.raise_if_cancelled()
            started = time.perf_counter()
            extra: dict[str, object] = {}
            if vectors is not None:
                vec = vectors[n]
            else:
                assert embedder is not None
                vec = embedder.embed([q.sequence], [q.molecule])[0]
            if matrix is not None:
                row_scores = None
                if vectors is not None and matrix.vectors.shape[0]:
                    # Many queries: one matrix-matrix product per block of 64 (BLAS at full speed).
                    if n % _QUERY_BLOCK == 0:
                        block = vectors[n : n + _QUERY_BLOCK] @ matrix.vectors.T
                    assert block is not None
                    row_scores = block[n % _QUERY_BLOCK]
                scores, top = _top_k(matrix, vec, fetch, mask, row_scores)
                if matrix.rows is not None:
                    rows = matrix.rows.take(top)
                    if fields is not None:
                        rows = rows.select(columns)
                elif top.size:
                    rows = ds._take_rows(matrix.addresses[top].tolist(), columns=columns)
                else:
                    rows = ds.to_table(columns=columns, limit=0)
                exact = True
                strategy = "memory"
            elif index is not None:
                ranked = None
                if subset is not None:
                    # Few enough rows pass the filter to search them all, exactly, from RAM.
                    sub_scores = _scores(subset.vectors, vec.astype(np.float32))
                    ranked = _ranked(ds, subset.ids, sub_scores, fetch, columns, rerank)
                    exact = True
                elif rerank is not None:
                    found = ann_candidates(
                        ds, index, vec, fetch, sql=sql, candidates=passing, effort=self.effort, allowed=allowed
                    )
                    exact = found is None
                    if found is None:
                        # The filter bypasses the index: score every matching row with the RAM copy
                        # (Lance's flat scan of 990 of 1M rows took ~30 ms).
                        assert allowed is not None
                        found = allowed
                    ranked = self._reranked(ds, rerank, vec, found, fetch, columns)
                if ranked is not None:
                    rows, scores = ranked
                    strategy = "exact-filtered" if exact else "index"
                    extra["rerank"] = "memory"
                else:
                    table, exact = ann_search(
                        ds, index, vec, fetch, sql=sql, columns=columns, candidates=passing, effort=self.effort
                    )
                    scores = 1.0 - table.column("_distance").to_numpy()
                    rows = table.drop_columns(["_distance"])
                    strategy = "exact-filtered" if exact else "index"
                    if not exact:
                        extra["rerank"] = "lance"
            else:
                table = ds.to_table(
                    columns=[*columns, "_distance"],
                    nearest={"column": column, "q": vec, "k": fetch, "metric": "cosine", "use_index": False},
                    filter=sql,
                    prefilter=True,
                )
                scores = 1.0 - table.column("_distance").to_numpy()
                rows = table.drop_columns(["_distance"])
                exact = True  # no vector index on this column: Lance scans every row
                strategy = "scan"
            if align:
                rows, scores = self._align(ds, matrix, q, rows, scores, k, rank_by)
            hits = _with_rank(rows, scores)
            out.append(
                SearchResult(
                    q, hits, version, column, sql, exact, time.perf_counter() - started, passing,
                    {"strategy": strategy, **extra},
                )
            )
            progress(Progress(n + 1, len(qs), "queries", "searching", f"Searched {n + 1:,} of {len(qs):,}"))
        return out


_BLAS: Any = None


def _single_thread_blas() -> Any:
    """A context that runs BLAS on one thread.

    One query is a matrix-vector product, bound by memory bandwidth: OpenBLAS's
    extra threads only add hand-off latency, and on a busy 2-core workstation
    (the GUI thread, an import) they made a 10k-row search 8 ms instead of
    0.8 ms (measured; see BENCHMARKS.md).
    """
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


#: Matrices with at least this many rows are scanned in parts, one per CPU (up to SCAN_PARTS).
PARALLEL_SCAN_ROWS: Final = 65_536
SCAN_PARTS: Final = 4


def _scores(vectors: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """``vectors @ vec``: large matrices in parts on several threads, each running BLAS on one thread.

    A matrix-vector product is bound by memory bandwidth, which one core does not fill: two parts
    on two cores scan 100k rows in about half the time. OpenBLAS's own threads would do the same
    but spin while they wait, which made searches many times slower on a busy machine (see
    :func:`_single_thread_blas`); these threads block instead, so under load a part just runs
    later. A part's scores can differ from one whole product's in the last bit (BLAS blocks the
    rows differently), never more; the parts depend only on the row count, so a search is repeatable.
    """
    rows = vectors.shape[0]
    if rows < PARALLEL_SCAN_ROWS:
        parts = 1  # the common case, without asking for the CPU count (30 µs a call)
    else:
        parts = min(os.cpu_count() or 1, SCAN_PARTS, rows // (PARALLEL_SCAN_ROWS // 2))
    out = np.empty(rows, dtype=np.result_type(vectors, vec))
    with _single_thread_blas():
        if parts < 2:
            np.matmul(vectors, vec, out=out)
            return out
        bounds = np.linspace(0, rows, parts + 1).astype(int).tolist()

        errors: list[BaseException] = []

        def part(i: int) -> None:
            lo, hi = bounds[i], bounds[i + 1]
            try:
                np.matmul(vectors[lo:hi], vec, out=out[lo:hi])
            except BaseException as exc:  # e.g. MemoryError: re-raised in the caller below
                errors.append(exc)

        # Threads of their own, not a pool: starting one costs ~0.1 ms against a scan of 5 ms or
        # more, and nothing is left running between searches.
        helpers = [threading.Thread(target=part, args=(i,), name=f"genocat-scan-{i}") for i in range(1, parts)]
        for t in helpers:
            t.start()
        part(0)
        for t in helpers:
            t.join()
        if errors:
            raise errors[0]
    return out


def _top_k(
    matrix: _Matrix, vec: np.ndarray, k: int, mask: np.ndarray | None, scores: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and matrix positions of the best ``k`` rows, best first."""
    if matrix.vectors.shape[0] == 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    if scores is None:
        scores = _scores(matrix.vectors, vec)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
        k = min(k, int(mask.sum()))
    k = min(k, scores.size)
    if k == 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    top = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    # Ties are broken by position (row address order) so a search always gives the same order.
    order = np.lexsort((top, -scores[top]))
    top = top[order]
    return scores[top], top


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Store ``value`` in a per-filter cache, dropping its oldest entry beyond :data:`_MASK_CACHE`."""
    if len(cache) >= _MASK_CACHE:
        cache.pop(next(iter(cache)))
    cache[key] = value


def _ranked(
    ds: Any, found: np.ndarray, scores: np.ndarray, k: int, columns: list[str], rerank: _Rerank | None = None
) -> tuple[pa.Table, np.ndarray]:
    """The rows of the best ``k`` of the row ids ``found`` by ``scores``, best first, and their scores.

    Fields held in ``rerank.rows`` come from RAM, the others (the sequences) from one Lance take.
    """
    if found.size > k:
        keep = np.argpartition(-scores, k - 1)[:k]
        found, scores = found[keep], scores[keep]
    # Best first; ties broken by row id, as exact search breaks them by position.
    order = np.lexsort((found, -scores))
    found, scores = found[order], scores[order]
    if not found.size:
        return ds.to_table(columns=columns, limit=0), scores
    held = rerank.rows if rerank is not None else None
    if held is None:
        return ds._take_rows(found.tolist(), columns=columns), scores
    assert rerank is not None
    cached = held.take(np.searchsorted(rerank.ids, found))
    missing = [c for c in columns if c not in cached.column_names]
    read = ds._take_rows(found.tolist(), columns=missing) if missing else None
    sources = [read if read is not None and c in missing else cached for c in columns]
    schema = pa.schema([t.schema.field(c) for t, c in zip(sources, columns, strict=True)])
    return pa.Table.from_arrays([t.column(c) for t, c in zip(sources, columns, strict=True)], schema=schema), scores


def _with_rank(rows: pa.Table, scores: np.ndarray) -> pa.Table:
    n = rows.num_rows
    rank = pa.array(np.arange(1, n + 1, dtype=np.int32))
    score = pa.array(np.round(scores.astype(np.float64), 6))
    return rows.add_column(0, "score", score).add_column(0, "rank", rank)
