"""File → Bulk ingest…: many files, folders or ``s3://`` prefixes, on this machine's cores or on Ray.

The dialog collects the inputs and the engine, submits one ``ingest`` job
(:func:`genocat_desktop.app.catalog.ingest_job`) to the window's
:class:`~genocat_desktop.ui.engine_thread.EngineThread`, shows its progress
(phase, parts, records, sequences per second, time left) and, at the end, the
report: rows added, duplicates, files that were not ingested and why. Cancel
stops the job; the engine then commits nothing.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app import catalog as catalog_ops
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.settings import settings
from genocat_desktop.ui.widgets.progress import format_eta, show_fraction

__all__ = ["RAY_ADDRESSES", "BulkIngestDialog", "ingest_report_html"]

#: Choices of the Ray address box: (shown text, address passed to the engine).
RAY_ADDRESSES: tuple[tuple[str, str | None], ...] = (
    ("auto (the cluster this machine belongs to)", "auto"),
    ("local (start a new Ray here for this ingest)", None),
)
_RAY_MISSING = "Ray is not installed; to use a Ray cluster: pip install genocat[ray]"
_PHASES = {
    "checking": "Checking", "deduplicating": "Deduplicating", "writing": "Writing", "committing": "Committing",
    "done": "Done",
}


def _ray_installed() -> bool:
    """Whether the optional Ray extra is importable (looked up, not imported: Ray is slow to load)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def record_accounting(report: Any) -> str:
    """Where every record read went, in words; the parts add up to ``report.records``.

    A record of an ingested file is new, a duplicate within its file, already in the catalog (or an
    earlier file), or skipped (invalid); every record of a file that was not ingested is counted once,
    under that file, whatever its checks found (its skipped records are part of its ``records``).
    """
    ingested = [f for f in report.files if f.ok]
    parts = [
        (report.imported, "new"),
        (sum(f.duplicates_in_file for f in ingested), "duplicates within a file"),
        (sum(f.already_in_catalog for f in ingested), "already in the catalog or an earlier file"),
        (sum(f.skipped for f in ingested), "skipped as invalid (see the warnings)"),
        (sum(f.records for f in report.files if not f.ok), "in files that were not ingested"),
    ]
    said = ", ".join(f"{n:,} {what}" for n, what in parts if n)
    return f"Of {_plural(report.records, 'record')} read: {said or 'none'}"


def ingest_report_html(report: Any) -> str:
    """The end-of-ingest report as HTML: what was added, what was a duplicate, what failed and why."""
    rows: list[str] = []
    if report.cancelled:
        rows.append("<p><b>Cancelled.</b> Nothing was added to the catalog.</p>")
    elif report.error:
        rows.append(f"<p><b>The ingest failed; the catalog is unchanged.</b><br>{html.escape(report.error)}</p>")
        if report.failed_parts:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in report.failed_parts[:20])
            rows.append(f"<p>Inputs whose tasks failed:</p><ul>{items}</ul>")
    else:
        version = f" (catalog version {report.version})" if report.version is not None else ""
        rows.append(
            f"<p><b>{report.imported:,} new sequences added</b>{version} from {report.records:,} records"
            + (f" and {_plural(report.proteins_predicted, 'protein')} predicted on "
               f"{_plural(report.contigs_called, 'DNA record')}"
               if report.contigs_called else "") + " in "
            f"{report.seconds:.1f} s ({report.rate:,.0f} records/s; {html.escape(report.engine)}, "
            f"{_plural(report.workers, 'worker')}).</p>"
            f"<p>{record_accounting(report)}; {_plural(report.aliases_added, 'identifier')} added as aliases.</p>"
        )
    failed = [f for f in report.files if f.error]
    if failed:
        items = "".join(
            f"<li><b>{html.escape(Path(f.path).name)}</b>: {html.escape(f.error or '')}</li>" for f in failed[:50]
        )
        more = f"<p>… and {len(failed) - 50} more.</p>" if len(failed) > 50 else ""
        rows.append(f"<p>{_plural(len(failed), 'file')} not ingested:</p><ul>{items}</ul>{more}")
    return "".join(rows)


