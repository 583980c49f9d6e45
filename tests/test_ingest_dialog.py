"""File → Bulk ingest…, offscreen: real FASTA through the dialog, cancel, the report, Ray when installed.

The ingest runs as a job on the window's engine thread; every test waits on
signals, never on a fixed delay, and closes its window (the engine thread must stop).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings

from genocat_desktop.engine import Catalog, import_files, ray_available
from genocat_desktop.ui.dialogs.ingest import BulkIngestDialog
from genocat_desktop.ui.main_window import MainWindow

LONG_MS = 180_000


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path) -> Iterator[None]:
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield


@pytest.fixture
def window(qtbot: Any, tmp_path: Path) -> Iterator[MainWindow]:
    w = MainWindow(str(tmp_path / "catalog"))
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.catalog_opened, timeout=LONG_MS):
        w.show()
    yield w
    w.confirm = lambda title, text: True
    w.close()
    assert not w.engine.running


def _dialog(qtbot: Any, window: MainWindow) -> BulkIngestDialog:
    assert window.act_bulk_ingest in window.menuBar().actions()[0].menu().actions()
    dialog = window.bulk_ingest_dialog()
    assert isinstance(dialog, BulkIngestDialog)
    qtbot.addWidget(dialog)
    return dialog


def _catalog(window: MainWindow) -> Catalog:
    assert window.summary is not None
    return Catalog.open(window.summary.location, create=False)


def test_local_ingest_through_the_dialog_fills_the_catalog(
    qtbot: Any, window: MainWindow, tmp_path: Path, shared_file: Callable[[str], Path], edge_dir: Path
) -> None:
    files = [shared_file("proteins/labeled/families_cap100.faa"), shared_file("proteins/unlabeled/diamond_nr_300.faa")]
    bad = edge_dir / "26_fastq_not_fasta.fastq"
    dialog = _dialog(qtbot, window)
    assert not dialog.start_button.isEnabled()  # nothing to ingest yet
    dialog.add_inputs([*map(str, files), str(bad), str(files[0])])  # the repeated file is listed once
    assert dialog.input_list() == [*map(str, files), str(bad)]
    assert dialog.engine_choice() == ("local", None)
    dialog.workers.setValue(1)  # one spawned worker process, started from the engine thread
    phases: list[str] = []
    with qtbot.waitSignal(dialog.ingest_finished, timeout=LONG_MS) as blocker:
        job = dialog.start()
        assert job is not None and job.kind == "ingest"
        job.progress.connect(lambda p: phases.append(p.phase))
        assert dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    report = blocker.args[0].report
    assert report.committed and report.engine == "local" and report.workers == 1, report.error
    reference = Catalog.open(tmp_path / "reference")
    import_files(reference, files)
    catalog = _catalog(window)
    assert catalog.count() == reference.count() == report.imported > 0
    assert sorted(catalog.dataset().to_table(columns=["seq_hash"]).column(0).to_pylist()) == sorted(
        reference.dataset().to_table(columns=["seq_hash"]).column(0).to_pylist()
    )
    assert "checking" in phases and "writing" in phases
    text = dialog.report_view.toPlainText()
    assert f"{report.imported:,} new sequences added" in text
    assert bad.name in text and "FASTQ" in text  # the rejected input is named, with the reason
    assert window.summary is not None and window.summary.rows == catalog.count()  # the window was refreshed
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_cancel_in_the_dialog_commits_nothing(
    qtbot: Any, window: MainWindow, data_dir: Path, edge_dir: Path
) -> None:
    dialog = _dialog(qtbot, window)
    dialog.add_inputs([str(data_dir / "families_small.faa")])
    dialog.workers.setValue(0)
    with qtbot.waitSignal(dialog.ingest_finished, timeout=LONG_MS):
        dialog.start()
    before = _catalog(window)
    version, rows = before.version, before.count()
    assert rows > 0

    dialog.inputs.clear()
    dialog.add_inputs([str(edge_dir / "39_many_tiny_records_200k.fa")])
    with qtbot.waitSignal(dialog.ingest_finished, timeout=LONG_MS) as blocker:
        job = dialog.start()
        assert job is not None
        # Cancel (as Esc would) at the first progress report: the ingest is then certainly running.
        job.progress.connect(lambda p: dialog.reject())
    report = blocker.args[0].report
    assert report.cancelled and not report.committed
    after = _catalog(window)
    assert (after.version, after.count()) == (version, rows)
    assert "Cancelled" in dialog.status.text() and "Nothing was added" in dialog.report_view.toPlainText()
    assert dialog.isVisible()  # Esc during the run cancelled it; it did not close the dialog


def test_ray_option_disabled_without_ray(qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    import genocat_desktop.ui.dialogs.ingest as module

    monkeypatch.setattr(module, "_ray_installed", lambda: False)
    dialog = _dialog(qtbot, window)
    assert not dialog.ray_radio.isEnabled()
    assert "pip install genocat[ray]" in dialog.ray_radio.toolTip()
    dialog.address.setEditText("ray://head:10001")
    assert dialog.engine_choice() == ("local", None)


@pytest.mark.skipif(not ray_available(), reason="the ray extra is not installed")
def test_ray_ingest_through_the_dialog(
    qtbot: Any, ray_cluster: None, window: MainWindow, shared_file: Callable[[str], Path]
) -> None:
    dialog = _dialog(qtbot, window)
    assert dialog.ray_radio.isEnabled()
    dialog.add_inputs([str(shared_file("proteins/unlabeled/diamond_nr_300.faa"))])
    dialog.ray_radio.setChecked(True)
    assert dialog.address.isEnabled()
    dialog.address.setCurrentIndex(0)  # auto: the session's running Ray
    assert dialog.engine_choice() == ("ray", "auto")
    with qtbot.waitSignal(dialog.ingest_finished, timeout=LONG_MS) as blocker:
        dialog.start()
    report = blocker.args[0].report
    assert report.committed and report.engine == "ray", report.error
    assert _catalog(window).count() == report.imported > 250


def test_the_dialog_calls_genes_as_the_window_does(qtbot: Any, window: MainWindow,
                                                    shared_file: Callable[[str], Path]) -> None:
    contig = shared_file("dna/MIIJ01000039.fna.gz")
    window.act_call_genes.setChecked(True)
    window.act_call_genes.triggered.emit()  # remembered, as a click on the menu item does
    dialog = _dialog(qtbot, window)
    assert dialog.call_genes.isChecked()  # the window's choice is the default
    dialog.add_inputs([str(contig)])
    dialog.workers.setValue(0)
    with qtbot.waitSignal(dialog.ingest_finished, timeout=LONG_MS) as blocker:
        dialog.start()
    report = blocker.args[0].report
    assert report.committed and report.proteins_predicted == 404 and report.imported == 405, report.error
    assert "404 proteins predicted on 1 DNA record " in dialog.report_view.toPlainText()
    assert "cds_contig" in _catalog(window).schema.names
