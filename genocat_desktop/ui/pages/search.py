"""The Search tab: the query and its parameters on the left; the hits, one hit's details
and the score histogram on the right.

Searches, query files and alignments run as jobs on the
:class:`~genocat_desktop.ui.engine_thread.EngineThread`; the slots here only
draw what they return.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app import catalog as catalog_ops
from genocat_desktop.app import jobs as app_jobs
from genocat_desktop.app import search as search_ops
from genocat_desktop.ui.catalog_model import CatalogModel
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.settings import settings
from genocat_desktop.ui.widgets.detail import DetailPane, ScoreHistogram, mono_font
from genocat_desktop.ui.widgets.filters import FilterEditor
from genocat_desktop.ui.widgets.summary_line import SummaryLine
from genocat_desktop.ui.widgets.table_view import ArrowTableView

__all__ = ["DEFAULT_K", "FASTA_FILTER", "HIDDEN_HIT_COLUMNS", "STAGGER_MS", "SearchPage"]

#: Delay between drawing the hit table, the histogram and the first hit's details.
STAGGER_MS = 30
DEFAULT_K = 50
#: Hit columns hidden until the user shows them (the detail pane has everything).
HIDDEN_HIT_COLUMNS = (
    "accession", "description", "aliases", "db", "entry_name", "protein_existence", "sequence_version",
    "source_file", "seq_hash", "sequence", "molecule", "imported_at",
)
FASTA_FILTER = "FASTA files (*.fa *.fasta *.faa *.fna *.fas *.pep *.pro *.gz *.bz2 *.xz);;All files (*)"
EXAMPLE_QUERY = "Paste a protein sequence or FASTA records here, or open a FASTA file.\n\n>example\nMKVLAAGIVALLLAAG…"

ErrorHandler = Callable[[str, str, str], None]


class SearchPage(QWidget):
    """The Search tab over the window's :class:`~genocat_desktop.ui.catalog_model.CatalogModel`.

    Parameters
    ----------
    engine
        The window's engine thread (every search and alignment runs there).
    catalog
        The open catalog; the filters and the embedding choice follow its summary.
    on_error
        Called with (title, message, details) when a job fails.
    """

    #: Emitted when search results are on screen (after the histogram and the first hit are drawn).
    results_shown = Signal(object)
    #: A status-bar message and how long to show it (ms).
    message = Signal(str, int)
    #: The Export… button was pressed.
    export_requested = Signal()
    #: Right-click → Find similar on a hit: (id, sequence).
    find_similar = Signal(str, str)

    def __init__(self, engine: EngineThread, catalog: CatalogModel, on_error: ErrorHandler,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.catalog = catalog
        self.on_error = on_error
        self.outcome: search_ops.SearchOutcome | None = None
        self._query_index = 0
        self.split = QSplitter(Qt.Orientation.Horizontal)
        left = self._build_query_side()
        self.split.addWidget(left)
        self.split.addWidget(self._build_results_side())
        self.split.setStretchFactor(0, 0)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([340, 900])
        left.setMinimumWidth(300)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.split)
        catalog.opened.connect(self.apply_summary)
        catalog.changed.connect(self.apply_summary)

    # ------------------------------------------------------------------ building
    def _build_query_side(self) -> QWidget:
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 6, 0)
        lv.addWidget(self._build_query_box(), 3)
        lv.addWidget(self._build_parameters())
        fbox = QGroupBox("Metadata filters")
        fv = QVBoxLayout(fbox)
        self.search_filters = FilterEditor()
        fv.addWidget(self.search_filters)
        lv.addWidget(fbox)
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.setMinimumHeight(34)
        self.search_button.setToolTip("Search the catalog (Ctrl+Enter)")
        self.search_button.clicked.connect(self.run_search)
        lv.addWidget(self.search_button)
        return left

    def _build_query_box(self) -> QGroupBox:
        qbox = QGroupBox("Query")
        qv = QVBoxLayout(qbox)
        self.query_edit = QPlainTextEdit()
        self.query_edit.setPlaceholderText(EXAMPLE_QUERY)
        self.query_edit.setFont(mono_font())
        self.query_edit.setToolTip("A bare sequence, FASTA records (one search per record), or a path to a FASTA file")
        qv.addWidget(self.query_edit)
        qrow = QHBoxLayout()
        open_query = QPushButton("Open FASTA…")
        open_query.setToolTip("Load queries from a FASTA file (Ctrl+O)")
        open_query.clicked.connect(self.choose_query_file)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.query_edit.clear)
        qrow.addWidget(open_query)
        qrow.addWidget(clear)
        qrow.addStretch(1)
        qv.addLayout(qrow)
        return qbox

    def _build_parameters(self) -> QGroupBox:
        pbox = QGroupBox("Parameters")
        form = QFormLayout(pbox)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 10_000)
        self.k_spin.setValue(DEFAULT_K)
        self.k_spin.setToolTip("How many hits to return per query")
        self.embedder_combo = QComboBox()
        self.embedder_combo.setToolTip("Which embedding (vector column) to compare sequences with")
        self.description_edit = QLineEdit()
        self.description_edit.setPlaceholderText("e.g. kinase")
        self.description_edit.setClearButtonEnabled(True)
        self.description_edit.setToolTip("Keep only hits whose FASTA description contains this text")
        self.description_edit.returnPressed.connect(self.run_search)
        self.align_check = QCheckBox("Re-rank by alignment")
        self.align_check.setToolTip(
            "Align the best candidates to the query (Smith-Waterman, BLOSUM62) and rank hits by alignment\n"
            "score, with bits, E-value, identity and coverage columns. Slower, more sensitive."
        )
        form.addRow("Hits per query", self.k_spin)
        form.addRow("", self.align_check)
        form.addRow("Embedding", self.embedder_combo)
        form.addRow("Description contains", self.description_edit)
        return pbox

    def _build_results_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        self.results_label = SummaryLine("No search yet.")
        self.query_combo = QComboBox()
        self.query_combo.setToolTip("Several queries were searched: choose whose hits to show")
        self.query_combo.setVisible(False)
        self.query_combo.currentIndexChanged.connect(self._show_query)
        self.hits_filter = QLineEdit()
        self.hits_filter.setPlaceholderText("Filter hits…")
        self.hits_filter.setClearButtonEnabled(True)
        self.hits_filter.setToolTip("Show only hits whose ID, name, organism, gene or description contains this")
        self.hits_filter.setMaximumWidth(220)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Export all hits (Ctrl+E) or only the selected ones (Ctrl+Shift+E)")
        self.export_button.clicked.connect(lambda: self.export_requested.emit())
        self.export_button.setEnabled(False)
        bar.addWidget(self.results_label, 1)
        bar.addWidget(self.query_combo)
        bar.addWidget(self.hits_filter)
        bar.addWidget(self.export_button)
        return bar

    def _build_results_side(self) -> QWidget:
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(6, 0, 0, 0)
        rv.addLayout(self._build_results_bar())
        self.hits_table = ArrowTableView("hits", HIDDEN_HIT_COLUMNS)
        self.hits_filter.textChanged.connect(self.hits_table.set_filter_text)
        self.hits_table.current_row_changed.connect(self._on_hit_selected)
        self.hits_table.find_similar.connect(self.find_similar)
        self.hit_detail = DetailPane()
        self.histogram = ScoreHistogram()
        self.histogram.setMinimumWidth(260)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.hit_detail)
        lower.addWidget(self.histogram)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        self.results_split = QSplitter(Qt.Orientation.Vertical)
        self.results_split.addWidget(self.hits_table)
        self.results_split.addWidget(lower)
        self.results_split.setStretchFactor(0, 3)
        self.results_split.setStretchFactor(1, 2)
        rv.addWidget(self.results_split, 1)
        return right

    # ------------------------------------------------------------------ settings, catalog
    def restore_settings(self, s: QSettings) -> None:
        """Hits per query, re-ranking and the splitters as the user left them."""
        k = s.value("search/k")
        if k is not None:
            with contextlib.suppress(ValueError):
                self.k_spin.setValue(int(str(k)))
        self.align_check.setChecked(str(s.value("search/align", "false")).lower() == "true")
        for key, splitter in (("window/search_split", self.split), ("window/results_split", self.results_split)):
            state = s.value(key)
            if isinstance(state, QByteArray):
                splitter.restoreState(state)

    def save_settings(self, s: QSettings) -> None:
        """Keep what :meth:`restore_settings` reads, and the hit table's columns."""
        s.setValue("window/search_split", self.split.saveState())
        s.setValue("window/results_split", self.results_split.saveState())
        s.setValue("search/k", self.k_spin.value())
        s.setValue("search/align", self.align_check.isChecked())
        self.hits_table.save_state()

    def apply_summary(self, summary: catalog_ops.CatalogSummary) -> None:
        """Offer the catalog's fields as filters and its embeddings (keeping the chosen one if it still exists)."""
        self.search_filters.set_fields(summary.fields)
        current = self.embedder_combo.currentData()
        self.embedder_combo.clear()
        for column in summary.vector_columns:
            self.embedder_combo.addItem(summary.embedders.get(column, column), column)
            self.embedder_combo.setItemData(self.embedder_combo.count() - 1, f"vector column {column}",
                                            Qt.ItemDataRole.ToolTipRole)
        index = self.embedder_combo.findData(current or summary.default_vector)
        self.embedder_combo.setCurrentIndex(max(index, 0))

    # ------------------------------------------------------------------ queries
    def focus_query(self) -> None:
        """Put the cursor in the query box, its text selected."""
        self.query_edit.setFocus()
        self.query_edit.selectAll()

    def choose_query_file(self) -> None:
        """Load queries from a FASTA file into the query box."""
        start = str(settings().value("paths/query", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open query FASTA", start, FASTA_FILTER)
        if path:
            settings().setValue("paths/query", str(Path(path).parent))
            self.load_query_file(path)

    def load_query_file(self, path: str) -> Job:
        """Read a query file on the engine thread and put its sequences in the query box."""
        job = self.engine.submit("read", f"Reading {Path(path).name}", search_ops.read_query_file_job(path))
        job.finished.connect(self.query_edit.setPlainText)
        job.failed.connect(lambda m, d: self.on_error("Cannot read the query file", m, d))
        return job

    def search_for(self, ident: str, sequence: str) -> Job | None:
        """Search with one sequence (Find similar), replacing the query box's content."""
        self.query_edit.setPlainText(f">{ident}\n{sequence}")
        return self.run_search()

    def run_search(self) -> Job | None:
        """Search with the query box's content and the chosen parameters (cancels a running search)."""
        session = self.catalog.session
        if session is None:
            return None
        text = self.query_edit.toPlainText().strip()
        if not text:
            self.message.emit("Paste a sequence or FASTA records first.", 5000)
            self.query_edit.setFocus()
            return None
        fn = search_ops.search_job(
            session, text, k=self.k_spin.value(), filters=self.search_filters.specs(),
            description=self.description_edit.text(), column=self.embedder_combo.currentData(),
            align=self.align_check.isChecked(),
        )
        job = self.engine.submit("search", "Searching", fn, supersede=True)
        self.results_label.setText("Searching…")
        job.finished.connect(self.show_results)
        job.failed.connect(lambda m, d: self.on_error("Search failed", m, d))
        job.failed.connect(lambda m, d: self.results_label.setText("The search failed."))
        return job

    # ------------------------------------------------------------------ results
    def show_results(self, outcome: search_ops.SearchOutcome) -> None:
        """Put search results on screen."""
        self.outcome = outcome
        self.query_combo.blockSignals(True)
        self.query_combo.clear()
        for r in outcome.results:
            self.query_combo.addItem(f"{r.query.id} ({len(r.hits)} hits)")
        self.query_combo.setVisible(len(outcome.results) > 1)
        self.query_combo.blockSignals(False)
        self._show_query(0)
        self.export_button.setEnabled(True)
        # After the histogram and the first hit are drawn (see _show_query).
        QTimer.singleShot(2 * STAGGER_MS + 1, lambda: self.results_shown.emit(outcome))

    def _show_query(self, index: int) -> None:
        if self.outcome is None or not 0 <= index < len(self.outcome.results):
            return
        self._query_index = index
        r = self.outcome.results[index]
        summary = self.catalog.summary
        docs = {f.name: f.description for f in summary.fields} if summary else None
        self.hits_table.set_table(r.hits, docs)
        filt = f" · filter: {r.filter}" if r.filter else ""
        # Said when not every sequence was compared: through the vector index a close hit can be missed.
        how = "" if r.exact else ", approximate (vector index)"
        self.results_label.setText(
            f"<b>{html.escape(r.query.id)}</b> ({len(r.query.sequence):,} {r.query.molecule} residues): "
            f"{len(r):,} hits of {r.candidates:,} sequences in {r.seconds * 1000:.0f} ms{how}{html.escape(filt)}"
        )
        # The histogram and the first hit's details are drawn a few frames later: drawn with
        # the table, the window repainted all three in one pass and stopped responding for
        # up to ~90 ms of CPU (bench/gui_bench.py); 30 ms apart, each pass is short.
        scores = r.hits.column("score").to_numpy()
        shown = self.hits_table.source  # its first row (under the user's sort and filter) is selected first
        first = shown.value(0, "score") if shown.rowCount() else None
        QTimer.singleShot(STAGGER_MS, lambda: self.histogram.set_scores(scores, first))
        if len(r):
            QTimer.singleShot(2 * STAGGER_MS, lambda: self._select_first(r))
        else:
            self.hit_detail.show_placeholder("No hits. Loosen the filters or try another query.")

    def _select_first(self, result: Any) -> None:
        # Only if these results are still the ones shown (a newer search may have come in), and not
        # once the window is closing: the engine thread that would align the hit is shut down.
        if self.catalog.closing:
            return
        if self.outcome is not None and self.outcome.results[self._query_index] is result:
            self.hits_table.select_source_row(0)

    def _on_hit_selected(self, row: int) -> None:
        if self.catalog.closing:
            return
        session = self.catalog.session
        if self.outcome is None or session is None or row < 0:
            self.histogram.mark(None)
            return
        values = self.hits_table.source.row_dict(row)
        result = self.outcome.results[self._query_index]
        self.histogram.mark(values.get("score"))
        self.hit_detail.show_row(values, "Aligning to the query…")
        query = result.query
        fn = search_ops.align_job(session, query.sequence, str(values["sequence"]))
        job = self.engine.submit("align", "Aligning", fn, supersede=True)
        job.finished.connect(lambda a: self.hit_detail.show_alignment(a, query.id, len(query.sequence)))
        job.failed.connect(lambda m, d: self.hit_detail.show_alignment_error(m))

    # ------------------------------------------------------------------ export
    def export_job(self, path: str, *, selected: bool = False) -> app_jobs.Job[int] | None:
        """The job that writes the hits (all queries, or the selected hits of the one shown) to ``path``."""
        if self.outcome is None:
            return None
        selection = None
        if selected:
            view_rows = self.hits_table.source_rows()
            if not view_rows:
                self.message.emit("Select hits first.", 4000)
                return None
            selection = {self._query_index: [self.hits_table.source.table_row(r) for r in view_rows]}
        return search_ops.export_hits_job(self.outcome, path, selection)
