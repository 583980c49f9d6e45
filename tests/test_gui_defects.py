"""GUI defects a new user met (issue 20): one offscreen test per fixed item, each bounded in time."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QComboBox, QFrame, QLabel, QStyleOptionViewItem, QWidget

from genocat_desktop.app.catalog import FieldSpec
from genocat_desktop.engine.ingest.headers import parse_header
from genocat_desktop.engine.ingest.reports import FileReport
from genocat_desktop.ui.app import dark_palette
from genocat_desktop.ui.main_window import MainWindow
from genocat_desktop.ui.pages.benchmark import average_rate
from genocat_desktop.ui.pages.import_panel import report_html
from genocat_desktop.ui.pages.welcome import WelcomePage
from genocat_desktop.ui.widgets.filters import FilterEditor
from genocat_desktop.ui.widgets.progress import export_message
from genocat_desktop.ui.widgets.summary_line import SummaryLine

LONG_MS = 120_000
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "families_small.faa"

#: Run in a fresh interpreter on an offscreen screen of a given size and scale: the window on the
#: catalog in argv[1], an aligned search shown, then every tab in turn and the import panel; prints
#: the sizes as JSON.
_SIZES_SCRIPT = r"""
import json, sys, tempfile
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
tmp = Path(tempfile.mkdtemp())
for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
    QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp / "settings"))
app = QApplication([])
from genocat_desktop.ui.main_window import MainWindow
w = MainWindow(sys.argv[1], [])

def search(summary):
    w.search_page.query_edit.setPlainText(sys.argv[2])
    w.search_page.set_mode("align")
    w.search_page.search_filters.add_row("length", ">", "100")
    w.run_search()

w.catalog_opened.connect(search)
w.results_shown.connect(lambda outcome: QTimer.singleShot(200, app.quit))
QTimer.singleShot(90_000, lambda: app.exit(1))
w.show()
assert app.exec() == 0, "no results"
room = w.screen().availableGeometry()
out = {"room": [room.width(), room.height()], "tabs": {}}
for i in range(w.tabs.count()):
    w.tabs.setCurrentIndex(i)
    app.processEvents()
    hint = w.tabs.minimumSizeHint()  # the window's own is small: its pages scroll when they must
    out["tabs"][w.tabs.tabText(i)] = [hint.width(), hint.height(), w.width(), w.height()]
