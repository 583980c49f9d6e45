"""The Indexes dialog (Catalog → Indexes…), the index indicator in the status bar, and the search effort.

:class:`IndexDialog` lists the catalog's indexes (vector IVF_RQ, scalar BTree/Bitmap,
full text) with what each covers, and runs Build/Rebuild, Optimize and Drop as
jobs on the engine thread (:mod:`genocat_desktop.app.storage`) with progress
and Cancel. The window creates it once and keeps it; closing it only hides it,
so a build keeps running (and reporting in the status bar) behind it.

It also owns two things the window shows without opening it:

* :attr:`IndexDialog.status_button`: "Index: 10,000 of 12,000 rows indexed" in
  the status bar, refreshed after opens, imports and index jobs; a click opens
  the dialog.
* The search effort (partitions probed, exact re-ranking), saved in QSettings and
  given to the session's searcher by a job (the searcher lives on the engine
  thread). It matters only for searches that go through the vector index.

After imports (:meth:`IndexDialog.after_imports`) the engine's ``auto_index``
builds the indexes once the catalog reaches :attr:`IndexDialog.auto_threshold`
rows, or adds new rows once they exceed 5 % (a setting, on by default).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app import catalog as catalog_ops
from genocat_desktop.app import storage as storage_jobs
from genocat_desktop.ui.catalog_model import CatalogModel
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.settings import settings
from genocat_desktop.ui.widgets.progress import show_fraction

__all__ = ["DEFAULT_PROBE_PERCENT", "DEFAULT_REFINE", "IndexDialog", "format_bytes"]

ErrorHandler = Callable[[str, str, str], None]

#: These two values select the engine's default ``SearchEffort`` (the effort calibrated at build time;
#: without a calibration: probe every partition, re-rank 10 × k candidates exactly).
DEFAULT_PROBE_PERCENT = 100
DEFAULT_REFINE = 10
#: The "Fast" preset: probe a fifth of the partitions (the engine's ``SearchEffort.fast()``).
FAST_PROBE_PERCENT = 20
#: The engine's ``AUTO_INDEX_ROWS`` (kept here so the window never imports the engine to start).
AUTO_INDEX_ROWS = 100_000
HEADERS = ("Column", "Kind", "Type", "Status", "Rows indexed", "Not indexed", "Size", "Built")
KIND_LABELS = {"vector": "vector (ANN)", "scalar": "scalar (filters)", "text": "full text"}
KIND_TIPS = {
    "vector": "Approximate nearest-neighbour index of the embedding vectors: used when the catalog is too\n"
              "large to search in memory. Candidates are re-ranked exactly with the stored vectors.",
    "scalar": "Speeds up metadata filters on this field (and the importer's duplicate lookups for seq_hash).",
    "text": "Ranks rows by the words of their FASTA description (BM25); phrases in quotes.",
}
EFFORT_TIP = (
    "How hard a search through the vector index works. More partitions probed and more candidates\n"
    "re-ranked find more of the true nearest neighbours (recall) but take longer.\n\n"
    "The defaults (100 %, refine 10) use the effort measured right after the index was built: the\n"
    "cheapest one that found ≥ 96 % of the true top 10 both for a sample of the catalog's own\n"
    "sequences and for copies of them with a quarter of the residues changed (every partition for\n"
    "an index built before this measurement existed).\n\n"
    "Partitions probed: the share of the index's clusters that are searched. k-mer vectors of real\n"
    "proteins do not cluster and need most of them (recall@10 at 30k rows: 0.46 at 20 %, 0.99 at\n"
    "100 %); embeddings that cluster (ESM-2) keep high recall at a few % and are faster.\n\n"
    "Exact re-ranking: the index's compressed distances pick refine × k candidates, which are scored\n"
    "again with the stored vectors. 10 gives recall@10 ≥ 0.95 in our measurements; 0 turns it off.\n\n"
    "Catalogs whose vectors fit in memory are searched exactly, and this setting does not apply."
)


def format_bytes(n: int) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _item(text: str, tip: str = "", *, right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if tip:
        item.setToolTip(tip)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return str(value).lower() in ("true", "1", "yes")


def _int(value: Any, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(str(value))))
    except (TypeError, ValueError):
        return default


def indicator_text(status: Any) -> tuple[str, str]:
    """The status bar's text and tooltip for an engine ``IndexStatus``."""
    vec = status.vector()
    if vec is None:
        tip = (f"No vector index: searches compare the query with every vector (exact). Indexes are built "
               f"automatically from {status.auto_threshold:,} rows, or with Catalog → Indexes….")
        return "Index: none (exact search)", tip
    text = f"Index: {vec.rows_indexed:,} of {status.rows:,} rows indexed"
    tip = f"{vec.index_type} index on {vec.column}"
    if vec.rows_unindexed:
        tip += (f"; {vec.rows_unindexed:,} newer rows are searched without it (still found). "
                "Catalog → Indexes… → Optimize adds them.")
    return text, tip


