"""Reading one part of a bulk ingest: a byte range of a file, or a ranged read of an S3 object."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genocat_desktop.engine.catalog.filesystems import s3_filesystem
from genocat_desktop.engine.core.errors import StorageError
from genocat_desktop.engine.ingest.distributed.plan import Part
from genocat_desktop.engine.ingest.fasta import Comments, FastaReader, RecordIssue

__all__ = ["PartReader", "readable"]


class _Range(io.RawIOBase):
    """A read-only window ``[start, end)`` of a file that counts the line feeds it hands out."""

    def __init__(self, raw: Any, length: int) -> None:
        self.raw = raw
        self.left = length
        self.newlines = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        if n <= 0:
            return 0
        data = self.raw.read(n)
        buffer[: len(data)] = data
        self.left -= len(data)
        self.newlines += data.count(b"\n")
        return len(data)


class PartReader(FastaReader):
    """A :class:`FastaReader` over one part: record and line numbers are counted from the part's start."""

    def __init__(self, part: Part, strip_gaps: bool) -> None:
        super().__init__(part.path, strip_gaps=strip_gaps)
        self.part = part
        self.newlines = 0
        if part.start > 0:
            self.file_issues = []  # the text-before-the-first-header warning belongs to the first part

    def __iter__(self) -> Iterator[Any]:
        part = self.part
        if part.end is None:
            yield from super().__iter__()
            return
        with open(self.path, "rb") as raw:
            raw.seek(part.start)
            window = _Range(raw, part.end - part.start)
            self._raw = raw
            comments = Comments()  # the same comment handling as whole files
            yield from self._byte_batches(io.BufferedReader(window, 1 << 20), comments)
            self.newlines = window.newlines
            self.bytes_read = raw.tell()
        if comments.count:
            self.file_issues.append(
                RecordIssue(
                    None, comments.first, "", f"{comments.count:,} comment line(s) starting with ';' were ignored"
                )
            )


@contextlib.contextmanager
def readable(part: Part, options: dict[str, str] | None) -> Iterator[Part]:
    """The part itself, or for an S3 object a local copy of its bytes (a ranged read) as a part.

    The FASTA reader works on local files; a part is at most ``part_bytes`` (or one
    compressed object), so a temporary copy bounds neither memory nor disk by much.
    """
    if not part.remote:
        yield part
        return
    import tempfile

    fs = s3_filesystem(options or {})
    key = part.path.split("://", 1)[1]
    suffix = "".join(Path(key).suffixes[-2:])
    with tempfile.NamedTemporaryFile(prefix="genocat-part-", suffix=suffix) as tmp:
        try:
            with fs.open_input_file(key) as src:
                end = part.end if part.end is not None else part.size + part.start
                pos = part.start
                while pos < end:
                    chunk = src.read_at(min(8 << 20, end - pos), pos)
                    if not chunk:
                        raise StorageError(f"{part.path}: the object ended at byte {pos:,}; it changed or is "
                                           "being rewritten")
                    tmp.write(chunk)
                    pos += len(chunk)
        except OSError as exc:
            raise StorageError(f"cannot read {part.describe()}: {exc}") from None
        tmp.flush()
        length = (part.end - part.start) if part.end is not None else None
        yield Part(part.index, part.file_index, tmp.name, 0, length)
