"""The import queue (one row per file: progress, rate, ETA, cancel) and the report shown at the end."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.ui.app import error_color, muted_color
from genocat_desktop.ui.engine_thread import Job
from genocat_desktop.ui.widgets.progress import format_eta, show_fraction

__all__ = ["ImportPanel", "ImportReportDialog", "describe_progress"]


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def describe_progress(p: Any) -> tuple[int, str]:
    """A progress bar value (0-1000, -1 when unknown) and a status line for an engine ``Progress``."""
    fraction = p.fraction
    value = int(fraction * 1000) if fraction is not None else -1
    eta = format_eta(p.eta_seconds)
    if p.phase == "checking":
        rate = f", {_bytes(p.rate)}/s" if p.rate else ""
        text = f"Checking records: {_bytes(p.done)} of {_bytes(p.total or 0)}{rate}"
    elif p.phase == "importing":
        rate = f", {p.rate:,.0f} seq/s" if p.rate else ""
        text = f"Importing {p.done:,} of {p.total or 0:,} new sequences{rate}"
    elif p.phase == "done":
        text = "Saving…"
    else:
        text = p.message or p.phase
    return value, f"{text}  {eta}".strip()


class _FileRow(QFrame):
    cancel_requested = Signal(object)

    def __init__(self, job: Job, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.path = path
        layout = QGridLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        self.name = QLabel(f"<b>{html.escape(path.name)}</b>")
        self.name.setToolTip(str(path))
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(12)
        self.status = QLabel("Waiting…")
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop importing this file; nothing from it is kept")
        self.cancel.clicked.connect(lambda: self.cancel_requested.emit(self))
        layout.addWidget(self.name, 0, 0)
        layout.addWidget(self.bar, 0, 1)
        layout.addWidget(self.cancel, 0, 2, 2, 1)
        layout.addWidget(self.status, 1, 0, 1, 2)
        layout.setColumnStretch(1, 1)
        job.started.connect(lambda: self.status.setText("Starting…"))
        job.progress.connect(self.on_progress)

    def on_progress(self, p: Any) -> None:
        value, text = describe_progress(p)
        show_fraction(self.bar, None if value < 0 else value / 1000)
        self.status.setText(text)

    def finish(self, text: str, ok: bool) -> None:
        self.bar.setRange(0, 1000)
        self.bar.setValue(1000 if ok else 0)
        self.status.setText(text)
        self.status.setStyleSheet("" if ok else f"color:{error_color()}")
        self.cancel.setEnabled(False)


class ImportPanel(QWidget):
    """The files being imported, one row each; hidden when nothing is queued.

    Signals
    -------
    batch_finished(list)
        Every queued file is done: a list of ``(path, FileReport | None, message)``.
    cancel_requested(object)
        The user cancelled one file's :class:`Job`.
    """

    batch_finished = Signal(list)
    cancel_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.title = QLabel("<b>Importing</b>")
        self.cancel_all = QPushButton("Cancel all")
        self.cancel_all.setToolTip("Stop the import; files already finished stay imported")
        self.cancel_all.clicked.connect(self._cancel_all)
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.cancel_all)
        outer.addLayout(head)
        self._list = QWidget()
        self._rows_layout = QVBoxLayout(self._list)
        self._rows_layout.setContentsMargins(0, 0, 0, 0)
        self._rows_layout.setSpacing(2)
        self._rows_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._list)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        self._rows: list[_FileRow] = []
        self._results: list[tuple[str, Any, str]] = []
        self.setVisible(False)

    def add(self, job: Job, path: Path) -> None:
        """Track one file's import job."""
        if not any(not r.job.done for r in self._rows):
            self._clear()
        row = _FileRow(job, path, self._list)
        row.cancel_requested.connect(lambda r: self.cancel_requested.emit(r.job))
        self._rows.append(row)
        self._rows_layout.insertWidget(self._rows_layout.count() - 1, row)
        job.finished.connect(lambda outcome, r=row: self._on_finished(r, outcome))
        job.failed.connect(lambda message, details, r=row: self._on_failed(r, message))
        job.cancelled.connect(lambda r=row: self._on_failed(r, "cancelled before it started; nothing imported"))
        self._update_title()
        self.setVisible(True)

    def _clear(self) -> None:
        for row in self._rows:
            self._rows_layout.removeWidget(row)
            row.deleteLater()
        self._rows = []
        self._results = []

    @property
    def active(self) -> bool:
        """Whether a file is still queued or importing."""
        return any(not r.job.done for r in self._rows)

    def _update_title(self) -> None:
        done = sum(1 for r in self._rows if r.job.done)
        self.title.setText(f"<b>Importing {plural(len(self._rows), 'file')}</b> — {done} done")

    def _on_finished(self, row: _FileRow, outcome: Any) -> None:
        report = outcome.report.files[0] if outcome.report.files else None
        if report is None:
            row.finish("cancelled; nothing imported", False)
            self._results.append((str(row.path), None, "cancelled; nothing imported"))
        else:
            summary = report.summary().split(": ", 1)[-1]
            row.finish(summary, report.ok)
            self._results.append((str(row.path), report, ""))
        self._after(row)

    def _on_failed(self, row: _FileRow, message: str) -> None:
        row.finish(message, False)
        self._results.append((str(row.path), None, message))
        self._after(row)

    def _after(self, row: _FileRow) -> None:
        self._update_title()
        if not self.active:
            self.cancel_all.setEnabled(False)
            self.batch_finished.emit(list(self._results))
        else:
            self.cancel_all.setEnabled(True)

    def _cancel_all(self) -> None:
        for row in self._rows:
            if not row.job.done:
                self.cancel_requested.emit(row.job)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``"1 record"``, ``"2 records"``: a count with its noun in the right number (thousands separated)."""
    return f"{count:,} {singular if count == 1 else plural_form or singular + 's'}"


def _issues_html(report: Any) -> str:
    """The warnings and skipped records kept in ``report`` as a list (the count of the rest after them)."""
    issues = "".join(f"<li>{html.escape(str(i))}</li>" for i in report.issues[:50])
    more = report.skipped + report.warnings - min(len(report.issues), 50)
    if more > 0:
        issues += f"<li>… and {more:,} more</li>"
    return f"<ul style='color:{muted_color()}'>{issues}</ul>" if issues else ""


def report_html(results: list[tuple[str, Any, str]]) -> str:
    """The end-of-import report as HTML: per file, what was imported, merged, skipped, or why not."""
    parts = []
    red, grey = error_color(), muted_color()
    for path, report, message in results:
        name = html.escape(Path(path).name)
        if report is None:
            parts.append(f"<p><b>{name}</b>: <span style='color:{red}'>not imported: {html.escape(message)}</span></p>")
            continue
        if report.error:
            # A file rejected because every record was skipped says "see the warnings": list them here.
            parts.append(
                f"<p><b>{name}</b>: <span style='color:{red}'>not imported: {html.escape(report.error)}</span><br>"
                f"<span style='color:{grey}'>Nothing from this file was added to the catalog.</span></p>"
                + _issues_html(report)
            )
            continue
        items = [f"{plural(report.imported, 'new sequence')} from {plural(report.records, 'record')}"]
        if report.duplicates_in_file:
            items.append(f"{plural(report.duplicates_in_file, 'duplicate')} within the file merged (kept as aliases)")
        if report.already_in_catalog:
            items.append(f"{report.already_in_catalog:,} already in the catalog ({report.catalog_changes()})")
        if report.skipped:
            items.append(f"{plural(report.skipped, 'record')} skipped")
        if report.warnings:
            items.append(plural(report.warnings, "warning"))
        parts.append(f"<p><b>{name}</b>: " + "; ".join(items) + "</p>" + _issues_html(report))
    return "".join(parts)


class ImportReportDialog(QDialog):
    """The per-file import report (non-modal; text can be selected and copied)."""

    def __init__(self, results: list[tuple[str, Any, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import report")
        self.resize(640, 380)
        layout = QVBoxLayout(self)
        failed = sum(1 for _, r, _ in results if r is None or r.error)
        imported = sum(r.imported for _, r, _ in results if r is not None and not r.error)
        files = plural(len(results), "file")
        headline = f"{plural(imported, 'new sequence')} imported from {len(results) - failed} of {files}."
        if failed:
            them = "it" if failed == 1 else "them"
            headline += f" {plural(failed, 'file')} not imported (the catalog is unchanged for {them})."
        self.headline = QLabel(headline)
        self.headline.setWordWrap(True)
        layout.addWidget(self.headline)
        self.text = QTextBrowser()
        self.text.setHtml(report_html(results))
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy report", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.plain_text()))
        buttons.rejected.connect(self.close)
        buttons.accepted.connect(self.close)
        layout.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)

    def plain_text(self) -> str:
        """The report as plain text."""
        return self.headline.text() + "\n\n" + self.text.toPlainText()
