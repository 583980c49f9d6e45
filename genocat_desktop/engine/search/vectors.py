"""Vector columns held in RAM: the float32 matrix for exact search and the half-precision refinement copy.

Both are loaded per fragment, and a fragment whose files did not change since
the last version is reused: after an import only the new fragments are read,
after a field edit only the other columns are re-read, never the vectors.

* :class:`ExactVectors`: one vector column of one version in float32, with
  every other column aligned to it (a hit's row is then a microsecond in-memory
  take instead of ~4 ms of random reads in Lance), and the filter masks.
* :class:`RefinementVectors`: one vector column of one version in half
  precision, for re-scoring ANN candidates in RAM ("refinement"; Lance's own
  refinement re-reads each candidate's vector from the data files), with the
  metadata columns but the sequences when they fit, the row ids passing each
  recent filter, and small float32 matrices of the rows passing a filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.core.progress import CancelToken
from genocat_desktop.engine.search.refine_files import (
    FilePiece,
    FileSequences,
    FileVectors,
    Signatures,
    file_pieces,
    remove_stale,
)

__all__ = [
    "FILTER_CACHE_BYTES",
    "FILTER_MATRIX_BYTES",
    "RAM_ROW_SKIP",
    "ExactMatrix",
    "ExactVectors",
    "FilteredSubset",
    "FragmentPiece",
    "RefinementCopy",
    "RefinementVectors",
    "remember",
]

#: Entries kept per filter cache (masks, matching row ids, counts).
FILTER_CACHE_ENTRIES: Final = 16
#: Columns the refinement copy does not hold in RAM (the bulk of a catalog's bytes); a hit's are read.
RAM_ROW_SKIP: Final = frozenset({"sequence"})
#: A filtered search of an indexed catalog keeps the vectors of the rows passing the filter as one
#: float32 matrix, and searches them exactly, when it takes at most this much memory (25,000 rows of
#: 320-d vectors): a matrix-vector product of them took 3.7 ms, while Lance probing its index with the
#: filter took 9-16 ms at 1M rows, and converting the half-precision copy per query 1.8 µs a row.
FILTER_MATRIX_BYTES: Final = 32 << 20
#: ... and keeps such matrices for the most recent filters up to this much memory in all.
FILTER_CACHE_BYTES: Final = 128 << 20


def remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Store ``value`` in a per-filter cache, dropping its oldest entry beyond :data:`FILTER_CACHE_ENTRIES`."""
    if len(cache) >= FILTER_CACHE_ENTRIES:
        cache.pop(next(iter(cache)))
    cache[key] = value


@dataclass(slots=True)
class FragmentPiece:
    """One fragment's vectors and rows, with the file signatures that say when they are stale.

    ``keys`` are the rows' addresses (exact search) or row ids (the refinement copy).
    """

    vec_sig: tuple[Any, ...]
    full_sig: tuple[Any, ...]
    vectors: np.ndarray
    keys: np.ndarray
    rows: pa.Table | None


