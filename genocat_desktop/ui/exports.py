"""The window's Export commands: hits of the Search tab or rows of the Browse tab to CSV or FASTA.

Functions of the :class:`~genocat_desktop.ui.main_window.MainWindow` they serve (its
``export_dialog`` and ``export_to`` call them): the file is written by a job on the engine thread,
and the status bar says what was written; the window's ``export_done`` signal follows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from genocat_desktop.ui.settings import settings
from genocat_desktop.ui.widgets.progress import export_message

if TYPE_CHECKING:
    from genocat_desktop.ui.engine_thread import Job
    from genocat_desktop.ui.main_window import MainWindow

__all__ = ["export_dialog", "export_to"]


def export_dialog(window: MainWindow, selected: bool = False) -> None:
    """Ask for a file name and export (hits on the Search tab, rows on the Browse tab).

    Parameters
    ----------
    window
        The main window.
    selected
        Export only the selected rows.
    """
    browsing = window.showing("browse")
    if not browsing and window.search_page.outcome is None:
        window.statusBar().showMessage("Nothing to export yet: run a search (or browse the catalog).", 5000)
        return
    start = str(settings().value("paths/export", str(Path.home())))
    default = "catalog_rows.csv" if browsing else "hits.csv"
    path, chosen = QFileDialog.getSaveFileName(
        window, "Export selected rows" if selected else "Export", str(Path(start) / default),
        "CSV, one row per hit (*.csv);;FASTA, each sequence once (*.fasta)",
    )
    if not path:
        return
    if not Path(path).suffix:
        path += ".fasta" if "FASTA" in chosen else ".csv"
    settings().setValue("paths/export", str(Path(path).parent))
    export_to(window, path, selected=selected, browsing=browsing)


def export_to(window: MainWindow, path: str, *, selected: bool = False, browsing: bool = False) -> Job | None:
    """Export hits (or browsed rows) to ``path`` (.csv or .fasta) on the engine thread.

    Parameters
    ----------
    window
        The main window.
    path
        The file to write; its extension picks the format.
    selected
        Export only the selected rows.
    browsing
        Export the Browse tab's rows instead of the search hits.

    Returns
    -------
    Job or None
        The export job, or ``None`` when there is nothing to export.
    """
    page = window.browse_page if browsing else window.search_page
    fn = page.export_job(path, selected=selected)
    if fn is None:
        return None
    hits = None if browsing else _hits_exported(window, selected)
    job = window.engine.submit("export", f"Exporting to {Path(path).name}", fn)
    job.finished.connect(lambda n: _on_exported(window, n, path, hits))
    job.failed.connect(lambda m, d: window.job_error("Export failed", m, d))
    return job


def _hits_exported(window: MainWindow, selected: bool) -> tuple[int, int]:
    """(hits, queries) that an export of the search results writes."""
    outcome = window.search_page.outcome
    if selected or outcome is None:
        return len(window.search_page.hits_table.source_rows()), 1
    return sum(r.hits.num_rows for r in outcome.results), len(outcome.results)


def _on_exported(window: MainWindow, count: int, path: str, hits: tuple[int, int] | None = None) -> None:
    window.statusBar().showMessage(export_message(count, path, hits), 12000)
    window.export_done.emit(count)
