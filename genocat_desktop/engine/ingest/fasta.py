"""Streaming FASTA reading: sniffing, decompression, validation and normalisation.

Biopython's :func:`~Bio.SeqIO.FastaIO.SimpleFastaParser` splits the text into
records. Around it this module adds what a catalog import needs and Biopython
leaves to the caller (see ``EDGE_CASES.md`` in the shared data):

* the compression is found from magic bytes, never from the file name (gzip,
  bzip2, xz); zip and zstd archives are named and refused;
* UTF-8 with or without a byte-order mark, and UTF-16 with one; CR, CRLF and
  LF line endings, mixed in one file;
* a file that is not FASTA text (binary data, FASTQ, GenBank, Stockholm,
  EMBL, Clustal, HTML...) is refused with a message that says what it is;
* every record is checked; residues are upper-cased, whitespace is removed
  and trailing ``*`` stops are stripped; gapped (aligned) input is recognised;
* the molecule (protein, DNA, RNA) is detected per record;
* line and record numbers are kept so every message can point at its place.

Per case, what happens is decided in one place (:data:`POLICY`) and documented
in ``ARCHITECTURE.md``: a problem with one record skips that record with a
warning in the import report; a problem with the file rejects the file.

The work is split by job: :mod:`~genocat_desktop.engine.ingest.sniffing` (compression,
encoding, what the file is), :mod:`~genocat_desktop.engine.ingest.records` (checks,
normalisation, molecules) and this module (the batch reader). The public names of
all three are importable from here.

Memory stays bounded: records are produced in :class:`ParsedBatch` objects of
at most ``batch_records`` records and ``batch_residues`` residues.
"""

from __future__ import annotations

import codecs
import io
import os
import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

import numpy as np
from Bio.SeqIO.FastaIO import SimpleFastaParser

from genocat_desktop.engine.core.errors import FastaFormatError
from genocat_desktop.engine.ingest.records import (
    MIN_LENGTH_FOR_MOLECULE,
    MOL_AMBIGUOUS,
    MOL_DNA,
    MOL_PROTEIN,
    MOL_RNA,
    MOLECULES,
    WHITESPACE,
    ParsedBatch,
    RawBatch,
    RecordIssue,
    check_batch,
    molecules,
    normalise_query,
    sequence_hash,
    split_title,
)
from genocat_desktop.engine.ingest.sniffing import (
    COMPRESSED_SUFFIXES,
    DECOMPRESSION_ERRORS,
    FASTA_SUFFIXES,
    Sniff,
    decompression_error,
    is_fasta_name,
    open_decompressed,
    sniff,
)

__all__ = [
    "COMPRESSED_SUFFIXES",
    "FASTA_SUFFIXES",
    "MIN_LENGTH_FOR_MOLECULE",
    "MOLECULES",
    "MOL_AMBIGUOUS",
    "MOL_DNA",
    "MOL_PROTEIN",
    "MOL_RNA",
    "POLICY",
    "Comments",
    "FastaReader",
    "ParsedBatch",
    "RecordIssue",
    "Sniff",
    "is_fasta_name",
    "molecules",
    "normalise_query",
    "sequence_hash",
    "sniff",
    "split_title",
]

#: What happens to each kind of problem: ``"skip"`` skips the record with a
#: warning in the import report, ``"reject"`` refuses the whole file.
POLICY: Final[dict[str, str]] = {
    "empty file": "reject",
    "not text (binary data, NUL bytes)": "reject",
    "another format (FASTQ, GenBank, Stockholm, EMBL, Clustal, HTML, zip, zstd)": "reject",
    "no '>' header before the sequence data": "reject",
    "text before the first '>' header": "skip (ignored, warned)",
    "';' comment lines (Pearson style), '#' lines (BLAST-style) inside records": "skip (ignored, warned)",
    "not valid UTF-8 / truncated or corrupt compressed stream": "reject",
    "gap characters '-' or '.' (an alignment)": "reject, unless strip_gaps",
    "record with an empty sequence": "skip",
    "record with characters that are not residues (digits, punctuation, non-ASCII)": "skip",
    "record with a stop '*' inside the sequence": "skip",
    "trailing '*' stop": "stripped",
    "lower-case residues, whitespace inside the sequence": "normalised",
    "record without an identifier": "named '<file>#<record>', warned",
    "same identifier for different sequences": "all kept, warned",
    "same sequence more than once": "one row, the other identifiers kept as aliases",
    "no valid record at all": "reject",
}