def _signatures(meta: Any, vector_field: int, other: list[str]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """What identifies a fragment's vectors (its deletions and the data files holding the column) and
    its rows (the deletions, every data file and the columns ``other`` read from them)."""
    d = meta.deletion_file
    deletions = (d.id, d.read_version, d.num_deleted_rows) if d is not None else None
    vec_sig = (deletions, tuple(sorted(f.path for f in meta.files if vector_field in f.fields)))
    return vec_sig, (deletions, tuple(sorted((f.path, tuple(f.fields)) for f in meta.files)), tuple(other))


def _id_order(ids: np.ndarray) -> np.ndarray | None:
    """The order that sorts row ids, or ``None`` if sorted already (they follow fragment order unless the
    dataset has stable row ids)."""
    if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        return np.argsort(ids, kind="stable")
    return None


@dataclass(slots=True)
class ExactMatrix:
    """One vector column of one version in float32, for exact search.

    ``addresses`` are the sorted uint64 row addresses; ``rows`` the other
    columns aligned with ``vectors`` (``None`` beyond the memory budget).
    """

    version: int
    column: str
    vectors: np.ndarray
    addresses: np.ndarray
    rows: pa.Table | None


@dataclass(slots=True)
class RefinementCopy:
    """One vector column of one version in half precision, for refining ANN candidates in RAM.

    Half the memory of the exact float32 matrix (640 MB for 1M 320-d vectors);
    it scores the candidates in microseconds. ``ids`` are the sorted uint64 row
    ids; ``rows`` the metadata columns but the sequences (:data:`RAM_ROW_SKIP`),
    aligned with ``ids``, when they fit the memory budget too: a hit's fields
    without a Lance take (~1 ms for one column of 10 rows at 1M, 2.4 ms for six).
    ``vectors`` is an array in RAM, or :class:`~.refine_files.FileVectors`
    (read row by row from files on this machine) for a catalog too large for RAM;
    such a copy holds the sequences in files too (``sequences``).
    """

    version: int
    column: str
    vectors: np.ndarray | FileVectors
    ids: np.ndarray
    rows: pa.Table | None
    sequences: FileSequences | None = None


@dataclass(slots=True)
class FilteredSubset:
    """The float32 vectors of the rows passing one filter (sorted uint64 row ``ids``), for exact filtered search."""

    ids: np.ndarray
    vectors: np.ndarray


def _other_columns(catalog: Any, ds: Any, skip: frozenset[str] = frozenset()) -> list[str]:
    vector_columns = set(catalog.vector_columns())
    return [c for c in ds.schema.names if c not in vector_columns and c not in skip]


class ExactVectors:
    """The float32 matrix of the current version, its per-fragment cache and the filter masks."""

    def __init__(self) -> None:
        self.matrix: ExactMatrix | None = None
        self.fragments: dict[int, FragmentPiece] = {}
        self.fragments_column: str | None = None
        self.masks: dict[tuple[int, str], np.ndarray] = {}

    def load(
        self, catalog: Any, version: int, column: str, budget: int, cancel: CancelToken | None = None
    ) -> ExactMatrix | None:
        """The matrix of ``column`` at ``version``, or ``None`` when it does not fit ``budget`` bytes."""
        m = self.matrix
        if m is not None and m.version == version and m.column == column:
            return m
        ds = catalog.dataset(version)
        dim = int(catalog.vector_columns()[column]["dim"])
        if ds.count_rows() * dim * 4 > budget:
            self.matrix = None
            return None
        other = _other_columns(catalog, ds)
        pieces = self._pieces(ds, column, other, dim, cancel)
        if pieces:
            vectors = np.concatenate([p.vectors for p in pieces]) if len(pieces) > 1 else pieces[0].vectors
            addresses = np.concatenate([p.keys for p in pieces])
            rows: pa.Table | None = pa.concat_tables([p.rows for p in pieces if p.rows is not None])
        else:
            vectors, addresses = np.empty((0, dim), np.float32), np.empty(0, np.uint64)
            rows = ds.to_table(columns=other, limit=0)
        assert rows is not None
        rows = None if vectors.nbytes + rows.nbytes > budget else rows.combine_chunks()
        self.matrix = ExactMatrix(version, column, np.ascontiguousarray(vectors, dtype=np.float32), addresses, rows)
        return self.matrix

    def _pieces(
        self, ds: Any, column: str, other: list[str], dim: int, cancel: CancelToken | None = None
    ) -> list[FragmentPiece]:
        """Per-fragment vectors and rows of ``ds``, reusing what an earlier version already loaded.

        After a field edit (new files for that field only) only the other
        columns are re-read, never the vectors: at 100k rows a full reload took ~4 s.
        """
        vector_field = ds.lance_schema.field(column).id()
        previous = self.fragments if self.fragments_column == column else {}
        cache: dict[int, FragmentPiece] = {}
        for frag in ds.get_fragments():
            vec_sig, full_sig = _signatures(frag.metadata, vector_field, other)
            old = previous.get(frag.fragment_id)
            if cancel is not None and (old is None or old.full_sig != full_sig):
                cancel.raise_if_cancelled()
            if old is not None and old.full_sig == full_sig:
                piece = old
            elif old is not None and old.vec_sig == vec_sig:
                piece = FragmentPiece(vec_sig, full_sig, old.vectors, old.keys, frag.to_table(columns=other))
            else:
                table = frag.to_table(columns=[column, *other], with_row_address=True)
                col = table.column(column).combine_chunks()
                vecs = col.flatten().to_numpy().reshape(-1, dim) if table.num_rows else np.empty((0, dim), np.float32)
                addrs = table.column("_rowaddr").to_numpy()
                piece = FragmentPiece(vec_sig, full_sig, np.asarray(vecs, dtype=np.float32), addrs, table.select(other))
            cache[frag.fragment_id] = piece
        self.fragments, self.fragments_column = cache, column
        # Fragments in id order and rows in offset order: row addresses come out sorted.
        return [cache[i] for i in sorted(cache)]

    def mask(self, ds: Any, matrix: ExactMatrix, sql: str) -> np.ndarray:
        """Rows of ``matrix`` that pass ``sql``; cached per version (refining a search reuses it)."""
        key = (matrix.version, sql)
        cached = self.masks.get(key)
        if cached is not None:
            return cached
        allowed = ds.to_table(columns=[], filter=sql, with_row_address=True).column("_rowaddr").to_numpy()
        mask = np.zeros(matrix.addresses.size, dtype=bool)
        pos = np.searchsorted(matrix.addresses, allowed)
        inside = pos < matrix.addresses.size
        pos, allowed = pos[inside], allowed[inside]
        mask[pos[matrix.addresses[pos] == allowed]] = True
        remember(self.masks, key, mask)
        return mask


class RefinementVectors:
    """The half-precision refinement copy of the current version, its per-fragment cache and filter caches."""

    def __init__(self) -> None:
        self.copy: RefinementCopy | None = None
        self.fragments: dict[int, FragmentPiece] = {}
        self.fragments_column: str | None = None
        self.folder: Path | None = None  # where a copy kept in files lives (None: in RAM)
        self.file_pieces: dict[int, FilePiece] = {}
        self.subsets: dict[tuple[int, str, str], FilteredSubset] = {}  # least recently used first
        self.matching: dict[tuple[int, str], np.ndarray] = {}
        self.vector_reads = 0  # fragments whose vectors were read from disk (unchanged ones are reused)

    def load(self, catalog: Any, ds: Any, column: str, budget: int, cancel: CancelToken | None = None,
             folder: Path | None = None) -> RefinementCopy | None:
        """The half-precision vectors of ``column`` at this version, or ``None`` beyond ``budget`` bytes.

        With ``folder`` (or once a copy was kept there) the vectors are kept in
        files in ``folder`` instead of RAM (:mod:`.refine_files`), the fields in
        RAM within ``budget``; ``None`` if the folder cannot be written.
        """
        r = self.copy
        if r is not None and r.version == ds.version and r.column == column:
            return r
        if folder is None and self.fragments_column == column:
            folder = self.folder
        if folder is not None:
            return self._load_files(catalog, ds, column, budget, folder, cancel)
        self.folder, self.file_pieces = None, {}
        dim = int(catalog.vector_columns()[column]["dim"])
        if ds.count_rows() * dim * 2 > budget:
            self.copy = None
            return None
        other = _other_columns(catalog, ds, RAM_ROW_SKIP)
        # The metadata too if it fits beside the vectors (~200 bytes a row without the sequences).
        room = budget - ds.count_rows() * dim * 2
        pieces, room = self._pieces(ds, column, other, dim, room, cancel)
        vectors = np.concatenate([p.vectors for p in pieces]) if pieces else np.empty((0, dim), np.float16)
        ids = np.concatenate([p.keys for p in pieces]) if pieces else np.empty(0, np.uint64)
        rows = None
        if room > 0 and all(p.rows is not None and p.full_sig[2] == tuple(other) for p in pieces):
            rows = pa.concat_tables([p.rows for p in pieces if p.rows is not None]) if pieces else None
        else:
            for p in pieces:  # the fields did not all fit: keep none of them
                p.rows = None
        order = _id_order(ids)
        if order is not None:
            ids, vectors = ids[order], vectors[order]
            rows = rows.take(order) if rows is not None else None
        else:
            # The pieces (kept to reuse unchanged fragments next version) become views of the copy
            # instead of a second copy of every vector (~1 GB at 1M rows of 512 dimensions).
            start = 0
            for p in pieces:
                size = len(p.vectors)
                p.vectors = vectors[start:start + size]
                start += size
        held = rows.combine_chunks() if rows is not None else None
        self.copy = RefinementCopy(ds.version, column, vectors, ids, held)
        return self.copy

    def _load_files(self, catalog: Any, ds: Any, column: str, budget: int, folder: Path,
                    cancel: CancelToken | None) -> RefinementCopy | None:
        """The copy with its vectors in files in ``folder``, only new fragments written; see :meth:`load`."""
        dim = int(catalog.vector_columns()[column]["dim"])
        other = _other_columns(catalog, ds, RAM_ROW_SKIP)
        vector_field = ds.lance_schema.field(column).id()
        # The sequences (the column the RAM copy leaves out) go to files beside the vectors.
        text = "sequence" if "sequence" in ds.schema.names else None
        text_field = ds.lance_schema.field(text).id() if text is not None else None

        def signatures(meta: Any) -> Signatures:
            vec_sig, full_sig = _signatures(meta, vector_field, other)
            return vec_sig, full_sig, _signatures(meta, text_field, [])[0] if text_field is not None else None

        previous = self.file_pieces if self.fragments_column == column and self.folder == folder else {}
        try:
            pieces, room, reads = file_pieces(ds, column, other, dim, folder, previous, budget, signatures, text,
                                              cancel)
        except OSError:
            # A folder that cannot be written (read-only, full): Lance refines from the data files.
            self.copy, self.folder, self.file_pieces, self.fragments_column = None, None, {}, None
            return None
        self.vector_reads += reads
        ordered = [pieces[i] for i in sorted(pieces)]
        ids = np.concatenate([p.ids for p in ordered]) if ordered else np.empty(0, np.uint64)
        rows = None
        if room > 0 and all(p.rows is not None for p in ordered):
            rows = pa.concat_tables([p.rows for p in ordered if p.rows is not None]) if ordered else None
        order = _id_order(ids)
        if order is not None:
            ids = ids[order]
            rows = rows.take(order) if rows is not None else None
        vectors = FileVectors([p.vectors for p in ordered], [p.ids.size for p in ordered], dim, order)
        sequences = None
        if text is not None and all(p.text is not None and p.offsets is not None for p in ordered):
            sequences = FileSequences([p.text for p in ordered if p.text is not None],
                                      [p.offsets for p in ordered if p.offsets is not None],
                                      ds.schema.field(text), order)
        self.fragments, self.file_pieces = {}, pieces
        self.fragments_column, self.folder = column, folder
        remove_stale(folder, pieces)
        held = rows.combine_chunks() if rows is not None else None
        self.copy = RefinementCopy(ds.version, column, vectors, ids, held, sequences)
        return self.copy

    def _pieces(
        self, ds: Any, column: str, other: list[str], dim: int, room: int, cancel: CancelToken | None
    ) -> tuple[list[FragmentPiece], int]:
        """Per-fragment half-precision vectors (and rows while ``room`` bytes last); returns the room left."""
        vector_field = ds.lance_schema.field(column).id()
        previous = self.fragments if self.fragments_column == column else {}
        cache: dict[int, FragmentPiece] = {}
        for frag in ds.get_fragments():
            vec_sig, full_sig = _signatures(frag.metadata, vector_field, other)
            old = previous.get(frag.fragment_id)
            if old is not None and old.vec_sig == vec_sig and (old.full_sig == full_sig or room <= 0):
                piece = old
            else:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                if old is not None and old.vec_sig == vec_sig:
                    piece = FragmentPiece(vec_sig, full_sig, old.vectors, old.keys, frag.to_table(columns=other))
                else:
                    table = frag.to_table(columns=[column, *other] if room > 0 else [column], with_row_id=True)
                    self.vector_reads += 1
                    flat = table.column(column).combine_chunks().flatten().to_numpy()
                    piece = FragmentPiece(
                        vec_sig, full_sig, flat.reshape(-1, dim).astype(np.float16),
                        table.column("_rowid").to_numpy().astype(np.uint64),
                        table.select(other) if room > 0 else None,
                    )
            cache[frag.fragment_id] = piece
            if piece.rows is not None:
                room -= piece.rows.nbytes
        self.fragments, self.fragments_column = cache, column
        return [cache[i] for i in sorted(cache)], room

    def matching_ids(self, ds: Any, sql: str) -> np.ndarray:
        """Sorted row ids of the rows passing ``sql``; cached per version.

        Counting the rows that pass took 3.5 ms a query (10 % of 1M rows).
        """
        key = (ds.version, sql)
        cached = self.matching.get(key)
        if cached is None:
            cached = ds.to_table(columns=[], filter=sql, with_row_id=True).column("_rowid").to_numpy()
            cached = np.asarray(cached, dtype=np.uint64)
            if cached.size > 1 and not bool(np.all(cached[1:] > cached[:-1])):
                cached = np.sort(cached)  # ann.ann_candidates looks candidates up in it
            remember(self.matching, key, cached)
        return cached

    def filtered_subset(self, ds: Any, copy: RefinementCopy, sql: str, allowed: np.ndarray) -> FilteredSubset | None:
        """The vectors of the rows ``allowed`` (passing ``sql``) in float32, or ``None`` beyond the limit.

        Cached for the most recent filters (:data:`FILTER_CACHE_BYTES`): the first query with a new
        filter gathers them from the half-precision copy (63 ms measured for 50,000 rows; at most
        25,000 320-d rows fit :data:`FILTER_MATRIX_BYTES`), the next ones only multiply.
        """
        dim = copy.vectors.shape[1]
        if allowed.size == 0 or allowed.size * dim * 4 > FILTER_MATRIX_BYTES:
            return None
        key = (ds.version, copy.column, sql)
        subset = self.subsets.pop(key, None)
        if subset is None:
            pos = np.minimum(np.searchsorted(copy.ids, allowed), copy.ids.size - 1)
            if not bool(np.all(copy.ids[pos] == allowed)):
                return None
            try:
                subset = FilteredSubset(allowed, copy.vectors[pos].astype(np.float32))
            except OSError:  # a file of a copy kept in files went missing: the index path instead
                return None
            # Matrices of other versions are stale: a search always uses the newest version.
            self.subsets = {k: v for k, v in self.subsets.items() if k[0] == ds.version}
            while self.subsets and subset.vectors.nbytes + sum(
                v.vectors.nbytes for v in self.subsets.values()
            ) > FILTER_CACHE_BYTES:
                self.subsets.pop(next(iter(self.subsets)))
        self.subsets[key] = subset  # most recently used last
        return subset
