"""Translated search on real genes: protein queries against DNA rows (tblastn-style) and the reverse."""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

import pytest

from genocat_desktop.engine import Catalog, import_files
from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.search import translated
from genocat_desktop.engine.search.frames import frame_span, six_frames
from genocat_desktop.engine.search.scoring import reverse_complement
from genocat_desktop.engine.search.searcher import Searcher

DNA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dna"
if not DNA.is_dir():
    DNA = Path("/work/shared/data/dna")
pytestmark = pytest.mark.skipif(not (DNA / "MIIJ01000039.faa.gz").exists(), reason="shared DNA data absent")


def _fasta(path: Path) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    name = ""
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.startswith(">"):
                name = line[1:].strip()
                out[name] = []
            else:
                out[name].append(line.strip())
    return {k: "".join(v) for k, v in out.items()}


def _stop(header: str) -> tuple[int, int]:
    """A Prodigal header's strand and stop coordinate: the same gene in both files shares them."""
    fields = header.split(" # ")
    start, end, strand = int(fields[1]), int(fields[2]), int(fields[3])
    return strand, end if strand > 0 else start


@pytest.fixture(scope="module")
def genes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, list[tuple[str, str, int]]]:
    """The 404 genes imported as on the contig (minus-strand genes reverse-complemented), and
    (protein, its gene's id, strand) for the proteins whose gene is among them."""
    folder = tmp_path_factory.mktemp("translated")
    dna = _fasta(DNA / "MIIJ01000039.single.fna.gz")
    gene_of = {_stop(h): h.split()[0] for h in dna}
    with open(folder / "genes.fna", "w") as f:
        for h, s in dna.items():
            f.write(f">{h.split()[0]}\n{s if _stop(h)[0] > 0 else reverse_complement(s)}\n")
    cat = Catalog.open(folder / "cat")
    import_files(cat, [folder / "genes.fna"])
    proteins = _fasta(DNA / "MIIJ01000039.faa.gz")
    pairs = [(s.rstrip("*"), gene_of[_stop(h)], _stop(h)[0]) for h, s in proteins.items() if _stop(h) in gene_of]
    return cat, pairs


#: The proteins' catalog, the genes by header, and the protein id of each gene (by strand and stop).
ProteinCatalog = tuple[Catalog, dict[str, str], dict[tuple[int, int], str]]


@pytest.fixture(scope="module")
def proteins(tmp_path_factory: pytest.TempPathFactory) -> ProteinCatalog:
    """The contig's proteins imported (read-only for the tests: each searches with its own Searcher)."""
    folder = tmp_path_factory.mktemp("proteins")
    dna = _fasta(DNA / "MIIJ01000039.single.fna.gz")
    faa = _fasta(DNA / "MIIJ01000039.faa.gz")
    (folder / "p.faa").write_text("".join(f">{h.split()[0]}\n{s.rstrip('*')}\n" for h, s in faa.items()))
    cat = Catalog.open(folder / "cat")
    import_files(cat, [folder / "p.faa"])
    return cat, dna, {_stop(h): h.split()[0] for h in faa}


def test_six_frames_and_their_coordinates() -> None:
    seq = "ATGAAATTTTAGCCCGGGTTAAC"
    assert six_frames(seq) == ["MKF*PGL", "*NFSPG*", "EILARVN", "VNPG*NF", "LTRAKIS", "*PGLKFH"]
    assert six_frames("ATGNNNAAA")[0] == "MXK"
    assert frame_span(1, 0, 1, 23) == (1, 6)
    assert frame_span(-2, 0, 0, 23) == (22, 20)  # BLAST's order on the minus strand: start > end


