"""The BLAST-like results view (issue 20, items 5-7): columns, E-value cut-off, coverage, pane, hit actions.

Offscreen, like tests/test_gui.py: every wait is on a signal or a condition, never a fixed delay.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication

from genocat_desktop.app import search as search_ops
from genocat_desktop.ui.main_window import MainWindow

LONG_MS = 120_000
BLAST_COLUMNS = ("title", "organism", "query_cov", "evalue", "identity", "accession", "bits")
#: Rickettsia peptide chain release factor 1 (tests/data/mmseqs2_QUERY.fasta), with UniProt homologues there.
QUERY_ID = "tr|H6QJ35|H6QJ35_RICMA"


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path) -> Iterator[None]:
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield


def _query(data_dir: Path) -> str:
    for block in (data_dir / "mmseqs2_QUERY.fasta").read_text().split(">")[1:]:
        if block.startswith(QUERY_ID):
            return ">" + block.strip()
    raise AssertionError(QUERY_ID)


def _search(qtbot: Any, window: MainWindow, query: str) -> Any:
    window.search_page.query_edit.setPlainText(query)
    with qtbot.waitSignal(window.results_shown, timeout=LONG_MS) as blocker:
        window.run_search()
    return blocker.args[0]


@pytest.fixture
def aligned(qtbot: Any, tmp_path: Path, data_dir: Path) -> Iterator[MainWindow]:
    """A 1280×800 window with both sample files imported and an aligned search shown."""
    window = MainWindow(str(tmp_path / "catalog"), [])
    qtbot.addWidget(window)
    window.resize(1280, 800)
    with qtbot.waitSignal(window.catalog_opened, timeout=LONG_MS):
        window.show()
    with qtbot.waitSignal(window.imports_done, timeout=LONG_MS):
        window.import_paths([str(data_dir / "families_small.faa"), str(data_dir / "mmseqs2_QUERY.fasta")])
    window.import_panel.setVisible(False)
    page = window.search_page
    page.set_mode("align")
    _search(qtbot, window, _query(data_dir))
    yield window
    window.confirm = lambda title, text: True
    window.close()


def test_blast_columns_fit_at_1280_and_score_follows_the_alignment(
    qtbot: Any, aligned: MainWindow, data_dir: Path
) -> None:
    page = aligned.search_page
    view = page.hits_table
    qtbot.waitUntil(lambda: bool(view.source_rows()), timeout=LONG_MS)
    names = view.source.column_names
    header = view.horizontalHeader()
    width = view.viewport().width()
    for name in BLAST_COLUMNS:
        col = names.index(name)
        assert not view.isColumnHidden(col), name
        left = header.sectionViewportPosition(col)
        assert left >= 0 and left + header.sectionSize(col) <= width, f"{name} is off-screen at 1280 px"
    label = view.source.headerData
    assert label(names.index("bits"), Qt.Orientation.Horizontal) == "Score (bits)"
    assert label(names.index("title"), Qt.Orientation.Horizontal) == "Description"
    assert label(names.index("query_cov"), Qt.Orientation.Horizontal) == "Query cover"
    assert page.outcome is not None
    hits = page.outcome.results[0].hits
    assert page.histogram.label.startswith("bit score")
    assert list(page.histogram.scores) == pytest.approx(hits.column("bits").to_pylist())
    first = view.source.row_dict(0)
    assert first["rank"] == 1 and page.histogram.marked == pytest.approx(first["bits"])
    # A sort carried into the next results hid rank 1 (issue 20, item 6): new results start unsorted.
    view.sortByColumn(names.index("length"), Qt.SortOrder.AscendingOrder)
    assert view.source.row_dict(0)["rank"] != 1
    _search(qtbot, aligned, _query(data_dir))
    qtbot.waitUntil(lambda: bool(view.source_rows()), timeout=LONG_MS)
    assert view.source.row_dict(view.source_rows()[0])["rank"] == 1
    assert view.source.row_dict(0)["rank"] == 1 and view.source.sort_column is None
    # The coverage bar of each hit is where its alignment lies on the query.
    assert page.outcome is not None
    regions = page.outcome.regions[0]
    assert regions.shape == (hits.num_rows, 4)
    assert page.coverage.region(0) == (int(regions[0][0]), int(regions[0][1]))
    query_cov = hits.column("query_cov").to_pylist()
    lengths = (regions[:, 1] - regions[:, 0]) / len(page.outcome.results[0].query.sequence)
    assert list(lengths) == pytest.approx(query_cov, abs=1e-5)


def test_alignment_pane_names_query_and_sbjct_and_rewraps(qtbot: Any, aligned: MainWindow) -> None:
    page = aligned.search_page
    page.hits_table.select_source_row(1)
    hit = page.hits_table.source.row_dict(1)
    pane = page.hit_detail
    qtbot.waitUntil(lambda: "Identities =" in pane.toPlainText(), timeout=LONG_MS)
    text = pane.toPlainText()
    assert f"Query: {QUERY_ID}" in text and f"Sbjct: {hit['id']}" in text  # full identifiers, not "H6QJ35"
    assert "Positives =" in text and "Gaps =" in text and "Expect =" in text
    lines = text.splitlines()
    query_lines = [line for line in lines if line.startswith("Query  ")]
    assert query_lines and all(line.split()[1].isdigit() and line.split()[-1].isdigit() for line in query_lines)
    assert any(line.startswith("Sbjct  1 ") for line in lines)
    wide = max(len(line) for line in query_lines)
    pane.resize(420, pane.height())
    qtbot.waitUntil(lambda: max(len(x) for x in pane.toPlainText().splitlines() if x.startswith("Query  ")) < wide,
                    timeout=LONG_MS)
    narrow = [x for x in pane.toPlainText().splitlines() if x.startswith("Query  ")]
    assert len(narrow) > len(query_lines)


def test_no_significant_similarity_and_the_cutoff(qtbot: Any, aligned: MainWindow) -> None:
    page = aligned.search_page
    assert page.outcome is not None
    evalues = page.outcome.results[0].hits.column("evalue").to_pylist()
    assert page.evalue_edit.text() == "0.001"
    model = page.hits_table.source
    dimmed = [model.is_dimmed(r) for r in range(model.rowCount())]
    assert dimmed == [model.row_dict(r)["evalue"] > 1e-3 for r in range(model.rowCount())]
    assert any(dimmed) and not all(dimmed)
    assert model.data(model.index(dimmed.index(True), 2), Qt.ItemDataRole.ForegroundRole) is not None
    assert model.data(model.index(dimmed.index(False), 2), Qt.ItemDataRole.ForegroundRole) is None
    page.evalue_edit.setText(f"{min(evalues) / 10:g}")
    page.evalue_edit.editingFinished.emit()
    assert page.no_significant.isVisibleTo(page) and not page.hits_table.isVisibleTo(page)
    assert "No significant similarity found" in page.no_significant_label.text()
    page.show_insignificant.click()
    assert page.hits_table.isVisibleTo(page) and model.rowCount() == len(evalues)
    assert all(model.is_dimmed(r) for r in range(model.rowCount()))
    page.evalue_edit.setText("10")
    page.evalue_edit.editingFinished.emit()
    assert not page.no_significant.isVisibleTo(page)


def test_hit_actions(qtbot: Any, aligned: MainWindow, tmp_path: Path) -> None:
    page = aligned.search_page
    view = page.hits_table
    view.selectRow(0)
    view.selectionModel().select(view.source.index(2, 0),
                                 view.selectionModel().SelectionFlag.Select | view.selectionModel().SelectionFlag.Rows)
    text = page.copy_fasta()
    assert QGuiApplication.clipboard().text() == text and text.count(">") == 2
    first = view.source.row_dict(0)
    assert text.startswith(f">{first['id']}") and first["sequence"][:60] in text
    labels = [a.text() for a in page.hit_actions(0)]
    assert "Copy as FASTA" in labels and "Open in UniProt" in labels and "Show details" in labels
    uniprot = next(a for a in page.hit_actions(0) if a.text() == "Open in UniProt")
    assert uniprot.toolTip() == "https://www.uniprot.org/uniprotkb/H6QJ35/entry"
    out = tmp_path / "aligned.fasta"
    job = page.write_aligned_fasta(str(out))
    assert job is not None and page.outcome is not None
    qtbot.waitUntil(lambda: job.state == "done", timeout=LONG_MS)
    records = out.read_text().split(">")[1:]
    seqs = ["".join(r.splitlines()[1:]) for r in records]
    assert [r.splitlines()[0] for r in records] == [QUERY_ID, first["id"], view.source.row_dict(2)["id"]]
    assert len({len(s) for s in seqs}) == 1  # padded: one alignment, as Jalview reads it
    assert seqs[0].replace("-", "") == page.outcome.results[0].query.sequence
    assert seqs[1].replace("-", "") in first["sequence"]
    dialog = page.show_hit_details(2)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: "Identities =" in dialog.pane.toPlainText(), timeout=LONG_MS)
    assert view.source.row_dict(2)["id"] in dialog.pane.toPlainText()
    dialog.close()
    with qtbot.waitSignal(view.find_similar) as blocker:
        view.find_similar.emit(first["id"], first["sequence"])
    assert blocker.args == [first["id"], first["sequence"]]


def test_accession_links_and_aligned_fasta() -> None:
    links = search_ops.accession_links
    assert links({"id": "sp|P69905|HBA_HUMAN", "accession": "P69905"}) == [
        ("UniProt", "https://www.uniprot.org/uniprotkb/P69905/entry")]
    assert links({"id": "A0A0B7J5R9"})[0][0] == "UniProt"
    assert links({"id": "WP_000123456.1"}) == [("NCBI RefSeq", "https://www.ncbi.nlm.nih.gov/protein/WP_000123456.1")]
    assert links({"id": "NM_000518.5"})[0][1].startswith("https://www.ncbi.nlm.nih.gov/nuccore/")
    assert links({"id": "AAA12345.1"}) == [("NCBI Protein", "https://www.ncbi.nlm.nih.gov/protein/AAA12345.1")]
    assert links({"id": "Globin|00012"}) == [] and links({"id": "SMC_N|00013"}) == []

    class Pair:  # the fields of a PairAlignment that aligned_fasta reads
        def __init__(self, qs: int, aq: str, at: str) -> None:
            self.query_start, self.aligned_query, self.aligned_target = qs, aq, at

    pairs = [("h1", Pair(2, "DE-FG", "DEWFG")), ("h2", Pair(0, "ACD", "AC-"))]
    text = search_ops.aligned_fasta("q", "ACDEFGHIK", pairs)  # type: ignore[arg-type]
    rows = {r.splitlines()[0]: "".join(r.splitlines()[1:]) for r in text.split(">")[1:]}
    assert rows == {"q": "ACDE-FGHIK", "h1": "--DEWFG---", "h2": "AC--------"}


def _result(strategy: str, molecule: str, column: str = "vec_kmer") -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(extra={"strategy": strategy}, query=SimpleNamespace(molecule=molecule), column=column)


def test_every_score_header_says_what_the_score_is() -> None:
    from genocat_desktop.ui.widgets.significance import hit_headers
    from genocat_desktop.ui.widgets.table_model import HEADER_TIPS

    labels, tips = hit_headers(_result("sketch", "dna", "vec_sketch"), aligned=False)
    assert labels["score"] == "Score (containment)" and "containment" in tips["score"]
    assert "cosine" not in tips["score"].lower()
    labels, tips = hit_headers(_result("translated", "protein"), aligned=True)
    assert "bit score" in tips["score"] and "cosine" not in (labels["score"] + tips["score"]).lower()
    assert "minus frame" in tips["hit_start"] and "BLOSUM62" in tips["aln_score"]
    labels, tips = hit_headers(_result("memory", "dna"), aligned=True)  # aligned DNA, located in long records
    assert labels == {"bits": "Score (bits)", "score": "Cosine"} and "ranked by bit score" in tips["score"]
    assert "blastn" in tips["aln_score"] and "BLOSUM62" not in tips["aln_score"]
    assert "minus strand" in tips["hit_start"] and "minus" not in tips["query_start"]
    labels, tips = hit_headers(_result("memory", "protein", "vec_esm2"), aligned=False)
    assert labels == {"score": "Score (cosine)"} and "vec_esm2" in tips["score"] and "ranked by it" in tips["score"]
    assert "composition" not in tips["score"]  # an ESM-2 embedding is not a composition
    assert "sstrand" in HEADER_TIPS and "plus" in HEADER_TIPS["sstrand"]


def test_the_models_own_tips_come_first(qtbot: Any) -> None:
    import pyarrow as pa

    from genocat_desktop.ui.widgets.table_model import ArrowTableModel

    model = ArrowTableModel()
    model.set_table(pa.table({"score": [0.5], "sstrand": ["minus"]}))
    tip = model.headerData(0, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "cosine" in tip
    model.tips = {"score": "containment of the query"}
    tip = model.headerData(0, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert tip == "score: containment of the query"
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Strand"


def test_blast_titles_tell_shared_names_apart_and_proteins_have_no_strand() -> None:
    import pyarrow as pa

    from genocat_desktop.ui.widgets.significance import blast_table

    hits = pa.table({"rank": [1, 2, 3], "id": ["c_1", "c_2", "x"], "name": ["predicted protein"] * 2 + ["RecA"],
                     "description": ["predicted CDS 1..90 (+) of c", None, "recombinase"],
                     "bits": [50.0, 40.0, 30.0], "sstrand": ["", "", ""]})
    table = blast_table(hits)
    assert table.column("title").to_pylist() == ["predicted CDS 1..90 (+) of c", "predicted protein · c_2", "RecA"]
    assert "sstrand" not in table.column_names
    dna = blast_table(hits.set_column(5, "sstrand", pa.array(["minus", "plus", "plus"])), nucleotide=True)
    assert dna.column_names.index("sstrand") == dna.column_names.index("bits") + 1
