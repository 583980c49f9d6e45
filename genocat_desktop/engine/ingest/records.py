"""Parsed records: their checks and normalisation, their hash, and their molecule.

Every record is checked; residues are upper-cased, whitespace is removed and
trailing ``*`` stops are stripped; gapped (aligned) input is recognised; the
molecule (protein, DNA, RNA) is detected per record. What happens to each
problem is :data:`~genocat_desktop.engine.ingest.fasta.POLICY`.
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from genocat_desktop.engine.core.errors import FastaFormatError
from genocat_desktop.engine.core.molecules import MOLECULES

__all__ = [
    "MIN_LENGTH_FOR_MOLECULE",
    "MOLECULES",
    "MOL_AMBIGUOUS",
    "MOL_DNA",
    "MOL_PROTEIN",
    "MOL_RNA",
    "WHITESPACE",
    "ParsedBatch",
    "RecordIssue",
    "check_batch",
    "majority_molecule",
    "molecules",
    "normalise_query",
    "sequence_hash",
    "split_title",
]

#: Bytes removed from residues (line breaks and other whitespace).
WHITESPACE: Final = b" \t\r\n\v\f"
_DIGEST: Final = operator.methodcaller("digest")


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
    column: int | None = None  # 1-based, in ``line``: where the offending character is

    def __str__(self) -> str:
        where = []
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.id:
            where.append(repr(self.id))
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column is not None else ""))
        return f"{' '.join(where)}: {self.message}" if where else self.message


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


@dataclass(frozen=True, slots=True)
class RawBatch:
    """Records as the reader cut them, before they are checked.

    ``seqs`` hold the residues with line breaks and whitespace already removed;
    ``first`` is the 1-based number of the first record in the file.
    """

    first: int
    titles: list[str]
    seqs: list[bytes]
    lines: list[int]
    #: ``locate(i, pos)``: the line and column in the file of residue ``pos`` (0-based) of record ``i``
    #: of the batch; ``None`` when the reader cannot tell (messages then point at the header line).
    locate: Callable[[int, int], tuple[int, int]] | None = None


def check_batch(raw: RawBatch, path: str, strip_gaps: bool) -> ParsedBatch:
    """Validate and normalise one batch of raw records (see ``fasta.POLICY``).

    Parameters
    ----------
    raw
        The records to check.
    path
        The file, for messages.
    strip_gaps
        Remove alignment gaps instead of refusing the file.

    Returns
    -------
    ParsedBatch
        The valid records; skipped ones are in its issues.

    Raises
    ------
    FastaFormatError
        If the file has to be rejected (a NUL byte, an alignment without ``strip_gaps``).
    """
    first, titles, seqs, lines = raw.first, raw.titles, raw.seqs, raw.lines
    issues: list[RecordIssue] = []
    n = len(seqs)
    keep = [True] * n
    cleaned = list(seqs)

    def where(i: int, pos: int | None) -> tuple[int, int | None]:
        if pos is None or raw.locate is None:
            return lines[i], None
        return raw.locate(i, pos)

    def skip(i: int, message: str, pos: int | None = None) -> None:
        keep[i] = False
        line, column = where(i, pos)
        issues.append(RecordIssue(first + i, line, split_title(titles[i])[0], message, column))

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
            fixed = _fix_record(path, strip_gaps, rec, (first + i, titles[i]), functools.partial(skip, i),
                                functools.partial(where, i))
            cleaned[i] = fixed if fixed is not None else b""
        data = b"".join(c for c, k in zip(cleaned, keep, strict=True) if k).upper()
        lens = np.fromiter((len(c) if k else 0 for c, k in zip(cleaned, keep, strict=True)), dtype=np.int64, count=n)
    for i in np.flatnonzero(lens == 0).tolist():
        if keep[i]:
            skip(i, "empty sequence (a header with no residues)")

    return _kept_batch(raw, data, lens, keep, issues, as_given=as_given and not special.size)


def _kept_batch(raw: RawBatch, data: bytes, lens: np.ndarray, keep: list[bool], issues: list[RecordIssue],
                *, as_given: bool) -> ParsedBatch:
    """The checked batch: the kept records of ``raw``, hashed, with the issues in file order.

    ``data`` holds the kept records' residues end to end and ``lens`` every record's length;
    ``as_given``: the records were kept exactly as they came (upper case, nothing removed).
    """
    first, n = raw.first, len(raw.seqs)
    # Skipped records were never joined into ``data``: only their lengths go.
    idx = [i for i, k in enumerate(keep) if k]
    lens = lens[idx]
    offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    # The common case (records kept as they came) hashes the input list itself.
    unchanged = raw.seqs if as_given and len(idx) == n else None
    hashes = _hex_digests(data, offsets, unchanged)
    # Three passes found the issues; report them in file order, whatever the batch size.
    issues.sort(key=lambda issue: issue.record or 0)
    return ParsedBatch(
        numbers=np.arange(first, first + n, dtype=np.int64)[idx],
        lines=np.asarray(raw.lines, dtype=np.int64)[idx],
        titles=[raw.titles[i] for i in idx],
        data=data,
        offsets=offsets,
        hashes=hashes,
        molecule=molecules(np.frombuffer(data, dtype=np.uint8), offsets),
        issues=issues,
        skipped=n - len(idx),
    )


def _hex_digests(data: bytes, offsets: np.ndarray, unchanged: list[bytes] | None) -> np.ndarray:
    """:func:`sequence_hash` of every record as an ``S32`` array (``unchanged``: the records as they came)."""
    # Raw digests, then one hex conversion for the whole batch: no string object per record.
    if unchanged is not None:
        # map() runs the per-record calls in C, over the records as they came.
        digests = b"".join(map(_DIGEST, map(hashlib.md5, unchanged)))
    else:
        o = offsets.tolist()
        md5 = hashlib.md5
        digests = b"".join([md5(data[o[j] : o[j + 1]]).digest() for j in range(len(o) - 1)])
    if len(offsets) <= 1:
        return np.empty(0, "S32")
    return np.frombuffer(digests.hex().upper().encode("ascii"), dtype="S32")


def _fix_record(
    path: str, strip_gaps: bool, rec: bytes, record: tuple[int, str], skip: Callable[[str, int], None],
    where: Callable[[int], tuple[int, int | None]],
) -> bytes | None:
    """Normalise one record with non-letter bytes; return the cleaned residues or ``None`` if skipped.

    ``record`` is the record's number and title; ``skip(message, pos)`` reports why it is skipped and
    ``where(pos)`` gives the line and column of residue ``pos`` (0-based) in the file.
    """
    number, title = record
    s = rec.translate(None, WHITESPACE)
    if b"\x00" in s:
        line, column = where(s.index(b"\x00"))
        raise FastaFormatError(path, "contains a NUL byte (binary data); the file is damaged or not text",
                               record=number, line=line, column=column)
    if not s.isascii():
        text = s.decode("utf-8", errors="replace")
        bad_chars = sorted({c for c in text if not c.isascii()})
        first_bad = next(j for j, b in enumerate(s) if b > 127)
        skip(f"non-ASCII character(s) {', '.join(repr(c) for c in bad_chars[:5])} in the sequence", first_bad)
        return None
    stripped = s.rstrip(b"*")
    if b"*" in stripped:
        pos = stripped.index(b"*")
        skip(f"stop '*' inside the sequence (residue {pos + 1:,}); internal stops are not imported", pos)
        return None
    bad = sorted({chr(b) for b in stripped if _CLASS[b] == _BAD})
    if bad:
        pos = next(j for j, b in enumerate(stripped) if _CLASS[b] == _BAD)
        shown = ", ".join(repr(c) for c in bad[:6]) + (" ..." if len(bad) > 6 else "")
        skip(f"characters that are not residues: {shown} (first at residue {pos + 1:,})", pos)
        return None
    if b"-" in stripped or b"." in stripped:
        if not strip_gaps:
            gap = min(j for j in (stripped.find(b"-"), stripped.find(b".")) if j >= 0)
            line, column = where(gap)
            raise FastaFormatError(
                path,
                f"this looks like an alignment: {split_title(title)[0]!r} contains gap characters ('-' or '.'). "
                "Import the unaligned sequences, or choose to remove the gaps (CLI: --strip-gaps)",
                record=number,
                line=line,
                column=column,
            )
        stripped = stripped.translate(None, b"-.")
    return stripped


def molecules(arr: np.ndarray, offsets: np.ndarray) -> np.ndarray:
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


def majority_molecule(counts: np.ndarray) -> int:
    """The molecule code that records too short to tell take, from a file's molecule counts.

    Parameters
    ----------
    counts
        Records per molecule code (``MOL_*``), length 4.

    Returns
    -------
    int
        ``MOL_DNA`` or ``MOL_RNA`` if nucleotide records outnumber protein ones, else ``MOL_PROTEIN``.
    """
    majority = MOL_DNA if counts[MOL_DNA] + counts[MOL_RNA] > counts[MOL_PROTEIN] else MOL_PROTEIN
    if majority == MOL_DNA and counts[MOL_RNA] > counts[MOL_DNA]:
        majority = MOL_RNA
    return int(majority)