_READ_BUFFER: Final = 1 << 20


class _LineCounter:
    """Iterates the lines of a text stream, numbering them for messages.

    It feeds :func:`SimpleFastaParser`, dropping ``;`` and ``#`` comment lines (which
    the parser would otherwise glue into the sequence) and remembering the
    line number of each header so that records can point back to the file.
    """

    __slots__ = ("comment_lines", "first_comment", "handle", "header_lines", "line")

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.line = 0
        self.header_lines: deque[int] = deque()
        self.comment_lines = 0
        self.first_comment = 0

    def __iter__(self) -> Iterator[str]:
        headers = self.header_lines
        for line in self.handle:
            self.line += 1
            c = line[0]
            if c in " \t":
                # Indented lines ("  >seq1" from a pasted e-mail) would hide headers from the parser.
                line = line.lstrip(" \t")
                c = line[:1]
            if c == ">":
                headers.append(self.line)
            elif c in ";#":
                self.comment_lines += 1
                if not self.first_comment:
                    self.first_comment = self.line
                continue
            yield line


class FastaReader:
    """Stream a FASTA file as :class:`ParsedBatch` objects.

    Parameters
    ----------
    path
        The file (plain, gzip, bzip2 or xz; the compression is sniffed).
    batch_records, batch_residues
        Upper bounds of one batch, which bound the memory used.
    strip_gaps
        Remove alignment gaps (``-`` and ``.``) instead of refusing the file.

    Notes
    -----
    The reader can be iterated once. Its counters (:attr:`records`,
    :attr:`bytes_read`...) are up to date after each batch, and
    :attr:`file_issues` holds warnings about the file as a whole.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_records: int = 8192,
        batch_residues: int = 4_000_000,
        strip_gaps: bool = False,
    ) -> None:
        self.path = str(path)
        self.name = Path(path).name
        self.batch_records = batch_records
        self.batch_residues = batch_residues
        self.strip_gaps = strip_gaps
        self.info = sniff(path)
        self.records = 0  # records seen (valid or not)
        self.valid = 0
        self.skipped = 0
        self.bytes_read = 0
        self.file_issues: list[RecordIssue] = []
        if self.info.preamble:
            line, text = self.info.preamble
            shown = text if len(text) <= 40 else text[:37] + "..."
            self.file_issues.append(
                RecordIssue(None, line, "", f"text before the first '>' header was ignored ({shown!r})")
            )
        self._raw: IO[bytes] | None = None

    @property
    def size(self) -> int:
        """The file's size on disk in bytes (compressed size for compressed files)."""
        return self.info.size

    def __iter__(self) -> Iterator[ParsedBatch]:
        with open(self.path, "rb", buffering=_READ_BUFFER) as raw:
            self._raw = raw
            stream = open_decompressed(raw, self.info.compression)
            if stream is not raw:
                stream = io.BufferedReader(stream, buffer_size=_READ_BUFFER)  # type: ignore[arg-type,type-var]
            comments = Comments()
            try:
                if self.info.encoding == "utf-16":
                    yield from self._text_batches(stream, comments)
                else:
                    yield from self._byte_batches(stream, comments)
            except DECOMPRESSION_ERRORS as exc:
                raise decompression_error(self.path, self.info.compression, exc, raw.tell()) from None
            finally:
                if not raw.closed:
                    self.bytes_read = raw.tell()
        if comments.count:
            self.file_issues.append(comments.issue())

    # -- the fast path: UTF-8 bytes, split with numpy and C-level bytes methods --------------
    def _byte_batches(self, stream: IO[bytes], comments: Comments) -> Iterator[ParsedBatch]:
        """Parse UTF-8 (or ASCII) FASTA in large blocks.

        Biopython's ``SimpleFastaParser`` handles one line per Python loop
        iteration, which caps an import near 100k records/s before any other
        work; here a block of a few MiB is split at header lines by numpy and
        each record costs two slices and a ``bytes.translate``. The records are
        the same as Biopython's (``tests/test_fasta.py`` compares them on real
        files); the UTF-16 path below still uses Biopython's parser.
        """
        batch = _Pending()
        carry = b""
        line_base = 1  # line number of the first line of ``carry``
        first = True
        seen_header = False
        while True:
            block = stream.read(_BLOCK_BYTES)
            eof = not block
            if block.endswith(b"\r"):
                block += stream.read(1)  # keep a CRLF pair in one block: line numbers stay right
            if first and block.startswith(codecs.BOM_UTF8):
                block = block[len(codecs.BOM_UTF8) :]
            buf = carry + block if carry else block
            if not eof:
                cut = buf.rfind(b"\n>")
                if cut < 0:
                    carry = buf  # one record longer than a block: keep reading
                    continue
                text, carry = buf[: cut + 1], buf[cut + 1 :]
            else:
                text, carry = buf, b""
            if text:
                titles, seqs, lines, parsed = self._parse_block(text, line_base, not seen_header, comments)
                start = 0
                while start < len(titles):
                    batch.sources.append((len(batch.titles), start, parsed))
                    start = batch.extend(titles, seqs, lines, start, self.batch_records, self.batch_residues)
                    if batch.full(self.batch_records, self.batch_residues):
                        yield self._finish_bytes(batch)
                        batch = _Pending()
                line_base += text.count(b"\n")
                seen_header = seen_header or batch.titles != [] or self.records > 0
            first = False
            if eof:
                break
        if batch.titles:
            yield self._finish_bytes(batch)

    def _parse_block(
        self, text: bytes, line_base: int, first_block: bool, comments: Comments
    ) -> tuple[list[str], list[bytes], list[int], _Block]:
        """Titles, residues and header lines of the records in a block of whole records, and the block."""
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        # The byte after each line break tells indentation and ';'/'#' comments apart: one gather over
        # the line starts instead of a two-byte search of the whole block per case.
        arr, newlines, after, follow = _line_starts(text)
        if text[:1] in (b" ", b"\t") or _IS_INDENT[follow].any():
            # Indented lines ("  >seq1" pasted from an e-mail) would hide headers.
            text = _INDENT.sub(b"", text)
            arr, newlines, after, follow = _line_starts(text)
        nul = text.find(b"\x00")
        if nul >= 0:
            raise FastaFormatError(
                self.path, "contains a NUL byte (binary data); the file is damaged or not text",
                line=line_base + text.count(b"\n", 0, nul), column=nul - text.rfind(b"\n", 0, nul),
            )
        if not text.isascii():
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FastaFormatError(
                    self.path,
                    f"not valid UTF-8 text (byte 0x{text[exc.start]:02x}); save the file as UTF-8",
                    line=line_base + text.count(b"\n", 0, exc.start),
                    column=exc.start - text.rfind(b"\n", 0, exc.start),
                ) from None
        starts = after[follow == 62]
        if arr[0] == 62:
            starts = np.concatenate(([0], starts))
        if first_block and (not starts.size or starts[0] > 0):
            # Text before the first header (warned about by sniff); its ';' lines count as comments.
            comments.scan(text[: starts[0]] if starts.size else text, line_base)
        if not starts.size:
            return [], [], [], _Block(text, line_base, [], [], [])
        ends_at = np.searchsorted(newlines, starts)
        header_line = ends_at + line_base
        if newlines.size:
            header_end = np.where(ends_at < newlines.size, newlines[np.minimum(ends_at, newlines.size - 1)], arr.size)
        else:
            header_end = np.full(starts.size, arr.size)
        starts_l, header_end_l, lines_l = starts.tolist(), header_end.tolist(), header_line.tolist()
        nexts = [*starts_l[1:], arr.size]
        titles = [text[s + 1 : e].decode("utf-8").rstrip() for s, e in zip(starts_l, header_end_l, strict=True)]
        block = _Block(text, line_base, [e + 1 for e in header_end_l], nexts, lines_l)
        if not ((follow == 59) | (follow == 35)).any():  # no line starts with ';' or '#'
            # The common case: cut and clean each record in one expression (no list of raw bodies).
            ws = WHITESPACE
            return titles, [text[e + 1 : nx].translate(None, ws) for e, nx in zip(header_end_l, nexts, strict=True)], \
                lines_l, block
        bodies = [text[e + 1 : nx] for e, nx in zip(header_end_l, nexts, strict=True)]
        for i, body in enumerate(bodies):
            if body.startswith((b";", b"#")) or b"\n;" in body or b"\n#" in body:
                bodies[i] = comments.strip(body, lines_l[i] + 1)
        return titles, [b.translate(None, WHITESPACE) for b in bodies], lines_l, block

    def _finish_bytes(self, batch: _Pending) -> ParsedBatch:
        first = self.records + 1
        self.records += len(batch.titles)
        if self._raw is not None:
            self.bytes_read = self._raw.tell()
        locate = batch.locate if batch.sources else None
        parsed = check_batch(RawBatch(first, batch.titles, batch.seqs, batch.lines, locate), self.path,
                             self.strip_gaps)
        self.valid += len(parsed)
        self.skipped += parsed.skipped
        return parsed

    # -- UTF-16 files: decoded text through Biopython's parser --------------------------------
    def _text_batches(self, stream: IO[bytes], comments: Comments) -> Iterator[ParsedBatch]:
        text = io.TextIOWrapper(stream, encoding=self.info.encoding, newline=None)
        counter = _LineCounter(text)
        batch = _Pending()
        try:
            for title, seq in SimpleFastaParser(counter):
                batch.add(title, seq.encode("utf-8").translate(None, WHITESPACE), counter.header_lines.popleft())
                if batch.full(self.batch_records, self.batch_residues):
                    yield self._finish_bytes(batch)
                    batch = _Pending()
        except UnicodeDecodeError:
            raise FastaFormatError(
                self.path, f"not valid {self.info.encoding} text; save the file as UTF-8", line=counter.line + 1
            ) from None
        if batch.titles:
            yield self._finish_bytes(batch)
        comments.count += counter.comment_lines
        comments.first = comments.first or counter.first_comment


