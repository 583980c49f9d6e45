"""The refinement copy of a large catalog in files on this machine: vectors and sequences read per row.

A catalog too large to keep its half-precision copy in RAM (beyond the
searcher's memory budget, or 1M proteins whose default search is seeded and
needs the RAM for its seed index) used to refine each fast search's ANN
candidates from Lance's data files: one random read of ``refine × k`` rows,
~1.8 ms of a ~9 ms query at 1M rows, and another read for the hits' fields.
Here the copy is written once per fragment to the catalog's working folder
(:meth:`Catalog.work_folder`, ``refine``) and a query reads its ~20
candidates' vectors, and its hits' sequences, with one ``pread`` each
(~0.1 ms in all; the page cache holds what is read often). Nothing is
memory-mapped: the kernel maps page-cache folios whole, and 220 queries of 20
random rows mapped the whole 1 GB vectors' file into the process's RSS. The
other fields (~100 bytes a row) are kept in RAM, as the in-RAM copy keeps them.

Per fragment: the vectors (``.f16``) and their row ids (``.ids.npy``), named by
the files the fragment's vectors come from; the fields (``.arrow``), named by
all its files and the columns; the sequences (``.seq``, with their offsets in
``.seqpos.npy``), named by the files holding them. An import writes only its
new fragments, a field edit only the fields' file, and another version's files
are recognised as stale and removed. Each file is written under a temporary
name of its writer's own and renamed when complete (the ids and offsets first,
the file they describe last): a cancelled or failed build leaves nothing a
later load trusts, and two processes writing the same file each rename a whole one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.core.progress import CancelToken

__all__ = ["FilePiece", "FileSequences", "FileVectors", "Signatures", "file_pieces", "remove_stale"]

#: Rows read from Lance and written per batch while a fragment's files are made (32 MB of float32 at
#: 512-d), with at most :data:`WRITE_READAHEAD` batches read ahead (Lance's default is 16).
WRITE_BATCH_ROWS: Final = 16_384
WRITE_READAHEAD: Final = 2
_VECTORS, _IDS, _ROWS, _TEXT, _OFFSETS = ".f16", ".ids.npy", ".arrow", ".seq", ".seqpos.npy"
#: A fragment's signatures: what its vectors, all its rows, and its sequences are read from.
Signatures = tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...] | None]


class _Positions:
    """Positions of the sorted copy mapped to (file, row in it) over several per-fragment files.

    ``order`` (optional) maps a position of the sorted copy to its row in the
    files' concatenation (a dataset with stable row ids may list fragments out
    of row-id order).
    """

    def __init__(self, counts: list[int], order: np.ndarray | None) -> None:
        self.starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        self.order = order

    def __len__(self) -> int:
        return int(self.starts[-1])

    def groups(self, pos: Any) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(file, indices into pos, rows in that file)`` for each file holding some of ``pos``."""
        rows = np.asarray(pos, dtype=np.int64).reshape(-1)
        if self.order is not None:
            rows = self.order[rows]
        piece = np.searchsorted(self.starts, rows, side="right") - 1
        for p in np.unique(piece).tolist():
            at = np.flatnonzero(piece == p)
            yield p, at, rows[at] - self.starts[p]


class FileVectors(_Positions):
    """Half-precision vectors of several per-fragment files, indexed like one ``(rows, dim)`` array.

    Indexing reads only the rows asked for; a missing or short file raises
    :class:`OSError` (the caller then lets Lance refine).
    """

    def __init__(self, paths: list[Path], counts: list[int], dim: int, order: np.ndarray | None = None) -> None:
        super().__init__(counts, order)
        self.paths, self.dim = paths, dim
        self.shape = (len(self), dim)
        self.dtype = np.dtype(np.float16)

    def __getitem__(self, pos: Any) -> np.ndarray:
        out = np.empty((np.size(pos), self.dim), np.float16)
        width = self.dim * 2
        for p, at, rows in self.groups(pos):
            with _opened(self.paths[p]) as fd:
                for j, row in zip(at.tolist(), rows.tolist(), strict=True):
                    if os.preadv(fd, [memoryview(out[j]).cast("B")], row * width) != width:
                        raise OSError(f"{self.paths[p]} is shorter than its rows")
        return out


