"""The search history: a Qt-free store (bounded, deduplicated, atomic) and the Search tab's History button."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from genocat_desktop.app.history import SearchEntry, SearchHistory

LONG_MS = 60_000
QUERY = ">q1 test\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"


def test_store_is_bounded_deduplicated_and_survives_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "h" / "search_history.json"
    history = SearchHistory(path, limit=5)
    for i in range(8):
        history.add(SearchEntry(f"MKV{i}", k=i + 1))
    history.add(SearchEntry("MKV6", k=7))  # the same search again moves to the top, no copy
    again = SearchHistory(path, limit=5)
    assert [e.query for e in again.entries] == ["MKV6", "MKV7", "MKV5", "MKV4", "MKV3"]
    assert again.last() == SearchEntry("MKV6", k=7)
    assert SearchEntry("MKV6", k=8) not in again.entries  # other parameters: another search
    assert not list(path.parent.glob("*.tmp"))  # the atomic write left no temporary file
    assert json.loads(path.read_text())["format"] == 1


def test_damaged_file_and_huge_query(tmp_path: Path) -> None:
    path = tmp_path / "search_history.json"
    path.write_text("{ not json")
    history = SearchHistory(path)
    assert history.entries == []
    assert not history.add(SearchEntry("A" * 300_000))
    assert history.add(SearchEntry("MKV", filters=(("organism", "contains", "Homo"),)))
    assert SearchHistory(path).last() == SearchEntry("MKV", filters=(("organism", "contains", "Homo"),))


@pytest.fixture
def window_factory(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    from genocat_desktop.ui.main_window import MainWindow

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    windows: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow(str(tmp_path / "catalog"), [])
        qtbot.addWidget(window)
        windows.append(window)
        with qtbot.waitSignal(window.catalog_opened, timeout=LONG_MS):
            window.show()
        return window

    yield make
    for window in windows:
        window.confirm = lambda title, text: True
        window.close()


def test_history_survives_a_restart_and_reruns_in_one_click(qtbot: Any, window_factory: Any, tmp_path: Path) -> None:
    from genocat_desktop.resources import sample_fasta

    first = window_factory()
    with qtbot.waitSignal(first.imports_done, timeout=LONG_MS):
        first.import_paths([str(sample_fasta())])
    page = first.search_page
    page.query_edit.setPlainText(QUERY)
    page.k_spin.setValue(7)
    page.description_edit.setText("kinase")
    with qtbot.waitSignal(first.results_shown, timeout=LONG_MS):
        first.run_search()
    assert page.mode() == "auto"  # the default: the most sensitive mode the catalog's size allows
    assert page.history.last() == SearchEntry(QUERY, 7, False, page.evalue_edit.text(),
                                              page.embedder_combo.currentData(), "kinase", mode="auto")
    first.confirm = lambda title, text: True
    first.close()

    # A restart: the last query and its parameters are back in the form.
    second = window_factory()
    page = second.search_page
    assert page.query_edit.toPlainText() == QUERY
    assert page.k_spin.value() == 7 and page.description_edit.text() == "kinase"
    # The History button lists it; choosing it (keyboard: Ctrl+H, Enter) runs the same search again.
    page.query_edit.setPlainText("MKVLAAGIVALLLAAG")
    page.k_spin.setValue(3)
    page.history_button.menu_.aboutToShow.emit()
    actions = [a for a in page.history_button.menu_.actions() if a.isEnabled() and a.text().startswith("q1")]
    assert len(actions) == 1 and not page.history_button.shortcut().isEmpty()
    with qtbot.waitSignal(second.results_shown, timeout=LONG_MS) as shown:
        actions[0].trigger()
    assert page.query_edit.toPlainText() == QUERY and page.k_spin.value() == 7
    assert shown.args[0].results[0].hits.num_rows == 7  # run with the entry's k, not the 3 typed before
    assert len(page.history.entries) == 1  # the same search again: still one entry
