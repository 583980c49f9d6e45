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

Memory stays bounded: records are produced in :class:`ParsedBatch` objects of
at most ``batch_records`` records and ``batch_residues`` residues.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import hashlib
import io
import lzma
import operator
import os
import re
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, cast

import numpy as np
from Bio.SeqIO.FastaIO import SimpleFastaParser

from genocat_desktop.engine.core.errors import FastaFormatError

__all__ = [
    "COMPRESSED_SUFFIXES",
    "FASTA_SUFFIXES",
    "MOLECULES",
    "POLICY",
    "FastaReader",
    "ParsedBatch",
    "RecordIssue",
    "Sniff",
    "is_fasta_name",
    "normalise_query",
    "sequence_hash",
    "sniff",
]

MOLECULES: Final = ("protein", "dna", "rna")

#: What happens to each kind of problem: ``"skip"`` skips the record with a
#: warning in the import report, ``"reject"`` refuses the whole file.
POLICY: Final[dict[str, str]] = {
    "empty file": "reject",
    "not text (binary data, NUL bytes)": "reject",
    "another format (FASTQ, GenBank, Stockholm, EMBL, Clustal, HTML, zip, zstd)": "reject",
    "no '>' header before the sequence data": "reject",
    "text before the first '>' header": "skip (ignored, warned)",
    "';' comment lines (Pearson style)": "skip (ignored, warned)",
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

_SNIFF_BYTES: Final = 1 << 16
_READ_BUFFER: Final = 1 << 20

# Byte classes after upper-casing. Letters are residues; everything the policy
# has to look at is another class, so a clean batch costs one table lookup.
_LETTER, _STOP, _GAP, _SPACE, _BAD = 0, 1, 2, 3, 4
_CLASS = np.full(256, _BAD, dtype=np.uint8)
_CLASS[ord("A") : ord("Z") + 1] = _LETTER
_CLASS[ord("*")] = _STOP
_CLASS[ord("-")] = _GAP
_CLASS[ord(".")] = _GAP
for _c in " \t\r\v\f":
    _CLASS[ord(_c)] = _SPACE

# Nucleotide detection: IUPAC nucleotide codes, and the plain bases.
_NUC_IUPAC = np.zeros(256, dtype=np.uint8)
for _c in "ACGTURYSWKMBDHVN":
    _NUC_IUPAC[ord(_c)] = 1
_NOT_NUC = (1 - _NUC_IUPAC).astype(np.uint8)
_NOT_NUC_TABLE: Final = _NOT_NUC.tobytes()  # the same as a bytes.translate table
_UPPER: Final = bytes(range(ord("A"), ord("Z") + 1))
_NUC_PLAIN = np.zeros(256, dtype=np.uint8)
for _c in "ACGTUN":
    _NUC_PLAIN[ord(_c)] = 1
_IS_T = np.zeros(256, dtype=np.uint8)
_IS_T[ord("T")] = 1
_IS_U = np.zeros(256, dtype=np.uint8)
_IS_U[ord("U")] = 1

#: Records shorter than this whose letters are all bases are ambiguous ("ACE"
#: is a peptide, "ACG" could be either); they take the file's majority molecule.
MIN_LENGTH_FOR_MOLECULE: Final = 10

#: Molecule codes used in :attr:`ParsedBatch.molecule`.
MOL_PROTEIN, MOL_DNA, MOL_RNA, MOL_AMBIGUOUS = 0, 1, 2, 3

#: File name endings taken as FASTA when a folder or an object-store prefix is imported (a file named
#: explicitly is always read, so that the reader can say what is wrong with it).
FASTA_SUFFIXES: Final = (
    ".fa", ".fasta", ".faa", ".fna", ".ffn", ".frn", ".fas", ".mpfa", ".pep", ".pro", ".seq", ".aa", ".nu",
)
#: Compression endings that may follow a FASTA suffix.
COMPRESSED_SUFFIXES: Final = (".gz", ".bz2", ".xz")


def is_fasta_name(name: str) -> bool:
    """Whether a file name looks like FASTA: a FASTA suffix, maybe compressed, and not hidden."""
    if name.startswith("."):
        return False
    lower = name.lower()
    for suffix in COMPRESSED_SUFFIXES:
        lower = lower.removesuffix(suffix)
    return lower.endswith(FASTA_SUFFIXES)


def sequence_hash(seq: bytes) -> str:
    """Return the catalog's key for a normalised sequence.

    The MD5 digest of the upper-case residues, as upper-case hexadecimal: the
    same checksum that UniParc and InterPro publish for every sequence, so a
    lab can look its sequences up there.
    """
    return hashlib.md5(seq).hexdigest().upper()


@dataclass(frozen=True, slots=True)
class RecordIssue:
    """A warning about one record (or one place in the file)."""

    record: int | None
    line: int | None
    id: str
    message: str

    def __str__(self) -> str:
        where = []
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.id:
            where.append(repr(self.id))
        if self.line is not None:
            where.append(f"line {self.line}")
        return f"{' '.join(where)}: {self.message}" if where else self.message


@dataclass(frozen=True, slots=True)
class Sniff:
    """What :func:`sniff` learnt from the start of a file."""

    compression: str  # "none", "gzip", "bzip2" or "xz"
    encoding: str  # a Python codec name
    size: int  # bytes on disk
    preamble: tuple[int, str] | None  # (line, text) of ignored text before the first header


def _open_decompressed(raw: IO[bytes], compression: str) -> IO[bytes]:
    if compression == "gzip":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if compression == "bzip2":
        return cast(IO[bytes], bz2.BZ2File(raw, mode="rb"))
    if compression == "xz":
        return cast(IO[bytes], lzma.LZMAFile(raw, mode="rb"))
    return raw


_FORMAT_HINTS: Final = (
    ("@", "this looks like FASTQ (sequencing reads with quality scores), not FASTA; "
     "convert it first, e.g. 'seqtk seq -a reads.fastq > reads.fasta'"),
    ("LOCUS", "this looks like a GenBank flat file, not FASTA; export the sequences as FASTA first"),
    ("# STOCKHOLM", "this looks like a Stockholm alignment, not FASTA; "
     "export unaligned sequences as FASTA first (e.g. 'esl-reformat fasta')"),
    ("ID   ", "this looks like an EMBL or UniProt text entry, not FASTA; download the FASTA format instead"),
    ("CLUSTAL", "this looks like a Clustal alignment, not FASTA"),
    ("#NEXUS", "this looks like a NEXUS file, not FASTA"),
    ("<", "this looks like HTML or XML (a web page saved instead of the file?), not FASTA"),
    ("{", "this looks like JSON, not FASTA"),
    ("%PDF", "this is a PDF document, not FASTA"),
)


def _detect_compression(magic: bytes, path: str) -> str:
    if magic.startswith(b"\x1f\x8b"):
        return "gzip"
    if magic.startswith(b"BZh"):
        return "bzip2"
    if magic.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if magic.startswith(b"PK\x03\x04"):
        raise FastaFormatError(path, "this is a zip archive; unzip it and import the FASTA files inside")
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        raise FastaFormatError(path, "this is zstd-compressed; decompress it first ('zstd -d')")
    return "none"


def _decompression_error(path: str, compression: str, exc: BaseException, offset: int) -> FastaFormatError:
    if isinstance(exc, EOFError):
        return FastaFormatError(path, f"{compression} stream is truncated at byte {offset:,}; the file is incomplete")
    return FastaFormatError(path, f"{compression} data is corrupt near byte {offset:,} ({exc})")


_DECOMPRESSION_ERRORS: Final = (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError, OSError)


def sniff(path: str | os.PathLike[str]) -> Sniff:
    """Look at the start of a file and decide how to read it.

    Parameters
    ----------
    path
        The file to look at.

    Returns
    -------
    Sniff
        Compression, text encoding, size, and any text found before the first header.

    Raises
    ------
    FastaFormatError
        If the file is empty, not text, or another format than FASTA.
    """
    name = str(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as raw:
            magic = raw.read(8)
            if not magic:
                raise FastaFormatError(name, "the file is empty; there are no sequences to import")
            compression = _detect_compression(magic, name)
            raw.seek(0)
            stream = _open_decompressed(raw, compression)
            try:
                head = stream.read(_SNIFF_BYTES)
            except _DECOMPRESSION_ERRORS as exc:
                raise _decompression_error(name, compression, exc, raw.tell()) from None
            complete = len(head) < _SNIFF_BYTES
    except IsADirectoryError:
        raise FastaFormatError(name, "this is a folder, not a file") from None
    except FileNotFoundError:
        raise FastaFormatError(name, "no such file") from None
    except PermissionError:
        raise FastaFormatError(name, "permission denied; the file cannot be read") from None

    if not head:
        raise FastaFormatError(name, f"the file is empty after {compression} decompression")

    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"

    if encoding != "utf-16":
        _check_text(name, head)
    text = head.decode(encoding, errors="replace")
    if not complete:
        # Drop a partial last line: it may have been cut mid-character.
        text = text[: text.rfind("\n") + 1] or text
    return Sniff(compression, encoding, size, _check_format(name, text))


def _check_text(path: str, head: bytes) -> None:
    """Refuse data that is not text, naming where the binary data starts."""
    control = sum(head.count(bytes([b])) for b in (*range(0, 9), 11, 14, *range(16, 27), *range(28, 32)))
    if control > max(8, len(head) // 100):
        raise FastaFormatError(path, "this is a binary file, not FASTA text")
    nul = head.find(b"\x00")
    if nul >= 0:
        line = head.count(b"\n", 0, nul) + 1
        raise FastaFormatError(path, "contains a NUL byte (binary data); the file is damaged or not text", line=line)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the window's end
            line = head.count(b"\n", 0, exc.start) + 1
            if sum(b >= 0x80 for b in head) > len(head) // 10:
                raise FastaFormatError(path, "this is a binary file, not FASTA text") from None
            raise FastaFormatError(
                path, f"not valid UTF-8 text (byte 0x{head[exc.start]:02x}); save the file as UTF-8", line=line
            ) from None


def _check_format(path: str, text: str) -> tuple[int, str] | None:
    """Check the first lines look like FASTA; return ignored preamble text, if any."""
    first: tuple[int, str] | None = None
    preamble: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if first is None:
            first = (number, stripped)
            if not stripped.startswith((">", ";")):
                for prefix, message in _FORMAT_HINTS:
                    if stripped.startswith(prefix):
                        raise FastaFormatError(path, message, line=number)
        if stripped.startswith(">"):
            return preamble
        if preamble is None and not stripped.startswith(";"):
            preamble = (number, stripped)
    if first is None:
        raise FastaFormatError(path, "the file holds only blank lines; there are no sequences to import")
    number, stripped = first
    shown = stripped if len(stripped) <= 40 else stripped[:37] + "..."
    if stripped.startswith(";"):
        raise FastaFormatError(
            path,
            "no FASTA header: lines start with ';' (the old Pearson/PIR comment style) and none with '>'; "
            "replace the ';' of each header with '>'",
            line=number,
        )
    raise FastaFormatError(path, f"no FASTA header: expected a line starting with '>', found {shown!r}", line=number)


@dataclass(slots=True)
class ParsedBatch:
    """A batch of parsed, checked and normalised records.

    Only valid records are kept in the arrays; skipped records are reported
    in :attr:`issues`.

    Attributes
    ----------
    numbers
        1-based record numbers in the file, shape ``(n,)``.
    lines
        1-based line numbers of the headers.
    titles
        Header lines without the ``>``.
    data
        The normalised residues of all records, concatenated (ASCII upper case).
    offsets
        ``int64`` array of shape ``(n + 1,)``: record ``i`` is ``data[offsets[i]:offsets[i+1]]``.
    hashes
        ``S32`` array of :func:`sequence_hash` values.
    molecule
        ``uint8`` molecule codes (``MOL_*``); ``MOL_AMBIGUOUS`` for short records.
    issues
        Warnings and skipped records of this batch.
    skipped
        How many records of this batch were skipped.
    """

    numbers: np.ndarray
    lines: np.ndarray
    titles: list[str]
    data: bytes
    offsets: np.ndarray
    hashes: np.ndarray
    molecule: np.ndarray
    issues: list[RecordIssue] = field(default_factory=list)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.titles)

    def sequence(self, i: int) -> str:
        """Return record ``i``'s normalised sequence as text."""
        return self.data[self.offsets[i] : self.offsets[i + 1]].decode("ascii")

    def sequences(self) -> list[str]:
        """Return every normalised sequence as text."""
        d, o = self.data, self.offsets.tolist()
        return [d[o[i] : o[i + 1]].decode("ascii") for i in range(len(self.titles))]

    @property
    def lengths(self) -> np.ndarray:
        """Sequence lengths, ``int64``."""
        return np.diff(self.offsets)


def split_title(title: str) -> tuple[str, str]:
    """Split a header line (without ``>``) into identifier and description."""
    parts = title.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


class _LineCounter:
    """Iterates the lines of a text stream, numbering them for messages.

    It feeds :func:`SimpleFastaParser`, dropping ``;`` comment lines (which
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
            elif c == ";":
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
            stream = _open_decompressed(raw, self.info.compression)
            if stream is not raw:
                stream = io.BufferedReader(stream, buffer_size=_READ_BUFFER)  # type: ignore[arg-type,type-var]
            comments = _Comments()
            try:
                if self.info.encoding == "utf-16":
                    yield from self._text_batches(stream, comments)
                else:
                    yield from self._byte_batches(stream, comments)
            except _DECOMPRESSION_ERRORS as exc:
                raise _decompression_error(self.path, self.info.compression, exc, raw.tell()) from None
            finally:
                if not raw.closed:
                    self.bytes_read = raw.tell()
        if comments.count:
            self.file_issues.append(
                RecordIssue(
                    None, comments.first, "", f"{comments.count:,} comment line(s) starting with ';' were ignored"
                )
            )

    # -- the fast path: UTF-8 bytes, split with numpy and C-level bytes methods --------------
    def _byte_batches(self, stream: IO[bytes], comments: _Comments) -> Iterator[ParsedBatch]:
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
                titles, seqs, lines = self._parse_block(text, line_base, not seen_header, comments)
                start = 0
                while start < len(titles):
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
        self, text: bytes, line_base: int, first_block: bool, comments: _Comments
    ) -> tuple[list[str], list[bytes], list[int]]:
        """Titles, residues and header lines of the records in a block of whole records."""
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        # The byte after each line break tells indentation and ';' comments apart: one gather over
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
                line=line_base + text.count(b"\n", 0, nul),
            )
        if not text.isascii():
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FastaFormatError(
                    self.path,
                    f"not valid UTF-8 text (byte 0x{text[exc.start]:02x}); save the file as UTF-8",
                    line=line_base + text.count(b"\n", 0, exc.start),
                ) from None
        starts = after[follow == 62]
        if arr[0] == 62:
            starts = np.concatenate(([0], starts))
        if first_block and (not starts.size or starts[0] > 0):
            # Text before the first header (warned about by sniff); its ';' lines count as comments.
            comments.scan(text[: starts[0]] if starts.size else text, line_base)
        if not starts.size:
            return [], [], []
        ends_at = np.searchsorted(newlines, starts)
        header_line = ends_at + line_base
        if newlines.size:
            header_end = np.where(ends_at < newlines.size, newlines[np.minimum(ends_at, newlines.size - 1)], arr.size)
        else:
            header_end = np.full(starts.size, arr.size)
        starts_l, header_end_l, lines_l = starts.tolist(), header_end.tolist(), header_line.tolist()
        nexts = [*starts_l[1:], arr.size]
        titles = [text[s + 1 : e].decode("utf-8").rstrip() for s, e in zip(starts_l, header_end_l, strict=True)]
        if not (follow == 59).any():  # no line starts with ';'
            # The common case: cut and clean each record in one expression (no list of raw bodies).
            ws = _WHITESPACE
            return titles, [text[e + 1 : nx].translate(None, ws) for e, nx in zip(header_end_l, nexts, strict=True)], \
                lines_l
        bodies = [text[e + 1 : nx] for e, nx in zip(header_end_l, nexts, strict=True)]
        for i, body in enumerate(bodies):
            if body.startswith(b";") or b"\n;" in body:
                bodies[i] = comments.strip(body, lines_l[i] + 1)
        return titles, [b.translate(None, _WHITESPACE) for b in bodies], lines_l

    def _finish_bytes(self, batch: _Pending) -> ParsedBatch:
        first = self.records + 1
        self.records += len(batch.titles)
        if self._raw is not None:
            self.bytes_read = self._raw.tell()
        parsed = _check_batch(self, first, batch.titles, batch.seqs, batch.lines)
        self.valid += len(parsed)
        self.skipped += parsed.skipped
        return parsed

    # -- UTF-16 files: decoded text through Biopython's parser --------------------------------
    def _text_batches(self, stream: IO[bytes], comments: _Comments) -> Iterator[ParsedBatch]:
        text = io.TextIOWrapper(stream, encoding=self.info.encoding, newline=None)
        counter = _LineCounter(text)
        batch = _Pending()
        try:
            for title, seq in SimpleFastaParser(counter):
                batch.add(title, seq.encode("utf-8").translate(None, _WHITESPACE), counter.header_lines.popleft())
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
_DIGEST: Final = operator.methodcaller("digest")
_WHITESPACE: Final = b" \t\r\n\v\f"
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


class _Pending:
    """Raw records waiting to be checked as one batch."""

    __slots__ = ("lines", "residues", "seqs", "titles")

    def __init__(self) -> None:
        self.titles: list[str] = []
        self.seqs: list[bytes] = []
        self.lines: list[int] = []
        self.residues = 0

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


class _Comments:
    """Counts ';' comment lines (ignored, reported once per file)."""

    __slots__ = ("count", "first")

    def __init__(self) -> None:
        self.count = 0
        self.first = 0

    def scan(self, text: bytes, line: int) -> None:
        for i, ln in enumerate(text.split(b"\n")):
            if ln.startswith(b";"):
                self.count += 1
                self.first = self.first or line + i

    def strip(self, body: bytes, line: int) -> bytes:
        kept = []
        for i, ln in enumerate(body.split(b"\n")):
            if ln.startswith(b";"):
                self.count += 1
                self.first = self.first or line + i
            else:
                kept.append(ln)
        return b"\n".join(kept)


def _check_batch(
    reader: FastaReader, first: int, titles: list[str], seqs: list[bytes], lines: list[int]
) -> ParsedBatch:
    """Validate and normalise one batch of raw records (see :data:`POLICY`).

    ``seqs`` hold the residues with line breaks and whitespace already removed.
    """
    issues: list[RecordIssue] = []
    n = len(seqs)
    keep = [True] * n
    cleaned = list(seqs)

    def skip(i: int, message: str) -> None:
        keep[i] = False
        issues.append(RecordIssue(first + i, lines[i], split_title(titles[i])[0], message))

    joined = b"".join(seqs)
    data = joined.upper()
    # Records already in upper case can be hashed as they are (no slice per record below).
    as_given = data == joined
    del joined
    lens = np.fromiter(map(len, seqs), dtype=np.int64, count=n)
    ends = np.cumsum(lens)
    arr = np.frombuffer(data, dtype=np.uint8)
    # Deleting the upper-case letters leaves nothing in a clean batch: one C pass instead of numpy temporaries.
    clean = not data.translate(None, _UPPER)
    special = np.empty(0, np.int64) if clean else np.flatnonzero(_CLASS[arr] != _LETTER)
    if special.size:
        # Rare path: only records with something other than letters are looked at one by one.
        touched = np.unique(np.searchsorted(ends, special, side="right"))
        starts = ends - lens
        for i in touched.tolist():
            rec = data[starts[i] : ends[i]]
            fixed = _fix_record(reader, rec, first + i, lines[i], titles[i], skip, i)
            cleaned[i] = fixed if fixed is not None else b""
        data = b"".join(c for c, k in zip(cleaned, keep, strict=True) if k).upper()
        lens = np.fromiter((len(c) if k else 0 for c, k in zip(cleaned, keep, strict=True)), dtype=np.int64, count=n)
    for i in np.flatnonzero(lens == 0).tolist():
        if keep[i]:
            skip(i, "empty sequence (a header with no residues)")

    # Skipped records were never joined into ``data``: only their lengths go.
    idx = [i for i, k in enumerate(keep) if k]
    lens = lens[idx]
    offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    # Raw digests, then one hex conversion for the whole batch: no string object per record.
    if as_given and not special.size and len(idx) == n:
        # The common case: map() runs the per-record calls in C, over the records as they came.
        digests = b"".join(map(_DIGEST, map(hashlib.md5, seqs)))
    else:
        o = offsets.tolist()
        md5 = hashlib.md5
        digests = b"".join([md5(data[o[j] : o[j + 1]]).digest() for j in range(len(idx))])
    hashes = np.frombuffer(digests.hex().upper().encode("ascii"), dtype="S32") if idx else np.empty(0, "S32")
    # Three passes found the issues; report them in file order, whatever the batch size.
    issues.sort(key=lambda issue: issue.record or 0)
    return ParsedBatch(
        numbers=np.arange(first, first + n, dtype=np.int64)[idx],
        lines=np.asarray(lines, dtype=np.int64)[idx],
        titles=[titles[i] for i in idx],
        data=data,
        offsets=offsets,
        hashes=hashes,
        molecule=_molecules(np.frombuffer(data, dtype=np.uint8), offsets),
        issues=issues,
        skipped=n - len(idx),
    )


def _nul_error(reader: FastaReader, record: int, line: int) -> FastaFormatError:
    return FastaFormatError(
        reader.path, "contains a NUL byte (binary data); the file is damaged or not text", record=record, line=line
    )


def _fix_record(
    reader: FastaReader, rec: bytes, number: int, line: int, title: str, skip: Callable[[int, str], None], i: int
) -> bytes | None:
    """Normalise one record with non-letter bytes; return the cleaned residues or ``None`` if skipped."""
    s = rec.translate(None, _WHITESPACE)
    if b"\x00" in s:
        raise _nul_error(reader, number, line)
    if not s.isascii():
        text = s.decode("utf-8", errors="replace")
        bad_chars = sorted({c for c in text if not c.isascii()})
        skip(i, f"non-ASCII character(s) {', '.join(repr(c) for c in bad_chars[:5])} in the sequence")
        return None
    stripped = s.rstrip(b"*")
    if b"*" in stripped:
        pos = stripped.index(b"*") + 1
        skip(i, f"stop '*' inside the sequence (residue {pos:,}); internal stops are not imported")
        return None
    bad = sorted({chr(b) for b in stripped if _CLASS[b] == _BAD})
    if bad:
        pos = next(j for j, b in enumerate(stripped) if _CLASS[b] == _BAD) + 1
        shown = ", ".join(repr(c) for c in bad[:6]) + (" ..." if len(bad) > 6 else "")
        skip(i, f"characters that are not residues: {shown} (first at residue {pos:,})")
        return None
    if b"-" in stripped or b"." in stripped:
        if not reader.strip_gaps:
            raise FastaFormatError(
                reader.path,
                f"this looks like an alignment: {split_title(title)[0]!r} contains gap characters ('-' or '.'). "
                "Import the unaligned sequences, or choose to remove the gaps (CLI: --strip-gaps)",
                record=number,
                line=line,
            )
        stripped = stripped.translate(None, b"-.")
    return stripped


def _molecules(arr: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Classify each record as protein, DNA, RNA or ambiguous (too short to tell)."""
    n = len(offsets) - 1
    if n == 0:
        return np.empty(0, dtype=np.uint8)
    lens = np.diff(offsets)
    starts = offsets[:-1]
    if arr.size == 0:
        return np.full(n, MOL_PROTEIN, dtype=np.uint8)

    out = np.full(n, MOL_PROTEIN, dtype=np.uint8)
    # A record with one letter that is not a nucleotide code is protein: one
    # uint8 max-reduction settles almost every protein without counting anything.
    not_nuc = np.frombuffer(arr.tobytes().translate(_NOT_NUC_TABLE), dtype=np.uint8)
    maybe = np.flatnonzero(np.maximum.reduceat(not_nuc, starts) == 0)
    if maybe.size == 0:
        return out
    lens_m = lens[maybe]
    sub_idx = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in maybe.tolist()])
    sub = arr[sub_idx]
    sub_starts = np.zeros(maybe.size, dtype=np.int64)
    np.cumsum(lens_m[:-1], out=sub_starts[1:])

    def per_record(table: np.ndarray) -> np.ndarray:
        return np.add.reduceat(table[sub].astype(np.int64), sub_starts)

    plain = per_record(_NUC_PLAIN)
    nucleotide = plain * 10 >= lens_m * 9
    t, u = per_record(_IS_T), per_record(_IS_U)
    kind = np.where((u > 0) & (t == 0), MOL_RNA, MOL_DNA)
    kind[lens_m < MIN_LENGTH_FOR_MOLECULE] = MOL_AMBIGUOUS
    out[maybe[nucleotide]] = kind[nucleotide]
    return out


def normalise_query(seq: str) -> str:
    """Normalise a query sequence the way imported sequences are normalised.

    Whitespace and digits (as in a GenBank-style paste) are removed, letters
    upper-cased, trailing ``*`` stripped and alignment gaps dropped.

    Raises
    ------
    ValueError
        If anything but residues remains, naming the offending characters.
    """
    s = "".join(ch for ch in seq if not ch.isspace() and not ch.isdigit()).upper().rstrip("*")
    s = s.replace("-", "").replace(".", "")
    bad = sorted({c for c in s if not ("A" <= c <= "Z")})
    if bad:
        raise ValueError(f"characters that are not residues: {', '.join(repr(c) for c in bad[:6])}")
    return s