class FileSequences(_Positions):
    """The sequences of several per-fragment files (UTF-8, end to end, with their offsets in RAM).

    ``field`` is the catalog's column they come from (its name and type).
    """

    def __init__(self, paths: list[Path], offsets: list[np.ndarray], field: pa.Field,
                 order: np.ndarray | None = None) -> None:
        super().__init__([o.size - 1 for o in offsets], order)
        self.paths, self.offsets, self.field = paths, offsets, field

    def take(self, pos: Any) -> pa.Array:
        """The sequences at positions ``pos`` of the sorted copy, as an array of the column's type."""
        out: list[str | None] = [None] * int(np.size(pos))
        for p, at, rows in self.groups(pos):
            bounds = self.offsets[p]
            with _opened(self.paths[p]) as fd:
                for j, row in zip(at.tolist(), rows.tolist(), strict=True):
                    start, end = int(bounds[row]), int(bounds[row + 1])
                    data = os.pread(fd, end - start, start)
                    if len(data) != end - start:
                        raise OSError(f"{self.paths[p]} is shorter than its sequences")
                    out[j] = data.decode()
        return pa.array(out, type=self.field.type)


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


@dataclass(slots=True)
class FilePiece:
    """One fragment's part of the copy: its files, its sorted row ids, fields and sequence offsets.

    ``rows`` is ``None`` when the fields did not fit the budget, ``text`` when the
    catalog has no sequence column.
    """

    sigs: Signatures
    vectors: Path
    ids: np.ndarray
    rows_file: Path
    rows: pa.Table | None
    text: Path | None = None
    offsets: np.ndarray | None = None

    @property
    def names(self) -> set[str]:
        """The files this piece uses."""
        names = {self.vectors.name, _sibling(self.vectors, _VECTORS, _IDS).name}
        if self.rows is not None:
            names.add(self.rows_file.name)
        if self.text is not None:
            names |= {self.text.name, _sibling(self.text, _TEXT, _OFFSETS).name}
        return names


def _digest(*parts: Any) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def _sibling(path: Path, suffix: str, other: str) -> Path:
    return path.with_name(path.name[: -len(suffix)] + other)


def _batches(frag: Any, columns: list[str], cancel: CancelToken | None) -> Iterator[pa.RecordBatch]:
    for batch in frag.to_batches(columns=columns, with_row_id=True, batch_size=WRITE_BATCH_ROWS,
                                 batch_readahead=WRITE_READAHEAD):
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield batch


def _written(path: Path, write: Callable[[Any], None], then: Callable[[], None] | None = None) -> None:
    """Write ``path`` through ``write(file)`` under a temporary name, renamed when complete (after
    ``then()``, which writes what describes it)."""
    # A name of this writer's own: two processes opening a catalog at once write the same files.
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as out:
            write(out)
        if then is not None:
            then()
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _vectors(frag: Any, column: str, dim: int, path: Path, cancel: CancelToken | None) -> tuple[np.ndarray, bool]:
    """The fragment's row ids, from its complete files or streamed from Lance into them (then ``True``)."""
    try:
        ids = np.asarray(np.load(_sibling(path, _VECTORS, _IDS)), dtype=np.uint64)
        if path.stat().st_size == ids.size * dim * 2:
            return ids, False
    except (OSError, ValueError):
        pass
    parts: list[np.ndarray] = []

    def write(out: Any) -> None:
        for batch in _batches(frag, [column], cancel):
            flat = batch.column(column).flatten().to_numpy(zero_copy_only=False)
            out.write(np.ascontiguousarray(flat.reshape(-1, dim), dtype=np.float16).tobytes())
            parts.append(batch.column("_rowid").to_numpy().astype(np.uint64))

    def save_ids() -> None:
        ids = np.concatenate(parts) if parts else np.empty(0, np.uint64)
        _written(_sibling(path, _VECTORS, _IDS), lambda out: np.save(out, ids))

    _written(path, write, save_ids)
    return np.concatenate(parts) if parts else np.empty(0, np.uint64), True


