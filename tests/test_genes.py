"""Gene calling at import (engine/ingest/genes.py): genomes in, proteins out, linked to their contig.

Checked against real data in ../shared/data/dna/ (README there): an E. coli contig with the genes
Prodigal itself called on it in single mode (``MIIJ01000039.single.fna.gz``) and in meta mode (the
proteins, ``MIIJ01000039.faa.gz``), and the first 100 CDS of B. velezensis CP040672.1 as NCBI
annotates them (``cds_from_genomic`` headers).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from Bio.Seq import Seq
from Bio.SeqIO.FastaIO import SimpleFastaParser

from genocat_desktop.engine import Catalog, SchemaError, add_field, import_files, user_fields
from genocat_desktop.engine.core.progress import CancelToken, Progress
from genocat_desktop.engine.ingest import genes
from genocat_desktop.engine.ingest.genes import GENE_FIELDS, GeneCaller
from genocat_desktop.engine.ingest.records import sequence_hash

CONTIG = "562.SAMN05730656.MIIJ01000039"
GENE_COLUMNS = ["id", "molecule", "sequence", "cds_contig", "cds_start", "cds_end", "cds_strand", "name",
                "description", "accession", "aliases", "gene", "seq_hash"]


def _fasta(path: Path) -> list[tuple[str, str]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return [(title, seq.upper()) for title, seq in SimpleFastaParser(handle)]


def _prodigal_coordinates(title: str) -> tuple[int, int, str]:
    """``id # start # end # strand # ...`` -> (start, end, '+'/'-')."""
    _, start, end, strand, _ = title.split(" # ", 4)
    return int(start), int(end), "+" if strand == "1" else "-"


def _rows(catalog: Catalog, molecule: str) -> list[dict[str, Any]]:
    table = catalog.dataset().to_table(columns=GENE_COLUMNS, filter=f"molecule = '{molecule}'")
    return table.to_pylist()


@pytest.fixture
def contig(shared_file: Callable[[str], Path]) -> Path:
    return shared_file("dna/MIIJ01000039.fna.gz")


def test_a_genome_gives_prodigal_single_mode_genes_as_linked_protein_rows(contig: Path, tmp_path: Path,
                                                                           shared_file: Any) -> None:
    reference = _fasta(shared_file("dna/MIIJ01000039.single.fna.gz"))  # Prodigal 2.6, single mode
    assert len(reference) == 404
    catalog = Catalog.open(tmp_path / "cat", create=True)
    before = catalog.version
    report = import_files(catalog, [contig], call_genes=True)
    fr = report.files[0]
    assert fr.ok and (fr.records, fr.contigs_called, fr.proteins_predicted) == (1, 1, 404)
    assert fr.gene_modes == {"single": 1}  # 0.87 Mbp: trained on itself
    assert "404 protein(s) predicted on 1 DNA record(s) (1 single mode)" in fr.summary()
    # One schema-only version adds the fields, one commit imports contig and proteins.
    assert catalog.version == before + 2
    assert {name: d.type for name, d in user_fields(catalog).items()} == {
        "cds_contig": "text", "cds_start": "integer", "cds_end": "integer", "cds_strand": "category"}

    dna = _rows(catalog, "dna")
    assert [r["id"] for r in dna] == [CONTIG] and dna[0]["cds_start"] is None  # the contig row is kept
    proteins = _rows(catalog, "protein")
    # One row per sequence: identical proteins (paralogs) collapse into aliases.
    assert len(proteins) + sum(len(r["aliases"] or []) for r in proteins) == 404
    assert fr.imported == 1 + len(proteins)
    assert {r["cds_contig"] for r in proteins} == {CONTIG}
    got = {(r["cds_start"], r["cds_end"], r["cds_strand"]): r for r in proteins}
    expected = {_prodigal_coordinates(title): (title, seq) for title, seq in reference}
    assert set(got) <= set(expected)
    assert len(got) == len(proteins)
    for key, row in got.items():
        title, dna_seq = expected[key]
        assert row["id"] == title.split()[0]  # <contig>_<n>, n along the contig as Prodigal numbers them
        assert row["description"].startswith(f"predicted CDS {key[0]}..{key[1]} ({key[2]}) of {CONTIG}")
        if "partial=00" in title:  # a complete gene: the protein is its CDS translated
            assert row["sequence"] == str(Seq(dna_seq).translate(table=11, cds=True)), title
    # 1-based inclusive coordinates: the CDS cut from the contig is the gene Prodigal wrote.
    genome = _fasta(contig)[0][1]
    for start, end, strand in list(got)[:50]:
        piece = Seq(genome[start - 1 : end])
        assert str(piece if strand == "+" else piece.reverse_complement()) == expected[(start, end, strand)][1]

    again = import_files(catalog, [contig], call_genes=True).files[0]
    assert (again.imported, again.proteins_predicted, catalog.version) == (0, 404, before + 2)