_BLOCK_BYTES: Final = 4 << 20
_INDENT: Final = re.compile(rb"(?m)^[ \t]+")
_IS_INDENT: Final = np.zeros(256, dtype=bool)
_IS_INDENT[[ord(" "), ord("\t")]] = True


def _line_starts(text: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The block as bytes, its line breaks, the positions after them (inside the block), and the bytes there."""
    arr = np.frombuffer(text, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    after = newlines + 1
    after = after[after < arr.size]
    return arr, newlines, after, arr[after]


class _Block:
    """A block of whole records as parsed, kept so that a message can give a line and column."""

    __slots__ = ("ends", "header_lines", "line_base", "starts", "text")

    def __init__(self, text: bytes, line_base: int, starts: list[int], ends: list[int], header_lines: list[int]):
        self.text, self.line_base = text, line_base
        self.starts, self.ends, self.header_lines = starts, ends, header_lines

    def locate(self, j: int, pos: int) -> tuple[int, int]:
        """Line and column (1-based) of residue ``pos`` (0-based, whitespace not counted) of record ``j``."""
        line = self.header_lines[j] + 1
        seen = 0
        for text in self.text[self.starts[j] : self.ends[j]].split(b"\n"):
            if not text.startswith((b";", b"#")):  # comment lines hold no residues
                n = len(text.translate(None, WHITESPACE))
                if seen + n > pos:
                    for column, byte in enumerate(text, 1):
                        if byte not in WHITESPACE:
                            if seen == pos:
                                return line, column
                            seen += 1
                seen += n
            line += 1
        return self.header_lines[j], 1


class _Pending:
    """Raw records waiting to be checked as one batch."""

    __slots__ = ("lines", "residues", "seqs", "sources", "titles")

    def __init__(self) -> None:
        self.titles: list[str] = []
        self.seqs: list[bytes] = []
        self.lines: list[int] = []
        self.residues = 0
        #: (index in this batch, index in the block, block) where each run of records came from.
        self.sources: list[tuple[int, int, _Block]] = []

    def locate(self, i: int, pos: int) -> tuple[int, int]:
        """Line and column in the file of residue ``pos`` of record ``i`` of this batch."""
        for first, start, block in reversed(self.sources):
            if first <= i:
                return block.locate(start + i - first, pos)
        return self.lines[i], 1

    def add(self, title: str, seq: bytes, line: int) -> None:
        self.titles.append(title)
        self.seqs.append(seq)
        self.lines.append(line)
        self.residues += len(seq)

    def extend(
        self, titles: list[str], seqs: list[bytes], lines: list[int], start: int, records: int, residues: int
    ) -> int:
        """Take records from ``start`` until the batch is full; return where it stopped."""
        room = records - len(self.titles)
        stop = min(len(titles), start + room)
        if self.residues + sum(len(s) for s in seqs[start:stop]) >= residues:
            # Rare (very long sequences): fill one record at a time up to the residue bound.
            stop = start
            while stop < len(titles) and not self.full(records, residues):
                self.add(titles[stop], seqs[stop], lines[stop])
                stop += 1
            return stop
        self.titles.extend(titles[start:stop])
        self.seqs.extend(seqs[start:stop])
        self.lines.extend(lines[start:stop])
        self.residues += sum(len(s) for s in seqs[start:stop])
        return stop

    def full(self, records: int, residues: int) -> bool:
        return len(self.titles) >= records or self.residues >= residues


class Comments:
    """Counts comment lines: ``;`` (Pearson) and ``#`` (BLAST-style) lines, ignored and reported once per file.

    Shared with the readers of byte ranges of a file (the distributed ingest), so that a part
    handles comments as a whole file does. A ``#`` line inside a record would otherwise be glued
    to its residues and the valid record refused.
    """

    __slots__ = ("count", "first", "lines")

    #: How many comment line numbers the report names.
    SHOWN: Final = 5

    def __init__(self) -> None:
        self.count = 0
        self.first = 0
        self.lines: list[int] = []

    def _seen(self, line: int) -> None:
        self.count += 1
        self.first = self.first or line
        if len(self.lines) < self.SHOWN:
            self.lines.append(line)

    def scan(self, text: bytes, line: int) -> None:
        for i, ln in enumerate(text.split(b"\n")):
            if ln.startswith((b";", b"#")):
                self._seen(line + i)

    def strip(self, body: bytes, line: int) -> bytes:
        kept = []
        for i, ln in enumerate(body.split(b"\n")):
            if ln.startswith((b";", b"#")):
                self._seen(line + i)
            else:
                kept.append(ln)
        return b"\n".join(kept)

    def issue(self) -> RecordIssue:
        """The file's warning about its comment lines, naming the first of them."""
        shown = ", ".join(map(str, self.lines or [self.first])) + (", ..." if self.count > len(self.lines) else "")
        return RecordIssue(None, self.first, "", f"{self.count:,} comment line(s) starting with ';' or '#' were "
                                                 f"ignored (line {shown})", 1)
