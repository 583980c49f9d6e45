"""Exports: CSV/TSV that start with their header (provenance in a side file), JSON, FASTA that re-imports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pytest
from Bio.SeqIO.FastaIO import SimpleFastaParser

from genocat_desktop.engine import Catalog, InputError, Searcher, export_csv, export_fasta, export_hits, import_files


@pytest.fixture
def catalog(tmp_catalog_path: Path, data_dir: Path) -> Catalog:
    cat = Catalog.open(tmp_catalog_path)
    import_files(cat, [data_dir / "mmseqs2_QUERY.fasta"])
    return cat


def test_csv_starts_with_its_header_and_provenance_goes_to_a_side_file(catalog: Catalog, tmp_path: Path) -> None:
    result = Searcher(catalog).search("MKVLAAGIVALLLAAGCSSSKEETK", k=20)
    out = tmp_path / "hits.csv"
    assert export_hits([result], out, provenance={"query": "q1", "version": result.version}) == 20
    lines = out.read_text().splitlines()
    assert lines[0].startswith('"query_id","rank","score"')  # an ordinary CSV reader takes it as it is
    rows = list(csv.DictReader(lines))
    assert len(rows) == 20 and rows[0]["query_id"] == "query" and rows[0]["rank"] == "1"
    assert float(rows[0]["score"]) >= float(rows[-1]["score"])
    assert "sequence" not in rows[0] and "vec_kmer" not in rows[0]
    side = json.loads((tmp_path / "hits.provenance.json").read_text())
    assert side == {"query": "q1", "version": result.version}


def test_tsv_is_tab_separated_and_json_holds_provenance_and_hits(catalog: Catalog, tmp_path: Path) -> None:
    result = Searcher(catalog).search("MKVLAAGIVALLLAAGCSSSKEETK", k=5)
    tsv = tmp_path / "hits.tsv"
    assert export_hits([result], tsv, provenance={"query": "q1"}) == 5
    rows = list(csv.DictReader(tsv.open(newline=""), delimiter="\t"))
    assert len(rows) == 5 and rows[0]["query_id"] == "query" and rows[0]["rank"] == "1"
    assert "," not in tsv.read_text().splitlines()[0]
    assert json.loads((tmp_path / "hits.provenance.json").read_text())["query"] == "q1"
    out = tmp_path / "hits.json"
    assert export_hits([result], out, provenance={"query": "q1"}) == 5
    body = json.loads(out.read_text())
    assert body["provenance"] == {"query": "q1"} and [h["rank"] for h in body["hits"]] == [1, 2, 3, 4, 5]
    assert not {"sequence", "vec_kmer"} & set(body["hits"][0]) and body["hits"][0]["query_id"] == "query"


def test_fasta_round_trip_gives_the_same_sequences(catalog: Catalog, tmp_path: Path) -> None:
    table = catalog.dataset().to_table(columns=["id", "description", "sequence", "seq_hash"])
    out = tmp_path / "all.fasta"
    assert export_fasta(table, out) == table.num_rows
    records = list(SimpleFastaParser(out.open()))
    assert [t.split(" ", 1)[0] for t, _ in records] == table.column("id").to_pylist()
    assert max(len(line) for line in out.read_text().splitlines() if not line.startswith(">")) <= 60
    again = Catalog.open(tmp_path / "again")
    import_files(again, [out])
    a = sorted(again.dataset().to_table(columns=["seq_hash"]).column("seq_hash").to_pylist())
    assert a == sorted(table.column("seq_hash").to_pylist())
    original = {r["id"]: r["description"] for r in table.to_pylist()}
    rows = again.dataset().to_table(columns=["id", "description"]).to_pylist()
    reimported = {r["id"]: r["description"] for r in rows}
    assert reimported == original


def test_fasta_export_of_hits_writes_each_sequence_once(catalog: Catalog, tmp_path: Path) -> None:
    s = Searcher(catalog)
    results = s.search_many(["MKVLAAGIVALLLAAG", "MKVLAAGIVALLLAAG"], k=5)
    out = tmp_path / "hits.fa"
    assert export_hits(results, out) == 5


def test_failed_export_leaves_no_file(tmp_path: Path) -> None:
    table = pa.table({"id": ["a"], "description": ["x"]})
    out = tmp_path / "x.fasta"
    with pytest.raises(InputError, match="sequence"):
        export_fasta(table, out)
    with pytest.raises(InputError, match="no column"):
        export_csv(table, tmp_path / "x.csv", columns=["nope"])
    assert list(tmp_path.iterdir()) == []


def test_export_to_missing_folder_or_unknown_format(catalog: Catalog, tmp_path: Path) -> None:
    result = Searcher(catalog).search("MKVLAAGIV", k=2)
    with pytest.raises(InputError, match="does not exist"):
        export_hits([result], tmp_path / "nope" / "hits.csv")
    with pytest.raises(InputError, match="unknown export format"):
        export_hits([result], tmp_path / "hits.xlsx")