def test_meta_mode_reproduces_prodigal_meta_output_header_for_header(contig: Path, shared_file: Any) -> None:
    reference = _fasta(shared_file("dna/MIIJ01000039.faa.gz"))  # Prodigal's -p meta proteins
    # This contig would be trained on (0.87 Mbp): force meta mode.
    found = GeneCaller(train_min_length=10**9).call(CONTIG, 1, _fasta(contig)[0][1].encode())
    assert found.mode == "meta"
    assert found.titles[:3] == [title for title, _ in reference[:3]]

    def gene(title: str) -> str:  # the header without the gene's number (n in <contig>_<n>, ID=1_<n>)
        return re.sub(r"^\S+_\d+ | ID=\d+_\d+;", " ", title)

    ours = dict(zip(map(gene, found.titles), (p.decode() for p in found.proteins), strict=True))
    # All 380 genes of the reference, headers and proteins identical; pyrodigal 3.7 finds one
    # more short gene (127260..127589, +) than the Prodigal build that wrote the file.
    assert all(ours.get(gene(title)) == seq.rstrip("*") for title, seq in reference)
    assert len(ours) - len(reference) == 1


def test_the_mode_follows_the_record_length(shared_file: Any) -> None:
    short = _fasta(shared_file("dna/KK037166.fna.gz"))[0][1]
    assert len(short) < genes.TRAIN_MIN_LENGTH
    found = GeneCaller().call("KK037166.1", 1, short.encode())
    assert found.mode == "meta" and len(found.proteins) >= 10
    assert GeneCaller().call("tiny", 1, b"ATGAAA").proteins == []


def test_ncbi_cds_file_fills_the_same_fields_and_predicts_the_ncbi_proteins(shared_file: Any,
                                                                             tmp_path: Path) -> None:
    path = shared_file("dna/CP040672.1.genes_100.fna")
    records = _fasta(path)
    catalog = Catalog.open(tmp_path / "cat", create=True)
    fr = import_files(catalog, [path], call_genes=True).files[0]
    assert fr.ok and fr.contigs_called == 100 and fr.gene_modes == {"meta": 100}
    cds = {r["id"]: r for r in _rows(catalog, "dna")}
    first = cds["lcl|NZ_CP040672.1_cds_WP_044801954.1_1"]
    assert (first["cds_contig"], first["cds_start"], first["cds_end"], first["cds_strand"]) == (
        "NZ_CP040672.1", 158, 988, "-")
    assert (first["name"], first["accession"], first["aliases"]) == (
        "undecaprenyl-diphosphate phosphatase", "WP_044801954.1", ["FGE23_RS00005"])
    assert not any("[" in (r["description"] or "") for r in cds.values())
    assert all(r["cds_contig"] == "NZ_CP040672.1" and r["cds_start"] <= r["cds_end"] for r in cds.values())

    # Quality floor: the predicted protein of a CDS record is the NCBI protein (its CDS translated).
    proteins = _rows(catalog, "protein")
    by_hash = {r["seq_hash"]: r for r in proteins}
    found = 0
    complete = 0
    for title, seq in records:
        try:
            truth = str(Seq(seq).translate(table=11, cds=True))
        except Exception:  # a pseudogene, partial at its 5' end
            continue
        complete += 1
        row = by_hash.get(sequence_hash(truth.encode()))
        if row is not None:
            found += 1
            ident = title.split()[0]
            assert row["cds_contig"] == ident or ident in [row["id"], *(row["aliases"] or [])] or \
                any(a.startswith(ident + "_") for a in [row["id"], *(row["aliases"] or [])])
    assert complete == 99 and found >= 95


