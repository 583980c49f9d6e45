"""Planning a bulk ingest: the inputs (files, folders, ``s3://`` prefixes) cut into parts.

One part per file, and large uncompressed files cut into byte ranges that start at a ``>`` header.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from genocat_desktop.engine.catalog.filesystems import s3_filesystem
from genocat_desktop.engine.catalog.storage import is_remote
from genocat_desktop.engine.core.errors import FastaFormatError, InputError, StorageError
from genocat_desktop.engine.ingest.fasta import FASTA_SUFFIXES, is_fasta_name

__all__ = ["DEFAULT_PART_BYTES", "IngestPlan", "Part", "plan_ingest"]

#: Uncompressed files larger than this are cut into byte ranges of about this size.
DEFAULT_PART_BYTES: Final = 32 << 20


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of work: a whole file, or the byte range ``[start, end)`` of an uncompressed one."""

    index: int
    file_index: int
    path: str  # a local path, or s3://bucket/key
    start: int = 0
    end: int | None = None  # None: to the end of the file (the whole file)
    length: int | None = None  # the object's size, for s3:// inputs (listed once by the planner)

    @property
    def size(self) -> int:
        """Bytes of the file this part reads (the whole file's size on disk if ``end`` is ``None``)."""
        if self.end is not None:
            return self.end - self.start
        total = self.length if self.length is not None else os.path.getsize(self.path)
        return total - self.start

    @property
    def remote(self) -> bool:
        """Whether the part is read from object storage."""
        return is_remote(self.path)

    def describe(self) -> str:
        """``file.fa`` or ``file.fa [bytes 0-33554432]``."""
        if self.end is None:
            return self.path
        return f"{self.path} [bytes {self.start:,}-{self.end:,}]"


@dataclass(slots=True)
class IngestPlan:
    """The inputs and their parts, in input order."""

    files: list[str]
    parts: list[Part]
    errors: dict[int, str] = field(default_factory=dict)  # file index -> why it cannot be read

    @property
    def bytes(self) -> int:
        """Bytes on disk of all readable parts."""
        return sum(p.size for p in self.parts)