class IndexDialog(QDialog):
    """Catalog → Indexes…: the indexes, Build/Rebuild, Optimize, Drop, automatic indexing, search effort.

    Parameters
    ----------
    engine
        The window's engine thread.
    on_error
        ``(title, message, details)``: shows a failed job's message.

    Signals
    -------
    status_shown(object)
        A :class:`~genocat_desktop.app.storage.IndexOutcome` is on screen.
    changed(object)
        An index job changed the catalog; carries its new ``CatalogSummary``.
    """

    status_shown = Signal(object)
    changed = Signal(object)

    def __init__(self, engine: EngineThread, on_error: ErrorHandler, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Indexes")
        self.engine = engine
        self.on_error = on_error
        self.session: catalog_ops.Session | None = None
        self.outcome: storage_jobs.IndexOutcome | None = None
        self.job: Job | None = None
        self._auto_threshold = AUTO_INDEX_ROWS
        #: Asked before dropping; tests replace it.
        self.confirm: Callable[[str, str], bool] = self._ask
        self.status_button = QToolButton()
        self.status_button.setAutoRaise(True)
        self.status_button.setText("Index: …")
        self.status_button.setToolTip("The catalog's vector index; click for Catalog → Indexes…")
        self.status_button.clicked.connect(self.show_dialog)
        self._build()
        self._load_settings()
        self._update_controls()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self.summary_label = QLabel("No catalog open.")
        self.summary_label.setWordWrap(True)
        note = QLabel(
            "While the vectors fit in memory, searches are exact and need no index; the vector index takes over "
            "for larger catalogs. Scalar indexes speed up filters, the full-text index ranks descriptions. "
            "Rows imported after a build are still found; Optimize adds them to the indexes."
        )
        note.setWordWrap(True)
        note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._build_table()
        buttons = self._build_buttons()
        self._build_progress_row()
        self.auto_check = QCheckBox()
        self.auto_check.setToolTip(
            "After each batch of imports: build the indexes once the catalog reaches the threshold, and add\n"
            "new rows to existing indexes once they are more than 5 % of the catalog."
        )
        self.auto_check.toggled.connect(lambda on: settings().setValue("indexes/auto", on))

        effort = self._build_effort()
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.hide)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary_label)
        layout.addWidget(note)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_row)
        layout.addWidget(self.message_label)
        layout.addWidget(self.auto_check)
        layout.addWidget(effort)
        layout.addWidget(close)
        self.resize(1000, 560)
        # Esc cancels a running job rather than closing the dialog (Close does that).
        QShortcut(QKeySequence("Esc"), self, self._escape)

    def _build_table(self) -> None:
        """The indexes table (several rows may be selected, to drop them)."""
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_controls)

    def _build_buttons(self) -> QHBoxLayout:
        """Build, Optimize, Drop and Refresh."""
        self.build_button = QPushButton("&Build indexes")
        self.build_button.setToolTip(
            "Build the vector index (IVF_RQ, parameters chosen from the row count), scalar indexes on the\n"
            "filter fields and the full-text index. Nothing changes until all are written; Cancel undoes it."
        )
        self.build_button.clicked.connect(lambda: self.build())
        self.optimize_button = QPushButton("&Optimize")
        self.optimize_button.setToolTip("Add rows imported since the build to every index (no retraining)")
        self.optimize_button.clicked.connect(lambda: self.optimize())
        self.drop_button = QPushButton("&Drop all…")
        self.drop_button.setToolTip("Remove the selected indexes (all if none is selected); the data is untouched")
        self.drop_button.clicked.connect(lambda: self.drop(self.selected_names() or None))
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.setToolTip("Read the indexes again (another workstation may have changed them)")
        self.refresh_button.clicked.connect(lambda: self.refresh())
        buttons = QHBoxLayout()
        for b in (self.build_button, self.optimize_button, self.drop_button, self.refresh_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        return buttons

    def _build_progress_row(self) -> None:
        """The progress bar and Cancel of a running job, and its message."""
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running index job; a build that is stopped changes nothing (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_row = QWidget()
        prow = QHBoxLayout(self.progress_row)
        prow.setContentsMargins(0, 0, 0, 0)
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.cancel_button)

    def _build_effort(self) -> QGroupBox:
        """The search effort: partitions probed and exact re-ranking, with two presets."""
        effort = QGroupBox("Search effort (searches through the vector index)")
        effort.setToolTip(EFFORT_TIP)
        self.probe_spin = QSpinBox()
        self.probe_spin.setRange(1, 100)
        self.probe_spin.setSuffix(" % of partitions")
        self.probe_spin.setToolTip(EFFORT_TIP)
        self.refine_spin = QSpinBox()
        self.refine_spin.setRange(0, 100)
        self.refine_spin.setPrefix("re-rank ")
        self.refine_spin.setSuffix(" × k exactly")
        self.refine_spin.setToolTip(EFFORT_TIP)
        thorough = QPushButton("Thorough (default)")
        thorough.setToolTip("Probe every partition, re-rank 10 × k: best recall (k-mer vectors need it)")
        thorough.clicked.connect(lambda: self.set_effort(DEFAULT_PROBE_PERCENT, DEFAULT_REFINE))
        fast = QPushButton("Fast")
        fast.setToolTip("Probe 20 % of the partitions: for embeddings that cluster (ESM-2), faster")
        fast.clicked.connect(lambda: self.set_effort(FAST_PROBE_PERCENT, DEFAULT_REFINE))
        self.probe_spin.valueChanged.connect(lambda _v: self.apply_effort())
        self.refine_spin.valueChanged.connect(lambda _v: self.apply_effort())
        erow = QHBoxLayout(effort)
        erow.addWidget(QLabel("Probe"))
        erow.addWidget(self.probe_spin)
        erow.addWidget(self.refine_spin)
        erow.addStretch(1)
        erow.addWidget(thorough)
        erow.addWidget(fast)
        return effort

    @property
    def auto_threshold(self) -> int:
        """Row count from which imports build the indexes (the engine's ``AUTO_INDEX_ROWS``; tests lower it)."""
        return self._auto_threshold

    @auto_threshold.setter
    def auto_threshold(self, rows: int) -> None:
        self._auto_threshold = rows
        self.auto_check.setText(f"Index automatically after imports (from {rows:,} rows)")

    def _load_settings(self) -> None:
        self.auto_threshold = self._auto_threshold
        s = settings()
        self.auto_check.setChecked(_bool(s.value("indexes/auto"), True))
        for spin, key, default in ((self.probe_spin, "search/probe_percent", DEFAULT_PROBE_PERCENT),
                                   (self.refine_spin, "search/refine_factor", DEFAULT_REFINE)):
            spin.blockSignals(True)
            spin.setValue(_int(s.value(key), default, spin.minimum(), spin.maximum()))
            spin.blockSignals(False)

    def _escape(self) -> None:
        if self.running:
            self.cancel()
        else:
            self.hide()

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        """Whether an index job of this dialog is queued or running."""
        return self.job is not None and not self.job.done

    def _update_controls(self) -> None:
        has = self.session is not None
        idle = has and not self.running
        status = self.outcome.status if self.outcome is not None else None
        built = status is not None and bool(status.indexes)
        unindexed = status is not None and any(i.rows_unindexed for i in status.indexes)
        self.build_button.setText("Re&build indexes" if built else "&Build indexes")
        # An empty catalog has nothing to index (the engine would refuse).
        self.build_button.setEnabled(idle and (status is None or status.rows > 0))
        self.optimize_button.setEnabled(idle and built)
        self.optimize_button.setDefault(idle and unindexed)
        self.drop_button.setText("&Drop selected…" if self.selected_names() else "&Drop all…")
        self.drop_button.setEnabled(idle and built)
        self.refresh_button.setEnabled(idle)
        self.cancel_button.setEnabled(self.running)
        # Shown only while a job runs: a full bar at rest reads as "still working".
        self.progress_row.setVisible(self.running)

    def selected_names(self) -> list[str]:
        """Names of the indexes selected in the table."""
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        out = []
        for r in rows:
            item = self.table.item(r, 0)
            if item is not None:
                out.append(str(item.data(Qt.ItemDataRole.UserRole)))
        return out

    def show_dialog(self) -> None:
        """Show (or raise) the dialog and read the indexes again."""
        self.show()
        self.raise_()
        self.activateWindow()
        if not self.running:
            self.refresh()

    # ------------------------------------------------------------------ session
    def bind(self, catalog: CatalogModel) -> None:
        """Follow ``catalog``: describe each catalog it opens, nothing once it closes."""
        catalog.opened.connect(lambda _summary: self.set_session(catalog.session))
        catalog.closed.connect(lambda: self.set_session(None))

    def set_session(self, session: catalog_ops.Session | None) -> Job | None:
        """Describe this catalog from now on (``None``: no catalog open)."""
        self.session = session
        self.outcome = None
        self.job = None
        self.table.setRowCount(0)
        self._update_controls()
        if session is None:
            self.summary_label.setText("No catalog open.")
            self.status_button.setText("Index: …")
            self.message_label.setText("")
            return None
        self.apply_effort()
        return self.refresh()

    def refresh(self) -> Job | None:
        """Read the catalog's indexes (a job); the table and the status bar follow."""
        if self.session is None or not self.engine.running:  # (the window may be closing)
            return None
        job = self.engine.submit("index-status", "Reading the indexes", storage_jobs.index_status_job(self.session),
                                 supersede=True)
        job.finished.connect(self.show_outcome)
        job.failed.connect(lambda m, d: self.message_label.setText(f"Cannot read the indexes: {m}"))
        return job

    # ------------------------------------------------------------------ actions
    def _start(self, title: str, fn: Any, started: str) -> Job | None:
        if self.session is None or self.running or not self.engine.running:
            return None
        job = self.engine.submit("index", title, fn)
        self.job = job
        self.progress.setRange(0, 0)
        self.message_label.setText(started)
        self.status_button.setText("Index: working…")
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(lambda m, d: self._on_failed(title, m, d))
        job.cancelled.connect(self._on_cancelled)
        self._update_controls()
        return job

    def build(self, rebuild: bool | None = None) -> Job | None:
        """Build (or, when indexes exist, rebuild) every index as one cancellable job."""
        if self.session is None:
            return None
        if rebuild is None:
            rebuild = self.outcome is not None and bool(self.outcome.status.indexes)
        what = "Rebuilding" if rebuild else "Building"
        return self._start(f"{what} the indexes", storage_jobs.build_indexes_job(self.session, rebuild=rebuild),
                           f"{what} the indexes…")

    def optimize(self) -> Job | None:
        """Add rows imported since the build to the indexes."""
        if self.session is None:
            return None
        return self._start("Optimizing the indexes", storage_jobs.optimize_indexes_job(self.session),
                           "Adding new rows to the indexes…")

    def drop(self, names: Sequence[str] | None = None) -> Job | None:
        """Drop the named indexes (all if ``None``), after asking."""
        if self.session is None or self.running:
            return None
        which = ", ".join(names) if names else "all indexes"
        if not self.confirm(
            "Drop indexes?",
            f"Drop {which}? The sequences are not touched; searches then scan every vector (exact, slower on "
            "large catalogs) and filters read every row. You can build the indexes again at any time.",
        ):
            return None
        return self._start("Dropping indexes", storage_jobs.drop_indexes_job(self.session, names),
                           f"Dropping {which}…")

    def after_imports(self) -> Job | None:
        """After a batch of imports: index automatically if enabled, else just show the new state."""
        if self.session is None:
            return None
        if not self.auto_check.isChecked() or self.running:
            if not self.running:
                self.message_label.setText("")  # the last job's message is about the catalog before the import
            return self.refresh()
        return self._start("Updating the indexes", storage_jobs.auto_index_job(self.session, self.auto_threshold),
                           "Checking whether the new rows need indexing…")

    def cancel(self) -> None:
        """Cancel the running index job (a build stopped before publishing changes nothing)."""
        if self.job is not None and not self.job.done:
            self.engine.cancel(self.job)
            self.message_label.setText("Cancelling…")

    # ------------------------------------------------------------------ effort
    def set_effort(self, probe_percent: int, refine: int) -> Job | None:
        """Set the search effort (partitions probed in %, re-ranking factor) and apply it."""
        for spin, value in ((self.probe_spin, probe_percent), (self.refine_spin, refine)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        return self.apply_effort()

    def effort(self) -> tuple[float, int]:
        """``(probe_fraction, refine_factor)`` as set."""
        return self.probe_spin.value() / 100.0, self.refine_spin.value()

    def apply_effort(self) -> Job | None:
        """Save the effort and give it to the session's searcher."""
        s = settings()
        s.setValue("search/probe_percent", self.probe_spin.value())
        s.setValue("search/refine_factor", self.refine_spin.value())
        if self.session is None or not self.engine.running:
            return None
        fraction, refine = self.effort()
        return self.engine.submit("effort", "Setting the search effort",
                                  storage_jobs.set_effort_job(self.session, fraction, refine), supersede=True)

    # ------------------------------------------------------------------ results
    def _on_progress(self, p: Any) -> None:
        show_fraction(self.progress, p.fraction)
        if p.message:
            self.message_label.setText(p.message)

    def _stop_progress(self, value: int) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(value)

    def _on_finished(self, outcome: storage_jobs.IndexOutcome) -> None:
        self._stop_progress(1000)
        done = {
            "built": "Indexes built", "optimized": "New rows added to the indexes", "dropped": "Indexes dropped",
            "deferred": "Indexes not built: another program was changing the catalog; the next import builds them",
        }.get(outcome.action or "", "Nothing to do: the indexes are up to date")
        if not outcome.status.indexes and outcome.action in (None, "optimized"):
            # Without an index, "up to date" read as if the catalog were indexed.
            done = "Nothing to do: there are no indexes (every search is exact; Build creates them)"
        self.message_label.setText(f"{done} ({outcome.seconds:.1f} s).")
        self.show_outcome(outcome)
        if outcome.action is not None:
            self.changed.emit(outcome.summary)

    def _on_failed(self, title: str, message: str, details: str) -> None:
        self._stop_progress(0)
        self.message_label.setText(f"Failed: {message}")
        self._update_controls()
        self.on_error(f"{title} failed", message, details)
        self.refresh()

    def _on_cancelled(self) -> None:
        self._stop_progress(0)
        self.message_label.setText("Cancelled; the indexes are as they were.")
        self._update_controls()
        self.refresh()

    def show_outcome(self, outcome: storage_jobs.IndexOutcome) -> None:
        """Show an index status in the table and the status bar."""
        self.outcome = outcome
        status = outcome.status
        summary = outcome.summary
        measured = []
        if status.decision is not None:
            measured.append(f"Vector index policy: {status.decision.reason}.")
        effort = status.effort_line()
        if effort is not None:
            measured.append(f"Search effort: {effort}.")
        self.summary_label.setText(
            f"<b>{html.escape(summary.location)}</b>: {status.rows:,} sequences, version {status.version}. "
            + (f"Indexes are built automatically from {status.auto_threshold:,} rows."
               if status.vector() is None else "")
            + "".join(f"<br>{html.escape(line)}" for line in measured)
        )
        selected = set(self.selected_names())
        self.table.setRowCount(0)
        for info in status.indexes:
            r = self.table.rowCount()
            self.table.insertRow(r)
            name = _item(info.column, f"index {info.name}")
            name.setData(Qt.ItemDataRole.UserRole, info.name)
            kind = _item(KIND_LABELS.get(info.kind, info.kind), KIND_TIPS.get(info.kind, ""))
            typ = info.index_type + (f", {info.num_partitions} partitions" if info.num_partitions else "")
            if info.rows_unindexed:
                state = "built, new rows to add"
                state_tip = (f"{info.rows_unindexed:,} rows imported since the build are still found (scanned "
                             "without the index); Optimize adds them.")
            else:
                state, state_tip = "built, up to date", "Every row of the catalog is in this index."
            built = info.built_at.astimezone().strftime("%Y-%m-%d %H:%M") if info.built_at else "—"
            cells = [
                name, kind, _item(typ), _item(state, state_tip),
                _item(f"{info.rows_indexed:,}", right=True), _item(f"{info.rows_unindexed:,}", right=True),
                _item(format_bytes(info.size_bytes), f"{info.size_bytes:,} bytes", right=True), _item(built),
            ]
            for c, cell in enumerate(cells):
                self.table.setItem(r, c, cell)
            if info.name in selected:
                self.table.selectRow(r)
        if not status.indexes:
            self.message_label.setText(self.message_label.text() or "No indexes: every search is exact.")
        elif not self.running and not self.message_label.text() and status.vector() is not None:
            vec = status.vector()
            if vec is not None and vec.rows_unindexed:
                self.message_label.setText(
                    f"{vec.rows_unindexed:,} rows were imported after the build: they are found all the same "
                    "(scanned without the index). Optimize adds them to the indexes."
                )
        text, tip = indicator_text(status)
        self.status_button.setText(text)
        self.status_button.setToolTip(tip + "\nClick for Catalog → Indexes….")
        self._update_controls()
        self.status_shown.emit(outcome)

    def status_lines(self) -> list[str]:
        """The table as text, one line per index (tests, logs)."""
        out = []
        for r in range(self.table.rowCount()):
            cells = []
            for c in range(self.table.columnCount()):
                item = self.table.item(r, c)
                cells.append(item.text() if item is not None else "")
            out.append(" | ".join(cells))
        return out

