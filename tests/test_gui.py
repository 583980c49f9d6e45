"""The desktop app, offscreen: drop to import, search, results, export, cancel, errors, quitting.

Every test waits on signals (``qtbot.waitSignal``/``waitUntil``), never on a
fixed delay. Each window is closed at the end and its engine thread must have
stopped (checked in the fixture, on top of conftest's leaked-thread guard,
which cannot see QThreads that never ran Python code).
"""

from __future__ import annotations

import csv
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QModelIndex, QPersistentModelIndex, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from genocat_desktop.engine import Catalog
from genocat_desktop.ui.engine_thread import EngineThread
from genocat_desktop.ui.errors import ErrorDialog, install_excepthook, uninstall_excepthook
from genocat_desktop.ui.main_window import MainWindow
from genocat_desktop.ui.pages.import_panel import ImportReportDialog

#: Generous: the first catalog of a test session imports Lance (seconds on a busy 2-core machine).
LONG_MS = 120_000

GLOBIN = (
    "VLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNALSALSDLHAHKLRVDPVNFKLLSHCLLV"
    "TLAAHLPAEFTPAVHASLDKFLASVSTVLTSKYR"
)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path) -> Iterator[None]:
    """Keep QSettings (geometry, recent catalogs, hidden columns) out of the user's real config."""
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield


def _close(window: MainWindow) -> None:
    window.confirm = lambda title, text: True
    window.close()
    assert not window.engine.running, "the engine thread is still running after the window closed"


@pytest.fixture
def make_window(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    windows: list[MainWindow] = []

    def make(location: Path | None = None, files: tuple[str, ...] = ()) -> MainWindow:
        window = MainWindow(str(location or tmp_path / "catalog"), list(files))
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        _close(window)


@pytest.fixture
def window(qtbot: Any, make_window: Any) -> MainWindow:
    w: MainWindow = make_window()
    with qtbot.waitSignal(w.catalog_opened, timeout=LONG_MS):
        w.show()
    return w


def _import(qtbot: Any, window: MainWindow, *paths: Path) -> list[tuple[str, Any, str]]:
    with qtbot.waitSignal(window.imports_done, timeout=LONG_MS) as blocker:
        window.import_paths([str(p) for p in paths])
    results: list[tuple[str, Any, str]] = blocker.args[0]
    return results


def _search(qtbot: Any, window: MainWindow, query: str) -> Any:
    window.search_page.query_edit.setPlainText(query)
    with qtbot.waitSignal(window.results_shown, timeout=LONG_MS) as blocker:
        window.run_search()
    return blocker.args[0]


def _drop(window: QWidget, paths: list[Path]) -> None:
    mime = QMimeData()  # kept referenced: a QDropEvent does not own its mime data
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, drop)
    assert drop.isAccepted()


# ---------------------------------------------------------------------- first run, import


def test_empty_catalog_shows_welcome_and_sample_data_imports(qtbot: Any, window: MainWindow) -> None:
    assert window.stack.currentWidget() is window.welcome
    with qtbot.waitSignal(window.imports_done, timeout=LONG_MS) as blocker:
        window.welcome.sample_button.click()
    (path, report, message) = blocker.args[0][0]
    assert Path(path).name == "families_small.faa"
    assert report.imported == 379 and not message
    assert window.summary is not None and window.summary.rows == 379
    assert window.stack.currentWidget() is window.tabs


def test_drop_of_real_fasta_files_imports_them(qtbot: Any, window: MainWindow, data_dir: Path) -> None:
    files = [data_dir / "families_small.faa", data_dir / "mmseqs2_QUERY.fasta"]
    with qtbot.waitSignal(window.imports_done, timeout=LONG_MS) as blocker:
        _drop(window, files)
    results = blocker.args[0]
    assert [Path(p).name for p, _, _ in results] == [f.name for f in files]
    assert all(r is not None and r.ok for _, r, _ in results)
    assert window.summary is not None and window.summary.rows == sum(r.imported for _, r, _ in results) > 800
    assert Catalog.open(window.summary.location, create=False).count() == window.summary.rows
    report = window._last_report
    assert isinstance(report, ImportReportDialog) and "mmseqs2_QUERY.fasta" in report.plain_text()