def _expand_remote(uri: str, options: dict[str, str] | None, sizes: dict[str, int]) -> list[str]:
    """The FASTA objects under ``s3://bucket/prefix`` (sorted by key), or the one object it names."""
    import pyarrow.fs as pafs

    fs = s3_filesystem(options or {})
    scheme, _, rest = uri.partition("://")
    key = rest.rstrip("/")
    if not key:
        raise InputError(f"{uri}: no bucket name (write s3://BUCKET/prefix/)")
    try:
        info = fs.get_file_info(key)
        if info.type == pafs.FileType.File and not uri.endswith("/"):
            sizes[uri] = int(info.size or 0)
            return [uri]
        listed = fs.get_file_info(pafs.FileSelector(key, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise StorageError(f"cannot list {uri}: {exc}") from None
    found = sorted(
        (i.path, int(i.size or 0)) for i in listed
        if i.type == pafs.FileType.File and is_fasta_name(i.base_name)
    )
    if not found:
        raise InputError(f"{uri}: no FASTA objects ({', '.join(FASTA_SUFFIXES)}, maybe compressed) under it")
    out = []
    for path, size in found:
        name = f"{scheme}://{path}"
        sizes[name] = size
        out.append(name)
    return out


def _expand(
    inputs: Sequence[str | os.PathLike[str]], options: dict[str, str] | None = None,
    sizes: dict[str, int] | None = None,
) -> list[str]:
    files: list[str] = []
    sizes = {} if sizes is None else sizes
    for item in inputs:
        text = os.fspath(item)
        if is_remote(text):
            files.extend(_expand_remote(text, options, sizes))
            continue
        if "://" in text and not text.startswith("file://"):
            raise InputError(f"{text}: only local files and folders and s3:// locations can be ingested")
        path = Path(text.removeprefix("file://")).expanduser()
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and is_fasta_name(p.name))
            if not found:
                raise InputError(f"{path}: no FASTA files ({', '.join(FASTA_SUFFIXES)}, maybe compressed) in it")
            files.extend(found)
        else:
            files.append(str(path))
    return files


def plan_ingest(
    inputs: Sequence[str | os.PathLike[str]], *, part_bytes: int = DEFAULT_PART_BYTES,
    input_options: dict[str, str] | None = None,
) -> IngestPlan:
    """Cut the inputs into parts.

    Parameters
    ----------
    inputs
        FASTA files, folders (every FASTA file below them, sorted by path), or
        ``s3://bucket/prefix`` locations (every FASTA object under them, sorted by key).
    part_bytes
        Target size of a part. Uncompressed UTF-8 files larger than this are cut
        into byte ranges that start at a ``>`` header; compressed files cannot be
        cut and are one part each (an S3 object is then read whole).
    input_options
        Storage options (Lance's keys, as :func:`~genocat_desktop.engine.catalog.storage.storage_options`
        builds them) for ``s3://`` inputs.

    Raises
    ------
    InputError
        If a folder or prefix has no FASTA file.
    StorageError
        If an ``s3://`` prefix cannot be listed.
    """
    from genocat_desktop.engine.ingest.sniffing import sniff

    sizes: dict[str, int] = {}
    files = _expand(inputs, input_options, sizes)
    parts: list[Part] = []
    errors: dict[int, str] = {}
    for fi, path in enumerate(files):
        if path in sizes:
            _plan_remote(path, sizes[path], fi, part_bytes, input_options or {}, parts, errors)
            continue
        try:
            info = sniff(path)
        except FastaFormatError as exc:
            errors[fi] = exc.reason
            continue
        if info.compression != "none" or info.encoding == "utf-16" or info.size <= part_bytes:
            parts.append(Part(len(parts), fi, path))
            continue
        cuts = _record_boundaries(path, info.size, max(1, round(info.size / part_bytes)))
        for start, end in zip([0, *cuts], [*cuts, info.size], strict=True):
            parts.append(Part(len(parts), fi, path, start, end))
    return IngestPlan(files, parts, errors)


def _plan_remote(uri: str, size: int, fi: int, part_bytes: int, options: dict[str, str], parts: list[Part],
                 errors: dict[int, str]) -> None:
    """Parts of one S3 object: compressed objects whole, large plain ones cut at ``>`` headers.

    Only the first bytes are read here (compression magic); whether the content is
    FASTA is decided by the scan task, which reports a bad object as a file error.
    """
    from genocat_desktop.engine.ingest.sniffing import detect_compression

    if size == 0:
        errors[fi] = "the file is empty; there are no sequences to import"
        return
    fs = s3_filesystem(options)
    key = uri.split("://", 1)[1]
    try:
        with fs.open_input_file(key) as f:
            magic = f.read_at(8, 0)
            compression = detect_compression(magic, uri)
            if compression != "none" or size <= part_bytes or magic.startswith((b"\xff\xfe", b"\xfe\xff")):
                parts.append(Part(len(parts), fi, uri, length=size))
                return
            cuts = _record_boundaries(f, size, max(1, round(size / part_bytes)))
    except FastaFormatError as exc:
        errors[fi] = exc.reason
        return
    except OSError as exc:
        raise StorageError(f"cannot read {uri}: {exc}") from None
    for start, end in zip([0, *cuts], [*cuts, size], strict=True):
        parts.append(Part(len(parts), fi, uri, start, end, length=size))


def _record_boundaries(path: str | Any, size: int, pieces: int) -> list[int]:
    """Offsets near ``k * size / pieces`` where a line starting with ``>`` begins (sorted, unique).

    ``path`` is a local file, or an open seekable file (an S3 object opened by pyarrow).
    """
    cuts: list[int] = []
    with open(path, "rb") if isinstance(path, str) else contextlib.nullcontext(path) as f:
        for k in range(1, pieces):
            pos = max(k * size // pieces, (cuts[-1] + 1) if cuts else 1)
            f.seek(pos - 1)
            carry = b""
            found = -1
            while True:
                block = f.read(1 << 20)
                if not block:
                    break
                buf = carry + block
                i = buf.find(b"\n>")
                if i >= 0:
                    found = pos - 1 + i + 1 - len(carry)
                    break
                carry = buf[-1:]
                pos += len(block)
            if found < 0 or found >= size:
                break
            if not cuts or found > cuts[-1]:
                cuts.append(found)
    return cuts
