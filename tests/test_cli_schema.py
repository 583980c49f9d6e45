"""genocat schema|set|annotate|bench: output, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genocat_desktop.cli.main import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from genocat_desktop.engine import Catalog

DATA = Path(__file__).parent / "data"


@pytest.fixture
def cat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "catalog"
    monkeypatch.setenv("GENOCAT_CATALOG", str(path))
    assert main(["-q", "import", str(DATA / "mmseqs2_QUERY.fasta")]) == EXIT_OK
    capsys.readouterr()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_schema_commands(cat: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema", "add", "assay", "category", "--values", "low,high", "-d", "plate assay")
    assert code == EXIT_OK and "added field 'assay' (category (low, high)): version 3" in out
    code, out, _ = run(capsys, "schema", "add", "ph", "float", "--default", "7")
    assert code == EXIT_OK and "version 4" in out
    code, out, _ = run(capsys, "schema", "list", "--json")
    fields = {f["name"]: f for f in json.loads(out)}
    assert fields["assay"] == {"name": "assay", "type": "category", "kind": "user", "description": "plate assay",
                               "filled": 0, "rows": 498, "allowed": ["low", "high"], "default": None}
    assert fields["ph"]["filled"] == 498 and fields["ph"]["default"] == 7.0
    code, out, _ = run(capsys, "schema", "list")
    assert "category (low, high)" in out and "0/498" in out and "vector[512]" in out
    code, out, _ = run(capsys, "schema", "rename", "ph", "ph_opt")
    assert code == EXIT_OK and "renamed 'ph' to 'ph_opt'" in out
    code, _, err = run(capsys, "schema", "drop", "ph_opt")  # stdin is not a terminal under pytest
    assert code == EXIT_USAGE and "--yes" in err
    code, out, _ = run(capsys, "schema", "drop", "ph_opt", "--yes")
    assert code == EXIT_OK and "version 6 (genocat restore 5 brings it back)" in out
    code, out, _ = run(capsys, "schema", "describe", "assay", "--values", "low,high,top")
    assert code == EXIT_OK
    code, out, _ = run(capsys, "versions")
    assert "schema: rename field 'ph' to 'ph_opt'" in out and "schema: drop field 'ph_opt'" in out


def test_schema_errors_are_one_line_and_change_nothing(cat: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = Catalog.open(cat).version
    for argv, words in [
        (["schema", "add", "organism", "text"], "built-in"),
        (["schema", "add", "x", "decimal"], "unknown field type"),
        (["schema", "add", "n", "integer", "--default", "lots"], "whole number"),
        (["schema", "drop", "gene", "--yes"], "built-in"),
        (["set", "nothere", "1", "--all"], "no field named"),
    ]:
        code, _, err = run(capsys, *argv)
        assert code == EXIT_ERROR and words in err and err.count("\n") == 1, argv
    assert Catalog.open(cat).version == version


def test_set_values(cat: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "schema", "add", "reviewed", "boolean")
    code, out, _ = run(capsys, "set", "reviewed", "yes", "--where", "length > 300", "--where", "gene is not empty")
    assert code == EXIT_OK and "set reviewed = True on" in out
    catalog = Catalog.open(cat)
    assert catalog.count("reviewed = true") == catalog.count("length > 300 AND gene IS NOT NULL") > 0
    code, out, _ = run(capsys, "set", "reviewed", "--clear", "--all")
    assert code == EXIT_OK and "clear reviewed on 498 row(s)" in out
    code, _, err = run(capsys, "set", "reviewed", "maybe", "--all")
    assert code == EXIT_ERROR and "yes/no" in err
    code, _, err = run(capsys, "set", "reviewed", "yes")
    assert code == EXIT_ERROR and "choose the rows" in err
    code, _, err = run(capsys, "set", "reviewed", "--all")
    assert code == EXIT_USAGE and "--clear" in err
    code, _, err = run(capsys, "set", "reviewed", "yes", "--where", "lenght > 1")
    assert code == EXIT_USAGE and "lenght" in err
    code, out, _ = run(capsys, "set", "reviewed", "yes", "--where", "length > 99999")
    assert code == EXIT_OK and "nothing changed" in out


def test_annotate(cat: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "schema", "add", "assay", "category", "--values", "low,high")
    sheet = tmp_path / "lab.tsv"
    sheet.write_text("accession\tassay\nA7TBS3\tlow\nNOPE1\thigh\nNOPE2\thigh\n")
    version = Catalog.open(cat).version
    code, out, err = run(capsys, "annotate", str(sheet), "--key", "accession", "--dry-run")
    assert code == EXIT_OK and "dry run: nothing changed" in out and "A7TBS3" in out
    assert "not in the catalog: NOPE1, NOPE2" in err
    assert Catalog.open(cat).version == version
    code, out, _ = run(capsys, "annotate", str(sheet), "--json")
    report = json.loads(out)
    assert report["rows"] == 1 and report["unmatched_keys"] == ["NOPE1", "NOPE2"] and report["version"] == version + 1
    assert Catalog.open(cat).count("assay = 'low'") == 1

    bad = tmp_path / "bad.csv"
    bad.write_text("accession,assay\nA7TBS3,medium\n")
    code, _, err = run(capsys, "annotate", str(bad))
    assert code == EXIT_ERROR and "line 2, column 'assay'" in err and err.count("\n") == 1
    bad.write_text("acc,assay\nA7TBS3,low\n")
    code, _, err = run(capsys, "annotate", str(bad))
    assert code == EXIT_ERROR and "no column 'accession'" in err
    assert Catalog.open(cat).version == version + 1


def test_bench(cat: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "out.json"
    code, out, _ = run(capsys, "bench", "--size", "300", "--queries", "20", "--json", str(out_json))
    assert code == EXIT_OK and "recall@10" in out and "pass" in out
    result = json.loads(out_json.read_text())
    summary = result["summary"]
    assert result["source"] == "synthetic" and result["rows"] == 300 and summary["recall"] == 1.0
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert len(result["latencies_ms"]) == 20
    # Saved next to the catalog, and the next run is compared with it.
    assert len(list((cat / "benchmarks").glob("bench-*.json"))) == 1
    code, out, _ = run(capsys, "bench", "--size", "300", "--queries", "20", "--csv", str(tmp_path / "r.csv"))
    assert code == EXIT_OK and "PREVIOUS" in out
    assert (tmp_path / "r.csv").read_text().startswith("id,started,source")
    code, out, _ = run(capsys, "bench", "--queries", "10", "--import-size", "100", "--no-save")
    assert code == EXIT_OK and "498 rows" in out
    assert len(list((cat / "benchmarks").glob("bench-*.json"))) == 2


def test_bench_without_a_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("GENOCAT_CATALOG", str(tmp_path / "none"))
    code, _, err = run(capsys, "bench")
    assert code == EXIT_ERROR and "--size" in err
    code, out, _ = run(capsys, "bench", "--size", "100", "--queries", "5")
    assert code == EXIT_OK and "synthetic (100 sequences)" in out
    assert not (tmp_path / "none").exists()  # benchmarking does not create a catalog
