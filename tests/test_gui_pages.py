"""The Schema and Benchmark pages of the desktop app, offscreen.

Like ``tests/test_gui.py``: every wait is on a signal (``qtbot.waitSignal`` or
``waitUntil``), never a fixed delay, and each window is closed at the end
with its engine thread stopped. The catalog (379 sample proteins) is
imported once per module with the engine and copied for each test.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QItemSelectionModel, QSettings, Qt
from PySide6.QtWidgets import QDialog

from genocat_desktop.engine import Catalog, import_files
from genocat_desktop.ui.dialogs.schema import AddFieldDialog, SetValueDialog
from genocat_desktop.ui.main_window import MainWindow

LONG_MS = 120_000


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path) -> Iterator[None]:
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A catalog of the 379 sample proteins (made once), and its identifiers in import order."""
    folder = tmp_path_factory.mktemp("pages") / "catalog"
    catalog = Catalog.open(str(folder), create=True)
    import_files(catalog, [Path(__file__).parent / "data" / "families_small.faa"])
    ids = catalog.dataset().to_table(columns=["id"]).column("id").to_pylist()
    return folder, ids


@pytest.fixture
def open_window(window_opener: Callable[..., MainWindow]) -> Callable[[Path], MainWindow]:
    """Windows on catalog folders, shown once the Schema page has listed the fields."""

    def make(location: Path) -> MainWindow:
        w = window_opener(location, lambda w: w.schema_page.state_shown, LONG_MS)
        return w

    return make


@pytest.fixture
def window(tmp_path: Path, prepared: tuple[Path, list[str]], open_window: Callable[[Path], MainWindow]) -> MainWindow:
    location = tmp_path / "catalog"
    shutil.copytree(prepared[0], location)
    return open_window(location)


def _change(qtbot: Any, w: MainWindow, start: Any) -> Any:
    """Run ``start()`` (which submits a change) and wait for the refreshed field list."""
    with qtbot.waitSignal(w.schema_page.state_shown, timeout=LONG_MS) as shown, \
            qtbot.waitSignal(w.schema_page.changed, timeout=LONG_MS) as changed:
        start()
    return changed.args[0], shown.args[0]


def _field(state: Any, name: str) -> Any:
    return next((f for f in state.fields if f.name == name), None)


# ---------------------------------------------------------------------- schema page
def test_add_rename_and_drop_a_field(qtbot: Any, window: MainWindow) -> None:
    w, page = window, window.schema_page
    w.tabs.setCurrentIndex(2)
    rows = w.summary.rows  # type: ignore[union-attr]
    before = page.state.version  # type: ignore[union-attr]
    change, state = _change(qtbot, w, lambda: page.add_field(
        "assay", "category", allowed=["low", "high"], default="low", description="activity in our assay"))
    f = _field(state, "assay")
    assert f is not None and f.kind == "user" and f.type == "category" and f.allowed == ("low", "high")
    assert f.filled == rows and f.description == "activity in our assay"
    assert change.version == state.version > before and w.summary.version == change.version  # type: ignore[union-attr]
    texts = [page.fields_table.item(i, 0).text() for i in range(page.fields_table.rowCount())]
    assert "assay" in texts

    page.select_field("assay")
    assert page.rename_button.isEnabled() and page.drop_button.isEnabled()
    _, state = _change(qtbot, w, lambda: page.rename_field("assay", "assay_level"))
    assert _field(state, "assay") is None and _field(state, "assay_level").filled == rows

    _, state = _change(qtbot, w, lambda: page.update_field("assay_level", description="level", allowed=[
        "low", "high", "very high"]))
    assert _field(state, "assay_level").allowed == ("low", "high", "very high")

    page.select_field("assay_level")
    asked: list[str] = []
    page.confirm = lambda title, text: asked.append(text) is None  # says yes, records the question
    _, state = _change(qtbot, w, page.drop_button.click)
    assert asked and "assay_level" in asked[0]
    assert _field(state, "assay_level") is None

    # A built-in field cannot be renamed or dropped: its buttons are disabled.
    page.select_field("length")
    assert not page.rename_button.isEnabled() and not page.drop_button.isEnabled()


