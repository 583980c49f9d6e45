"""Import errors that point at their place, and a seeded fuzz over the malformed-FASTA corpus.

Every import error or warning names the file, the line and (for a character) the column; a
BLAST-style ``#`` line inside a record is a comment, like ``;``. The fuzz mutates each file of
``tests/data/fasta-edge`` (flipped bytes, control characters, NUL, ``#``/``;`` lines, cuts,
duplicated headers, mixed CRLF) and imports it: the outcome is a committed version or one
line naming the file and the line, never another exception and never a hang.
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from genocat_desktop.engine import Catalog, import_files

EDGE = Path(__file__).parent / "data" / "fasta-edge"
SEED = 19
MUTANTS_PER_FILE = 4
#: Each import of a small mutated file must end within this (a hang fails the test instead of blocking it).
PER_FILE_S = 10
#: Words of the verdicts that are about a whole file, not one place in it.
WHOLE_FILE = ("binary file", "empty", "no valid record", "compressed", "gzip", "bzip2", "xz ", "not FASTA")
PROTEIN = "MKVLAAGIVALLLAAGCSSSKEETTEASTEAPAAEAPKAEEAAKPAEGE"


def test_a_hash_comment_inside_a_record_is_skipped_and_warned_with_its_line(tmp_path: Path) -> None:
    fasta = tmp_path / "blast.faa"
    fasta.write_text(f">sp|P1|ONE protein one\n{PROTEIN[:20]}\n# Query: from a BLAST report\n{PROTEIN[20:]}\n"
                     f">p2 second\n{PROTEIN[::-1]}\n")
    report = import_files(Catalog.open(tmp_path / "catalog"), [fasta]).files[0]
    assert report.ok and report.imported == 2 and report.skipped == 0
    cat = Catalog.open(tmp_path / "catalog", create=False)
    assert PROTEIN in cat.dataset().to_table(columns=["sequence"]).column("sequence").to_pylist()
    (comment,) = [str(i) for i in report.issues if "comment" in str(i)]
    assert "line 3" in comment and "'#'" in comment


def test_a_bad_character_is_named_by_line_and_column(tmp_path: Path) -> None:
    fasta = tmp_path / "typo.faa"
    fasta.write_text(f">ok\n{PROTEIN}\n>typo a record with a digit\nMKVLAAGIVA\nLLLA7AGCSS\n")
    report = import_files(Catalog.open(tmp_path / "catalog"), [fasta]).files[0]
    assert report.imported == 1 and report.skipped == 1
    (issue,) = report.issues
    assert issue.line == 5 and issue.column == 5 and "line 5, column 5" in str(issue)


def test_a_rejected_file_keeps_its_line_and_column(tmp_path: Path) -> None:
    fasta = tmp_path / "nul.faa"
    fasta.write_bytes(f">one\n{PROTEIN}\n>two\nMKV\x00LAAG\n".encode())
    report = import_files(Catalog.open(tmp_path / "catalog"), [fasta]).files[0]
    assert not report.ok and report.line == 4 and report.column == 4
    assert report.error is not None and "line 4, column 4" in report.error
    assert "line 4, column 4" in report.summary() and report.summary().startswith("nul.faa")


# ----------------------------------------------------------------------------- the fuzz
def _mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random damages of the kinds real files show."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        at = rng.randrange(len(out) + 1)
        if kind == 0 and out:  # flipped bytes
            for _ in range(rng.randint(1, 4)):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # a control character, NUL or DEL
            out[at:at] = bytes([rng.choice([0, 1, 7, 8, 11, 12, 27, 127])])
        elif kind == 2:  # a comment line, '#' or ';'
            line_start = out.rfind(b"\n", 0, at) + 1
            out[line_start:line_start] = rng.choice([b"# a comment\n", b";comment\n", b"#\n"])
        elif kind == 3:  # cut short
            del out[at:]
        elif kind == 4:  # a duplicated header line
            start = out.find(b">")
            if start >= 0:
                end = out.find(b"\n", start)
                header = bytes(out[start : end if end >= 0 else len(out)]) + b"\n"
                out[at:at] = header
        elif kind == 5:  # mixed line endings
            out = bytearray(out.replace(b"\n", b"\r\n", rng.randint(1, 5)))
        else:  # an empty record, a '>' alone
            out[at:at] = b"\n>\n"
    return bytes(out)


@contextlib.contextmanager
def _deadline(seconds: int, what: str) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"importing {what} took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _corpus() -> list[Path]:
    # The 200k-record file is a throughput case, not a malformation: mutating it only costs time.
    return sorted(p for p in EDGE.iterdir()
                  if p.suffix not in (".md", ".tsv") and p.stat().st_size < 200_000)


def test_mutated_corpus_files_commit_or_fail_with_one_line_naming_file_and_line(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    cat = Catalog.open(tmp_path / "catalog")
    started = time.monotonic()
    outcomes = {"committed": 0, "rejected": 0}
    for source in _corpus():
        data = source.read_bytes()
        for n in range(MUTANTS_PER_FILE):
            mutant = tmp_path / f"m{n}_{source.name}"
            mutant.write_bytes(_mutate(data, rng))
            version = cat.version
            with _deadline(PER_FILE_S, mutant.name):
                report = import_files(cat, [mutant]).files[0]  # anything but a GenoCatError escapes: a failure
            if report.ok:
                outcomes["committed"] += 1
                assert cat.version >= version
                continue
            outcomes["rejected"] += 1
            assert cat.version == version, f"{mutant.name}: a rejected file changed the catalog"
            message = report.summary()
            assert "\n" not in message and message.startswith(mutant.name), message
            # A verdict on the whole file (binary, empty, another format, nothing valid) has no one line.
            assert report.line is not None or any(w in message for w in WHOLE_FILE), message
    assert outcomes["committed"] and outcomes["rejected"], outcomes
    assert time.monotonic() - started < 60, "the fuzz must stay bounded"


@pytest.mark.parametrize("name", ["15_comment_lines_pearson_style.pro", "08_blank_line_within_sequence.fa"])
def test_corpus_files_with_comments_keep_importing(name: str, tmp_path: Path) -> None:
    report = import_files(Catalog.open(tmp_path / "catalog"), [EDGE / name]).files[0]
    assert report.ok and report.imported > 0