def test_a_file_dropped_on_the_query_box_is_imported_not_pasted(
    qtbot: Any, window: MainWindow, data_dir: Path
) -> None:
    window.tabs.setCurrentIndex(0)
    window.stack.setCurrentWidget(window.tabs)
    with qtbot.waitSignal(window.imports_done, timeout=LONG_MS):
        _drop(window.search_page.query_edit.viewport(), [data_dir / "families_small.faa"])
    assert window.search_page.query_edit.toPlainText() == ""


def test_shortcuts(qtbot: Any, window: MainWindow) -> None:
    shortcuts = {a.shortcut().toString() for a in window.findChildren(QAction)}
    assert {"Ctrl+I", "Ctrl+F", "Ctrl+E", "Ctrl+Q", "Ctrl+Return", "Ctrl+B", "Esc"} <= shortcuts


def test_dropping_a_folder_imports_its_fasta_files(
    qtbot: Any, window: MainWindow, data_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.faa").write_bytes((data_dir / "families_small.faa").read_bytes())
    (folder / "sub" / "b.fasta").write_text(">x1 test protein\n" + GLOBIN + "\n")
    (folder / "notes.txt").write_text("not a sequence file")
    with qtbot.waitSignal(window.imports_done, timeout=LONG_MS) as blocker:
        _drop(window, [folder])
    assert sorted(Path(p).name for p, _, _ in blocker.args[0]) == ["a.faa", "b.fasta"]


def test_malformed_file_shows_its_specific_message(qtbot: Any, window: MainWindow, edge_dir: Path) -> None:
    results = _import(qtbot, window, edge_dir / "26_fastq_not_fasta.fastq")
    (_, report, _) = results[0]
    assert report is not None and not report.ok and "FASTQ" in (report.error or "")
    dialog = window._last_report
    assert dialog is not None and dialog.isVisible()
    assert "FASTQ" in dialog.plain_text() and "not imported" in dialog.plain_text()
    assert "FASTQ" in window.import_panel._rows[0].status.text()
    assert window.summary is not None and window.summary.rows == 0
    assert window.stack.currentWidget() is window.welcome


def test_cancel_leaves_the_catalog_unchanged(qtbot: Any, window: MainWindow, data_dir: Path, edge_dir: Path) -> None:
    _import(qtbot, window, data_dir / "families_small.faa")
    before = Catalog.open(window.summary.location, create=False)  # type: ignore[union-attr]
    version, rows = before.version, before.count()
    (job,) = window.import_paths([str(edge_dir / "39_many_tiny_records_200k.fa")])
    with qtbot.waitSignal(window.imports_done, timeout=LONG_MS) as blocker:
        # Cancel as soon as the import reports progress: it is then certainly running.
        job.progress.connect(lambda p: window.engine.cancel(job))
    (_, report, message) = blocker.args[0][0]
    assert (report is not None and "cancelled" in (report.error or "")) or "cancelled" in message
    after = Catalog.open(window.summary.location, create=False)  # type: ignore[union-attr]
    assert (after.version, after.count()) == (version, rows)


# ---------------------------------------------------------------------- search, results, export


@pytest.fixture
def searched(qtbot: Any, window: MainWindow, data_dir: Path) -> MainWindow:
    _import(qtbot, window, data_dir / "families_small.faa", data_dir / "mmseqs2_QUERY.fasta")
    window.search_page.set_mode("fast")  # the embedding view (cosine); the default aligns (next test)
    _search(qtbot, window, f">globin_query\n{GLOBIN}")
    return window


def test_the_default_mode_aligns_and_says_which_mode_ran(qtbot: Any, window: MainWindow, data_dir: Path) -> None:
    _import(qtbot, window, data_dir / "families_small.faa")
    page = window.search_page
    assert page.mode() == "auto" and page.mode_combo.toolTip()
    _search(qtbot, window, f">globin_query\n{GLOBIN}")
    source = page.hits_table.source
    bits = [source.row_dict(r)["bits"] for r in range(source.rowCount())]
    assert bits and bits == sorted(bits, reverse=True) and source.row_dict(0)["id"].startswith("Globin|")
    # A small catalog: every sequence aligned; the line names the mode, its tooltip says why.
    assert "exhaustive (auto)" in page.results_label.text()
    assert "Mode: exhaustive (auto: " in page.results_label.toolTip()


def test_search_fills_the_table_detail_and_histogram(qtbot: Any, searched: MainWindow) -> None:
    w = searched
    model = w.search_page.hits_table.model()
    assert model.rowCount() == 50
    first = w.search_page.hits_table.source.row_dict(0)
    assert first["rank"] == 1 and first["id"].startswith("Globin|")
    scores = [w.search_page.hits_table.source.row_dict(r)["score"] for r in range(model.rowCount())]
    assert scores == sorted(scores, reverse=True)
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Score (cosine)"
    assert model.data(model.index(0, 1)) == f"{first['score']:.3f}"
    assert w.search_page.histogram.scores is not None and w.search_page.histogram.scores.size == 50
    assert w.search_page.histogram.marked == first["score"]  # the first hit, selected when the results came
    qtbot.waitUntil(lambda: "Identities =" in w.search_page.hit_detail.toPlainText(), timeout=LONG_MS)
    text = w.search_page.hit_detail.toPlainText()
    assert "Positives =" in text and "Query coverage" in text and first["id"] in text
    assert "globin_query" in text  # the alignment block names the query
    w.search_page.hits_table.select_source_row(3)
    assert w.search_page.histogram.marked == w.search_page.hits_table.source.row_dict(3)["score"]


def test_results_sort_filter_copy_and_columns(qtbot: Any, searched: MainWindow) -> None:
    view = searched.search_page.hits_table
    names = view.source.column_names
    view.sortByColumn(names.index("length"), Qt.SortOrder.DescendingOrder)
    lengths = [view.source.row_dict(r)["length"] for r in range(view.source.rowCount())]
    assert lengths == sorted(lengths, reverse=True)
    first_match = next(
        r for r in range(view.source.rowCount())
        if any("globin" in str(view.source.value(r, c) or "").lower() for c in view.source.SEARCHED if c in names)
    )
    kept_id = view.source.value(first_match, "id")
    view.select_source_row(first_match)
    view.set_filter_text("globin")
    assert 0 < view.source.rowCount() < 50
    assert view.source_rows() == [0] and view.source.value(0, "id") == kept_id  # the selection stayed with its row
    shown = [view.source.row_dict(r) for r in range(view.source.rowCount())]
    assert all("globin" in f"{r['id']} {r['name']} {r['description']}".lower() for r in shown)
    assert [r["length"] for r in shown] == sorted((r["length"] for r in shown), reverse=True)  # still sorted
    view.selectAll()
    text = view.copy_selection()
    lines = text.strip().splitlines()
    assert lines[0].split("\t")[:3] == ["rank", "score", "id"]
    assert len(lines) == view.source.rowCount() + 1
    assert QGuiApplication.clipboard().text() == text
    view.set_filter_text("")
    assert view.source.rowCount() == 50
    view.set_column_visible("organism", False)
    assert view.isColumnHidden(names.index("organism"))
    assert "organism" not in view.copy_selection().splitlines()[0].split("\t")
    view.set_column_visible("organism", True)
    assert not view.isColumnHidden(names.index("organism"))


def test_export_writes_csv_and_fasta(qtbot: Any, searched: MainWindow, tmp_path: Path) -> None:
    w = searched
    out_csv, out_fasta, out_sel = tmp_path / "hits.csv", tmp_path / "hits.fasta", tmp_path / "selected.csv"
    for path in (out_csv, out_fasta):
        with qtbot.waitSignal(w.export_done, timeout=LONG_MS) as blocker:
            w.export_to(str(path))
        assert blocker.args[0] == 50
    text = out_csv.read_text()
    provenance = json.loads((tmp_path / "hits.provenance.json").read_text())
    assert provenance["query"] == "globin_query" and provenance["hits_per_query"] == 50
    rows = list(csv.DictReader(text.splitlines()))  # the header first: no "#" lines
    assert len(rows) == 50 and rows[0]["rank"] == "1" and float(rows[0]["score"]) > 0
    assert out_fasta.read_text().count(">") == 50
    hits = w.search_page.hits_table
    hits.selectRow(2)
    hits.selectionModel().select(
        hits.source.index(4, 0),
        hits.selectionModel().SelectionFlag.Select | hits.selectionModel().SelectionFlag.Rows,
    )
    with qtbot.waitSignal(w.export_done, timeout=LONG_MS) as blocker:
        w.export_to(str(out_sel), selected=True)
    assert blocker.args[0] == 2
    assert [r["rank"] for r in csv.DictReader(out_sel.read_text().splitlines())] == ["3", "5"]
    assert json.loads((tmp_path / "selected.provenance.json").read_text())["rows"] == "selected hits only"


def test_a_new_search_cancels_the_previous_one(qtbot: Any, searched: MainWindow) -> None:
    w = searched
    w.search_page.query_edit.setPlainText(GLOBIN)
    first = w.run_search()
    w.search_page.query_edit.setPlainText(">second\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ")
    with qtbot.waitSignal(w.results_shown, timeout=LONG_MS) as blocker:
        second = w.run_search()
    assert first is not None and second is not None
    assert first.state == "cancelled" and second.state == "done"
    assert blocker.args[0].results[0].query.id == "second"


def test_search_errors_are_shown_with_their_message(qtbot: Any, searched: MainWindow) -> None:
    w = searched
    w.search_page.query_edit.setPlainText("MKV 1234 !!! ###")
    w.search_page.search_filters.add_row("length", ">", "not a number")
    with qtbot.waitSignal(w.job_failed, timeout=LONG_MS) as blocker:
        w.run_search()
    assert "not a valid value" in blocker.args[0] or "query" in blocker.args[0]
    dialogs = [d for d in QApplication.topLevelWidgets() if isinstance(d, ErrorDialog) and d.isVisible()]
    assert dialogs and blocker.args[0] in dialogs[-1].text()
    for d in dialogs:
        d.close()


def test_alignment_reranking_adds_alignment_columns(qtbot: Any, searched: MainWindow) -> None:
    w = searched
    w.search_page.set_mode("align")
    outcome = _search(qtbot, w, f">globin_query\n{GLOBIN}")
    hits = outcome.results[0].hits
    assert {"aln_score", "evalue", "identity"} <= set(hits.column_names)
    assert hits.column("id")[0].as_py().startswith("Globin|")
    assert "Smith-Waterman" in str(outcome.parameters["alignment"])
    assert "alignment order" in str(outcome.parameters["alignment"])
    model = w.search_page.hits_table.source
    col = model.column_names.index("identity")
    assert model.data(model.index(0, col)).endswith("%")


def test_filters_restrict_hits(qtbot: Any, searched: MainWindow) -> None:
    w = searched
    w.search_page.search_filters.add_row("length", "<", "100")
    outcome = _search(qtbot, w, GLOBIN)
    lengths = outcome.results[0].hits.column("length").to_pylist()
    assert lengths and max(lengths) < 100
    assert "length < 100" in str(outcome.parameters["filter"])


# ---------------------------------------------------------------------- browser


def test_browser_pages_sorts_and_finds_similar(qtbot: Any, window: MainWindow, data_dir: Path) -> None:
    w = window
    _import(qtbot, w, data_dir / "families_small.faa", data_dir / "mmseqs2_QUERY.fasta")
    with qtbot.waitSignal(w.page_shown, timeout=LONG_MS) as blocker:
        w.tabs.setCurrentIndex(1)
    page = blocker.args[0]
    assert page.offset == 0 and page.rows.num_rows == 200 and page.total == w.summary.rows  # type: ignore[union-attr]
    with qtbot.waitSignal(w.page_shown, timeout=LONG_MS) as blocker:
        w.browse_page.next_button.click()
    assert blocker.args[0].offset == 200
    names = w.browse_page.browse_table.source.column_names
    with qtbot.waitSignal(w.page_shown, timeout=LONG_MS) as blocker:
        w.browse_page.browse_table.sortByColumn(names.index("length"), Qt.SortOrder.DescendingOrder)
    lengths = blocker.args[0].rows.column("length").to_pylist()
    assert blocker.args[0].offset == 0 and lengths == sorted(lengths, reverse=True)
    w.browse_page.browse_text.setText("Pkinase")
    with qtbot.waitSignal(w.page_shown, timeout=LONG_MS) as blocker:
        w.browse_page.load_page(0)
    assert 0 < blocker.args[0].total < 100
    w.browse_page.browse_table.selectRow(0)
    assert "Pkinase" in w.browse_page.browse_detail.toPlainText()
    row = w.browse_page.browse_table.source.row_dict(0)
    with qtbot.waitSignal(w.results_shown, timeout=LONG_MS) as blocker:
        w.browse_page.browse_table.find_similar.emit(row["id"], row["sequence"])
    hits = blocker.args[0].results[0].hits
    assert hits.column("id")[0].as_py() == row["id"] and w.tabs.currentIndex() == 0


def test_browser_export_of_matching_rows(qtbot: Any, window: MainWindow, data_dir: Path, tmp_path: Path) -> None:
    w = window
    _import(qtbot, w, data_dir / "families_small.faa")
    w.browse_page.browse_filters.add_row("length", ">", "1000")
    with qtbot.waitSignal(w.export_done, timeout=LONG_MS) as blocker:
        w.export_to(str(tmp_path / "long.fasta"), browsing=True)
    expected = Catalog.open(w.summary.location, create=False).count("length > 1000")  # type: ignore[union-attr]
    assert blocker.args[0] == expected > 0
    assert (tmp_path / "long.fasta").read_text().count(">") == expected


# ---------------------------------------------------------------------- quitting, errors


def test_closing_during_an_import_is_safe(qtbot: Any, window: MainWindow, edge_dir: Path) -> None:
    w = window
    location = w.summary.location  # type: ignore[union-attr]
    (job,) = w.import_paths([str(edge_dir / "39_many_tiny_records_200k.fa")])
    with qtbot.waitSignal(job.progress, timeout=LONG_MS):
        pass
    asked: list[str] = []

    def answer_no(title: str, text: str) -> bool:
        asked.append(text)
        return False

    w.confirm = answer_no
    w.close()
    assert asked and "import" in asked[0].lower() and w.isVisible() and w.engine.running
    w.confirm = lambda title, text: True
    w.close()
    assert not w.isVisible() and not w.engine.running
    catalog = Catalog.open(location, create=False)
    assert catalog.count() == 0 and len(catalog.versions()) == 1


def test_a_warm_up_that_ends_after_the_shutdown_submits_nothing(
    qtbot: Any, make_window: Any, tmp_path: Path, data_dir: Path
) -> None:
    """The warm-up's end (finished, failed or cancelled by the shutdown) calls ``_ready``, which submits
    the vector warm-up: after the engine thread was shut down that raised in the Qt event loop."""
    from genocat_desktop.engine import import_files

    location = tmp_path / "catalog"
    import_files(Catalog.open(str(location), create=True), [data_dir / "families_small.faa"])
    w: MainWindow = make_window(location)
    with qtbot.waitSignal(w.catalog_opened, timeout=LONG_MS) as opened:
        w.show()
    assert w.engine.shutdown(LONG_MS) and w.engine.closed
    w._ready(opened.args[0])  # what the cancelled warm-up's slot does; must not submit to a closed engine


def test_engine_thread_reports_errors_and_stops(qtbot: Any) -> None:
    from genocat_desktop.engine import QueryError

    engine = EngineThread()
    try:
        def bad(progress: Any, cancel: Any) -> None:
            raise QueryError("the query is empty; paste a sequence")

        def bug(progress: Any, cancel: Any) -> None:
            raise ZeroDivisionError("division by zero")

        order: list[str] = []
        jobs = [engine.submit("x", "one", lambda p, c: order.append("one") or 1),
                engine.submit("x", "bad", bad), engine.submit("x", "bug", bug)]
        with qtbot.waitSignal(jobs[1].failed, timeout=LONG_MS) as failed:
            pass
        assert failed.args == ["the query is empty; paste a sequence", ""]
        with qtbot.waitSignal(jobs[2].failed, timeout=LONG_MS) as crashed:
            pass
        assert "ZeroDivisionError" in crashed.args[1] and "unexpected error" in crashed.args[0]
        assert jobs[0].state == "done" and jobs[0].result == 1 and order == ["one"]
        # The first job is handed to the worker at once; the second waits in the queue.
        running = engine.submit("y", "running", lambda p, c: 1)
        queued = engine.submit("y", "queued", lambda p, c: 2)
        engine.cancel(queued)
        assert queued.state == "cancelled" and running.state == "running"
        with qtbot.waitSignal(running.finished, timeout=LONG_MS):
            pass
    finally:
        assert engine.shutdown(timeout_ms=LONG_MS)
    assert not engine.running


def test_engine_thread_runs_jobs_without_full_collections(qtbot: Any) -> None:
    import gc

    engine = EngineThread()
    try:
        before = gc.get_threshold()
        job = engine.submit("x", "gc state", lambda p, c: gc.get_threshold())
        with qtbot.waitSignal(job.finished, timeout=LONG_MS) as done:
            pass
        assert done.args[0][2] >= 1 << 30 and done.args[0][:2] == before[:2]
        qtbot.waitUntil(lambda: not engine.is_busy(), timeout=LONG_MS)
        assert gc.get_threshold() == before
    finally:
        assert engine.shutdown(timeout_ms=LONG_MS)


def test_unhandled_exceptions_open_an_error_dialog(qtbot: Any) -> None:
    install_excepthook()
    try:
        try:
            raise RuntimeError("boom in a slot")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
        qtbot.waitUntil(
            lambda: any(isinstance(d, ErrorDialog) and d.isVisible() for d in QApplication.topLevelWidgets()),
            timeout=5000,
        )
        dialog = next(d for d in QApplication.topLevelWidgets() if isinstance(d, ErrorDialog) and d.isVisible())
        assert "boom in a slot" in dialog.text() and "RuntimeError" in dialog.details
        dialog.copy_details()
        assert "Traceback" in QGuiApplication.clipboard().text()
        dialog.close()

        def fail() -> None:
            raise ValueError("boom in a thread")

        thread = threading.Thread(target=fail)
        thread.start()
        thread.join()
        qtbot.waitUntil(
            lambda: any(isinstance(d, ErrorDialog) and d.isVisible() and "boom in a thread" in d.text()
                        for d in QApplication.topLevelWidgets()),
            timeout=5000,
        )
        for d in QApplication.topLevelWidgets():
            if isinstance(d, ErrorDialog):
                d.close()
    finally:
        uninstall_excepthook()


def test_files_on_the_command_line_are_imported(qtbot: Any, make_window: Any, data_dir: Path) -> None:
    w = make_window(files=(str(data_dir / "families_small.faa"),))
    with qtbot.waitSignal(w.imports_done, timeout=LONG_MS) as blocker:
        w.show()
    assert blocker.args[0][0][1].imported == 379


def test_cli_without_a_command_starts_the_gui(monkeypatch: pytest.MonkeyPatch) -> None:
    from genocat_desktop.cli import main as cli

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr("genocat_desktop.ui.app.run",
                        lambda location, files, *a, **kw: calls.append((location, files)) or 0)
    assert cli.main([]) == 0
    assert cli.main(["--catalog", "/tmp/x", "a.fasta"]) == 0
    assert calls[0] == (None, []) and calls[1][0] == "/tmp/x" and calls[1][1][0].endswith("a.fasta")
    commands = cli._commands()
    assert cli._gui_files(["import", "a.fa"], commands) is None and cli._gui_files(["--help"], commands) is None


def test_table_model_cells_follow_sorting_and_new_tables(qtbot: Any) -> None:
    import pyarrow as pa

    from genocat_desktop.ui.widgets.table_model import ArrowTableModel

    model = ArrowTableModel()
    model.set_table(pa.table({"id": ["b", "a", "c"], "score": [0.5, 0.9, 0.1], "note": ["x", None, "z"]}))
    display, align = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.TextAlignmentRole
    assert [model.data(model.index(r, 0), display) for r in range(3)] == ["b", "a", "c"]
    assert model.data(model.index(0, 1), display) == "0.500"
    assert model.data(model.index(1, 2), display) == ""
    assert model.data(model.index(0, 1), align) == int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    assert model.data(model.index(0, 0), Qt.ItemDataRole.DecorationRole) is None
    assert model.data(QModelIndex(), display) is None
    model.sort(1, Qt.SortOrder.DescendingOrder)  # cells already shown must move with their rows
    assert [model.data(model.index(r, 0), display) for r in range(3)] == ["a", "b", "c"]
    assert model.value(0, "score") == 0.9 and model.row_dict(2)["note"] == "z"
    model.editable = {"note"}
    assert model.flags(model.index(0, 2)) & Qt.ItemFlag.ItemIsEditable
    assert not model.flags(model.index(0, 0)) & Qt.ItemFlag.ItemIsEditable
    model.set_table(pa.table({"id": ["q"], "score": [0.25]}))  # a new table: nothing from the old one shows
    assert model.rowCount() == 1 and model.data(model.index(0, 0), display) == "q"
    assert model.data(model.index(0, 1), display) == "0.250"


def test_search_summary_line_changes_without_relayout(qtbot: Any, searched: MainWindow) -> None:
    line = searched.search_page.results_label
    assert "hits of" in line.text() and "hits of" in line.toolTip() and "<b>" not in line.toolTip()
    assert "approximate" not in line.text()  # a catalog this small is searched exactly, in RAM
    # A search through the vector index says that it is approximate.
    import dataclasses

    from genocat_desktop.app.search import SearchOutcome

    assert searched.search_page.outcome is not None
    approx = dataclasses.replace(searched.search_page.outcome.results[0], exact=False)
    searched.search_page.show_results(SearchOutcome([approx], searched.search_page.outcome.parameters))
    assert "ms, approximate (vector index)" in line.text()
    before = line.geometry()
    line.setText("<b>q</b> " + "a much longer summary " * 20)
    # The line keeps its place whatever its text: the window is not laid out again.
    assert line.geometry() == before and line.toolTip().startswith("q a much longer summary")


def test_table_model_filters_by_text_under_its_sort_order(qtbot: Any) -> None:
    import pyarrow as pa

    from genocat_desktop.ui.widgets.table_model import ArrowTableModel

    model = ArrowTableModel()
    model.set_table(pa.table({
        "id": ["p1", "p2", "p3", "p4"], "name": ["Hemoglobin alpha", "Kinase", "Myoglobin", None],
        "organism": ["Homo sapiens", "E. coli", "Physeter", "Globicephala"], "length": [141, 300, 154, 99],
    }))
    model.sort(3, Qt.SortOrder.DescendingOrder)  # by length: p2, p3, p1, p4
    kept = QPersistentModelIndex(model.index(2, 0))  # p1
    dropped = QPersistentModelIndex(model.index(0, 0))  # p2
    model.set_filter_text("  GLOB ")  # trimmed, case-insensitive, any searched column (p4: its organism)
    assert [model.value(r, "id") for r in range(model.rowCount())] == ["p3", "p1", "p4"]
    assert kept.isValid() and kept.row() == 1 and not dropped.isValid()
    model.sort(3, Qt.SortOrder.AscendingOrder)
    assert [model.value(r, "id") for r in range(model.rowCount())] == ["p4", "p1", "p3"]
    model.set_table(pa.table({"id": ["q1", "q2"], "name": ["globin", "other"]}))  # the filter applies to new tables
    assert model.rowCount() == 1 and model.row_dict(0)["id"] == "q1"
    model.set_filter_text("")
    assert model.rowCount() == 2


def test_progress_bar_value_is_painted_with_the_next_update_not_at_once(qtbot: Any) -> None:
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QProgressBar

    from genocat_desktop.ui.widgets.progress import STEPS, show_fraction

    class PaintCounter(QObject):
        paints = 0

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                self.paints += 1
            return False

    bar = QProgressBar()
    qtbot.addWidget(bar)
    bar.show()
    qtbot.waitExposed(bar)
    show_fraction(bar, 0.1)
    qtbot.waitUntil(lambda: bar.value() == STEPS // 10)
    counter = PaintCounter()
    bar.installEventFilter(counter)
    show_fraction(bar, 0.73)
    # QProgressBar.setValue alone repaints at once, painting every pending region of the window with it.
    assert bar.value() == 730 and counter.paints == 0 and bar.updatesEnabled()
    qtbot.waitUntil(lambda: counter.paints > 0)
    show_fraction(bar, None)
    assert bar.maximum() == 0


def test_a_search_while_the_hit_filter_matches_nothing(qtbot: Any, searched: MainWindow) -> None:
    w = searched
    w.search_page.hits_filter.setText("no-such-protein-anywhere")
    outcome = _search(qtbot, w, f">again\n{GLOBIN}")
    assert len(outcome.results[0]) == 50 and w.search_page.hits_table.source.rowCount() == 0
    histogram = w.search_page.histogram
    assert histogram.scores is not None and histogram.scores.size == 50 and histogram.marked is None
    w.search_page.hits_filter.clear()
    assert w.search_page.hits_table.source.rowCount() == 50
