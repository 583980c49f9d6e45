"""Importing FASTA files into a catalog: outcomes, atomicity, dedup, aliases, metadata."""

from __future__ import annotations

import functools
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from genocat_desktop.engine import CancelToken, Catalog, Progress, import_files
from genocat_desktop.engine.ingest.fasta import sequence_hash

# Files of the edge corpus that must be rejected, with a word the message must contain.
REJECTED = {
    "01_empty.fa": "empty",
    "02_no_header.fa": "no FASTA header",
    "03_legacy_semicolon_header.fa": "';'",
    "09_whitespace_lines_before_first_record.fa": "alignment",
    "21_aligned_with_gaps.fa": "alignment",
    "22_afa_masquerading_as_fasta_hmmer.fa": "alignment",
    "24_stop_in_middle_hmmer.fa": "no valid record",
    "26_fastq_not_fasta.fastq": "FASTQ",
    "27_stockholm_not_fasta.sto": "Stockholm",
    "28_genbank_not_fasta.gb": "GenBank",
    "36_nul_byte.fa": "NUL",
    "40_random_binary_4KiB.bin": "binary",
    "46_header_only_no_newline.fa": "no valid record",
}
# Files that import: (new rows in an empty catalog, skipped records).
IMPORTED = {
    "04_record_with_empty_sequence.fa": (2, 1),
    "06_zero_length_seq_hmmer.fa": (1, 1),
    "08_blank_line_within_sequence.fa": (3, 0),
    "12_windows_crlf_no_final_newline.pro": (1, 0),
    "16_duplicate_ids.fasta": (4, 0),
    "17_gzip.pro.gz": (3, 0),
    "19_stop_codons_prodigal.faa": (25, 0),
    "29_dna_not_protein.fa": (3, 0),
    "30_utf8_bom.fa": (2, 0),
    "34_non_iupac_chars.fa": (1, 5),
    "39_many_tiny_records_200k.fa": (8419, 0),
    "49_duplicate_ids_different_seqs.fa": (3, 0),
}