def test_the_reader_yields_each_batch_then_its_proteins_in_bounded_batches(contig: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from genocat_desktop.engine.ingest.fasta import FastaReader
    from genocat_desktop.engine.ingest.genes import GeneCallingReader
    from genocat_desktop.engine.ingest.records import MOL_DNA, MOL_PROTEIN

    monkeypatch.setattr(genes, "PROTEINS_PER_BATCH", 100)
    reports: list[Progress] = []
    reader = GeneCallingReader(FastaReader(contig), reports.append, CancelToken(), contig.name)
    batches = list(reader)
    assert [len(b) for b in batches] == [1, 100, 100, 100, 100, 4]
    assert batches[0].molecule.tolist() == [MOL_DNA] and reader.records == 1 and reader.proteins == 404
    proteins = batches[1:]
    assert all((b.molecule == MOL_PROTEIN).all() and set(b.numbers.tolist()) == {1} and set(b.lines.tolist()) == {1}
               for b in proteins)
    assert proteins[0].titles[0].startswith(f"{CONTIG}_1 # ") and proteins[-1].titles[-1].startswith(f"{CONTIG}_404 #")
    assert proteins[0].hashes[0].decode() == sequence_hash(proteins[0].data[: proteins[0].offsets[1]])
    assert [(p.phase, p.unit) for p in reports] == [("calling genes", "bytes")]  # one report per contig
    # Deterministic: pass 2 may read the file again (a new reader).
    again = GeneCallingReader(FastaReader(contig), reports.append, CancelToken(), contig.name)
    assert [b.titles for b in again] == [b.titles for b in batches]


def test_cancel_while_calling_genes_changes_nothing(contig: Path, tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path / "cat", create=True)
    before = catalog.version
    token = CancelToken()

    def progress(p: Progress) -> None:
        if p.phase == "calling genes":
            token.cancel()

    report = import_files(catalog, [contig], call_genes=True, progress=progress, cancel=token)
    assert report.cancelled and "cancelled" in (report.files[0].error or "")
    catalog.refresh()
    assert catalog.version == before and catalog.count() == 0 and "cds_start" not in catalog.schema.names


def test_off_by_default_and_protein_files_add_no_fields(contig: Path, tmp_path: Path, data_dir: Path) -> None:
    catalog = Catalog.open(tmp_path / "cat", create=True)
    fr = import_files(catalog, [contig]).files[0]
    assert (fr.imported, fr.proteins_predicted) == (1, 0)
    fr = import_files(catalog, [data_dir / "families_small.faa"], call_genes=True).files[0]
    assert fr.imported == 379 and fr.contigs_called == 0
    assert "cds_contig" not in catalog.schema.names


def test_proteins_already_in_the_catalog_get_their_coordinates_filled(contig: Path, shared_file: Any,
                                                                      tmp_path: Path) -> None:
    meta = shared_file("dna/MIIJ01000039.faa.gz")
    catalog = Catalog.open(tmp_path / "cat", create=True)
    first = import_files(catalog, [meta]).files[0]  # no gene fields yet: the coordinates wait
    assert first.imported > 370 and "cds_start" not in catalog.schema.names
    fr = import_files(catalog, [contig], call_genes=True).files[0]
    # Single mode finds many of the meta-mode proteins again: aliases, and their empty fields filled.
    assert fr.already_in_catalog > 300 and fr.rows_filled == fr.already_in_catalog
    table = catalog.dataset().to_table(columns=["cds_start", "source_file"], filter="molecule = 'protein'")
    filled = [s for s, f in zip(table["cds_start"].to_pylist(), table["source_file"].to_pylist(), strict=True)
              if f == meta.name and s is not None]
    assert len(filled) == fr.already_in_catalog


def test_a_user_field_of_another_type_is_named(contig: Path, tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path / "cat", create=True)
    add_field(catalog, "cds_start", "text")
    fr = import_files(catalog, [contig], call_genes=True).files[0]
    assert not fr.ok and "'cds_start'" in (fr.error or "") and "\n" not in (fr.error or "")
    with pytest.raises(SchemaError, match="rename that field"):
        genes.missing_gene_fields(catalog)
    assert catalog.count() == 0


def test_a_catalog_of_release_0_1_takes_the_gene_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       shared_file: Any) -> None:
    from genocat_desktop.engine import add_model

    fixture = Path(__file__).resolve().parent / "data" / "catalog-v1"
    shutil.copytree(fixture, tmp_path / "fixture")
    monkeypatch.setenv("GENOCAT_MODELS", str(tmp_path / "models"))
    add_model(tmp_path / "fixture" / json.loads((fixture / "fixture.json").read_text())["model"])
    catalog = Catalog.open(tmp_path / "fixture" / "catalog", create=False)
    rows = catalog.count()
    fr = import_files(catalog, [shared_file("dna/KK037166.fna.gz")], call_genes=True).files[0]
    assert fr.ok and fr.proteins_predicted >= 10 and catalog.count() == rows + fr.imported
    table = catalog.dataset().to_table(columns=["cds_contig", "vec_esm"])
    contigs = table["cds_contig"].to_pylist()
    assert contigs.count("KK037166.1") == fr.proteins_predicted and contigs.count(None) == rows + 1
    assert table["vec_esm"].null_count == 0  # every vector column filled for the new rows


