"""The genocat command line: commands, output, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from genocat_desktop.cli.main import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main


@pytest.fixture
def cat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "catalog"
    monkeypatch.setenv("GENOCAT_CATALOG", str(path))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_before_any_import(cat: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info")
    assert code == EXIT_OK and "No catalog yet" in out
    assert not cat.exists()  # looking does not create


def test_import_search_export_cycle(cat: Path, data_dir: Path, tmp_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "import", str(data_dir / "mmseqs2_QUERY.fasta"))
    assert code == EXIT_OK and "498 new sequence(s) from 500 record(s)" in out

    code, out, _ = run(capsys, "search", "MKVLAAGIVALLLAAGCSSSKEETK", "-k", "3", "--where", "length > 100",
                         "--fast")
    assert code == EXIT_OK
    lines = out.strip().splitlines()
    assert lines[0].split("\t") == ["query_id", "rank", "score", "id", "name", "organism", "length"]
    assert len(lines) == 4 and all(int(line.split("\t")[-1]) > 100 for line in lines[1:])

    hits = tmp_path / "hits.csv"
    code, _, err = run(capsys, "search", str(data_dir / "mmseqs2_QUERY.fasta"), "-k", "2", "--out", str(hits))
    assert code == EXIT_OK and "wrote 1,000 hit(s)" in err
    # The header first (no "#" lines); the default mode aligns on a catalog this small.
    assert hits.read_text().startswith('"query_id","rank","bits","evalue","identity","query_cov","cosine"')
    assert json.loads((tmp_path / "hits.provenance.json").read_text())["hits_per_query"] == 2

    fasta = tmp_path / "human.fasta"
    code, _, err = run(capsys, "export", str(fasta), "--where", "organism contains sapiens")
    assert code == EXIT_OK
    n = fasta.read_text().count(">")
    assert n > 0 and f"wrote {n:,} row(s)" in err

    code, out, _ = run(capsys, "search", "MKVLAAGIV", "--format", "json", "-k", "1")
    assert json.loads(out)[0]["hits"][0]["rank"] == 1
    assert json.loads(out)[0]["exact"] is True  # a small catalog: every sequence compared


def test_json_info_and_versions_and_restore(cat: Path, data_dir: Path, edge_dir: Path, capsys) -> None:
    run(capsys, "import", str(data_dir / "mmseqs2_QUERY.fasta"))
    run(capsys, "import", str(edge_dir / "16_duplicate_ids.fasta"))
    code, out, _ = run(capsys, "info", "--json")
    info = json.loads(out)
    assert code == EXIT_OK and info["rows"] == 502 and info["embedders"]["vec_kmer"]["name"] == "kmer"
    assert info["versions"] == 3 and info["size_bytes"] > 498 * 512 * 4
    code, out, _ = run(capsys, "info")
    assert "Sequences 502" in out and "MB" in out
    code, out, _ = run(capsys, "versions")
    assert "import 16_duplicate_ids.fasta" in out
    code, out, _ = run(capsys, "restore", "2")
    assert code == EXIT_OK and "(498 sequences)" in out


def test_partial_and_failed_imports(cat: Path, data_dir: Path, edge_dir: Path, capsys) -> None:
    fastq, good = edge_dir / "26_fastq_not_fasta.fastq", data_dir / "mmseqs2_QUERY.fasta"
    code, _, err = run(capsys, "import", str(fastq), str(good))
    assert code == EXIT_PARTIAL and "FASTQ" in err
    code, _, err = run(capsys, "import", str(edge_dir / "40_random_binary_4KiB.bin"))
    assert code == EXIT_ERROR and "binary file" in err


def test_import_report_as_json(cat: Path, edge_dir: Path, capsys) -> None:
    code, out, _ = run(capsys, "import", "--json", str(edge_dir / "34_non_iupac_chars.fa"))
    report = json.loads(out)
    (f,) = report["files"]
    assert code == EXIT_OK and f["imported"] == 1 and f["skipped"] == 5 and len(f["issues"]) == 5


def test_errors_are_one_line(cat: Path, data_dir: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "search", "MKV")
    assert code == EXIT_ERROR and err.startswith("genocat: error: no catalog") and err.count("\n") == 1
    run(capsys, "import", str(data_dir / "mmseqs2_QUERY.fasta"))
    code, _, err = run(capsys, "search", "MKV", "--where", "lenght > 3")
    assert code == EXIT_USAGE and "no field named 'lenght'" in err and err.count("\n") == 1
    code, _, err = run(capsys, "export", str(tmp_path / "x.xlsx"))
    assert code == EXIT_ERROR and ".json or .fasta" in err


def test_cancelled_import_exit_code(cat: Path, data_dir: Path, capsys, monkeypatch) -> None:
    from genocat_desktop.engine import CancelToken

    original = CancelToken.__init__

    def cancelled_at_start(self: CancelToken) -> None:
        original(self)
        self.cancel()

    monkeypatch.setattr(CancelToken, "__init__", cancelled_at_start)
    code, _, _ = run(capsys, "import", str(data_dir / "mmseqs2_QUERY.fasta"))
    assert code == EXIT_CANCELLED


def test_help_works_without_heavy_imports() -> None:
    code = (
        "import sys; from genocat_desktop.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('lance', 'lancedb', 'pyarrow', 'onnxruntime', 'PySide6') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out and "genocat" in out


@pytest.mark.parametrize(("cancelled", "failed", "files", "error", "code"), [
    (False, 0, 3, False, EXIT_OK), (False, 1, 3, False, EXIT_PARTIAL), (False, 3, 3, False, EXIT_ERROR),
    (False, 0, 3, True, EXIT_ERROR), (True, 1, 3, True, EXIT_CANCELLED),
])
def test_import_and_ingest_share_one_exit_code_rule(cancelled: bool, failed: int, files: int, error: bool,
                                                    code: int) -> None:
    from genocat_desktop.cli.catalog import _exit_code

    assert _exit_code(cancelled=cancelled, failed=failed, files=files, error=error) == code
