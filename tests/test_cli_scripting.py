"""The CLI as a script meets it (issue 20, items 16 and 17): option positions, files, formats, names, progress."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from genocat_desktop.cli.main import EXIT_OK, EXIT_USAGE, main

DATA = Path(__file__).parent / "data"
FAMILIES = DATA / "families_small.faa"
QUERY = "AEGDDPAKAAFDSLQASATEYIGYAWAMVVVIVGATIGIKLFKKFASKA"  # the first sequence of families_small.faa


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def location(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("scripting") / "catalog"
    assert main(["--catalog", str(path), "--quiet", "import", str(FAMILIES)]) == EXIT_OK
    return str(path)


@pytest.fixture(scope="module")
def dna_location(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A catalog of random genes, and a query read from a gene's other strand."""
    folder = tmp_path_factory.mktemp("dna")
    rng = np.random.default_rng(7)
    genes = ["".join(rng.choice(list("ACGT"), 500)) for _ in range(4)]
    (folder / "genes.fna").write_text("".join(f">gene{i}\n{g}\n" for i, g in enumerate(genes)))
    path = str(folder / "catalog")
    assert main(["--catalog", path, "--quiet", "import", str(folder / "genes.fna")]) == EXIT_OK
    fragment = genes[2][100:300][::-1].translate(str.maketrans("ACGT", "TGCA"))
    return path, fragment


# ------------------------------------------------------------------------------ item 16: option positions
def test_catalog_is_taken_after_the_command_too(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENOCAT_CATALOG", str(tmp_path / "not-this-one"))
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    code, out, _ = run(capsys, "import", "--catalog", first, str(FAMILIES))
    assert code == EXIT_OK and Path(first).exists() and not (tmp_path / "not-this-one").exists()
    code, _, _ = run(capsys, "--catalog", second, "import", str(FAMILIES))  # before the command still works
    assert code == EXIT_OK and Path(second).exists()
    # Nested sub-commands, the option last, its short form, --quiet after the command.
    code, _, err = run(capsys, "schema", "add", "project", "text", "--catalog", first)
    assert code == EXIT_OK, err
    code, out, _ = run(capsys, "schema", "list", "-c", first, "-q")
    assert code == EXIT_OK and "project" in out
    code, out, _ = run(capsys, "schema", "list", "--catalog", second)
    assert code == EXIT_OK and "project" not in out
    code, out, _ = run(capsys, "search", QUERY, "-k", "1", "--format", "tsv", "--catalog", first)
    assert code == EXIT_OK and len(out.splitlines()) == 2


def test_the_later_catalog_wins_and_an_absent_one_keeps_the_earlier(tmp_path: Path) -> None:
    from genocat_desktop.cli.parser import build_parser

    parser = build_parser()
    args = parser.parse_args(["--catalog", "A", "--endpoint", "http://nas:9000", "info", "--catalog", "B"])
    assert args.catalog == "B" and args.endpoint == "http://nas:9000"  # not reset by the command's parser
    args = parser.parse_args(["-q", "--region", "eu-west-1", "index", "status"])
    assert args.quiet is True and args.region == "eu-west-1" and args.catalog is None
    args = parser.parse_args(["model", "list", "--profile", "lab", "--allow-http", "--endpoint", "http://x"])
    assert args.profile == "lab" and args.allow_http is True and args.endpoint == "http://x"


# ------------------------------------------------------------------------------ item 17: files
def test_csv_starts_with_its_header_and_the_provenance_is_a_side_file(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hits.csv"
    code, _, err = run(capsys, "--catalog", location, "search", QUERY, "-k", "3", "--out", str(out),
                       "--where", "length > 10", "--fast")
    assert code == EXIT_OK, err
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))  # an ordinary CSV reader, no "#" lines to skip
    assert [r["rank"] for r in rows] == ["1", "2", "3"] and rows[0]["query_id"] == "query"
    provenance = json.loads((tmp_path / "hits.provenance.json").read_text())
    assert {"query", "catalog", "version", "embedding", "filter", "hits_per_query", "alignment",
            "genocat_version", "date"} <= set(provenance)
    assert provenance["catalog"] == location and provenance["filter"] == "length > 10"
    assert provenance["hits_per_query"] == 3 and provenance["alignment"] == "none"


