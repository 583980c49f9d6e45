"""The refinement copy of a large catalog in files on this machine: vectors read row by row, fields in RAM.

A catalog too large to keep its half-precision copy in RAM (beyond the
searcher's memory budget, or 1M proteins whose default search is seeded and
needs the RAM for its seed index) used to refine each fast search's ANN
candidates from Lance's data files: one random read of ``refine × k`` rows,
~1.8 ms of a ~9 ms query at 1M rows, and another read for the hits' fields.
Here the copy is written once per fragment to the catalog's working folder
(:meth:`Catalog.work_folder`, ``refine``) and a query reads its ~20
candidates' vectors with one ``pread`` each (~0.1 ms in all; the page cache
holds what is read often). The vectors are not memory-mapped: the kernel maps
page-cache folios whole, and 220 queries of 20 random rows mapped the whole
1 GB file into the process's RSS. The metadata columns but the sequences
(~100 bytes a row) are kept in RAM, as the in-RAM copy keeps them.

Files are named by fragment and by a hash of the files the fragment's
vectors (and rows) come from, so an import writes only its new fragments, a
field edit rewrites only the rows' file, and another version's files are
recognised as stale and removed. Each file is written under a temporary name
and renamed when complete: a cancelled or failed build leaves nothing that
a later load would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.core.progress import CancelToken

__all__ = ["FilePiece", "FileVectors", "file_pieces", "remove_stale"]

#: Rows read from Lance and written per batch while a fragment's files are made (32 MB of float32 at
#: 512-d), with at most :data:`WRITE_READAHEAD` batches read ahead (Lance's default is 16).
WRITE_BATCH_ROWS: Final = 16_384
WRITE_READAHEAD: Final = 2
_VECTORS, _IDS, _ROWS = ".f16", ".ids.npy", ".arrow"


class FileVectors:
    """Half-precision vectors of several per-fragment files, indexed like one ``(rows, dim)`` array.

    ``order`` (optional) maps a position of the sorted copy to its row in the
    files' concatenation (a dataset with stable row ids may list fragments out of
    row-id order). Indexing reads only the rows asked for; a missing or short
    file raises :class:`OSError` (the caller then lets Lance refine).
    """

    def __init__(self, paths: list[Path], counts: list[int], dim: int, order: np.ndarray | None = None) -> None:
        self.paths = paths
        self.starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        self.dim = dim
        self.order = order
        self.shape = (int(self.starts[-1]), dim)
        self.dtype = np.dtype(np.float16)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, pos: Any) -> np.ndarray:
        rows = np.asarray(pos, dtype=np.int64).reshape(-1)
        if self.order is not None:
            rows = self.order[rows]
        out = np.empty((rows.size, self.dim), np.float16)
        width = self.dim * 2
        piece = np.searchsorted(self.starts, rows, side="right") - 1
        for p in np.unique(piece).tolist():
            at = np.flatnonzero(piece == p)
            fd = os.open(self.paths[p], os.O_RDONLY)
            try:
                for j, row in zip(at.tolist(), (rows[at] - self.starts[p]).tolist(), strict=True):
                    if os.preadv(fd, [memoryview(out[j]).cast("B")], row * width) != width:
                        raise OSError(f"{self.paths[p]} is shorter than its rows")
            finally:
                os.close(fd)
        return out


@dataclass(slots=True)
class FilePiece:
    """One fragment's part of the copy: its vectors' file, its sorted row ids and its rows (fields)."""

    vec_sig: tuple[Any, ...]
    full_sig: tuple[Any, ...]
    path: Path
    ids: np.ndarray
    rows: pa.Table | None

    @property
    def names(self) -> set[str]:
        """The files this piece uses (the rows' file is named by :func:`_rows_path`)."""
        return {self.path.name, self.path.name[: -len(_VECTORS)] + _IDS}


def _digest(*parts: Any) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def _vectors_path(folder: Path, fragment: int, column: str, dim: int, vec_sig: tuple[Any, ...]) -> Path:
    return folder / f"{fragment}-{_digest(column, dim, vec_sig)}{_VECTORS}"


def _rows_path(folder: Path, fragment: int, full_sig: tuple[Any, ...]) -> Path:
    return folder / f"{fragment}-{_digest(full_sig)}{_ROWS}"


def _write_fragment(frag: Any, column: str, other: list[str], dim: int, vec_path: Path, rows_path: Path,
                    with_rows: bool, cancel: CancelToken | None) -> tuple[np.ndarray, pa.Table | None]:
    """Stream one fragment's vectors (and rows) from Lance into its files; bounded memory."""
    tmp_vec = vec_path.with_name(vec_path.name + ".tmp")
    tmp_rows = rows_path.with_name(rows_path.name + ".tmp")
    ids: list[np.ndarray] = []
    tables: list[pa.RecordBatch] = []
    try:
        with tmp_vec.open("wb") as out:
            for batch in frag.to_batches(columns=[column, *other] if with_rows else [column],
                                         with_row_id=True, batch_size=WRITE_BATCH_ROWS,
                                         batch_readahead=WRITE_READAHEAD):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                flat = batch.column(column).flatten().to_numpy(zero_copy_only=False)
                out.write(np.ascontiguousarray(flat.reshape(-1, dim), dtype=np.float16).tobytes())
                ids.append(batch.column("_rowid").to_numpy().astype(np.uint64))
                if with_rows:
                    tables.append(batch.select(other))
        all_ids = np.concatenate(ids) if ids else np.empty(0, np.uint64)
        np.save(vec_path.with_name(vec_path.name[: -len(_VECTORS)] + _IDS), all_ids)
        rows = None
        if with_rows:
            _write_rows(pa.Table.from_batches(tables) if tables else frag.to_table(columns=other, limit=0),
                        tmp_rows)
            os.replace(tmp_rows, rows_path)
            # Read back rather than kept: Lance's batches share buffers with the vectors they were
            # decoded with, and keeping their fields kept 2.4 GB of vectors alive at 1M rows.
            del tables
            rows = _read_rows(rows_path)
            if rows is None:
                raise OSError(f"{rows_path} could not be read back")
        os.replace(tmp_vec, vec_path)  # last: the vectors' file says the piece is complete
        return all_ids, rows
    finally:
        for tmp in (tmp_vec, tmp_rows):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _write_rows(rows: pa.Table, path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as writer:
        writer.write_table(rows)


def _read_rows(path: Path) -> pa.Table | None:
    try:
        with pa.OSFile(str(path), "rb") as source:
            return pa.ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid):
        return None


def _open_piece(vec_path: Path, dim: int) -> np.ndarray | None:
    """The row ids of a complete vectors file, or ``None`` if it is missing or does not match them."""
    try:
        ids = np.load(vec_path.with_name(vec_path.name[: -len(_VECTORS)] + _IDS))
        if vec_path.stat().st_size != ids.size * dim * 2:
            return None
    except (OSError, ValueError):
        return None
    return np.asarray(ids, dtype=np.uint64)


def file_pieces(
    ds: Any, column: str, other: list[str], dim: int, folder: Path, previous: dict[int, FilePiece],
    room: int, signatures: Any, cancel: CancelToken | None = None,
) -> tuple[dict[int, FilePiece], int, int]:
    """Every fragment's piece of the copy of ``column``, from ``previous``, the files, or Lance.

    ``signatures(metadata)`` gives a fragment's ``(vec_sig, full_sig)``; the
    rows (``other`` columns) are kept while ``room`` bytes last. Returns the
    pieces by fragment id, the room left and how many fragments' vectors
    were read from Lance. Raises :class:`OSError` when the folder cannot be written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    pieces: dict[int, FilePiece] = {}
    reads = 0
    for frag in ds.get_fragments():
        vec_sig, full_sig = signatures(frag.metadata)
        fid = frag.fragment_id
        old = previous.get(fid)
        if old is not None and old.vec_sig == vec_sig and (old.full_sig == full_sig or room <= 0):
            piece = old
        else:
            vec_path = _vectors_path(folder, fid, column, dim, vec_sig)
            rows_path = _rows_path(folder, fid, full_sig)
            ids = old.ids if old is not None and old.vec_sig == vec_sig else _open_piece(vec_path, dim)
            rows = None
            if ids is None:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                ids, rows = _write_fragment(frag, column, other, dim, vec_path, rows_path, room > 0, cancel)
                reads += 1
            elif room > 0:
                rows = _read_rows(rows_path)
                if rows is None or rows.num_rows != ids.size or rows.schema.names != other:
                    rows = frag.to_table(columns=other)
                    tmp = rows_path.with_name(rows_path.name + ".tmp")
                    _write_rows(rows, tmp)
                    os.replace(tmp, rows_path)
            piece = FilePiece(vec_sig, full_sig, vec_path, ids, rows)
        pieces[fid] = piece
        if piece.rows is not None:
            room -= piece.rows.nbytes
    return pieces, room, reads


def remove_stale(folder: Path, pieces: dict[int, FilePiece]) -> None:
    """Delete the files of ``folder`` that no piece uses (other versions'); best effort.

    A process still searching an older version then lets Lance refine the rows it cannot read.
    """
    keep = set().union(*(p.names for p in pieces.values())) if pieces else set()
    keep |= {_rows_path(folder, fid, p.full_sig).name for fid, p in pieces.items() if p.rows is not None}
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if entry.name not in keep and entry.name.endswith((_VECTORS, _IDS, _ROWS)):
                with contextlib.suppress(OSError):
                    entry.unlink()