def test_a_protein_finds_its_gene_at_rank_one_with_the_strand(genes: tuple[Catalog, list[tuple[str, str, int]]]
                                                             ) -> None:
    cat, pairs = genes
    searcher = Searcher(cat)
    sample = random.Random(18).sample(pairs, 40)
    results = searcher.search_many([p for p, _, _ in sample], k=3)
    found = 0
    for (_, gene, strand), r in zip(sample, results, strict=True):
        top = r.hits.to_pylist()[0]
        found += top["id"] == gene and (top["frame"] > 0) == (strand > 0)
        assert r.extra["translated"] == "translated (tblastn-style)"
    assert found / len(sample) >= 0.95
    top = results[0].hits.to_pylist()[0]
    assert top["score"] == top["bits"] and top["evalue"] < 1e-30
    # The aligned region translates back to the protein (stop codon excluded).
    record = top["sequence"]
    lo, hi = sorted((top["hit_start"], top["hit_end"]))
    region = record[lo - 1 : hi] if top["frame"] > 0 else reverse_complement(record[lo - 1 : hi])
    assert six_frames(region)[0] in sample[0][0]
    assert (top["hit_start"] > top["hit_end"]) == (top["frame"] < 0)


def test_a_gene_and_a_reversed_fragment_find_their_protein(proteins: ProteinCatalog) -> None:
    cat, dna, protein_of = proteins
    header, gene = next((h, s) for h, s in dna.items() if _stop(h) in protein_of and len(s) > 900)
    searcher = Searcher(cat)
    whole, fragment = searcher.search_many([gene, reverse_complement(gene[300:900])], k=3)
    assert whole.extra["translated"] == "translated (blastx-style)"
    top = whole.hits.to_pylist()[0]
    assert top["id"] == protein_of[_stop(header)] and top["frame"] == 1 and top["query_start"] == 1
    top = fragment.hits.to_pylist()[0]
    assert top["id"] == protein_of[_stop(header)] and top["frame"] < 0
    assert top["query_start"] > top["query_end"] and top["query_cov"] > 0.95