w.tabs.setCurrentIndex(0)
w.import_panel.setVisible(True)  # shown during an import: it once pushed the window off a 150 % screen
app.processEvents()
out["tabs"]["importing"] = [w.tabs.minimumSizeHint().width(), 0, w.width(), w.height()]
out["window_min"] = [w.minimumSizeHint().width(), w.minimumSizeHint().height()]
w.confirm = lambda title, text: True
w.close()
print(json.dumps(out))
"""


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GENOCAT_HISTORY", str(tmp_path / "search_history.json"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield


@pytest.fixture
def window(qtbot: Any, tmp_path: Path) -> Iterator[MainWindow]:
    w = MainWindow(str(tmp_path / "catalog"), [])
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.catalog_opened, timeout=LONG_MS):
        w.show()
    yield w
    w.confirm = lambda title, text: True
    w.close()


def test_1_models_folder_does_not_widen_the_window(window: MainWindow) -> None:
    window.models_page.folder_label.setText("Folder: " + "/a-long-folder-name" * 60)
    assert window.models_page.minimumSizeHint().width() < 1000
    assert window.minimumSizeHint().width() < 1024


@pytest.mark.parametrize(("screen", "scale"), [((1024, 700), "1"), ((1440, 900), "1.5")])
def test_1_every_tab_fits_a_small_screen_and_150_percent(tmp_path: Path, screen: tuple[int, int],
                                                         scale: str) -> None:
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "S", "x": 0, "y": 0, "width": screen[0], "height": screen[1],
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "QT_SCALE_FACTOR": scale}
    from genocat_desktop.engine import Catalog, import_files

    import_files(Catalog.open(str(tmp_path / "catalog"), create=True), [SAMPLE])
    query = ">" + SAMPLE.read_text().split(">")[1]
    done = subprocess.run([sys.executable, "-c", _SIZES_SCRIPT, str(tmp_path / "catalog"), query], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    sizes = json.loads(done.stdout.strip().splitlines()[-1])
    room_w, room_h = sizes["room"]
    assert len(sizes["tabs"]) == 6
    for tab, (min_w, min_h, width, height) in sizes["tabs"].items():
        # Room is left for the window manager's frame (at 150 % the window once needed 952 of 960 px).
        assert min_w <= min(1024, room_w - 64) and min_h <= room_h - 64, (tab, sizes)
        assert width <= room_w and height <= room_h, (tab, sizes)  # the window never grew past the screen
    assert sizes["window_min"][0] <= 1024 and sizes["window_min"][1] <= room_h - 64


def test_1_many_filter_rows_scroll_instead_of_raising_the_minimum_height(qtbot: Any) -> None:
    editor = FilterEditor()
    qtbot.addWidget(editor)
    editor.set_fields([FieldSpec("length", "number", "residues")])
    editor.add_row("length", ">", "1")
    one = editor.minimumSizeHint().height()
    for n in range(10):
        editor.add_row("length", ">", str(n))
    assert editor.minimumSizeHint().height() <= one + 10  # was one more row's height per row
    assert editor.sizeHint().height() > 5 * one  # with room to spare, every row shows
    assert len(editor.specs()) == 11


def test_2_ctrl_f_from_another_tab_keeps_the_query(qtbot: Any, window: MainWindow) -> None:
    edit = window.search_page.query_edit
    edit.setPlainText("MKVLAAGIVGLLLA")
    window.show_tab("models")
    window.focus_query()
    assert window.tabs.currentWidget() is window.pages["search"]
    assert not edit.textCursor().hasSelection()
    assert edit.tabChangesFocus()


def test_3_rejected_file_lists_its_warnings() -> None:
    report = FileReport(path="x.faa", records=2, skipped=2, error="no valid record: all 2 record(s) were skipped "
                        "(see the warnings)")
    report.issues.append("line 3: record 'a' has no residues")  # type: ignore[arg-type]
    assert "has no residues" in report_html([("x.faa", report, "")])


def test_9_sample_has_names_and_organisms() -> None:
    text = (ROOT / "genocat_desktop" / "resources" / "sample" / "families_small.faa").read_text()
    headers = [parse_header(line[1:]) for line in text.splitlines() if line.startswith(">")]
    assert len(headers) == 379
    assert all(h.name for h in headers)
    assert sum(1 for h in headers if h.organism) > 200
    assert any(h.organism == "Homo sapiens" and "HBA_HUMAN" in (h.name or "") for h in headers)


def test_10_filter_value_is_wide_enter_submits_and_labels_shown(qtbot: Any) -> None:
    editor = FilterEditor()
    qtbot.addWidget(editor)
    editor.set_fields([FieldSpec("seq_hash", "text", "MD5"), FieldSpec("organism", "text", "species")])
    editor.resize(260, 200)
    editor.show()
    editor.add_row("seq_hash", "=", "abc")
    row = editor._rows[0]
    qtbot.waitUntil(lambda: row.value.width() >= 120, timeout=5000)
    assert row.field.currentText() == "Sequence MD5"
    assert editor.specs() == [("seq_hash", "=", "abc")]
    with qtbot.waitSignal(editor.submitted, timeout=2000):
        qtbot.keyClick(row.value, Qt.Key.Key_Return)


def test_12_throughput_curve_ends_at_the_table_figure() -> None:
    times, average = average_rate([(0.0, 5.0), (0.5, 50.0), (1.0, 100.0), (2.5, 90.0)], rows=300, seconds=2.0)
    assert times == [0.5, 1.0, 2.0]
    assert average == [50.0, 100.0, 150.0]


def test_12_benchmark_plot_agrees_with_its_table(qtbot: Any, window: MainWindow) -> None:
    page = window.benchmark_page
    window.stack.setCurrentWidget(window.tabs)
    window.show_tab("benchmark")
    page.source_combo.setCurrentIndex(page.source_combo.findData("synthetic"))
    page.size_spin.setValue(300)
    page.queries_spin.setValue(5)
    page.k_spin.setValue(5)
    with qtbot.waitSignal(page.result_shown, timeout=LONG_MS) as shown:
        page.run_button.click()
    r = shown.args[0].result
    label, value = page.results_table.item(0, 0), page.results_table.item(0, 1)
    assert label is not None and value is not None and label.text() == "import throughput"
    table = float(value.text().split()[0].replace(",", ""))
    plot = page.plots["throughput"].getPlotItem()
    x, y = plot.listDataItems()[0].getData()
    assert min(x) > 0 and plot.viewRange()[0][0] >= 0 and plot.viewRange()[1][0] >= 0
    assert y[-1] == pytest.approx(table, rel=0.01) and y[-1] == pytest.approx(r.ingest_rate)
    assert max(y) <= 3 * table  # the write phase's own rate (~5x) is not plotted as the import's


def test_13_exported_file_follows_the_umask(tmp_path: Path) -> None:
    import pyarrow as pa

    from genocat_desktop.engine.search.export import export_fasta

    out = tmp_path / "hits.faa"
    old = os.umask(0o022)
    try:
        export_fasta(pa.table({"id": ["a"], "sequence": ["MKV"]}), out)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_14_welcome_follows_a_dark_palette(qtbot: Any) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    old = app.palette()
    app.setPalette(dark_palette())
    try:
        page = WelcomePage()
        qtbot.addWidget(page)
        page.resize(900, 600)
        page.show()
        frame = page.findChild(QFrame, "dropTarget")
        assert frame is not None
        image = frame.grab().toImage()
        background = image.pixelColor(image.width() // 2, 8).lightness()
        text = page.palette().color(QPalette.ColorRole.WindowText).lightness()
        assert abs(text - background) > 100
    finally:
        app.setPalette(old)


def test_15_title_status_and_plurals(qtbot: Any, window: MainWindow) -> None:
    assert window.windowTitle() == "catalog — GenoCat"
    bad = FileReport(path="bad.faa", error="not FASTA")
    window._on_imports_done([("bad.faa", bad, "")])
    assert "Imported" not in window.statusBar().currentMessage()
    assert "not imported" in window.statusBar().currentMessage()
    assert window._last_report is not None
    window._last_report.close()
    ok = FileReport(path="a.faa", records=1, imported=1)
    assert "(s)" not in report_html([("a.faa", ok, "")])
    assert "1 new sequence from 1 record" in report_html([("a.faa", ok, "")])


def _sample_window(qtbot: Any, tmp_path: Path) -> MainWindow:
    """A window on a catalog of the 379 sample proteins, shown once the Schema page listed the fields."""
    from genocat_desktop.engine import Catalog, import_files

    location = tmp_path / "sample"
    import_files(Catalog.open(str(location), create=True), [SAMPLE])
    w = MainWindow(str(location), [])
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.schema_page.state_shown, timeout=LONG_MS):
        w.show()
    return w


def test_10_15_cells_history_indexes_and_summary(qtbot: Any, tmp_path: Path) -> None:
    w = _sample_window(qtbot, tmp_path)
    try:
        page = w.schema_page
        for name, kind, allowed in (("assay", "category", ["low", "high"]), ("count", "integer", None)):
            with qtbot.waitSignal(page.state_shown, timeout=LONG_MS):
                page.add_field(name, kind, allowed=allowed)
        with qtbot.waitSignal(w.page_shown, timeout=LONG_MS):
            w.show_tab("browse")
        view = w.browse_page.browse_table
        model = view.source
        # Item 10: a category is edited with the list of its allowed values.
        index = model.index(1, model.column_names.index("assay"))
        editor = view.itemDelegate().createEditor(view.viewport(), QStyleOptionViewItem(), index)
        assert isinstance(editor, QComboBox)
        assert [editor.itemText(i) for i in range(editor.count())] == ["", "low", "high"]
        editor.setCurrentText("high")
        with qtbot.waitSignal(w.browse_page.cells_edited, timeout=5000) as edited:
            view.itemDelegate().setModelData(editor, model, index)
        assert list(edited.args[1].values()) == ["high"]
        editor.deleteLater()
        # Item 10: an error names the row by its ID, not by its MD5.
        with qtbot.waitSignal(w.job_failed, timeout=LONG_MS) as failed:
            model.setData(model.index(2, model.column_names.index("count")), "many")
        row_id, row_hash = str(model.value(2, "id")), str(model.value(2, "seq_hash"))
        assert row_id in failed.args[0] and row_hash not in failed.args[0]

        # Item 15: after a restore the History highlight stays on the version chosen.
        w.show_tab("schema")
        assert page.state is not None
        chosen = page.state.versions[0].version  # the first version, without the fields
        page.select_version(chosen)
        page.confirm = lambda title, text: True
        with qtbot.waitSignal(page.state_shown, timeout=LONG_MS):
            page.restore_button.click()
        assert page.selected_version() == chosen

        # Item 15: the Indexes dialog does not call missing indexes "up to date".
        job = w.index_dialog.after_imports()  # below the automatic threshold: nothing is built
        assert job is not None
        with qtbot.waitSignal(job.finished, timeout=LONG_MS):
            pass
        text = w.index_dialog.message_label.text()
        assert "up to date" not in text and "no indexes" in text
    finally:
        w.confirm = lambda title, text: True
        w.close()


def test_15_search_summary_shows_filters_as_typed(qtbot: Any, tmp_path: Path) -> None:
    w = _sample_window(qtbot, tmp_path)
    try:
        search = w.search_page
        search.query_edit.setPlainText(">" + SAMPLE.read_text().split(">")[1])
        search.search_filters.add_row("length", ">", "100")
        with qtbot.waitSignal(w.results_shown, timeout=LONG_MS):
            w.run_search()
        text = search.results_label.toolTip()  # the plain text of the whole line
        assert "filter: length > 100" in text and "`" not in text
    finally:
        w.confirm = lambda title, text: True
        w.close()


def test_15_summary_line_elides_and_keeps_the_whole_in_its_tooltip(qtbot: Any) -> None:
    line = SummaryLine("<b>query</b>: " + "many words of a long summary " * 20)
    qtbot.addWidget(line)
    line.resize(300, line.height())
    line.show()
    assert line.elided() and "long summary" in line.toolTip()
    line.resize(6000, line.height())
    assert not line.elided()
    two = SummaryLine("<b>query</b>: " + "words " * 40, lines=2)
    qtbot.addWidget(two)
    assert two.height() > line.height()
    two.resize(200, two.height())  # ~240 characters do not fit two lines of 200 pixels
    two.show()
    assert two.elided()
    two.resize(1100, two.height())  # they fit two lines of 1,100 pixels, not one
    assert not two.elided() and two.fontMetrics().horizontalAdvance("words " * 40) > 1100


def test_11_bulk_ingest_report_accounts_for_every_record(qtbot: Any, window: MainWindow, edge_dir: Path) -> None:
    names = ("16_duplicate_ids.fasta", "04_record_with_empty_sequence.fa", "24_stop_in_middle_hmmer.fa",
             "26_fastq_not_fasta.fastq", "10_empty_and_blank_ids.fa")
    dialog = window.bulk_ingest_dialog()
    assert dialog is not None
    qtbot.addWidget(dialog)
    dialog.add_inputs([str(SAMPLE), *(str(edge_dir / n) for n in names), str(edge_dir / names[0])])
    dialog.workers.setValue(0)
    with qtbot.waitSignal(dialog.ingest_finished, timeout=LONG_MS) as blocker:
        dialog.start()
    report = blocker.args[0].report
    text = dialog.report_view.toPlainText()
    said = re.search(r"Of ([\d,]+) records read: ([^;]+);", text)
    assert said is not None, text
    parts = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) [a-z]", said.group(2))]
    assert int(said.group(1).replace(",", "")) == report.records == sum(parts) > report.imported
    assert "skipped" in said.group(2) and "not ingested" in said.group(2)
    qtbot.waitUntil(lambda: dialog.report_view.isVisible(), timeout=5000)
    lines = dialog.report_view.fontMetrics().lineSpacing()
    assert dialog.report_view.height() >= 8 * lines  # the rejected files are not below a 3-line fold


def test_13_fasta_export_says_what_happened() -> None:
    text = export_message(86, "/tmp/hits.fasta", (100, 3))
    assert "100 hits of 3 queries" in text and "86 distinct sequences" in text and "CSV" in text
    assert export_message(100, "/tmp/hits.csv", (100, 3)) == "Wrote 100 hits of 3 queries to /tmp/hits.csv"
    assert export_message(1, "/tmp/rows.csv", None) == "Wrote 1 row to /tmp/rows.csv"


def _text_colour(label: QLabel) -> QColor:
    found = re.search(r"color:\s*(#[0-9a-fA-F]{3,8}|[a-z]+)", label.styleSheet())
    return QColor(found.group(1)) if found else label.palette().color(label.foregroundRole())


def test_14_dialogs_and_pages_follow_a_dark_palette(qtbot: Any, tmp_path: Path) -> None:
    from genocat_desktop.ui.dialogs.embedding import AddEmbeddingDialog
    from genocat_desktop.ui.dialogs.s3 import S3Dialog
    from genocat_desktop.ui.dialogs.schema import SetValueDialog

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    old = app.palette()
    app.setPalette(dark_palette())
    w = MainWindow(str(tmp_path / "catalog"), [])
    qtbot.addWidget(w)
    try:
        with qtbot.waitSignal(w.catalog_opened, timeout=LONG_MS):
            w.show()
        widgets: list[QWidget] = [w, w.index_dialog, S3Dialog(w.engine, parent=w),
                                  AddEmbeddingDialog([], 10, set(), w),
                                  SetValueDialog([SimpleNamespace(name="assay", type="category", kind="user",
                                                                  allowed=("low", "high"), description="")], 3, w)]
        window_bg = dark_palette().color(QPalette.ColorRole.Window).lightness()
        checked = 0
        for top in widgets:
            for label in top.findChildren(QLabel):
                if not label.isEnabled():  # greyed out on purpose (empty ones are checked: text comes later)
                    continue
                checked += 1
                contrast = abs(_text_colour(label).lightness() - window_bg)
                assert contrast >= 90, (type(top).__name__, label.text()[:60], _text_colour(label).name())
        assert checked > 20
    finally:
        w.confirm = lambda title, text: True
        w.close()
        app.setPalette(old)
