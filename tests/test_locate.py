"""Fragments located inside long records (minimap2 seeds): coordinates, strand, scores, cache, detail pane.

The long records are the two real contigs of ``../shared/data/dna/`` (0.39 Mbp, and 0.87 Mbp of
which half is ``N`` runs); the genes of CP040672 are short records beside them. Fragments are cut
at seeded random places, mutated and, for half of them, reverse-complemented, so the expected
record, coordinates and strand are known exactly.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genocat_desktop.engine import Catalog, import_files
from genocat_desktop.engine.search import locate
from genocat_desktop.engine.search.alignment import align_to
from genocat_desktop.engine.search.locate import LONG_RECORD, Locator
from genocat_desktop.engine.search.pairwise import MAX_CELLS, AlignerProcess, align_pair
from genocat_desktop.engine.search.placement import locate_pair
from genocat_desktop.engine.search.scoring import NUCLEOTIDE, reverse_complement

DNA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dna"
if not DNA.is_dir():
    DNA = Path("/work/shared/data/dna")
CONTIG = "1390.SAMEA104415756.OFHT01000022.fna"
pytestmark = pytest.mark.skipif(not (DNA / CONTIG).exists(), reason="shared DNA data absent")
COLUMNS = ["id", "length", "seq_hash"]


def _read(path: Path) -> list[tuple[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    out: list[tuple[str, list[str]]] = []
    with opener(path, "rt") as f:
        for line in f:
            if line.startswith(">"):
                out.append((line[1:].split()[0], []))
            else:
                out[-1][1].append(line.strip().upper())
    return [(name, "".join(parts)) for name, parts in out]


def _mutate(rng: random.Random, seq: str, divergence: int) -> str:
    out = list(seq)
    for i in rng.sample(range(len(out)), round(len(out) * divergence / 100)):
        out[i] = rng.choice([b for b in "ACGT" if b != out[i]])
    if divergence >= 15:  # two short indels, as the DNA benchmark makes them
        for _ in range(2):
            at = rng.randrange(20, len(out) - 20)
            if rng.random() < 0.5:
                del out[at : at + rng.randint(1, 3)]
            else:
                out[at:at] = rng.choices("ACGT", k=rng.randint(1, 3))
    return "".join(out)


@pytest.fixture(scope="module")
def long_records() -> dict[str, str]:
    return dict(_read(DNA / CONTIG) + _read(DNA / "MIIJ01000039.fna.gz"))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, long_records: dict[str, str]) -> Catalog:
    folder = tmp_path_factory.mktemp("locate")
    genes = _read(DNA / "CP040672.1.genes_100.fna")
    with open(folder / "all.fna", "w") as f:
        for name, seq in [*genes, *long_records.items()]:
            f.write(f">{name}\n{seq}\n")
    cat = Catalog.open(folder / "cat")
    import_files(cat, [folder / "all.fna"])
    return cat


def _fragments(records: dict[str, str], count: int, seed: int) -> list[tuple[str, int, int, str, str]]:
    """(record, start, end, strand, query): lengths 150 bp to 5 kb, 0-15 % divergence, both strands, no N."""
    rng = random.Random(seed)
    names = sorted(records)
    out: list[tuple[str, int, int, str, str]] = []
    kinds = [(length, div) for length in (150, 1000, 5000) for div in (0, 5, 15)]
    while len(out) < count:
        length, div = kinds[len(out) % len(kinds)]
        name = rng.choice(names)
        start = rng.randrange(len(records[name]) - length)
        piece = records[name][start : start + length]
        if "N" in piece:
            continue
        strand = "minus" if (len(out) // len(kinds)) % 2 else "plus"
        query = _mutate(rng, piece, div)
        out.append((name, start, start + length, strand, reverse_complement(query) if strand == "minus" else query))
    return out


def test_fragments_are_located_within_ten_bases_on_both_strands(catalog: Catalog, long_records: dict[str, str],
                                                                tmp_path: Path) -> None:
    locator = Locator(cache_dir=tmp_path)
    ds = catalog.dataset()
    located = 0
    fragments = _fragments(long_records, 36, seed=18)
    for name, start, end, strand, query in fragments:
        rows, bits = locator.hits(ds, None, COLUMNS, query, 3)
        top = rows.to_pylist()[0]
        lo, hi = sorted((top["hit_start"], top["hit_end"]))
        located += (top["id"] == name and top["sstrand"] == strand
                    and abs(lo - 1 - start) <= 10 and abs(hi - end) <= 10)
        assert bits[0] == pytest.approx(top["bits"])
        assert top["length"] >= LONG_RECORD
    # Measured: all 36 (blastn places the same ones); the floor leaves room for one repeat copy.
    assert located >= 35


def test_coordinates_follow_blast_and_scores_match_smith_waterman(catalog: Catalog,
                                                                   long_records: dict[str, str]) -> None:
    contig = long_records[_read(DNA / CONTIG)[0][0]]
    piece = contig[100_000:101_000]
    query = reverse_complement(_mutate(random.Random(3), piece, 5))
    rows, _ = Locator(cache_dir=False).hits(catalog.dataset(), None, COLUMNS, query, 5)
    top = rows.to_pylist()[0]
    assert top["sstrand"] == "minus"
    # BLAST's subject coordinates on the minus strand: 1-based, start above end.
    assert (top["hit_start"], top["hit_end"]) == (101_000, 100_001)
    assert (top["query_start"], top["query_end"]) == (1, 1000)
    assert top["query_cov"] == pytest.approx(1.0)
    # The same score as the hit list's Smith-Waterman (pyopal) over the region, so the same bits/E-value.
    sw = align_to(query, "dna", [contig[99_900:101_100]], ["dna"], db_residues=catalog.dataset().count_rows())
    assert top["aln_score"] == int(sw["aln_score"][0])
    assert top["bits"] == pytest.approx(float(NUCLEOTIDE.bits(np.array([top["aln_score"]]))[0]), abs=1e-5)
    assert 0.9 <= top["identity"] <= 0.97
    assert top["evalue"] < 1e-100
    # An RNA query (U for T) scores as its DNA.
    rna, _ = Locator(cache_dir=False).hits(catalog.dataset(), None, COLUMNS, piece.replace("T", "U").lower(), 1)
    assert rna.column("identity").to_pylist() == [1.0] and rna.column("aln_score").to_pylist() == [2000]


def test_a_filter_and_a_random_query(catalog: Catalog, long_records: dict[str, str]) -> None:
    locator = Locator(cache_dir=False)
    ds = catalog.dataset()
    name = _read(DNA / CONTIG)[0][0]
    query = long_records[name][200_000:200_500]
    rows, _ = locator.hits(ds, f"id != '{name}'", COLUMNS, query, 5)
    assert rows.num_rows == 0
    assert set(rows.column_names) >= {"hit_start", "hit_end", "sstrand", "bits", "evalue"}
    rows, _ = locator.hits(ds, f"id = '{name}'", COLUMNS, query, 5)
    assert rows.column("id").to_pylist() == [name]
    noise = "".join(random.Random(5).choices("ACGT", k=1000))
    rows, _ = locator.hits(ds, None, COLUMNS, noise, 5)
    assert all(e > 1e-3 for e in rows.column("evalue").to_pylist())


def test_the_index_is_cached_outside_the_catalog_and_reused(tmp_path: Path, long_records: dict[str, str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    name = _read(DNA / CONTIG)[0][0]
    (tmp_path / "a.fna").write_text(f">{name}\n{long_records[name]}\n")
    (tmp_path / "b.fna").write_text(">gene\n" + long_records[name][5000:6000] + "\n")
    cat = Catalog.open(tmp_path / "cat")
    import_files(cat, [tmp_path / "a.fna"])
    cache = tmp_path / "cache"
    small = Locator(cache_dir=cache)  # a small index is only kept in RAM
    assert small.index(cat.dataset()) is not None and not cache.exists()
    first = Locator(cache_dir=cache, disk_min_residues=0)
    index = first.index(cat.dataset())
    assert index is not None
    saved = list(cache.rglob("*.mmi"))
    assert len(saved) == 1
    assert not list((tmp_path / "cat").rglob("*.mmi"))  # nothing written into the catalog
    # A short record added: a new version with the same long records keeps the index in RAM.
    import_files(cat, [tmp_path / "b.fna"])
    assert first.index(cat.dataset()) is index
    # Another process loads the saved index instead of building it.
    monkeypatch.setattr(locate, "_build", lambda *a: pytest.fail("built again"))
    second = Locator(cache_dir=cache, disk_min_residues=0)
    rows, _ = second.hits(cat.dataset(), None, COLUMNS, long_records[name][7000:8000], 3)
    assert rows.column("hit_start").to_pylist()[0] == 7001


def test_too_many_long_residues_are_not_indexed(catalog: Catalog, long_records: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locate, "MAX_INDEXED", 1_000_000)  # the two contigs hold 1.26 Mbp
    locator = Locator(cache_dir=False)
    assert not locator.has_long_records(catalog.dataset())
    assert locator.skipped is not None and "ranked by composition" in locator.skipped
    name = _read(DNA / CONTIG)[0][0]
    rows, _ = locator.hits(catalog.dataset(), None, COLUMNS, long_records[name][5000:6000], 3)
    assert rows.num_rows == 0


def test_no_long_records_no_index(tmp_path: Path) -> None:
    (tmp_path / "g.fna").write_text(">g\n" + "ACGTTGCA" * 50 + "\n")
    cat = Catalog.open(tmp_path / "cat")
    import_files(cat, [tmp_path / "g.fna"])
    locator = Locator(cache_dir=tmp_path / "cache")
    assert not locator.has_long_records(cat.dataset())
    rows, bits = locator.hits(cat.dataset(), None, COLUMNS, "ACGTTGCA" * 20, 5)
    assert rows.num_rows == 0 and bits.size == 0
    assert not (tmp_path / "cache").exists()


def test_the_detail_pane_aligns_the_region_of_a_long_record(long_records: dict[str, str]) -> None:
    contig = long_records[_read(DNA / CONTIG)[0][0]]
    query = reverse_complement(_mutate(random.Random(9), contig[300_000:305_000], 5))
    assert len(query) * len(contig) > MAX_CELLS  # refused before: "too long to align here"
    a = align_pair(query, contig)
    assert (a.strand, a.target_start, a.target_end) == ("minus", 300_000, 305_000)
    assert (a.query_start, a.query_end, a.target_length) == (0, 5000, len(contig))
    assert 0.93 <= a.identity <= 0.96 and a.gaps == 0
    # The hit list's score for the same pair: the located placement, scored with the same scheme.
    spot = locate_pair(query, contig)
    assert spot is not None and a.score == spot.placement.score
    text = a.format()
    assert text.splitlines()[0].startswith("Query      1 ")
    assert text.splitlines()[2].startswith("Hit   305000 ")  # the minus strand counts down from the end
    assert text.splitlines()[-1].rstrip().endswith(" 300001")
    # The rows are the alignment: the query as given against the reverse complement of the region.
    assert a.aligned_query.replace("-", "") == query
    assert a.aligned_target.replace("-", "") == reverse_complement(contig[300_000:305_000])
    # With the hit list's coordinates only that region is indexed; a wrong one falls back to the whole.
    for region in ((305_000, 300_001), (10, 2000)):
        hinted = align_pair(query, contig, "dna", region=region)
        assert (hinted.target_start, hinted.target_end, hinted.score, hinted.target_length) == (
            300_000, 305_000, a.score, len(contig))
        assert hinted.aligned_target == a.aligned_target
    # A long query and a short target (the other way round) place the same way.
    b = align_pair(contig, query)
    assert (b.query_start, b.query_end, b.target_start, b.target_end) == (300_000, 305_000, 0, 5000)
    assert b.score == a.score and b.strand == "minus"


def test_the_detail_pane_without_a_placement_says_why(long_records: dict[str, str]) -> None:
    contig = long_records[_read(DNA / CONTIG)[0][0]]
    noise = "".join(random.Random(1).choices("ACGT", k=1000))
    with pytest.raises(ValueError, match="shares seeds"):
        align_pair(noise, contig)
    short = contig[:20_000]  # small enough to align whole when the seeds find nothing
    assert align_pair(noise[:200], short).score >= 0


def test_the_aligner_process_returns_a_long_records_region(long_records: dict[str, str]) -> None:
    contig = long_records[_read(DNA / CONTIG)[0][0]]
    aligner = AlignerProcess()
    try:
        a = aligner.align(contig[50_000:51_000], contig)
    finally:
        aligner.close()
    assert (a.target_start, a.target_end, a.identity, a.strand) == (50_000, 51_000, 1.0, "plus")


def test_vector_hits_and_located_hits_are_merged(catalog: Catalog, long_records: dict[str, str]) -> None:
    import pyarrow as pa

    from genocat_desktop.engine.search.locate import merge_located, without_long

    ds = catalog.dataset()
    name = _read(DNA / CONTIG)[0][0]
    gene = "lcl|NZ_CP040672.1_cds_WP_044801954.1_1"
    located = Locator(cache_dir=False).locate(ds, None, [*COLUMNS, "molecule"], long_records[name][1000:2000], 5)
    assert located.rows.column("id").to_pylist() == [name] and located.addresses.size == 1
    vector_rows = ds.to_table(columns=[*COLUMNS, "molecule"], filter=f"id IN ('{name}', '{gene}')")
    scores = np.array([0.9, 0.8])[: vector_rows.num_rows]
    short_rows, short_scores = without_long(vector_rows, scores)
    assert short_rows.column("id").to_pylist() == [gene] and short_scores.size == 1
    # Not aligned: the located hit first, the vectors' hits after it; columns a side lacks are null.
    rows, score = merge_located(short_rows, short_scores, located, np.array([0.5]), 10, aligned=False)
    assert rows.column("id").to_pylist() == [name, gene]
    assert rows.column("hit_start").to_pylist() == [1001, None] and list(score) == [0.5, short_scores[0]]
    # The long record found by the vectors too (rows without a length column) is kept once, located.
    rows, _ = merge_located(vector_rows.drop_columns(["length"]), scores, located, np.array([0.5]), 10,
                            aligned=False)
    assert rows.column("id").to_pylist() == [name, gene]
    # Aligned: ranked by bits with the aligned hits (a better aligned hit goes first).
    aligned = short_rows.append_column("bits", pa.array([1e6])).append_column("aln_score", pa.array([10**6]))
    rows, _ = merge_located(aligned, short_scores, located, np.array([0.5]), 1, aligned=True)
    assert rows.column("id").to_pylist() == [gene]


def test_the_gui_detail_pane_shows_a_genomes_region_counting_down_on_minus(qtbot: Any,
                                                                         long_records: dict[str, str]) -> None:
    from genocat_desktop.ui.widgets.detail import DetailPane

    contig = long_records[_read(DNA / CONTIG)[0][0]]
    query = reverse_complement(contig[200_000:201_000])
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show_row({"id": "contig", "rank": 1, "score": 0.5, "bits": 1804.7, "evalue": 0.0, "sstrand": "minus",
                   "length": len(contig), "sequence": contig})
    pane.show_alignment(align_pair(query, contig), "q", len(query))
    qtbot.waitUntil(lambda: "Identities = 1000/1000" in pane.toPlainText())
    text = pane.toPlainText()
    assert "No alignment" not in text and "too long" not in text
    sbjct = [line.split() for line in text.splitlines() if line.startswith("Sbjct ")]
    # The record's reverse complement, numbered from the region's end down to its start (1-based).
    assert sbjct[0][1] == "201000" and sbjct[-1][-1] == "200001"
    # A genome's sequence is cut in the pane (the layout of 390 kbp took a second per selection).
    assert f"{len(contig) - 60_000:,} more residues" in text


def test_the_same_region_in_several_genomes_is_found_in_each(tmp_path: Path, long_records: dict[str, str]) -> None:
    contig = long_records[_read(DNA / CONTIG)[0][0]][:60_000]
    rng = random.Random(4)
    copies = {"strain0": contig, "strain3": _mutate(rng, contig, 3), "strain10": _mutate(rng, contig, 10),
              "strain15": _mutate(rng, contig, 15)}
    (tmp_path / "s.fna").write_text("".join(f">{n}\n{s}\n" for n, s in copies.items()))
    cat = Catalog.open(tmp_path / "cat")
    import_files(cat, [tmp_path / "s.fna"])
    rows, bits = Locator(cache_dir=False).hits(cat.dataset(), None, COLUMNS, contig[30_000:31_000], 10)
    # Each copy once, closest first (minimap2 keeps every chain, not only those near the best one).
    assert rows.column("id").to_pylist() == ["strain0", "strain3", "strain10", "strain15"]
    assert list(bits) == sorted(bits, reverse=True)
    assert all(abs(min(s, e) - 30_001) <= 10 for s, e in zip(rows.column("hit_start").to_pylist(),
                                                              rows.column("hit_end").to_pylist(), strict=True))


def test_the_window_locates_a_fragment_and_shows_its_region(qtbot: Any, tmp_path: Path,
                                                            long_records: dict[str, str]) -> None:
    """End to end: import a contig, search a minus-strand fragment, the detail pane aligns the region."""
    from PySide6.QtCore import QSettings, Qt

    from genocat_desktop.ui.main_window import MainWindow

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    name = _read(DNA / CONTIG)[0][0]
    contig = long_records[name]
    (tmp_path / "contig.fna").write_text(f">{name}\n{contig}\n")
    window = MainWindow(str(tmp_path / "catalog"), [])
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.catalog_opened, timeout=120_000):
            window.show()
        with qtbot.waitSignal(window.imports_done, timeout=120_000):
            window.import_paths([str(tmp_path / "contig.fna")])
        window.search_page.query_edit.setPlainText(">frag\n" + reverse_complement(contig[250_000:251_000]))
        with qtbot.waitSignal(window.results_shown, timeout=120_000):
            window.run_search()
        first = window.search_page.hits_table.source.row_dict(0)
        assert (first["id"], first["hit_start"], first["hit_end"], first["sstrand"]) == (name, 251_000, 250_001,
                                                                                        "minus")
        pane = window.search_page.hit_detail
        qtbot.waitUntil(lambda: "Identities = 1000/1000" in pane.toPlainText(), timeout=120_000)
        sbjct = [line.split() for line in pane.toPlainText().splitlines() if line.startswith("Sbjct ")]
        assert sbjct[0][1] == "251000" and sbjct[-1][-1] == "250001"
        # Strand and region at the top of the pane, and as columns of the hit table.
        assert "Strand minus" in pane.toPlainText() and "Hit region 251,000–250,001" in pane.toPlainText()
        view = window.search_page.hits_table
        names = view.source.column_names
        for name, label in (("sstrand", "Strand"), ("hit_start", "Start"), ("hit_end", "End")):
            assert not view.isColumnHidden(names.index(name))
            assert view.source.headerData(names.index(name), Qt.Orientation.Horizontal) == label
    finally:
        window.confirm = lambda title, text: True  # type: ignore[method-assign]
        window.close()


def test_without_mappy_long_records_are_ranked_as_before(catalog: Catalog, long_records: dict[str, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mappy" else real(name, *a))
    locator = Locator(cache_dir=False)
    assert not locator.has_long_records(catalog.dataset())
    assert locator.skipped is not None and "mappy" in locator.skipped


def test_the_cli_shows_a_located_hits_strand_and_region(catalog: Catalog, long_records: dict[str, str],
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The table, the TSV and the CSV all give a located hit's strand and region (not only JSON)."""
    import csv

    from genocat_desktop.cli.main import EXIT_OK, main

    name = _read(DNA / CONTIG)[0][0]
    query = reverse_complement(long_records[name][120_000:121_200])
    base = ["--catalog", str(catalog.location), "search", query, "-k", "3"]
    for mode in ([], ["--fast"]):  # aligned, and vectors only (the located hits are still aligned)
        assert main([*base, *mode, "--format", "tsv"]) == EXIT_OK
        lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
        first = dict(zip(lines[0], lines[1], strict=True))
        assert (first["id"], first["sstrand"], first["hit_start"], first["hit_end"]) == (name, "minus", "121200",
                                                                                          "120001")
        assert "cosine" in lines[0]
    assert main([*base, "--format", "table"]) == EXIT_OK  # capsys: an 80-column console
    table = capsys.readouterr().out
    assert "sstrand" in table and "hit_start" in table and "121200" in table and "120001" in table
    assert main([*base, "--out", str(tmp_path / "hits.csv")]) == EXIT_OK
    row = next(csv.DictReader((tmp_path / "hits.csv").open(newline="")))
    assert (row["id"], row["sstrand"], row["hit_start"], row["hit_end"]) == (name, "minus", "121200", "120001")


def test_no_placement_gives_the_columns_of_a_placement_reused_per_version(catalog: Catalog,
                                                                         long_records: dict[str, str]) -> None:
    locator = Locator(cache_dir=False)
    ds = catalog.dataset()
    name = _read(DNA / CONTIG)[0][0]
    found = locator.locate(ds, None, COLUMNS, long_records[name][200_000:200_500], 5)
    noise = "".join(random.Random(6).choices("ACGT", k=40))
    empty = locator.locate(ds, None, COLUMNS, noise, 5)
    assert found.rows.num_rows == 1 and empty.rows.num_rows == 0
    assert empty.rows.schema == found.rows.schema and empty.bits.size == empty.addresses.size == 0
    assert locator.locate(ds, None, COLUMNS, noise[::-1], 5).rows is empty.rows  # kept, not scanned again
    assert locator.locate(ds, None, COLUMNS[:1], noise, 5).rows.schema.names[0] == COLUMNS[0]