def _sequences(frag: Any, column: str, path: Path, rows: int, cancel: CancelToken | None) -> np.ndarray:
    """The byte offsets of the fragment's ``rows`` sequences in ``path``, written from Lance if need be."""
    offsets_path = _sibling(path, _TEXT, _OFFSETS)
    try:
        offsets = np.load(offsets_path)
        if offsets.size == rows + 1 and path.stat().st_size == int(offsets[-1]):
            return np.asarray(offsets, dtype=np.int64)
    except (OSError, ValueError):
        pass
    lengths: list[np.ndarray] = []

    def write(out: Any) -> None:
        for batch in _batches(frag, [column], cancel):
            text = batch.column(column)
            data = [s.encode() for s in text.fill_null("").to_pylist()]
            out.write(b"".join(data))
            lengths.append(np.fromiter(map(len, data), np.int64, len(data)))

    def offsets_of() -> np.ndarray:
        sizes = np.concatenate(lengths) if lengths else np.empty(0, np.int64)
        return np.concatenate([np.zeros(1, np.int64), np.cumsum(sizes, dtype=np.int64)])

    _written(path, write, lambda: _written(offsets_path, lambda out: np.save(out, offsets_of())))
    return offsets_of()


def _rows(frag: Any, other: list[str], path: Path, rows: int) -> pa.Table:
    """The fragment's ``other`` columns, from their file or read from Lance into it."""
    try:
        with pa.OSFile(str(path), "rb") as source:
            table = pa.ipc.open_file(source).read_all()
        if table.num_rows == rows and table.schema.names == other:
            return table
    except (OSError, pa.ArrowInvalid):
        pass
    # Only these columns are read: batches read together with the vectors share buffers with them,
    # and keeping their fields kept 2.4 GB of vectors alive at 1M rows.
    table = frag.to_table(columns=other)

    def write(out: Any) -> None:
        with pa.ipc.new_file(out, table.schema) as writer:
            writer.write_table(table)

    _written(path, write)
    return table


def file_pieces(
    ds: Any, column: str, other: list[str], dim: int, folder: Path, previous: dict[int, FilePiece],
    room: int, signatures: Callable[[Any], Signatures], text: str | None, cancel: CancelToken | None = None,
) -> tuple[dict[int, FilePiece], int, int]:
    """Every fragment's piece of the copy of ``column``, from ``previous``, the files, or Lance.

    ``signatures(metadata)`` gives a fragment's :data:`Signatures`; the rows
    (``other`` columns) are kept while ``room`` bytes last; ``text`` names
    the sequence column kept in files too (``None``: none). Returns the
    pieces by fragment id, the room left and how many fragments' vectors were
    read from Lance. Raises :class:`OSError` when the folder cannot be written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    pieces: dict[int, FilePiece] = {}
    reads = 0
    for frag in ds.get_fragments():
        sigs = signatures(frag.metadata)
        fid = frag.fragment_id
        old = previous.get(fid)
        if old is not None and old.sigs == sigs and (old.rows is not None or room <= 0):
            piece = old
        else:
            vec_sig, full_sig, text_sig = sigs
            vectors = folder / f"{fid}-{_digest(column, dim, vec_sig)}{_VECTORS}"
            if old is not None and old.sigs[0] == vec_sig:
                ids = old.ids
            else:
                ids, read = _vectors(frag, column, dim, vectors, cancel)
                reads += read
            rows_file = folder / f"{fid}-{_digest(full_sig)}{_ROWS}"
            rows = _rows(frag, other, rows_file, ids.size) if room > 0 else None
            piece = FilePiece(sigs, vectors, ids, rows_file, rows)
            if text is not None and text_sig is not None:
                piece.text = folder / f"{fid}-{_digest(text, text_sig)}{_TEXT}"
                same = old is not None and old.sigs[2] == text_sig and old.offsets is not None
                piece.offsets = old.offsets if same and old is not None else \
                    _sequences(frag, text, piece.text, ids.size, cancel)
        pieces[fid] = piece
        if piece.rows is not None:
            room -= piece.rows.nbytes
    return pieces, room, reads


def remove_stale(folder: Path, pieces: dict[int, FilePiece]) -> None:
    """Delete the files of ``folder`` that no piece uses (other versions'); best effort.

    A process still searching an older version then lets Lance read what it cannot.
    """
    keep = set().union(*(p.names for p in pieces.values())) if pieces else set()
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if entry.name not in keep and entry.name.endswith((_VECTORS, _IDS, _ROWS, _TEXT, _OFFSETS)):
                with contextlib.suppress(OSError):
                    entry.unlink()