def test_a_bad_name_shows_its_message_and_changes_nothing(qtbot: Any, window: MainWindow) -> None:
    w, page = window, window.schema_page
    dialog = AddFieldDialog(w.engine, w.session, w)  # type: ignore[arg-type]
    dialog.name_edit.setText("length")
    qtbot.waitUntil(lambda: "built-in" in dialog.name_message.text(), timeout=LONG_MS)
    assert not dialog.ok_button.isEnabled()
    dialog.name_edit.setText("2nd_try")
    qtbot.waitUntil(lambda: "not a valid field name" in dialog.name_message.text(), timeout=LONG_MS)
    assert not dialog.ok_button.isEnabled()
    dialog.name_edit.setText("reviewed")
    qtbot.waitUntil(lambda: dialog.name_message.text() == "" and dialog.ok_button.isEnabled(), timeout=LONG_MS)
    dialog.type_combo.setCurrentText("category")
    assert not dialog.ok_button.isEnabled()  # a category needs its allowed values
    dialog.allowed_edit.setText("yes, no")
    assert dialog.ok_button.isEnabled()
    assert dialog.values()["allowed"] == ["yes", "no"]
    dialog.reject()

    version, names = w.summary.version, [f.name for f in page.state.fields]  # type: ignore[union-attr]
    with qtbot.waitSignal(w.job_failed, timeout=LONG_MS) as failed:
        page.add_field("Length", "text")
    assert "built-in" in failed.args[0]
    assert "Not changed" in page.status_label.text()
    with qtbot.waitSignal(page.state_shown, timeout=LONG_MS) as shown:
        page.refresh()
    assert shown.args[0].version == version and [f.name for f in shown.args[0].fields] == names


def _select_rows(w: MainWindow, rows: list[int]) -> None:
    view = w.browse_page.browse_table
    view.clearSelection()
    for r in rows:
        index = view.model().index(r, 0)
        view.selectionModel().select(index, QItemSelectionModel.SelectionFlag.Select
                                     | QItemSelectionModel.SelectionFlag.Rows)


def test_set_value_for_selected_rows_and_edit_a_cell(qtbot: Any, window: MainWindow,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    w, page = window, window.schema_page
    _change(qtbot, w, lambda: page.add_field("assay", "category", allowed=["low", "high"]))
    with qtbot.waitSignal(w.page_shown, timeout=LONG_MS):
        w.tabs.setCurrentIndex(1)
    assert "assay" in w.browse_page.browse_table.source.editable
    _select_rows(w, [0, 2, 4])
    hashes = w.browse_page.selected_hashes()
    assert len(hashes) == 3

    def accept(dialog: SetValueDialog) -> int:
        dialog.field_combo.setCurrentText("assay")
        dialog.value_combo.setCurrentText("HIGH")  # any case: stored in the allowed spelling
        return QDialog.DialogCode.Accepted.value

    monkeypatch.setattr(SetValueDialog, "exec", accept)
    with qtbot.waitSignal(w.page_shown, timeout=LONG_MS) as shown, \
            qtbot.waitSignal(page.state_shown, timeout=LONG_MS) as state:
        w.act_set_value.trigger()
    table = shown.args[0].rows
    values = dict(zip(table.column("seq_hash").to_pylist(), table.column("assay").to_pylist(), strict=True))
    assert [values[h] for h in hashes] == ["high"] * 3
    assert sum(v is not None for v in values.values()) == 3
    assert _field(state.args[0], "assay").filled == 3

    # A value the field does not allow is refused with the engine's message; nothing changes.
    version = w.summary.version  # type: ignore[union-attr]
    model = w.browse_page.browse_table.source
    column = model.column_names.index("assay")
    with qtbot.waitSignal(w.job_failed, timeout=LONG_MS) as failed:
        model.setData(model.index(1, column), "medium")
    assert "medium" in failed.args[0] and w.summary.version == version  # type: ignore[union-attr]

    # In-cell editing of a user field saves that one cell.
    row_hash = model.value(1, "seq_hash")
    with qtbot.waitSignal(w.page_shown, timeout=LONG_MS) as shown:
        model.setData(model.index(1, column), "low")
    table = shown.args[0].rows
    values = dict(zip(table.column("seq_hash").to_pylist(), table.column("assay").to_pylist(), strict=True))
    assert values[row_hash] == "low" and w.summary.version == version + 1  # type: ignore[union-attr]
    # Built-in columns stay read-only.
    assert model.flags(model.index(1, column)) & Qt.ItemFlag.ItemIsEditable
    assert not model.flags(model.index(1, model.column_names.index("id"))) & Qt.ItemFlag.ItemIsEditable


def test_annotate_from_a_csv_with_preview_and_unmatched_keys(
    qtbot: Any, window: MainWindow, tmp_path: Path, prepared: tuple[Path, list[str]]
) -> None:
    w, page = window, window.schema_page
    _change(qtbot, w, lambda: page.add_field("ph_optimum", "float"))
    _change(qtbot, w, lambda: page.add_field("reviewed", "boolean"))
    ids = prepared[1]
    sheet = tmp_path / "lab.csv"
    with open(sheet, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "ph_optimum", "reviewed", "lab_notes"])  # lab_notes: not a field, left out
        writer.writerow([ids[0], "7.5", "yes", "x"])
        writer.writerow([ids[1], "6", "", "y"])
        writer.writerow([ids[2], "", "no", ""])
        writer.writerow(["NOT_IN_CATALOG_1", "5", "yes", ""])
        writer.writerow(["NOT_IN_CATALOG_2", "5", "no", ""])
    with qtbot.waitSignal(page.plan_ready, timeout=LONG_MS) as ready:
        page.preview_annotations(str(sheet), "id")
    plan = ready.args[0].plan
    dialog = page.preview_dialog
    assert dialog is not None and dialog.isVisible()
    assert ready.args[0].ignored == ["lab_notes"] and "lab_notes" in dialog.ignored_label.text()
    assert plan.rows == 3 and plan.cells == 4 and plan.unmatched_keys == ["NOT_IN_CATALOG_1", "NOT_IN_CATALOG_2"]
    assert dialog.preview.source.table.num_rows == 4  # type: ignore[union-attr]
    assert "2 key(s)" in dialog.unmatched_label.text()
    assert "NOT_IN_CATALOG_2" in dialog.unmatched.toPlainText()
    _, state = _change(qtbot, w, dialog.apply_button.click)
    assert _field(state, "ph_optimum").filled == 2 and _field(state, "reviewed").filled == 2
    assert "annotate from lab.csv" in state.versions[-1].message

    # A spreadsheet with a bad value is refused with line and column; nothing changes.
    bad = tmp_path / "bad.tsv"
    bad.write_text(f"id\tph_optimum\n{ids[0]}\tacidic\n")
    with qtbot.waitSignal(w.job_failed, timeout=LONG_MS) as failed:
        page.preview_annotations(str(bad), "id")
    assert "acidic" in failed.args[0]

    # A sheet with no user-field column at all: the engine's message says what to add.
    other = tmp_path / "other.csv"
    other.write_text(f"id,melting_point\n{ids[0]},71\n")
    with qtbot.waitSignal(w.job_failed, timeout=LONG_MS) as failed:
        page.preview_annotations(str(other), "id")
    assert "melting_point" in failed.args[0] and "add it first" in failed.args[0]