def test_gene_fields_are_user_fields() -> None:
    assert [d.name for d in GENE_FIELDS] == ["cds_contig", "cds_start", "cds_end", "cds_strand"]
    assert GENE_FIELDS[3].allowed == ("+", "-") and GENE_FIELDS[1].arrow_type == pa.int64()


def test_cli_import_call_genes(contig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    from genocat_desktop.cli.main import EXIT_OK, main

    monkeypatch.setenv("GENOCAT_CATALOG", str(tmp_path / "cat"))
    assert main(["import", "--call-genes", "--json", str(contig)]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    (f,) = out["files"]
    assert (f["proteins_predicted"], f["contigs_called"], f["gene_modes"]) == (404, 1, {"single": 1})
    export = tmp_path / "minus.csv"
    assert main(["export", str(export), "--where", "cds_strand = '-'", "--where", "cds_start < 10000"]) == EXIT_OK
    with open(export, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and {r["cds_strand"] for r in rows} == {"-"}
    assert all(int(r["cds_start"]) < 10000 and r["cds_contig"] == CONTIG for r in rows)


def test_window_option_calls_genes_on_dropped_files(qtbot: Any, contig: Path, tmp_path: Path) -> None:
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    from genocat_desktop.ui.main_window import MainWindow
    from genocat_desktop.ui.settings import settings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    window = MainWindow(str(tmp_path / "catalog"), [])
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.catalog_opened, timeout=120_000):
            window.show()
        action = window.act_call_genes
        assert action.isCheckable() and not action.isChecked()  # off by default
        file_menu = window.menuBar().actions()[0].menu()
        assert "Prodigal" in action.toolTip() and action in file_menu.actions()  # type: ignore[attr-defined]
        assert file_menu.toolTipsVisible()  # type: ignore[attr-defined]
        action.trigger()
        assert action.isChecked() and settings().value("import/call_genes", False, type=bool)
        with qtbot.waitSignal(window.imports_done, timeout=120_000) as blocker:
            window.import_paths([str(contig)])
        (_, report, message) = blocker.args[0][0]
        assert not message and report.proteins_predicted == 404
        assert window.summary is not None and report.imported == window.summary.rows > 400
        action.trigger()  # off again: a DNA file is imported as it is
        assert not settings().value("import/call_genes", True, type=bool)
    finally:
        window.confirm = lambda title, text: True
        window.close()
