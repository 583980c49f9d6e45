"""The streaming FASTA reader against the edge corpus and synthetic files.

Every file of ``tests/data/fasta-edge`` (and the GPL-derived ones of
``../shared/data/fasta-edge`` when present) has one expected outcome in
:data:`EXPECTED`: either one specific :class:`FastaFormatError`, or a number of
valid and skipped records.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from genocat_desktop.engine.core.errors import FastaFormatError, InputError
from genocat_desktop.engine.ingest.fasta import (
    MOL_AMBIGUOUS,
    MOL_DNA,
    MOL_PROTEIN,
    MOL_RNA,
    FastaReader,
    ParsedBatch,
    RecordIssue,
    normalise_query,
    sequence_hash,
    sniff,
    split_title,
)

EDGE_DIR = Path(__file__).resolve().parent / "data" / "fasta-edge"
#: Corpus files left out of tests/data because of their licence (see tests/data/README.md).
NOT_SHIPPED = frozenset({"18_gzip_prodigal_with_stops.faa.gz", "20_mixed_case_homfam.faa", "37_single_line_1MiB.fa"})
CORPUS_DOCS = frozenset({"EDGE_CASES.md", "ORIGINS.tsv"})


@dataclass(frozen=True)
class Outcome:
    """What reading one corpus file must give."""

    error: str | None = None  # a keyword of the FastaFormatError message
    valid: int = 0  # records imported
    skipped: int = 0  # records skipped with an issue
    issue: str | None = None  # a keyword every issue of a skipped record contains


EXPECTED: dict[str, Outcome] = {
    "01_empty.fa": Outcome(error="empty"),
    "02_no_header.fa": Outcome(error="no FASTA header"),
    "03_legacy_semicolon_header.fa": Outcome(error="';'"),
    "04_record_with_empty_sequence.fa": Outcome(valid=2, skipped=1, issue="empty sequence"),
    "05_header_only_in_middle.fa": Outcome(valid=2, skipped=1, issue="empty sequence"),
    "06_zero_length_seq_hmmer.fa": Outcome(valid=1, skipped=1, issue="empty sequence"),
    "07_whitespace_only_sequence.fa": Outcome(valid=2, skipped=1, issue="empty sequence"),
    "08_blank_line_within_sequence.fa": Outcome(valid=3),
    "09_whitespace_lines_before_first_record.fa": Outcome(error="alignment"),
    "10_empty_and_blank_ids.fa": Outcome(valid=1, skipped=1, issue="not residues"),
    "11_tabs_spaces_in_ids_and_seqs.fa": Outcome(valid=2),
    "12_windows_crlf_no_final_newline.pro": Outcome(valid=1),
    "13_windows_crlf_dna.nu": Outcome(valid=1),
    "15_comment_lines_pearson_style.pro": Outcome(valid=1),
    "16_duplicate_ids.fasta": Outcome(valid=5),
    "17_gzip.pro.gz": Outcome(valid=3),
    "18_gzip_prodigal_with_stops.faa.gz": Outcome(valid=22),
    "19_stop_codons_prodigal.faa": Outcome(valid=25),
    "20_mixed_case_homfam.faa": Outcome(valid=50),
    "21_aligned_with_gaps.fa": Outcome(error="alignment"),
    "22_afa_masquerading_as_fasta_hmmer.fa": Outcome(error="alignment"),
    "24_stop_in_middle_hmmer.fa": Outcome(valid=0, skipped=1, issue="stop '*' inside"),
    "26_fastq_not_fasta.fastq": Outcome(error="FASTQ"),
    "27_stockholm_not_fasta.sto": Outcome(error="Stockholm"),
    "28_genbank_not_fasta.gb": Outcome(error="GenBank"),
    "29_dna_not_protein.fa": Outcome(valid=3),
    "30_utf8_bom.fa": Outcome(valid=2),
    "31_mac_cr_only.fa": Outcome(valid=2),
    "32_mixed_line_endings.fa": Outcome(valid=2),
    "33_gt_only_empty_ids.fa": Outcome(valid=3, skipped=1, issue="empty sequence"),
    "34_non_iupac_chars.fa": Outcome(valid=1, skipped=5),
    "36_nul_byte.fa": Outcome(error="NUL"),
    "37_single_line_1MiB.fa": Outcome(valid=1),
    "39_many_tiny_records_200k.fa": Outcome(valid=200_000),
    "40_random_binary_4KiB.bin": Outcome(error="binary"),
    "42_gzip_but_named_fa.fa": Outcome(valid=3),
    "46_header_only_no_newline.fa": Outcome(valid=0, skipped=1, issue="empty sequence"),
    "47_trailing_whitespace_and_tabs.fa": Outcome(valid=2),
    "49_duplicate_ids_different_seqs.fa": Outcome(valid=3),
}


@dataclass
class Result:
    """Everything a complete read produced."""

    reader: FastaReader
    batches: list[ParsedBatch]

    @property
    def titles(self) -> list[str]:
        return [t for b in self.batches for t in b.titles]

    @property
    def sequences(self) -> list[str]:
        return [s for b in self.batches for s in b.sequences()]

    @property
    def issues(self) -> list[RecordIssue]:
        return [i for b in self.batches for i in b.issues]

    @property
    def molecules(self) -> list[int]:
        return [m for b in self.batches for m in b.molecule.tolist()]

    @property
    def records(self) -> list[tuple[str, str]]:
        return list(zip(self.titles, self.sequences, strict=True))


def read(path: Path, **kwargs: int | bool) -> Result:
    reader = FastaReader(path, **kwargs)  # type: ignore[arg-type]
    return Result(reader, list(reader))


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def corpus(shared_file: Callable[[str], Path]) -> Callable[[str], Path]:
    """Find a corpus file: in tests/data, else in ../shared/data (skipping when absent)."""

    def find(name: str) -> Path:
        local = EDGE_DIR / name
        return local if local.is_file() else shared_file(f"fasta-edge/{name}")

    return find


def random_protein(rng: random.Random, length: int) -> str:
    return "".join(rng.choices("ACDEFGHIKLMNPQRSTVWY", k=length))


# --------------------------------------------------------------------------
# The corpus: one expected outcome per file


def test_every_corpus_file_has_an_expected_outcome(edge_dir: Path) -> None:
    files = {p.name for p in edge_dir.iterdir()} - CORPUS_DOCS
    assert files, "the edge corpus is missing from tests/data"
    assert files - EXPECTED.keys() == set()
    assert EXPECTED.keys() - files == NOT_SHIPPED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_outcome(name: str, corpus: Callable[[str], Path]) -> None:
    path = corpus(name)
    expected = EXPECTED[name]
    if expected.error is not None:
        with pytest.raises(FastaFormatError) as caught:
            read(path)
        message = str(caught.value)
        assert expected.error in message
        assert str(path) in message, "the message must name the file"
        assert caught.value.path == str(path)
        assert isinstance(caught.value, InputError)
        return

    result = read(path)
    reader = result.reader
    assert (reader.valid, reader.skipped) == (expected.valid, expected.skipped)
    assert len(result.titles) == expected.valid
    assert reader.records == expected.valid + expected.skipped
    skipped_issues = [i for i in result.issues if i.record is not None]
    assert len(skipped_issues) == expected.skipped
    if expected.issue is not None:
        assert all(expected.issue in i.message for i in skipped_issues), skipped_issues

    # Whatever the file, what comes out is clean, normalised and consistent.
    for batch in result.batches:
        assert batch.offsets[0] == 0 and batch.offsets[-1] == len(batch.data)
        assert len(batch.numbers) == len(batch.lines) == len(batch.hashes) == len(batch.molecule) == len(batch)
        assert (batch.lengths > 0).all()
        assert batch.data.isalpha() or not batch.data
        assert batch.data == batch.data.upper()
        for seq, digest in zip(batch.sequences(), batch.hashes.tolist(), strict=True):
            assert digest.decode() == sequence_hash(seq.encode())
    numbers = [n for b in result.batches for n in b.numbers.tolist()]
    assert numbers == sorted(set(numbers))
    assert all("\r" not in t for t in result.titles)


@pytest.mark.parametrize("name", ["02_no_header.fa", "26_fastq_not_fasta.fastq", "36_nul_byte.fa"])
def test_errors_point_at_the_line(name: str, edge_dir: Path) -> None:
    with pytest.raises(FastaFormatError) as caught:
        read(edge_dir / name)
    assert caught.value.line is not None
    assert f"line {caught.value.line}" in str(caught.value)


def test_nul_byte_is_located(edge_dir: Path) -> None:
    with pytest.raises(FastaFormatError, match="NUL") as caught:
        read(edge_dir / "36_nul_byte.fa")
    assert caught.value.line == 2


def test_alignment_error_suggests_strip_gaps(edge_dir: Path) -> None:
    with pytest.raises(FastaFormatError, match="strip-gaps") as caught:
        read(edge_dir / "21_aligned_with_gaps.fa")
    assert caught.value.record == 1


def test_alignment_imports_with_strip_gaps(edge_dir: Path) -> None:
    result = read(edge_dir / "21_aligned_with_gaps.fa", strip_gaps=True)
    assert result.reader.valid > 0
    assert all("-" not in s and "." not in s for s in result.sequences)


def test_empty_sequence_issue_names_record_and_line(edge_dir: Path) -> None:
    result = read(edge_dir / "04_record_with_empty_sequence.fa")
    [issue] = result.issues
    assert (issue.record, issue.line, issue.id) == (2, 3, "seq2")
    assert "empty sequence" in str(issue) and "line 3" in str(issue)
    assert result.records == [("seq1 desc1", "ACGT"), ("seq3 desc3", "CCC")]


def test_internal_stop_is_skipped_with_its_position(edge_dir: Path) -> None:
    result = read(edge_dir / "24_stop_in_middle_hmmer.fa")
    assert result.records == []
    [issue] = result.issues
    assert issue.id == "test1"
    assert "stop '*' inside" in issue.message and "residue 10" in issue.message


def test_non_residue_characters(edge_dir: Path) -> None:
    result = read(edge_dir / "34_non_iupac_chars.fa")
    assert result.records == [("spaces_inside", "MKVLAAGIV")]
    assert [i.id for i in result.issues] == ["digits", "symbols", "unicode", "dots_and_tildes", "genbank_style_numbers"]
    assert [i.record for i in result.issues] == [1, 2, 4, 5, 6]  # file order
    by_id = {i.id: i.message for i in result.issues}
    assert "non-ASCII" in by_id["unicode"]
    assert "'1'" in by_id["digits"]
    assert "'~'" in by_id["dots_and_tildes"]


def test_many_tiny_records_come_in_bounded_batches(edge_dir: Path) -> None:
    result = read(edge_dir / "39_many_tiny_records_200k.fa", batch_records=50_000)
    assert [len(b) for b in result.batches] == [50_000] * 4
    assert result.titles[0] == "r0" and result.titles[-1] == "r199999"
    assert all(1 <= len(s) <= 3 for s in result.sequences)


def test_preamble_and_comment_lines_are_warned(edge_dir: Path) -> None:
    result = read(edge_dir / "15_comment_lines_pearson_style.pro")
    messages = [str(i) for i in result.reader.file_issues]
    assert len(messages) == 2
    assert any("before the first '>'" in m and "Some header" in m for m in messages)
    assert any("comment line" in m and "';'" in m for m in messages)
    assert result.titles[0].startswith("gi|3298468|dbj|BAA31520.1|")


@pytest.mark.parametrize("name", ["18_gzip_prodigal_with_stops.faa.gz", "19_stop_codons_prodigal.faa"])
def test_trailing_stops_are_stripped(name: str, corpus: Callable[[str], Path]) -> None:
    path = corpus(name)
    raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    assert b"*\n" in raw  # the file really has trailing stops
    result = read(path)
    assert result.reader.skipped == 0
    assert all("*" not in s for s in result.sequences)
    expected = [s.rstrip("*") for _, s in _simple_parse(raw.decode())]
    assert result.sequences == expected


def test_lower_case_is_upper_cased(corpus: Callable[[str], Path]) -> None:
    path = corpus("20_mixed_case_homfam.faa")
    raw = path.read_text()
    assert any(c.islower() for c in raw.split("\n", 2)[1])
    result = read(path)
    assert result.sequences == [s.upper() for _, s in _simple_parse(raw)]


@pytest.mark.parametrize(
    "name",
    ["12_windows_crlf_no_final_newline.pro", "13_windows_crlf_dna.nu", "31_mac_cr_only.fa", "32_mixed_line_endings.fa"],
)
def test_cr_and_crlf_line_endings(name: str, edge_dir: Path) -> None:
    assert b"\r" in (edge_dir / name).read_bytes()
    result = read(edge_dir / name)
    assert result.titles and result.sequences
    assert all("\r" not in s and "\n" not in s for s in result.sequences + result.titles)


def test_mixed_line_endings_exact(edge_dir: Path) -> None:
    assert read(edge_dir / "32_mixed_line_endings.fa").records == [
        ("a first", "MKVLAAGIVALLLAA"),
        ("b second", "MKKLL"),
    ]


def test_crlf_file_matches_its_lf_version(edge_dir: Path, tmp_path: Path) -> None:
    crlf = edge_dir / "13_windows_crlf_dna.nu"
    lf = write(tmp_path / "lf.nu", crlf.read_bytes().replace(b"\r\n", b"\n"))
    assert read(crlf).records == read(lf).records


@pytest.mark.parametrize("name", ["17_gzip.pro.gz", "42_gzip_but_named_fa.fa"])
def test_gzip_is_detected_by_magic_bytes(name: str, edge_dir: Path) -> None:
    result = read(edge_dir / name)
    assert result.reader.info.compression == "gzip"
    assert result.reader.size == (edge_dir / name).stat().st_size
    assert [split_title(t)[0] for t in result.titles] == [
        "gi|2781234|pdb|1JLY|B",
        "gi|4959044|gb|AAD34209.1|AF069992_1",
        "gi|671626|emb|CAA85685.1|",
    ]
    assert all(m == MOL_PROTEIN for m in result.molecules)


def test_utf8_bom_is_not_part_of_the_first_id(edge_dir: Path) -> None:
    path = edge_dir / "30_utf8_bom.fa"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    result = read(path)
    assert split_title(result.titles[0])[0] == "sp|P69905|HBA_HUMAN"
    assert all("\ufeff" not in t for t in result.titles)
    assert result.reader.file_issues == []


def test_dna_is_detected(edge_dir: Path) -> None:
    assert read(edge_dir / "29_dna_not_protein.fa").molecules == [MOL_DNA] * 3
    assert read(edge_dir / "13_windows_crlf_dna.nu").molecules == [MOL_DNA]
    assert set(read(edge_dir / "19_stop_codons_prodigal.faa").molecules) == {MOL_PROTEIN}


def test_duplicates_are_all_kept_by_the_reader(edge_dir: Path) -> None:
    ids = [split_title(t)[0] for t in read(edge_dir / "49_duplicate_ids_different_seqs.fa").titles]
    assert ids == ["dup", "dup", "DUP"]
    ids = [split_title(t)[0] for t in read(edge_dir / "16_duplicate_ids.fasta").titles]
    assert ids.count("alpha") == 2


def test_whitespace_in_headers_and_sequences(edge_dir: Path) -> None:
    result = read(edge_dir / "47_trailing_whitespace_and_tabs.fa")
    assert result.sequences == ["MKVLAAGIVA", "MKK"]
    assert split_title(result.titles[1]) == ("seq2", "desc\twith\ttabs")


def test_records_without_identifier_are_kept(edge_dir: Path) -> None:
    result = read(edge_dir / "33_gt_only_empty_ids.fa")
    assert [split_title(t)[0] for t in result.titles] == ["", "", "description"]
    assert result.sequences == ["MKVLAAGIVA", "MKKLLPTAAA", "MSTNPKPQRK"]


def test_line_numbers_of_headers(edge_dir: Path) -> None:
    result = read(edge_dir / "08_blank_line_within_sequence.fa")
    lines = [n for b in result.batches for n in b.lines.tolist()]
    raw_lines = (edge_dir / "08_blank_line_within_sequence.fa").read_text().splitlines()
    assert [raw_lines[n - 1][1:] for n in lines] == result.titles


# --------------------------------------------------------------------------
# Synthetic files


def _simple_parse(text: str) -> list[tuple[str, str]]:
    """A deliberately naive FASTA parser, as a reference for well-formed text."""
    out: list[tuple[str, str]] = []
    for chunk in text.split("\n>"):
        head, _, body = chunk.lstrip(">").partition("\n")
        out.append((head.rstrip(), "".join(body.split())))
    return out


@pytest.fixture
def proteins() -> list[tuple[str, str]]:
    rng = random.Random(20240611)
    return [(f"p{i} protein {i}", random_protein(rng, rng.randint(1, 400))) for i in range(2_000)]


def fasta_text(records: list[tuple[str, str]], width: int = 60, newline: str = "\n") -> str:
    parts = []
    for title, seq in records:
        parts.append(f">{title}{newline}")
        parts.extend(seq[i : i + width] + newline for i in range(0, len(seq), width))
    return "".join(parts)


@pytest.mark.parametrize(
    ("compression", "compress"),
    [("gzip", gzip.compress), ("bzip2", bz2.compress), ("xz", lzma.compress)],
)
def test_compressed_files(
    compression: str, compress: Callable[[bytes], bytes], proteins: list[tuple[str, str]], tmp_path: Path
) -> None:
    path = write(tmp_path / "seqs.txt", compress(fasta_text(proteins).encode()))
    result = read(path)
    assert result.reader.info.compression == compression
    assert result.records == proteins


def test_truncated_gzip_small(tmp_path: Path) -> None:
    data = gzip.compress(b">a\nMKVLAAGIVA\n" * 50)
    path = write(tmp_path / "small.fa.gz", data[: len(data) // 2])
    with pytest.raises(FastaFormatError, match="truncated at byte") as caught:
        read(path)
    assert str(path) in str(caught.value)


def test_truncated_gzip_past_the_sniffed_head(proteins: list[tuple[str, str]], tmp_path: Path) -> None:
    data = gzip.compress(fasta_text(proteins).encode())
    path = write(tmp_path / "big.fa.gz", data[: len(data) * 3 // 4])
    reader = FastaReader(path)  # the first 64 KiB decompress fine
    with pytest.raises(FastaFormatError, match="truncated at byte") as caught:
        list(reader)
    assert str(path) in str(caught.value)


def test_truncated_bzip2(proteins: list[tuple[str, str]], tmp_path: Path) -> None:
    data = bz2.compress(fasta_text(proteins).encode())
    path = write(tmp_path / "big.fa.bz2", data[: len(data) // 2])
    with pytest.raises(FastaFormatError, match="truncated at byte"):
        read(path)


def test_crlf_and_lower_case_are_normalised(tmp_path: Path) -> None:
    path = write(tmp_path / "win.fa", b">a first\r\nmkv\r\nlla*\r\n>b\r\nAcD efG\r\n")
    result = read(path)
    assert result.records == [("a first", "MKVLLA"), ("b", "ACDEFG")]


def test_strip_gaps(tmp_path: Path) -> None:
    path = write(tmp_path / "aln.fa", ">a\nMK-VL..A\n>b\n--MKK--\n")
    with pytest.raises(FastaFormatError, match="alignment"):
        read(path)
    assert read(path, strip_gaps=True).records == [("a", "MKVLA"), ("b", "MKK")]


def test_gap_only_record_is_skipped_with_strip_gaps(tmp_path: Path) -> None:
    path = write(tmp_path / "aln.fa", ">a\n-----\n>b\nMKK\n")
    result = read(path, strip_gaps=True)
    assert result.records == [("b", "MKK")]
    assert [i.id for i in result.issues] == ["a"]


@pytest.mark.parametrize(
    "limits",
    [
        {"batch_records": 1},
        {"batch_records": 7},
        {"batch_residues": 10},
        {"batch_records": 333, "batch_residues": 5000},
    ],
)
def test_batch_size_does_not_change_the_records(
    limits: dict[str, int], proteins: list[tuple[str, str]], tmp_path: Path
) -> None:
    records = [*proteins[:200], ("empty", ""), ("stop", "MK*V"), *proteins[200:300]]
    path = write(tmp_path / "seqs.fa", fasta_text(records))
    whole = read(path)
    parts = read(path, **limits)
    assert len(parts.batches) > len(whole.batches)
    assert parts.records == whole.records == proteins[:300]
    assert [str(i) for i in parts.issues] == [str(i) for i in whole.issues]
    assert [i.record for i in parts.issues] == [201, 202]
    assert np.concatenate([b.hashes for b in parts.batches]).tolist() == whole.batches[0].hashes.tolist()
    assert parts.reader.records == whole.reader.records == 302
    for batch in parts.batches:
        assert len(batch) <= limits.get("batch_records", len(batch))


def test_single_line_one_mebibyte_sequence(tmp_path: Path) -> None:
    seq = random_protein(random.Random(7), 1 << 20)
    path = write(tmp_path / "long.fa", f">long one line\n{seq}\n")
    result = read(path)
    assert result.records == [("long one line", seq)]
    assert result.batches[0].lengths.tolist() == [1 << 20]


def test_sequence_hash_is_md5_upper_hex() -> None:
    seq = (
        b"MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHV"
        b"DDMPNALSALSDLHAHKLRVDPVNFKLLSHCLLVTLAAHLPAEFTPAVHASLDKFLASVSTVLTSKYR"
    )
    digest = sequence_hash(seq)
    assert digest == hashlib.md5(seq).hexdigest().upper()
    assert len(digest) == 32 and digest == digest.upper()


def test_batch_hashes_equal_sequence_hash(tmp_path: Path) -> None:
    path = write(tmp_path / "s.fa", ">a\nmkv\n>b\nMKV*\n>c\nACDEFGHIK\n")
    [batch] = read(path).batches
    assert batch.hashes.tolist() == [sequence_hash(s.encode()).encode() for s in ("MKV", "MKV", "ACDEFGHIK")]
    assert batch.hashes[0] == batch.hashes[1]


def test_molecules(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.fa",
        ">dna\nACGTACGTACGTNACGT\n>rna\nACGUACGUACGUACGU\n>prot\nMKVLAAGIVALLLAA\n>short\nACG\n>peptide\nACE\n",
    )
    assert read(path).molecules == [MOL_DNA, MOL_RNA, MOL_PROTEIN, MOL_AMBIGUOUS, MOL_PROTEIN]


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "u16.fa", ">a héllo\nMKV\n>b\nmkk\n".encode("utf-16"))
    assert read(path).records == [("a héllo", "MKV"), ("b", "MKK")]


@pytest.mark.parametrize(
    ("data", "keyword"),
    [
        (b">a caf\xe9\nMKV\n", "UTF-8"),
        (b"\n\n   \n", "blank lines"),
        (b"<html><body>Not found</body></html>\n", "HTML"),
        (b"ID   HBA_HUMAN   Reviewed; 142 AA.\n", "EMBL"),
        (b"CLUSTAL W (1.83) multiple sequence alignment\n", "Clustal"),
        (b"\x28\xb5\x2f\xfd" + b"\x00" * 16, "zstd"),
        (gzip.compress(b""), "empty after gzip"),
    ],
)
def test_files_that_are_refused(data: bytes, keyword: str, tmp_path: Path) -> None:
    path = write(tmp_path / "input.fa", data)
    with pytest.raises(FastaFormatError, match=keyword) as caught:
        read(path)
    assert str(path) in str(caught.value)


def test_zip_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seqs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("seqs.fa", ">a\nMKV\n")
    with pytest.raises(FastaFormatError, match="zip archive"):
        read(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(FastaFormatError, match="no such file"):
        read(tmp_path / "missing.fa")
    with pytest.raises(FastaFormatError, match="folder"):
        read(tmp_path)


def test_sniff_reports_compression_and_preamble(tmp_path: Path) -> None:
    path = write(tmp_path / "p.fa.bz2", bz2.compress(b"exported by tool X\n>a\nMKV\n"))
    info = sniff(path)
    assert (info.compression, info.preamble) == ("bzip2", (1, "exported by tool X"))
    assert info.size == path.stat().st_size


def test_bytes_read_reaches_the_file_size(proteins: list[tuple[str, str]], tmp_path: Path) -> None:
    path = write(tmp_path / "s.fa", fasta_text(proteins))
    reader = FastaReader(path, batch_records=100)
    seen = [reader.bytes_read for _ in reader]
    assert seen == sorted(seen)
    assert reader.bytes_read == path.stat().st_size


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("mkvlaa", "MKVLAA"),
        ("  MKV LAA\n\tGIV  ", "MKVLAAGIV"),
        ("MKV*", "MKV"),
        ("MK-V.L", "MKVL"),
        ("        1 mkvlaagiva llllaagcss\n       21 skee", "MKVLAAGIVALLLLAAGCSSSKEE"),
        ("", ""),
    ],
)
def test_normalise_query(query: str, expected: str) -> None:
    assert normalise_query(query) == expected


@pytest.mark.parametrize("query", ["MK#V", "MKVÄ", "MK*V"])
def test_normalise_query_refuses_non_residues(query: str) -> None:
    with pytest.raises(ValueError, match="not residues"):
        normalise_query(query)


def test_normalise_query_matches_import(tmp_path: Path) -> None:
    raw = "mkv lla\nGIV*"
    path = write(tmp_path / "q.fa", f">q\n{raw}\n")
    [(_, imported)] = read(path).records
    assert normalise_query(raw) == imported
    assert sequence_hash(normalise_query(raw).encode()) == read(path).batches[0].hashes[0].decode()


# -- the block parser against Biopython's ------------------------------------------------


def _biopython_records(path: Path) -> list[tuple[str, str]]:
    import gzip as _gzip

    from Bio.SeqIO.FastaIO import SimpleFastaParser

    opener = _gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return [(t, "".join(s.split()).upper().rstrip("*")) for t, s in SimpleFastaParser(handle)]


@pytest.mark.parametrize(
    "name",
    ["mmseqs2_QUERY.fasta", "families_small.faa", "fasta-edge/16_duplicate_ids.fasta", "fasta-edge/17_gzip.pro.gz",
     "fasta-edge/39_many_tiny_records_200k.fa", "fasta-edge/32_mixed_line_endings.fa"],
)
@pytest.mark.parametrize("block", [64, 1000, 4 << 20])
def test_block_parser_gives_biopythons_records(
    data_dir: Path, name: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the block size (records cut across blocks), the records are Biopython's."""
    from genocat_desktop.engine.ingest import fasta as fasta_module

    monkeypatch.setattr(fasta_module, "_BLOCK_BYTES", block)
    path = data_dir / name
    ours = [(t, s) for b in FastaReader(path) for t, s in zip(b.titles, b.sequences(), strict=True)]
    assert ours == _biopython_records(path)


def test_line_numbers_survive_block_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genocat_desktop.engine.ingest import fasta as fasta_module

    monkeypatch.setattr(fasta_module, "_BLOCK_BYTES", 16)
    text = "".join(f">r{i}\r\nMKV\r\nLLA\r\n" for i in range(50)) + ">bad\r\nMK1V\r\n"
    path = tmp_path / "crlf.fa"
    path.write_bytes(text.encode())
    batches = list(FastaReader(path))
    lines = [int(x) for b in batches for x in b.lines]
    assert lines == [1 + 3 * i for i in range(50)]
    (issue,) = [i for b in batches for i in b.issues]
    assert issue.line == 152 and issue.column == 3 and issue.id == "bad"  # the line of the bad character