def test_history_shows_versions_and_restore_brings_a_field_back(qtbot: Any, window: MainWindow) -> None:
    w, page = window, window.schema_page
    _change(qtbot, w, lambda: page.add_field("batch", "integer", default="3"))
    with_field = w.summary.version  # type: ignore[union-attr]
    _, state = _change(qtbot, w, lambda: page.drop_field("batch"))
    assert _field(state, "batch") is None
    assert page.history_table.rowCount() == len(state.versions) >= 3
    top = page.history_table.item(0, 3).text()  # newest first
    assert "drop" in top and "batch" in top

    page.select_version(with_field)
    assert page.restore_button.isEnabled()
    with qtbot.waitSignal(page.version_shown, timeout=LONG_MS) as shown:
        page.show_version_button.click()
    view = shown.args[0]
    assert view.version == with_field and "batch" in view.rows.column_names
    assert set(view.rows.column("batch").to_pylist()) == {3}
    assert page.version_dialog is not None and page.version_dialog.table.source.rowCount() == view.rows.num_rows
    page.version_dialog.reject()

    page.confirm = lambda title, text: False
    page.restore_button.click()  # declined: nothing happens
    assert w.summary.version == state.version  # type: ignore[union-attr]
    page.confirm = lambda title, text: True
    _, restored = _change(qtbot, w, page.restore_button.click)
    assert _field(restored, "batch").filled == w.summary.rows  # type: ignore[union-attr]
    assert restored.version == state.version + 1