@pytest.fixture
def catalog(tmp_catalog_path: Path) -> Catalog:
    return Catalog.open(tmp_catalog_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_files_change_nothing(catalog: Catalog, edge_dir: Path, name: str) -> None:
    version = catalog.version
    report = import_files(catalog, [edge_dir / name])
    (fr,) = report.files
    assert not fr.ok
    assert REJECTED[name] in fr.error
    assert fr.imported == 0
    assert catalog.refresh() == version
    assert catalog.count() == 0


@pytest.mark.parametrize("name", sorted(IMPORTED))
def test_imported_files(catalog: Catalog, edge_dir: Path, name: str) -> None:
    rows, skipped = IMPORTED[name]
    report = import_files(catalog, [edge_dir / name])
    (fr,) = report.files
    assert fr.ok, fr.error
    assert (fr.imported, fr.skipped) == (rows, skipped)
    assert catalog.count() == rows
    table = catalog.dataset().to_table(columns=["sequence", "seq_hash", "length"])
    for seq, h, n in zip(*(table.column(c).to_pylist() for c in ("sequence", "seq_hash", "length")), strict=True):
        assert seq == seq.upper() and "*" not in seq and " " not in seq and "\r" not in seq
        assert h == sequence_hash(seq.encode()) and n == len(seq)


def test_whole_corpus_in_one_call_and_reimport_adds_nothing(catalog: Catalog, edge_dir: Path) -> None:
    files = sorted(p for p in edge_dir.iterdir() if p.suffix not in (".md", ".tsv"))
    report = import_files(catalog, files)
    assert len(report.files) == len(files)
    assert {Path(f.path).name for f in report.failed} == set(REJECTED)
    rows, version = catalog.count(), catalog.version
    again = import_files(catalog, files)
    assert again.imported == 0
    assert catalog.refresh() == version and catalog.count() == rows


def test_one_version_per_file_and_commit_message(catalog: Catalog, data_dir: Path) -> None:
    before = catalog.version
    import_files(catalog, [data_dir / "mmseqs2_QUERY.fasta"])
    assert catalog.version == before + 1
    assert "mmseqs2_QUERY.fasta" in catalog.versions()[-1].message


def test_uniprot_metadata_is_typed(catalog: Catalog, data_dir: Path) -> None:
    import_files(catalog, [data_dir / "mmseqs2_QUERY.fasta"])
    t = catalog.dataset().to_table(filter="accession = 'A7TBS3'")
    row = t.to_pylist()[0]
    assert row["id"] == "tr|A7TBS3|A7TBS3_NEMVE"
    assert row["db"] == "tr" and row["entry_name"] == "A7TBS3_NEMVE"
    assert row["organism"] == "Nematostella vectensis"
    assert row["gene"] == "v1g153959"
    assert row["protein_existence"] == 4 and row["sequence_version"] == 1
    assert row["molecule"] == "protein" and row["source_file"] == "mmseqs2_QUERY.fasta"
    assert len(row["vec_kmer"]) == 512
    assert np.isclose(np.linalg.norm(row["vec_kmer"]), 1.0, atol=1e-5)


def test_duplicates_become_aliases_within_and_across_files(catalog: Catalog, tmp_path: Path) -> None:
    a = write(tmp_path / "a.fa", ">a1 first\nMKVLAAGIV\n>a2 same\nmkvlaagiv*\n>a3 other\nMSTNPKPQRK\n")
    b = write(tmp_path / "b.fa", ">b1 copy\nMKVLAAGIV\n>a3 known id\nMSTNPKPQRK\n")
    import_files(catalog, [a])
    assert catalog.count() == 2
    version = catalog.version
    report = import_files(catalog, [b])
    (fr,) = report.files
    assert fr.imported == 0 and fr.already_in_catalog == 2 and fr.aliases_added == 1
    assert catalog.version == version + 1  # the alias update is one commit
    rows = {r["id"]: r for r in catalog.dataset().to_table(columns=["id", "aliases"]).to_pylist()}
    assert rows["a1"]["aliases"] == ["a2", "b1"]
    assert rows["a3"]["aliases"] == []
    assert catalog.count() == 2


def test_missing_identifier_and_molecule_detection(catalog: Catalog, tmp_path: Path) -> None:
    f = write(tmp_path / "mix.fa", ">\nACGTACGTACGTTTGACCA\n>r1\nACGUACGUAGCUAGCUAGG\n>p1\nMKVLAAGIVQW\n>s1\nACGT\n")
    (fr,) = import_files(catalog, [f]).files
    assert fr.ok and fr.warnings == 1
    rows = {r["id"]: r["molecule"] for r in catalog.dataset().to_table(columns=["id", "molecule"]).to_pylist()}
    # "ACGT" is too short to tell: it takes the file's majority (nucleotide, DNA over RNA on a tie).
    assert rows == {"mix.fa#1": "dna", "r1": "rna", "p1": "protein", "s1": "dna"}


def test_cancel_leaves_catalog_unchanged_and_no_files(catalog: Catalog, data_dir: Path) -> None:
    token = CancelToken()
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.phase == "importing":
            token.cancel()

    version = catalog.version
    data_files = set((Path(catalog.uri) / "data").glob("*")) if (Path(catalog.uri) / "data").exists() else set()
    report = import_files(catalog, [data_dir / "mmseqs2_QUERY.fasta"], progress=progress, cancel=token)
    assert report.cancelled
    assert catalog.refresh() == version and catalog.count() == 0
    after = set((Path(catalog.uri) / "data").glob("*")) if (Path(catalog.uri) / "data").exists() else set()
    assert after == data_files
    assert any(p.phase == "importing" for p in seen)


def test_failure_during_write_leaves_no_trace(catalog: Catalog, data_dir: Path, monkeypatch) -> None:
    from genocat_desktop.engine.core.errors import StorageError
    from genocat_desktop.engine.ingest import writing

    def broken(*args, **kwargs):
        raise StorageError("disk full (simulated)")

    monkeypatch.setattr(writing, "build_rows", broken)
    version = catalog.version
    (fr,) = import_files(catalog, [data_dir / "mmseqs2_QUERY.fasta"]).files
    assert fr.error and "disk full" in fr.error
    assert catalog.refresh() == version and catalog.count() == 0


def test_truncated_gzip_rejected_with_offset(catalog: Catalog, tmp_path: Path) -> None:
    data = gzip.compress(b">x\n" + b"MKVLAAGIV" * 20000 + b"\n")
    f = tmp_path / "cut.fa.gz"
    f.write_bytes(data[: len(data) // 2])
    (fr,) = import_files(catalog, [f]).files
    assert "truncated at byte" in fr.error
    assert catalog.count() == 0


def test_rejected_file_does_not_stop_the_others(catalog: Catalog, edge_dir: Path, data_dir: Path) -> None:
    report = import_files(catalog, [edge_dir / "26_fastq_not_fasta.fastq", data_dir / "mmseqs2_QUERY.fasta"])
    assert [f.ok for f in report.files] == [False, True]
    assert catalog.count() == report.imported == 498


def test_strip_gaps_imports_an_alignment(catalog: Catalog, edge_dir: Path) -> None:
    (fr,) = import_files(catalog, [edge_dir / "21_aligned_with_gaps.fa"], strip_gaps=True).files
    assert fr.ok and fr.imported > 0
    seqs = catalog.dataset().to_table(columns=["sequence"]).column("sequence").to_pylist()
    assert all("-" not in s and "." not in s for s in seqs)


def test_progress_reaches_the_total(catalog: Catalog, data_dir: Path) -> None:
    seen: list[Progress] = []
    import_files(catalog, [data_dir / "mmseqs2_QUERY.fasta"], progress=seen.append)
    importing = [p for p in seen if p.phase == "importing"]
    assert importing and importing[-1].done == importing[-1].total == 498


def _rows_of(catalog: Catalog) -> dict[str, list[object]]:
    table = catalog.dataset().to_table().drop_columns(["imported_at"]).sort_by("seq_hash")
    return table.to_pydict()


def _small_batches(path: Path, out: Path, copies: int = 3) -> Path:
    # Several batches of 8192 records, and a repeat of the file: duplicates across batches become aliases.
    text = path.read_text()
    blocks = [text.replace(">", f">c{i}_") for i in range(copies)]
    return write(out, "".join(blocks) + text)


@pytest.mark.parametrize(("keep", "vectors", "spill_fails_after"),
                         [(0, 0, None), (1 << 20, 0, None), (1 << 20, 1 << 20, None), (0, 0, 0), (1 << 20, 0, 3)])
def test_work_done_during_the_scan_gives_the_same_rows(
    tmp_path: Path, data_dir: Path, monkeypatch, keep: int, vectors: int, spill_fails_after: int | None
) -> None:
    # Headers and k-mer vectors of kept batches are computed in a worker thread during the
    # scan; a file too large to keep (or past the vector budget) is done in pass 2 instead,
    # from its batches spilled to disk, or, if the spill file cannot be written (a full disk),
    # from the file parsed again. Every way must give the same rows, aliases included.
    import pickle

    from genocat_desktop.engine.ingest import scanning

    src = _small_batches(data_dir / "families_small.faa", tmp_path / "many.faa", copies=30)
    reference = Catalog.open(tmp_path / "reference")
    assert import_files(reference, [src]).imported > 0
    monkeypatch.setattr(scanning, "KEEP_PARSED_BYTES", keep)
    monkeypatch.setattr(scanning, "KEEP_VECTOR_BYTES", vectors)
    # Batches of 1000 records: some are kept (and embedded early) before the budgets run out.
    readers: list[Path] = []
    fasta_reader = scanning.FastaReader

    def reader(path: Path, **kwargs):
        readers.append(Path(path))
        return fasta_reader(path, batch_records=1000, **kwargs)

    monkeypatch.setattr(scanning, "FastaReader", reader)
    spilled: list[int] = []
    pickle_dump = pickle.dump

    def dump(obj, file, protocol=None) -> None:
        if spill_fails_after is not None and len(spilled) >= spill_fails_after:
            raise OSError(28, "No space left on device")
        spilled.append(len(obj))
        pickle_dump(obj, file, protocol=protocol)

    monkeypatch.setattr(scanning.pickle, "dump", dump)
    other = Catalog.open(tmp_path / "other")
    report = import_files(other, [src])
    assert report.files[0].ok and report.imported == reference.count()
    assert _rows_of(other) == _rows_of(reference)
    if keep >= src.stat().st_size:
        assert readers == [src] and not spilled  # kept in memory
    elif spill_fails_after is None:
        # Spilled: the file is parsed once, every record of it went through the spill file.
        assert readers == [src] and sum(spilled) == report.files[0].records
    else:
        assert readers == [src, src] and len(spilled) == spill_fails_after  # parsed again
    # The spill file had no name: nothing is left in the catalog's folder.
    assert not [p for p in Path(other.location).rglob("*") if "genocat-import" in p.name]


def test_spill_file_gives_back_its_batches_and_leaves_nothing(tmp_path: Path, data_dir: Path, monkeypatch) -> None:
    # A local catalog spills into its own .genocat folder; an object-store catalog into the user
    # cache folder (XDG_CACHE_HOME on Linux), one folder per catalog URI. The file has no name.
    from genocat_desktop.engine.ingest import scanning
    from genocat_desktop.engine.ingest.fasta import FastaReader

    batches = list(FastaReader(data_dir / "families_small.faa", batch_records=100))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for location, folder in [(str(tmp_path / "local"), tmp_path / "local" / ".genocat"),
                             ("s3://lab-bucket/catalog", tmp_path / "cache" / "GenoCat" / "import")]:
        spill = scanning.Spill.open(Catalog(location, f"{location}/sequences.lance", None).work_folder("import"))
        assert spill is not None
        assert all(spill.add(b) for b in batches) and spill.batches == len(batches)
        back = list(spill)
        assert [b.titles for b in back] == [b.titles for b in batches]
        assert all(a.data == b.data and np.array_equal(a.offsets, b.offsets) and np.array_equal(a.hashes, b.hashes)
                   and np.array_equal(a.molecule, b.molecule) for a, b in zip(back, batches, strict=True))
        assert folder.is_dir() and not [p for p in folder.rglob("*") if p.is_file()]
        spill.close()
    # Too little free space for twice the file (plus 1 GiB), or a folder that cannot be made (a
    # file is in the way): no spill, pass 2 will parse the file again.
    free = shutil.disk_usage(tmp_path).free
    assert scanning.Spill.open(tmp_path / "local" / ".genocat", free // 2) is None
    roomy = scanning.Spill.open(tmp_path / "local" / ".genocat", 1 << 20)
    assert roomy is not None
    roomy.close()
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / ".genocat").write_text("not a folder")
    assert scanning.Spill.open(tmp_path / "blocked" / ".genocat") is None


@pytest.mark.parametrize("early_write_cpus", [1, 1 << 16])
def test_short_records_of_a_nucleotide_file_are_embedded_as_nucleotides(
    catalog: Catalog, tmp_path: Path, monkeypatch, early_write_cpus: int
) -> None:
    # Records under 10 residues take the file's majority molecule, known only after the scan;
    # vectors computed during the scan (as protein) must be replaced, and rows written during
    # the scan (early_write_cpus=1: on any machine) written again.
    from genocat_desktop.engine.ingest import importer

    monkeypatch.setattr(importer, "EARLY_WRITE_MIN_CPUS", early_write_cpus)

    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGT"), n)) for n in [50, 60, 70, 80, 5, 6, 7]]
    src = write(tmp_path / "dna.fa", "".join(f">r{i}\n{s}\n" for i, s in enumerate(seqs)))
    import_files(catalog, [src])
    table = catalog.dataset().to_table(columns=["id", "molecule", "vec_kmer"]).sort_by("id")
    assert set(table.column("molecule").to_pylist()) == {"dna"}
    got = np.array(table.column("vec_kmer").to_pylist(), dtype=np.float32)
    expected = catalog.embedder().embed([seqs[int(i[1:])] for i in table.column("id").to_pylist()],
                                        ["dna"] * len(seqs))
    assert np.array_equal(got, expected)


def _files_under(path: Path) -> set[Path]:
    return set(path.rglob("*")) if path.exists() else set()


def test_rows_written_during_the_scan_are_rewritten_when_they_gain_aliases(
    tmp_path: Path, data_dir: Path, monkeypatch
) -> None:
    # Rows of a kept file are written group by group during the scan; a later duplicate
    # (another identifier) changes an earlier row's aliases, so that row's group is deleted
    # and written again. The rows must equal those of the two-pass path (nothing kept).
    from genocat_desktop.engine.ingest import importer, scanning, writing

    src = _small_batches(data_dir / "families_small.faa", tmp_path / "many.faa", copies=4)
    monkeypatch.setattr(scanning, "FastaReader", functools.partial(scanning.FastaReader, batch_records=100))
    monkeypatch.setattr(scanning, "KEEP_PARSED_BYTES", 0)
    reference = Catalog.open(tmp_path / "reference")
    import_files(reference, [src])
    monkeypatch.undo()

    monkeypatch.setattr(scanning, "FastaReader", functools.partial(scanning.FastaReader, batch_records=100))
    monkeypatch.setattr(writing, "WRITE_BATCH", 150)
    monkeypatch.setattr(importer, "EARLY_WRITE_MIN_CPUS", 1)  # whatever this machine has
    dropped: list[int] = []
    drop_groups = writing.FragmentWriter.drop_groups

    def counting(self: writing.FragmentWriter, stale) -> None:
        before = len(self.groups)
        drop_groups(self, stale)
        dropped.append(before - len(self.groups))

    monkeypatch.setattr(writing.FragmentWriter, "drop_groups", counting)
    catalog = Catalog.open(tmp_path / "early")
    (fr,) = import_files(catalog, [src]).files
    assert fr.ok and fr.imported == reference.count() and fr.duplicates_in_file > 0
    assert dropped and dropped[0] > 0  # groups were written early, and some rewritten
    assert _rows_of(catalog) == _rows_of(reference)
    # The deleted groups' files are gone: every data file belongs to the committed table.
    committed = {f.path for frag in catalog.dataset().get_fragments() for f in frag.metadata.files}
    assert {p.name for p in _files_under(Path(catalog.uri) / "data")} == committed


def test_cancel_after_rows_were_written_during_the_scan_leaves_no_trace(
    catalog: Catalog, tmp_path: Path, data_dir: Path, monkeypatch
) -> None:
    from genocat_desktop.engine.ingest import importer, scanning, writing

    src = _small_batches(data_dir / "families_small.faa", tmp_path / "many.faa", copies=4)
    monkeypatch.setattr(scanning, "FastaReader", functools.partial(scanning.FastaReader, batch_records=100))
    monkeypatch.setattr(writing, "WRITE_BATCH", 150)
    monkeypatch.setattr(importer, "EARLY_WRITE_MIN_CPUS", 1)  # whatever this machine has
    token = CancelToken()
    write_now = writing.FragmentWriter._write_now
    writes: list[int] = []

    def write_then_cancel(self: writing.FragmentWriter, table):
        frags = write_now(self, table)
        writes.append(table.num_rows)
        token.cancel()  # the scan stops at its next batch, with this group already on disk
        return frags

    monkeypatch.setattr(writing.FragmentWriter, "_write_now", write_then_cancel)
    version = catalog.version
    before = _files_under(Path(catalog.uri) / "data")
    report = import_files(catalog, [src], cancel=token)
    assert report.cancelled and writes
    assert catalog.refresh() == version and catalog.count() == 0
    assert _files_under(Path(catalog.uri) / "data") == before


def test_a_failed_write_with_another_in_flight_leaves_no_trace(
    catalog: Catalog, tmp_path: Path, data_dir: Path, monkeypatch
) -> None:
    # Two background writes run at once (writing.WRITES_IN_FLIGHT). When the older one fails,
    # the newer one still finishes: its files must be deleted with the rest, not left behind.
    import threading

    from genocat_desktop.engine.core.errors import StorageError
    from genocat_desktop.engine.ingest import scanning, writing

    assert writing.WRITES_IN_FLIGHT >= 2
    src = _small_batches(data_dir / "families_small.faa", tmp_path / "many.faa", copies=4)
    monkeypatch.setattr(scanning, "FastaReader", functools.partial(scanning.FastaReader, batch_records=100))
    monkeypatch.setattr(writing, "WRITE_BATCH", 150)
    write_now = writing.FragmentWriter._write_now
    second_written = threading.Event()
    calls: list[int] = []
    lock = threading.Lock()

    def first_fails_after_the_second(self: writing.FragmentWriter, table):
        with lock:
            calls.append(len(calls))
            number = calls[-1]
        if number == 0:
            assert second_written.wait(60), "the second write never ran beside the first"
            raise StorageError("the disk went away (on purpose)")
        frags = write_now(self, table)
        if number == 1:
            second_written.set()
        return frags

    monkeypatch.setattr(writing.FragmentWriter, "_write_now", first_fails_after_the_second)
    version = catalog.version
    before = _files_under(Path(catalog.uri) / "data")
    (fr,) = import_files(catalog, [src]).files
    assert not fr.ok and "on purpose" in (fr.error or "")
    assert second_written.is_set()
    assert catalog.refresh() == version and catalog.count() == 0
    assert _files_under(Path(catalog.uri) / "data") == before


@pytest.mark.parametrize("user_value", [None, "1"])
def test_lance_gets_two_encoding_threads_on_a_small_machine(user_value: str | None) -> None:
    # On 2-3 CPUs Lance would encode every write on one thread; configure_process() asks for two,
    # before Lance first runs, and leaves a value the user set alone.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "LANCE_CPU_THREADS"}
    if user_value is not None:
        env["LANCE_CPU_THREADS"] = user_value
    code = ("import os, genocat_desktop.engine as e; e.configure_process(); "
            "print(os.cpu_count(), os.environ.get('LANCE_CPU_THREADS'))")
    cpus, value = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                 check=True, timeout=120).stdout.split()
    if user_value is not None:
        assert value == user_value
    elif int(cpus) in (2, 3):
        assert value == "2"
    else:
        assert value == "None"  # one CPU: one thread is right; four or more: Lance's own sizing gives two
