"""Sniffing a FASTA file: compression from magic bytes, text encoding, and what the file is.

The compression is found from magic bytes, never from the file name (gzip,
bzip2, xz); zip and zstd archives are named and refused. A file that is not
FASTA text (binary data, FASTQ, GenBank, Stockholm, EMBL, Clustal, HTML...)
is refused with a message that says what it is.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import os
import zlib
from dataclasses import dataclass
from typing import IO, Final, cast

from genocat_desktop.engine.core.errors import FastaFormatError

__all__ = [
    "COMPRESSED_SUFFIXES",
    "DECOMPRESSION_ERRORS",
    "FASTA_SUFFIXES",
    "Sniff",
    "decompression_error",
    "detect_compression",
    "is_fasta_name",
    "open_decompressed",
    "sniff",
]

_SNIFF_BYTES: Final = 1 << 16

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


@dataclass(frozen=True, slots=True)
class Sniff:
    """What :func:`sniff` learnt from the start of a file."""

    compression: str  # "none", "gzip", "bzip2" or "xz"
    encoding: str  # a Python codec name
    size: int  # bytes on disk
    preamble: tuple[int, str] | None  # (line, text) of ignored text before the first header


def open_decompressed(raw: IO[bytes], compression: str) -> IO[bytes]:
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


def detect_compression(magic: bytes, path: str) -> str:
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


def decompression_error(path: str, compression: str, exc: BaseException, offset: int) -> FastaFormatError:
    if isinstance(exc, EOFError):
        return FastaFormatError(path, f"{compression} stream is truncated at byte {offset:,}; the file is incomplete")
    return FastaFormatError(path, f"{compression} data is corrupt near byte {offset:,} ({exc})")


DECOMPRESSION_ERRORS: Final = (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError, OSError)


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
            compression = detect_compression(magic, name)
            raw.seek(0)
            stream = open_decompressed(raw, compression)
            try:
                head = stream.read(_SNIFF_BYTES)
            except DECOMPRESSION_ERRORS as exc:
                raise decompression_error(name, compression, exc, raw.tell()) from None
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
        line, column = head.count(b"\n", 0, nul) + 1, nul - head.rfind(b"\n", 0, nul)
        raise FastaFormatError(path, "contains a NUL byte (binary data); the file is damaged or not text", line=line,
                               column=column)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the window's end
            line = head.count(b"\n", 0, exc.start) + 1
            if sum(b >= 0x80 for b in head) > len(head) // 10:
                raise FastaFormatError(path, "this is a binary file, not FASTA text") from None
            raise FastaFormatError(
                path, f"not valid UTF-8 text (byte 0x{head[exc.start]:02x}); save the file as UTF-8", line=line,
                column=exc.start - head.rfind(b"\n", 0, exc.start),
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