# ---------------------------------------------------------------------- benchmark page
def test_benchmark_runs_shows_results_plots_and_saves(qtbot: Any, window: MainWindow, tmp_path: Path) -> None:
    w, page = window, window.benchmark_page
    w.tabs.setCurrentIndex(3)
    page.source_combo.setCurrentIndex(page.source_combo.findData("synthetic"))
    page.size_spin.setValue(300)
    page.queries_spin.setValue(20)
    page.k_spin.setValue(5)
    with qtbot.waitSignal(page.result_shown, timeout=LONG_MS) as shown:
        page.run_button.click()
        assert page.cancel_button.isEnabled() and not page.run_button.isEnabled()
    outcome = shown.args[0]
    r = outcome.result
    assert r.source == "synthetic" and r.rows == 300 and len(r.latencies_ms) == 20
    assert r.recall == pytest.approx(1.0)  # exact search
    assert page.results_table.rowCount() == 4
    verdicts = {page.results_table.item(i, 3).text() for i in range(4)}
    assert verdicts <= {"PASS", "FAIL", "not measured"} and "PASS" in verdicts  # recall of exact search passes
    assert set(page.plots) == {"latency", "throughput", "effort"}
    assert page.plots["latency"].getPlotItem().listDataItems() or page.plots["latency"].getPlotItem().items
    assert page.plots["throughput"].getPlotItem().listDataItems()
    assert outcome.saved and Path(outcome.saved).is_file()
    assert page.runs_table.rowCount() == 1 and page.run_button.isEnabled()

    saved = tmp_path / "run.json"
    with qtbot.waitSignal(w.engine.busy_changed, timeout=LONG_MS, check_params_cb=lambda busy: not busy):
        page.save(str(saved))
    assert json.loads(saved.read_text())["rows"] == 300
    as_csv = tmp_path / "run.csv"
    with qtbot.waitSignal(w.engine.busy_changed, timeout=LONG_MS, check_params_cb=lambda busy: not busy):
        page.save(str(as_csv))
    assert "p99_ms" in as_csv.read_text()


def test_benchmark_of_an_indexed_catalog_plots_recall_against_effort(
    qtbot: Any, tmp_path: Path, prepared: tuple[Path, list[str]], open_window: Callable[[Path], MainWindow]
) -> None:
    location = tmp_path / "indexed"
    shutil.copytree(prepared[0], location)
    catalog = Catalog.open(str(location))
    catalog.dataset().create_index("vec_kmer", index_type="IVF_PQ", num_partitions=2, num_sub_vectors=16,
                                   metric="cosine")
    w = open_window(location)
    page = w.benchmark_page
    page.source_combo.setCurrentIndex(page.source_combo.findData("catalog"))
    page.import_spin.setValue(100)
    page.queries_spin.setValue(10)
    with qtbot.waitSignal(page.result_shown, timeout=LONG_MS) as shown:
        page.run()
    r = shown.args[0].result
    assert r.source == "catalog" and r.index and "PQ" in r.index and r.effort
    curves = page.plots["effort"].getPlotItem().listDataItems()
    assert sorted(c.name() for c in curves) == ["nprobes only", "refine ×10"]
    # An earlier run, selected in the table, is shown again.
    with qtbot.waitSignal(page.result_shown, timeout=LONG_MS):
        page.run()
    assert page.runs_table.rowCount() == 2
    page.runs_table.selectRow(1)  # the older run
    assert str(page.runs[0].started) in page.status_label.text()


def test_benchmark_cancel(qtbot: Any, window: MainWindow) -> None:
    page = window.benchmark_page
    page.source_combo.setCurrentIndex(page.source_combo.findData("synthetic"))
    page.size_spin.setValue(200_000)
    job = page.run()
    assert job is not None
    with qtbot.waitSignal(job.progress, timeout=LONG_MS):
        pass
    with qtbot.waitSignal(job.cancelled, timeout=LONG_MS):
        page.cancel_button.click()
    assert "Cancelled" in page.status_label.text()
    assert page.run_button.isEnabled() and not page.cancel_button.isEnabled()
    assert page.outcome is None and page.runs_table.rowCount() == 0


# ---------------------------------------------------------------------- engine thread
def test_a_change_committed_before_cancel_reached_it_is_still_reported(qtbot: Any) -> None:
    from genocat_desktop.ui.engine_thread import EngineThread

    engine = EngineThread()
    try:
        def too_late(progress: Any, cancel: Any) -> str:
            cancel.cancel()  # as if Cancel was pressed just after the commit
            return "committed"

        change = engine.submit("schema-change", "a change", too_late)
        with qtbot.waitSignal(change.finished, timeout=LONG_MS) as done:
            pass
        assert done.args == ["committed"] and change.state == "done"
        page = engine.submit("browse", "a page", too_late)  # a superseded read is dropped
        with qtbot.waitSignal(page.cancelled, timeout=LONG_MS):
            pass
        assert page.state == "cancelled"
    finally:
        assert engine.shutdown(timeout_ms=LONG_MS)
    assert not engine.running