def test_tsv_is_tab_separated(location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hits.tsv"
    assert run(capsys, "--catalog", location, "search", QUERY, "-k", "2", "--out", str(out), "--fast")[0] == EXIT_OK
    lines = out.read_text().splitlines()
    assert lines[0].split("\t")[:3] == ['"query_id"', '"rank"', '"score"'] and "," not in lines[0]
    assert len(lines) == 3 and (tmp_path / "hits.provenance.json").exists()


def test_json_files_hold_provenance_and_hits(location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hits.json"
    code, _, err = run(capsys, "--catalog", location, "search", QUERY, "-k", "4", "--out", str(out))
    assert code == EXIT_OK and "wrote 4 hit(s)" in err
    body = json.loads(out.read_text())
    assert body["provenance"]["hits_per_query"] == 4 and len(body["hits"]) == 4
    assert body["hits"][0]["query_id"] == "query" and not any(k.startswith("vec_") for k in body["hits"][0])


def test_format_chooses_the_file_format_and_a_conflict_is_a_usage_error(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hits.out"  # a suffix that names no format: --format decides
    assert run(capsys, "--catalog", location, "search", QUERY, "-k", "2", "--format", "json", "--out", str(out))[0] == 0
    assert len(json.loads(out.read_text())["hits"]) == 2
    conflict = tmp_path / "x.csv"
    code, _, err = run(capsys, "--catalog", location, "search", QUERY, "--format", "json", "--out", str(conflict))
    assert code == EXIT_USAGE and "--format json" in err and err.count("\n") == 1 and not conflict.exists()
    code, _, err = run(capsys, "--catalog", location, "search", QUERY, "--out", str(tmp_path / "x.xlsx"))
    assert code == EXIT_USAGE and "--format" in err and err.count("\n") == 1


def test_candidates_without_align_is_a_usage_error(location: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--catalog", location, "search", QUERY, "--candidates", "50")
    assert code == EXIT_USAGE and out == ""
    assert err == "genocat search: error: --candidates needs --mode align or --mode sensitive\n"
    code, out, err = run(capsys, "--catalog", location, "search", QUERY, "--fast", "--align")
    assert code == EXIT_USAGE and err == "genocat search: error: --fast and --align both choose the mode: give one\n"
    code, out, err = run(capsys, "--catalog", location, "search", QUERY, "--fast", "--evalue", "1e-3")
    assert code == EXIT_USAGE and err == "genocat search: error: --evalue needs an aligned mode (not --fast)\n"


def test_the_default_mode_is_chosen_by_size_and_recorded(location: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hits.json"
    code, _, err = run(capsys, "--catalog", location, "search", QUERY, "-k", "3", "--out", str(out))
    assert code == EXIT_OK, err
    body = json.loads(out.read_text())
    assert body["provenance"]["mode"].startswith("exhaustive (auto: ")  # a small catalog: every row aligned
    assert "rows aligned" in body["provenance"]["candidates"]
    bits = [h["bits"] for h in body["hits"]]
    assert bits == sorted(bits, reverse=True)


def test_evalue_and_alignment_column_cutoffs(location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hits.json"
    # Every row listed, so every one is realigned with its composition-adjusted matrix: a list of k
    # hits stops realigning (as BLAST does) once the rest cannot reach it, and one with a cut-off
    # realigns more, so only a complete list is the reference for a filtered one.
    code, _, err = run(capsys, "--catalog", location, "search", QUERY, "-k", "1000", "--out", str(out),
                       "--mode", "exhaustive")
    assert code == EXIT_OK, err
    every = json.loads(out.read_text())["hits"]
    cut = sorted(h["evalue"] for h in every)[25]
    code, _, err = run(capsys, "--catalog", location, "search", QUERY, "-k", "50", "--out", str(out),
                       "--mode", "exhaustive", "--evalue", str(cut), "--where", "identity >= 0.2")
    assert code == EXIT_OK, err
    kept = json.loads(out.read_text())["hits"]
    expected = [h["id"] for h in every if h["evalue"] <= cut and h["identity"] >= 0.2][:50]
    assert [h["id"] for h in kept] == expected and 0 < len(kept) < len(every)
    code, _, err = run(capsys, "--catalog", location, "search", QUERY, "--where", "identity >= high")
    assert code != EXIT_OK and "needs a number" in err


def test_help_states_the_real_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "max(10 × k, 100)" in text  # as the searcher's candidate count
    assert "BLOSUM62" in text and "blastn" in text and "both strands" in text


# ------------------------------------------------------------------------------ item 17: names
def test_query_id_on_the_screen_as_in_files(location: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--catalog", location, "search", QUERY, "-k", "1", "--format", "tsv")
    assert code == EXIT_OK and out.splitlines()[0].split("\t")[0] == "query_id"
    code, out, _ = run(capsys, "--catalog", location, "search", QUERY, "-k", "1", "--format", "json")
    assert json.loads(out)[0]["query_id"] == "query"


def test_aligned_hits_call_the_embedding_cosine_everywhere(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--catalog", location, "search", QUERY, "-k", "3", "--align"]
    code, out, _ = run(capsys, *base, "--format", "tsv")
    header = out.splitlines()[0].split("\t")
    assert code == EXIT_OK and header[:6] == ["query_id", "rank", "bits", "evalue", "identity", "query_cov"]
    assert "cosine" in header and "score" not in header and "sstrand" not in header  # a protein has no strand
    code, out, _ = run(capsys, *base, "--format", "json")
    hit = json.loads(out)[0]["hits"][0]
    assert "cosine" in hit and "score" not in hit and hit["bits"] > 0
    for name in ("hits.csv", "hits.tsv", "hits.json"):
        assert run(capsys, *base, "--out", str(tmp_path / name))[0] == EXIT_OK
    csv_header = (tmp_path / "hits.csv").read_text().splitlines()[0].replace('"', "").split(",")
    tsv_header = (tmp_path / "hits.tsv").read_text().splitlines()[0].replace('"', "").split("\t")
    assert csv_header[:7] == tsv_header[:7] == ["query_id", "rank", "bits", "evalue", "identity", "query_cov",
                                                "cosine"]
    body = json.loads((tmp_path / "hits.json").read_text())
    assert "cosine" in body["hits"][0] and "score" not in body["hits"][0]
    assert "BLOSUM62" in body["provenance"]["alignment"] and "blastn" not in body["provenance"]["alignment"]


def test_nucleotide_alignment_names_blastn_and_the_strand(
    dna_location: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location, fragment = dna_location
    out = tmp_path / "dna.csv"
    code, _, err = run(capsys, "--catalog", location, "search", fragment, "-k", "1", "--align", "--out", str(out))
    assert code == EXIT_OK, err
    row = next(csv.DictReader(out.open(newline="")))
    assert list(row)[:7] == ["query_id", "rank", "bits", "evalue", "identity", "query_cov", "sstrand"]
    assert row["id"] == "gene2" and row["sstrand"] == "minus"
    alignment = json.loads((tmp_path / "dna.provenance.json").read_text())["alignment"]
    assert "blastn" in alignment and "both strands" in alignment and "BLOSUM62" not in alignment


# ------------------------------------------------------------------------------ item 17: progress
class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, as an interactive shell's is."""

    def isatty(self) -> bool:
        return True


def test_progress_goes_to_stderr_on_a_terminal_only(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = tmp_path / "queries.faa"
    queries.write_text("".join(f">q{i}\n{QUERY[i:]}\n" for i in range(3)))
    argv = ["--catalog", location, "search", str(queries), "-k", "1", "--format", "tsv"]
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out
    assert "Searched 3 of 3" in terminal.getvalue()
    assert "Searched" not in out and out.splitlines()[0].startswith("query_id\t") and len(out.splitlines()) == 4
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main([*argv, "--quiet"]) == EXIT_OK
    assert "Searched" not in quiet.getvalue() + capsys.readouterr().out
    monkeypatch.undo()
    assert main(argv) == EXIT_OK  # stderr is not a terminal (captured): no progress
    assert "Searched" not in "".join(capsys.readouterr())