class BulkIngestDialog(QDialog):
    """Choose inputs and an engine, run the ingest as an engine job, show progress and the report.

    Signals
    -------
    ingest_finished(object)
        The :class:`~genocat_desktop.app.catalog.IngestOutcome` (also after a cancel or failure: it says
        that nothing was committed).
    """

    ingest_finished = Signal(object)

    def __init__(self, engine: EngineThread, session: catalog_ops.Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Bulk ingest")
        self.setMinimumWidth(620)
        self.engine = engine
        self.session = session
        self.job: Job | None = None
        self.outcome: catalog_ops.IngestOutcome | None = None
        self._phase = ""
        self._phase_started = 0.0
        self.cores = os.cpu_count() or 1

        layout = QVBoxLayout(self)
        intro = QLabel(
            "Ingest many FASTA files at once with parallel workers. Large files are split into parts; "
            "everything is added in one step, or nothing if the ingest fails or is cancelled."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        layout.addWidget(self._build_inputs())
        layout.addWidget(self._build_engine_choice())
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_view = QTextBrowser()
        self.report_view.setVisible(False)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.report_view, 1)

        layout.addLayout(self._build_actions())
        self._update_buttons()

    def _build_inputs(self) -> QGroupBox:
        """The inputs list and the buttons that add and remove inputs."""
        box = QGroupBox("Inputs")
        inputs = QHBoxLayout(box)
        self.inputs = QListWidget()
        self.inputs.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.inputs.setToolTip("FASTA files (plain or compressed), folders of them, s3://bucket/prefix locations")
        inputs.addWidget(self.inputs, 1)
        buttons = QVBoxLayout()
        self.add_files_button = QPushButton("Add &files…")
        self.add_files_button.setToolTip("Add FASTA files")
        self.add_files_button.clicked.connect(self.choose_files)
        self.add_folder_button = QPushButton("Add f&older…")
        self.add_folder_button.setToolTip("Add a folder: every FASTA file below it")
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.add_s3_button = QPushButton("Add &S3 prefix…")
        self.add_s3_button.setToolTip(
            "Add s3://bucket/prefix/: every FASTA object under it (plain or gzip), read with the catalog's "
            "S3 settings and credentials"
        )
        self.add_s3_button.clicked.connect(self.ask_s3_prefix)
        self.remove_button = QPushButton("&Remove")
        self.remove_button.setToolTip("Remove the selected inputs (Del)")
        self.remove_button.clicked.connect(self.remove_selected)
        QShortcut(QKeySequence.StandardKey.Delete, self.inputs, self.remove_selected)
        for b in (self.add_files_button, self.add_folder_button, self.add_s3_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        inputs.addLayout(buttons)
        return box

    def _build_engine_choice(self) -> QGroupBox:
        """Where the workers run (this machine or a Ray cluster) and how many."""
        ebox = QGroupBox("Run on")
        form = QFormLayout(ebox)
        self.local_radio = QRadioButton(f"This machine ({self.cores} cores)")
        self.local_radio.setToolTip("Worker processes on this computer")
        self.ray_radio = QRadioButton("Ray cluster")
        self.address = QComboBox()
        self.address.setEditable(True)
        for text, _ in RAY_ADDRESSES:
            self.address.addItem(text)
        self.address.setToolTip("auto: the running cluster; local: start a Ray here; or type ray://host:10001")
        group = QButtonGroup(self)
        group.addButton(self.local_radio)
        group.addButton(self.ray_radio)
        self.local_radio.setChecked(True)
        if _ray_installed():
            self.ray_radio.setToolTip("Ray tasks on a cluster: every node must read the inputs and the catalog")
        else:
            self.ray_radio.setEnabled(False)
            self.ray_radio.setToolTip(_RAY_MISSING)
        self.address.setEnabled(False)
        self.ray_radio.toggled.connect(self.address.setEnabled)
        row = QHBoxLayout()
        row.addWidget(self.ray_radio)
        row.addWidget(self.address, 1)
        form.addRow(self.local_radio)
        form.addRow(row)
        self.workers = QSpinBox()
        self.workers.setRange(0, 4096)
        self.workers.setValue(self.cores)
        self.workers.setSpecialValueText("0 (in the app itself, no worker processes)")
        self.workers.setToolTip("Worker processes here, or CPUs of a Ray started here (ignored for a running "
                                "cluster)")
        form.addRow("&Workers:", self.workers)
        # The window's File → Call genes at import is the default: the same gene calling as an import.
        self.call_genes = QCheckBox("Call &genes: also ingest the proteins predicted on DNA records")
        self.call_genes.setToolTip("Prodigal (pyrodigal) finds the genes of each DNA record; their proteins are "
                                   "ingested too,\nlinked to their record by cds_contig, cds_start, cds_end and "
                                   "cds_strand")
        self.call_genes.setChecked(bool(settings().value("import/call_genes", False, type=bool)))
        form.addRow(self.call_genes)
        return ebox

    def _build_actions(self) -> QHBoxLayout:
        """Start, Cancel and Close."""
        actions = QHBoxLayout()
        actions.addStretch(1)
        self.start_button = QPushButton("&Start ingest")
        self.start_button.setDefault(True)
        self.start_button.setToolTip("Start (Ctrl+Enter)")
        self.start_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("&Cancel ingest")
        self.cancel_button.setToolTip("Stop the ingest; nothing is added to the catalog (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        for b in (self.start_button, self.cancel_button, self.close_button):
            actions.addWidget(b)
        return actions

    # ------------------------------------------------------------------ inputs
    def add_inputs(self, items: Sequence[str | os.PathLike[str]]) -> None:
        """Add files, folders or ``s3://`` prefixes (each once)."""
        have = set(self.input_list())
        for item in (os.fspath(i) for i in items):
            if item and item not in have:
                self.inputs.addItem(item)
                have.add(item)
        self._update_buttons()

    def input_list(self) -> list[str]:
        """The inputs, in order."""
        return [self.inputs.item(i).text() for i in range(self.inputs.count())]

    def choose_files(self) -> None:
        """Add files picked in a file dialog."""
        files, _ = QFileDialog.getOpenFileNames(self, "Add FASTA files", str(Path.home()),
                                                "FASTA (*.fa *.faa *.fasta *.fna *.fas *.gz *.bz2 *.xz);;All (*)")
        self.add_inputs(files)

    def choose_folder(self) -> None:
        """Add a folder picked in a folder dialog."""
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of FASTA files", str(Path.home()))
        if folder:
            self.add_inputs([folder])

    def ask_s3_prefix(self) -> None:
        """Ask for an ``s3://bucket/prefix`` location."""
        text, ok = QInputDialog.getText(self, "Add S3 prefix", "Location (s3://bucket/prefix/):", text="s3://")
        text = text.strip()
        if not ok or not text:
            return
        if not text.startswith("s3://") or len(text) <= len("s3://"):
            self.status.setText("An S3 location starts with s3:// and names a bucket, e.g. s3://lab/uniref/.")
            return
        self.add_inputs([text])

    def remove_selected(self) -> None:
        """Remove the selected inputs."""
        for item in self.inputs.selectedItems():
            self.inputs.takeItem(self.inputs.row(item))
        self._update_buttons()

    # ------------------------------------------------------------------ engine
    def engine_choice(self) -> tuple[str, str | None]:
        """``("local", None)`` or ``("ray", address)`` as chosen."""
        if not self.ray_radio.isChecked():
            return "local", None
        text = self.address.currentText().strip()
        for shown, address in RAY_ADDRESSES:
            if text == shown:
                return "ray", address
        return "ray", text or None

    @property
    def running(self) -> bool:
        """Whether an ingest job is queued or running."""
        return self.job is not None and not self.job.done

    def start(self) -> Job | None:
        """Submit the ingest job (nothing happens without inputs)."""
        inputs = self.input_list()
        if not inputs or self.running:
            if not inputs:
                self.status.setText("Add files, folders or an S3 prefix first.")
            return None
        engine, address = self.engine_choice()
        workers = self.workers.value()
        if engine == "ray" and address is not None:
            workers_arg: int | None = None  # a running cluster has its own CPUs
        else:
            workers_arg = workers
        fn = catalog_ops.ingest_job(self.session, inputs, engine=engine, workers=workers_arg, address=address,
                                    tuning=catalog_ops.IngestTuning(call_genes=self.call_genes.isChecked()))
        self.outcome = None
        self.report_view.setVisible(False)
        self.bar.setVisible(True)
        self.bar.setRange(0, 0)
        self.status.setText(f"Waiting to start ({len(inputs)} input(s), {engine})…")
        title = f"Bulk ingest of {len(inputs)} input(s)"
        job = self.engine.submit("ingest", title, fn)
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self.job = job
        self._phase = ""
        self._update_buttons()
        return job

    def cancel(self) -> None:
        """Cancel the running ingest (nothing is committed)."""
        if self.job is not None and self.running:
            self.engine.cancel(self.job)
            self.status.setText("Cancelling… (workers finish their part, then what they wrote is deleted)")
            self.cancel_button.setEnabled(False)

    # ------------------------------------------------------------------ job signals (GUI thread)
    def _on_progress(self, p: Any) -> None:
        now = time.monotonic()
        if p.phase != self._phase:
            self._phase, self._phase_started = p.phase, now
        fraction = p.fraction
        show_fraction(self.bar, fraction)
        # The time left of this phase, from its share done so far (the engine's rate is in records,
        # while the checking phase counts bytes).
        eta = None
        elapsed = now - self._phase_started
        if fraction and 0 < fraction < 1 and elapsed > 1:
            eta = elapsed * (1 - fraction) / fraction
        text = p.message or _PHASES.get(p.phase, p.phase)
        left = format_eta(eta)
        self.status.setText(f"{text}  {left}".strip())

    def _on_finished(self, outcome: catalog_ops.IngestOutcome) -> None:
        self.outcome = outcome
        report = outcome.report
        self.bar.setVisible(False)
        if report.cancelled:
            self.status.setText("Cancelled; nothing was added to the catalog.")
        elif report.error:
            self.status.setText("The ingest failed; the catalog is unchanged.")
        else:
            self.status.setText(f"Done: {report.imported:,} new sequences.")
        self._show_report(ingest_report_html(report))
        self._update_buttons()
        self.ingest_finished.emit(outcome)

    def _show_report(self, text: str) -> None:
        """Show the report at a readable height: the dialog grows (within the screen) to hold it, the
        view scrolls beyond that. Shown only at the end, the view otherwise got the three lines of room
        left in a dialog sized for the inputs, and the rejected files were below the fold."""
        self.report_view.setHtml(text)
        lines = self.report_view.fontMetrics().lineSpacing()
        self.report_view.setMinimumHeight(min(12 * lines, 240))
        self.report_view.setVisible(True)
        screen = self.screen()
        room = screen.availableGeometry().height() - 40 if screen is not None else 10_000
        wanted = self.sizeHint().height() + int(self.report_view.document().size().height())
        height = min(max(self.height(), wanted), room)
        if height > self.height():
            self.resize(self.width(), height)

    def _on_failed(self, message: str, details: str) -> None:
        self.bar.setVisible(False)
        self.status.setText(f"The ingest could not run: {message}. The catalog is unchanged.")
        if details:
            self.report_view.setPlainText(details)
        self.report_view.setVisible(bool(details))
        self._update_buttons()

    def _on_cancelled(self) -> None:
        self.bar.setVisible(False)
        self.status.setText("Cancelled; nothing was added to the catalog.")
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.running
        self.start_button.setEnabled(not running and self.inputs.count() > 0)
        self.cancel_button.setEnabled(running)
        for w in (self.add_files_button, self.add_folder_button, self.add_s3_button, self.remove_button,
                  self.inputs, self.local_radio, self.workers, self.call_genes):
            w.setEnabled(not running)
        self.ray_radio.setEnabled(not running and _ray_installed())
        self.address.setEnabled(not running and self.ray_radio.isChecked())

    def reject(self) -> None:
        """Esc cancels a running ingest first; a second Esc (or Close) closes the dialog."""
        if self.running:
            self.cancel()
            return
        super().reject()

    def closeEvent(self, event: Any) -> None:
        if self.running:
            self.cancel()
            event.ignore()
            return
        super().closeEvent(event)
