"""The status bar's view of the engine thread: the running job, its progress, a Cancel button."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.widgets.progress import describe_embedding_progress, show_fraction

__all__ = ["CANCELLABLE_KINDS", "JobStatus"]

#: Jobs the Cancel button may stop (an alignment or an open is not offered).
CANCELLABLE_KINDS = ("search", "export", "import", "ingest", "browse", "benchmark", "schema-change", "index",
                     "embed", "model")


class JobStatus(QObject):
    """A label, a progress bar and a Cancel button that follow the engine thread's current job.

    Parameters
    ----------
    engine
        The thread whose jobs are shown.
    status_bar
        Where the three widgets are added (as permanent widgets, at the right).
    """

    def __init__(self, engine: EngineThread, status_bar: QStatusBar) -> None:
        super().__init__(status_bar)
        self.engine = engine
        self.status_bar = status_bar
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(160)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.bar.setVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Cancel the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_current)
        self.cancel_button.setVisible(False)
        for widget in (self.label, self.bar, self.cancel_button):
            status_bar.addPermanentWidget(widget)
        engine.job_started.connect(self._on_job_started)
        engine.busy_changed.connect(self._on_busy)

    def cancel_current(self) -> None:
        """Cancel the running job (Esc); opening a catalog cannot be cancelled."""
        job = self.engine.current
        if job is not None and job.kind != "open":
            self.engine.cancel(job)
            self.status_bar.showMessage(f"Cancelling: {job.title}…", 4000)

    def _on_job_started(self, job: Job) -> None:
        self.label.setText(job.title + "…")
        self.bar.setRange(0, 0)
        self.bar.setVisible(job.kind not in ("align",))
        self.cancel_button.setVisible(job.kind in CANCELLABLE_KINDS)
        job.progress.connect(self._on_progress)
        if job.kind in ("embed", "model"):
            # A long job: the status bar says how far it is and how long is left, on any tab.
            job.progress.connect(lambda p: self.label.setText(describe_embedding_progress(p, compact=True)[1]))

    def _on_progress(self, p: Any) -> None:
        if p.fraction is not None:  # an unknown total keeps the busy indicator set when the job started
            show_fraction(self.bar, p.fraction)

    def _on_busy(self, busy: bool) -> None:
        if not busy:
            self.label.setText("")
            self.bar.setVisible(False)
            self.cancel_button.setVisible(False)