def test_the_seeded_tblastn_path_reports_what_aligning_every_frame_does(
    genes: tuple[Catalog, list[tuple[str, str, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cat, pairs = genes
    sample = random.Random(7).sample(pairs, 8)
    seeded = Searcher(cat)
    results = seeded.search_many([p for p, _, _ in sample], k=3)
    targets = seeded._translated._targets
    assert targets is not None and targets.seeds is not None  # the 404 genes are above SEED_ABOVE
    monkeypatch.setattr(translated, "SEED_ABOVE", 10**12)
    every = Searcher(cat).search_many([p for p, _, _ in sample], k=3)
    columns = ["id", "frame", "hit_start", "hit_end", "aln_score", "bits", "evalue", "identity", "query_cov",
               "target_cov"]
    for (protein, gene, strand), a, b in zip(sample, results, every, strict=True):
        top = a.hits.to_pylist()[0]
        assert top["id"] == gene and (top["frame"] > 0) == (strand > 0)
        assert {c: top[c] for c in columns} == {c: b.hits.to_pylist()[0][c] for c in columns}
        # the coordinates translate back to the protein, on the strand the frame names (the first
        # codon aside: a GTG or TTG start codon is read as M)
        lo, hi = sorted((top["hit_start"], top["hit_end"]))
        region = top["sequence"][lo - 1 : hi]
        assert six_frames(region if top["frame"] > 0 else reverse_complement(region))[0][1:] in protein


def test_the_frame_seed_index_reports_progress_and_can_be_cancelled(
    genes: tuple[Catalog, list[tuple[str, str, int]]]
) -> None:
    from genocat_desktop.engine.core.errors import Cancelled
    from genocat_desktop.engine.core.progress import CancelToken, Progress

    cat, pairs = genes
    ds = cat.dataset()
    seen: list[Progress] = []
    rows, _ = translated.TranslatedSearch().protein_to_nucleotides(ds, None, ["id"], pairs[0][0], 1,
                                                                   progress=seen.append)
    assert rows.column("id").to_pylist() == [pairs[0][1]]
    assert {p.phase for p in seen} >= {"translating", "seeds"}
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        translated.TranslatedSearch().protein_to_nucleotides(ds, None, ["id"], pairs[0][0], 1, cancel=token)


def test_blastx_above_the_bound_seeds_each_frame_and_reports_what_aligning_every_row_does(
    proteins: ProteinCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat, dna, protein_of = proteins
    chosen = [(h, s) for h, s in dna.items() if _stop(h) in protein_of and len(s) > 900][:3]
    queries = [q for _, s in chosen for q in (s, reverse_complement(s[300:900]))]
    every = Searcher(cat).search_many(queries, k=3)
    monkeypatch.setattr(translated, "MAX_PROTEIN_RESIDUES", 1_000)
    searcher = Searcher(cat)
    seeded = searcher.search_many(queries, k=3)
    assert searcher._sequences.stores["protein"].seeds is not None  # the frames were looked up in it
    columns = ["id", "frame", "query_start", "query_end", "aln_score", "bits", "evalue", "identity", "query_cov",
               "target_cov"]
    for n, (a, b) in enumerate(zip(seeded, every, strict=True)):
        top = a.hits.to_pylist()[0]
        assert a.extra["translated"] == "translated (blastx-style)"
        assert top["id"] == protein_of[_stop(chosen[n // 2][0])] and (top["frame"] > 0) == (n % 2 == 0)
        assert {c: top[c] for c in columns} == {c: b.hits.to_pylist()[0][c] for c in columns}


def test_blastx_above_the_bound_keeps_to_the_filter(proteins: ProteinCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    from genocat_desktop.engine.catalog.query import Condition

    cat, dna, protein_of = proteins
    header, gene = next((h, s) for h, s in dna.items() if _stop(h) in protein_of and len(s) > 900)
    monkeypatch.setattr(translated, "MAX_PROTEIN_RESIDUES", 1_000)
    right = protein_of[_stop(header)]
    result = Searcher(cat).search(gene, k=3, conditions=[Condition("id", "!=", right)])
    assert right not in result.hits.column("id").to_pylist()


def test_too_many_nucleotides_for_a_protein_query_are_refused(
    genes: tuple[Catalog, list[tuple[str, str, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cat, pairs = genes
    monkeypatch.setattr(translated, "MAX_NUCLEOTIDES", 100_000)
    with pytest.raises(QueryError, match=r"at most 100,000 nucleotides; the catalog holds .*add a filter"):
        Searcher(cat).search(pairs[0][0], k=3)


def test_the_cli_prints_frame_and_coordinates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from genocat_desktop.cli.main import EXIT_OK, main

    monkeypatch.setenv("GENOCAT_CATALOG", str(tmp_path / "cat"))
    (tmp_path / "g.fna").write_text(">g1\nATGGCTAAAGTTCTGGCTGCAGGTATCGTTTAA\n>g2\nATGTCTACCAACCCGAAACCGCAGCGTAAATAA\n")
    assert main(["import", str(tmp_path / "g.fna")]) == EXIT_OK
    capsys.readouterr()
    assert main(["search", "MAKVLAAGIV", "-k", "2", "--format", "tsv"]) == EXIT_OK
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert lines[0][:9] == ["query_id", "rank", "bits", "evalue", "identity", "query_cov", "frame", "hit_start",
                            "hit_end"]
    assert lines[1][1] == "1" and lines[1][6:10] == ["1", "1", "30", "g1"]


def test_the_detail_pane_says_why_it_draws_no_translated_alignment() -> None:
    from genocat_desktop.engine.search.pairwise import align_pair

    with pytest.raises(ValueError, match="translated hit"):
        align_pair("MKVLAAGIVGLLLAAGCSSSKEE", "ATGAAAGTTCTGGCTGCAGGTATCGTTGGT")


def test_the_detail_pane_names_a_translated_hits_frame_not_a_cosine(qtbot: Any) -> None:
    from genocat_desktop.ui.widgets.detail import DetailPane

    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show_row({"id": "gene1", "rank": 1, "score": 537.7, "bits": 537.7, "frame": -2, "hit_start": 988,
                   "hit_end": 158})
    text = pane.toPlainText()
    assert "Frame -2" in text and "Cosine" not in text
    pane.show_row({"id": "p1", "rank": 1, "score": 0.91, "bits": 120.5})
    assert "Cosine 0.9100" in pane.toPlainText()
