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

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QDoubleValidator, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QMenu,
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
from genocat_desktop.app.history import SearchEntry, SearchHistory
from genocat_desktop.ui.catalog_model import CatalogModel
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.settings import settings
from genocat_desktop.ui.widgets.coverage import CoverageDelegate
from genocat_desktop.ui.widgets.detail import DetailPane, HitDetailsDialog, ScoreHistogram, mono_font
from genocat_desktop.ui.widgets.filters import FilterEditor
from genocat_desktop.ui.widgets.history import HistoryButton, SearchForm
from genocat_desktop.ui.widgets.significance import (
    ALIGNED_HIT_ORDER,
    SignificanceBanner,
    blast_table,
    fit_blast_columns,
    hit_headers,
    parse_cutoff,
)
from genocat_desktop.ui.widgets.summary_line import SummaryLine
from genocat_desktop.ui.widgets.table_view import ArrowTableView

__all__ = ["ALIGNED_HIT_ORDER", "DEFAULT_K", "FASTA_FILTER", "HIDDEN_ALIGNED_COLUMNS", "HIDDEN_HIT_COLUMNS",
           "STAGGER_MS", "SearchPage"]

#: Delay between drawing the hit table, the histogram and the first hit's details.
STAGGER_MS = 30
DEFAULT_K = 50
#: Hit columns hidden until the user shows them (the detail pane has everything).
HIDDEN_HIT_COLUMNS = (
    "accession", "description", "aliases", "db", "entry_name", "protein_existence", "sequence_version",
    "source_file", "seq_hash", "sequence", "molecule", "imported_at",
)
#: With alignment, hidden until shown: the title column already says name/description.
HIDDEN_ALIGNED_COLUMNS = (
    *(c for c in HIDDEN_HIT_COLUMNS if c != "accession"), "name", "aln_score", "target_cov", "score", "gene", "taxid",
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
                 parent: QWidget | None = None, history: SearchHistory | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        #: The searches run, kept across restarts (the History button re-runs them).
        self.history = history if history is not None else SearchHistory()
        self._pending_entry: SearchEntry | None = None  # filters and embedding wait for the catalog's fields
        self.catalog = catalog
        self.on_error = on_error
        self.outcome: search_ops.SearchOutcome | None = None
        self._query_index = 0
        self.split = QSplitter(Qt.Orientation.Horizontal)
        left = self._build_query_side()
        self.split.addWidget(left)
        self.split.addWidget(self._build_results_side())
        self.form = SearchForm(self.query_edit, self.k_spin, self.mode_combo, self.evalue_edit, self.embedder_combo,
                               self.description_edit, self.search_filters)
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
        self.search_filters.submitted.connect(self.run_search)  # Enter in a filter value searches
        lv.addWidget(self.search_button)
        return left

    def _build_query_box(self) -> QGroupBox:
        qbox = QGroupBox("Query")
        qv = QVBoxLayout(qbox)
        self.query_edit = QPlainTextEdit()
        self.query_edit.setPlaceholderText(EXAMPLE_QUERY)
        self.query_edit.setFont(mono_font())
        self.query_edit.setTabChangesFocus(True)  # Tab/Shift+Tab leave the box; a query needs no tab character
        self.query_edit.setToolTip("A bare sequence, FASTA records (one search per record), or a path to a FASTA file")
        qv.addWidget(self.query_edit)
        qrow = QHBoxLayout()
        open_query = QPushButton("Open FASTA…")
        open_query.setToolTip("Load queries from a FASTA file (Ctrl+O)")
        open_query.clicked.connect(self.choose_query_file)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.query_edit.clear)
        self.history_button = HistoryButton(self.history)
        self.history_button.chosen.connect(self.rerun)
        qrow.addWidget(open_query)
        qrow.addWidget(clear)
        qrow.addWidget(self.history_button)
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
        self.mode_combo = QComboBox()
        for i, (mode, label, tip) in enumerate(search_ops.SEARCH_MODES):
            self.mode_combo.addItem(label, mode)
            self.mode_combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.mode_combo.setToolTip(
            "How much of the catalog is aligned to the query (Smith-Waterman: BLOSUM62 for proteins,\n"
            "blastn's scores on both strands for DNA). Automatic: the most sensitive mode the catalog's\n"
            "size allows (the results say which ran). Fast: embedding similarity only (Ctrl+Shift+F)."
        )
        fast = QShortcut(QKeySequence("Ctrl+Shift+F"), self)
        fast.activated.connect(lambda: self.set_mode("fast"))
        self.evalue_edit = QLineEdit(f"{search_ops.DEFAULT_EVALUE_CUTOFF:g}")
        validator = QDoubleValidator(0.0, 1e6, 300, self.evalue_edit)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.evalue_edit.setValidator(validator)
        self.evalue_edit.setToolTip(
            "With alignment: hits with an E-value at or below this are significant (the others are dimmed).\n"
            "1e-3, not BLAST's 10: BLAST's default only limits what is listed; an E-value below 0.001 is the\n"
            "usual threshold for inferring homology from a protein search of a large database."
        )
        self.evalue_edit.editingFinished.connect(self._apply_significance)
        for combo in (self.mode_combo, self.embedder_combo):
            # Not as wide as their longest item (the popup shows it whole): on a 1024-pixel screen the
            # form took 390 pixels and pushed the hit table's E-value and identity out of sight.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        form.addRow("Hits per query", self.k_spin)
        form.addRow("Mode", self.mode_combo)
        form.addRow("E-value cut-off", self.evalue_edit)
        form.addRow("Embedding", self.embedder_combo)
        form.addRow("Description contains", self.description_edit)
        return pbox

    def _build_results_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        # Two lines: at 1024 pixels one line beside the hit filter held only the query's name.
        self.results_label = SummaryLine("No search yet.", lines=2)
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
        self.hits_table.row_menu_requested.connect(self._add_hit_actions)
        self.hits_table.row_activated.connect(self.show_hit_details)
        self.coverage = CoverageDelegate(self.hits_table.source, self.hits_table)
        self.copy_fasta_action = QAction("Copy as FASTA", self.hits_table)
        self.copy_fasta_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        self.copy_fasta_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_fasta_action.triggered.connect(self.copy_fasta)
        self.hits_table.addAction(self.copy_fasta_action)
        self.details_dialog: HitDetailsDialog | None = None
        self._alignment: tuple[int, Any] | None = None  # (table row, PairAlignment) of the selected hit
        self.hit_detail = DetailPane()
        self.histogram = ScoreHistogram()
        self.histogram.setMinimumWidth(260)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.hit_detail)
        lower.addWidget(self.histogram)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        hits_side = QWidget()
        hv = QVBoxLayout(hits_side)
        hv.setContentsMargins(0, 0, 0, 0)
        self.no_significant = SignificanceBanner(self.hits_table)
        self.no_significant_label = self.no_significant.label
        self.show_insignificant = self.no_significant.show_button
        hv.addWidget(self.no_significant)
        hv.addWidget(self.hits_table, 1)
        self.results_split = QSplitter(Qt.Orientation.Vertical)
        self.results_split.addWidget(hits_side)
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
        legacy = "align" if str(s.value("search/align", "false")).lower() == "true" else "auto"
        self.set_mode(str(s.value("search/mode", legacy)))
        cutoff = str(s.value("search/evalue", ""))
        if cutoff and parse_cutoff(cutoff) is not None:
            self.evalue_edit.setText(cutoff)
        for key, splitter in (("window/search_split", self.split), ("window/results_split", self.results_split)):
            state = s.value(key)
            if isinstance(state, QByteArray):
                splitter.restoreState(state)
        self.restore_last_query()

    def save_settings(self, s: QSettings) -> None:
        """Keep what :meth:`restore_settings` reads, and the hit table's columns."""
        s.setValue("window/search_split", self.split.saveState())
        s.setValue("window/results_split", self.results_split.saveState())
        s.setValue("search/k", self.k_spin.value())
        s.setValue("search/mode", self.mode())
        s.setValue("search/evalue", self.evalue_edit.text())
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
        if self._pending_entry is not None:
            entry, self._pending_entry = self._pending_entry, None
            self.form.fill_catalog_parts(entry)

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

    def mode(self) -> str:
        """The search mode chosen (``auto``, ``fast``, ``align``, ``sensitive``, ``exhaustive``)."""
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        """Choose a search mode (an unknown one leaves the choice as it is)."""
        index = self.mode_combo.findData(mode)
        if index >= 0:
            self.mode_combo.setCurrentIndex(index)

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
            mode=self.mode(),
        )
        job = self.engine.submit("search", "Searching", fn, supersede=True)
        self.history.add(self.current_entry())
        self.history_button.fill()
        self.results_label.setText("Searching…")
        job.finished.connect(self.show_results)
        job.failed.connect(lambda m, d: self.on_error("Search failed", m, d))
        job.failed.connect(lambda m, d: self.results_label.setText("The search failed."))
        return job

    # ------------------------------------------------------------------ history
    def current_entry(self) -> SearchEntry:
        """The search the form describes (query, parameters, filters), as the history keeps it."""
        return self.form.entry()

    def apply_entry(self, entry: SearchEntry) -> None:
        """Fill the form with ``entry``; its filters and embedding once the catalog's fields are known."""
        self.form.fill(entry)
        if self.catalog.summary is None:
            self._pending_entry = entry
        else:
            self.form.fill_catalog_parts(entry)

    def rerun(self, entry: SearchEntry) -> Job | None:
        """History → an entry: the same search again, in one click."""
        self.apply_entry(entry)
        return self.run_search()

    def restore_last_query(self) -> None:
        """At start-up: the last search's query and parameters in the form (not run)."""
        last = self.history.last()
        if last is not None and not self.query_edit.toPlainText().strip():
            self.apply_entry(last)

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
        aligned = self.outcome.aligned
        summary = self.catalog.summary
        docs = {f.name: f.description for f in summary.fields} if summary else None
        view = self.hits_table
        if aligned:
            view.set_profile("hits_aligned", HIDDEN_ALIGNED_COLUMNS)
        elif r.extra.get("strategy") == "sketch":  # its score is the containment, a column of its own
            view.set_profile("hits_sketch", (*HIDDEN_HIT_COLUMNS, "score"))
        else:
            view.set_profile("hits", HIDDEN_HIT_COLUMNS)
        # New results start in their own order (rank 1 first), not in the last results' sort order.
        view.reset_sort()
        view.source.labels, view.source.tips = hit_headers(r, aligned)
        self._alignment = None
        nucleotide = search_ops.is_nucleotide(r.query.molecule)
        view.set_table(blast_table(r.hits, nucleotide=nucleotide) if aligned else r.hits, docs)
        if aligned:
            fit_blast_columns(view)
        cov = view.source.column_names.index("query_cov") if aligned else -1
        regions = self.outcome.regions[index] if aligned and index < len(self.outcome.regions) else None
        self.coverage.set_regions(regions, len(r.query.sequence))
        for col in range(view.source.columnCount()):
            view.setItemDelegateForColumn(col, self.coverage if col == cov else None)  # type: ignore[arg-type]
        significant = self._apply_significance()
        typed = str(self.outcome.parameters.get("filter", "none"))  # the user's words; r.filter is Lance SQL
        filt = f" · filter: {typed}" if r.filter and typed != "none" else ""
        # Said when not every sequence was compared: through the vector index a close hit can be missed.
        how = "" if r.exact else ", approximate (vector index)"
        sig = f", {significant:,} with E-value ≤ {self._cutoff():g}" if significant is not None else ""
        # The mode's name on the line, why it was chosen in the tooltip: the reason (up to ~130
        # characters) pushed the rest of the line out of a 1024-pixel window.
        mode = f" · {html.escape(search_ops.mode_summary(r, short=True))}"
        self.results_label.setText(
            f"<b>{html.escape(r.query.id)}</b> ({len(r.query.sequence):,} {r.query.molecule} residues): "
            f"{len(r):,} hit{'' if len(r) == 1 else 's'}{sig} of {r.candidates:,} sequences in "
            f"{r.seconds * 1000:.0f} ms{how}"
            f"{html.escape(filt)}{mode}",
            f"Mode: {search_ops.mode_summary(r)}",
        )
        # The histogram and the first hit's details are drawn a few frames later: drawn with
        # the table, the window repainted all three in one pass and stopped responding for
        # up to ~90 ms of CPU (bench/gui_bench.py); 30 ms apart, each pass is short.
        key = self._score_key()
        scores = r.hits.column(key).to_numpy(zero_copy_only=False)
        label = ("bit score (alignment)" if aligned else "containment (sketch)" if r.extra.get("strategy") == "sketch"
                 else "score (cosine similarity)")
        shown = view.source  # rank 1 is selected first, or the first row the hit filter leaves
        first_row = shown.view_row(0) if shown.view_row(0) >= 0 else (0 if shown.rowCount() else -1)
        first = shown.value(first_row, key) if first_row >= 0 else None
        QTimer.singleShot(STAGGER_MS, lambda: self.histogram.set_scores(scores, first, label))
        if len(r):
            QTimer.singleShot(2 * STAGGER_MS, lambda: self._select_first(r))
        else:
            self.hit_detail.show_placeholder("No hits. Loosen the filters or try another query.")

    def _score_key(self) -> str:
        """The column the hits are ranked by: bit score with alignment, else cosine similarity."""
        return "bits" if self.outcome is not None and self.outcome.aligned else "score"

    def _cutoff(self) -> float:
        value = parse_cutoff(self.evalue_edit.text())
        return search_ops.DEFAULT_EVALUE_CUTOFF if value is None else value

    def _apply_significance(self) -> int | None:
        """Dim the hits past the E-value cut-off; say so when none passes. Returns how many pass (None: no E-values)."""
        return self.no_significant.apply(self._cutoff(), judged=self.outcome is not None)

    def _select_first(self, result: Any) -> None:
        # Only if these results are still the ones shown (a newer search may have come in), and not
        # once the window is closing: the engine thread that would align the hit is shut down.
        if self.catalog.closing:
            return
        if self.outcome is not None and self.outcome.results[self._query_index] is result:
            row = self.hits_table.source.view_row(0)  # rank 1, wherever the hit filter leaves it
            self.hits_table.select_source_row(max(row, 0))

    def _on_hit_selected(self, row: int) -> None:
        if self.catalog.closing:
            return
        session = self.catalog.session
        if self.outcome is None or session is None or row < 0:
            self.histogram.mark(None)
            return
        values = self.hits_table.source.row_dict(row)
        result = self.outcome.results[self._query_index]
        self.histogram.mark(values.get(self._score_key()))
        self.hit_detail.show_row(values, "Aligning to the query…")
        query = result.query
        table_row = self.hits_table.source.table_row(row)
        located = (values["hit_start"], values["hit_end"]) if values.get("hit_end") is not None else None
        fn = search_ops.align_job(session, query.sequence, str(values["sequence"]), located)
        job = self.engine.submit("align", "Aligning", fn, supersede=True)
        job.finished.connect(lambda a: self._on_alignment(table_row, a, query.id, len(query.sequence)))
        job.failed.connect(lambda m, d: self.hit_detail.show_alignment_error(m))

    def _on_alignment(self, table_row: int, alignment: Any, query_id: str, query_length: int) -> None:
        self._alignment = (table_row, alignment)
        self.hit_detail.show_alignment(alignment, query_id, query_length)
        dialog = self.details_dialog
        if dialog is not None and dialog.isVisible() and dialog.property("table_row") == table_row:
            dialog.pane.show_alignment(alignment, query_id, query_length)

    # ------------------------------------------------------------------ hit actions
    def selected_hits(self) -> list[dict[str, Any]]:
        """The selected hits (or the current one), as dicts, in table order."""
        view = self.hits_table
        rows = view.source_rows() or ([view.currentIndex().row()] if view.currentIndex().isValid() else [])
        return [view.source.row_dict(r) for r in rows]

    def copy_fasta(self) -> str:
        """Copy the selected hits as FASTA; returns the text."""
        text = search_ops.hits_fasta(self.selected_hits())
        if text:
            QGuiApplication.clipboard().setText(text)
            self.message.emit(f"Copied {text.count('>'):,} sequence{'s' * (text.count('>') != 1)} as FASTA.", 3000)
        return text

    def hit_actions(self, row: int, parent: QMenu | None = None) -> list[QAction]:
        """The actions the hit table's context menu offers for view row ``row``."""
        owner = parent or self
        actions = [self.copy_fasta_action]
        if row >= 0:
            values = self.hits_table.source.row_dict(row)
            for label, url in search_ops.accession_links(values):
                action = QAction(f"Open in {label}", owner)
                action.setToolTip(url)
                action.triggered.connect(lambda _=False, u=url: QDesktopServices.openUrl(QUrl(u)))
                actions.append(action)
            details = QAction("Show details", owner)
            details.triggered.connect(lambda _=False, r=row: self.show_hit_details(r))
            actions.append(details)
        send = QAction("Send selected hits to an alignment viewer…", owner)
        send.setToolTip("Write the query and the selected hits, aligned to it, as one gapped FASTA file (Jalview)")
        send.triggered.connect(lambda: self.choose_aligned_fasta())
        actions.append(send)
        return actions

    def _add_hit_actions(self, menu: QMenu, row: int) -> None:
        menu.addSeparator()
        menu.addActions(self.hit_actions(row, menu))

    def show_hit_details(self, row: int) -> HitDetailsDialog | None:
        """Double-click: the hit's details and alignment in a window of their own."""
        if self.outcome is None or not 0 <= row < self.hits_table.source.rowCount():
            return None
        if self.details_dialog is None:
            self.details_dialog = HitDetailsDialog(self)
        dialog = self.details_dialog
        table_row = self.hits_table.source.table_row(row)
        dialog.setProperty("table_row", table_row)
        dialog.pane.show_row(self.hits_table.source.row_dict(row), "Aligning to the query…")
        query = self.outcome.results[self._query_index].query
        if self._alignment is not None and self._alignment[0] == table_row:
            dialog.pane.show_alignment(self._alignment[1], query.id, len(query.sequence))
        elif self.hits_table.source_rows() != [row]:
            self.hits_table.select_source_row(row)  # aligns it; _on_alignment fills the dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def choose_aligned_fasta(self) -> Job | None:
        """Ask where to write the selected hits aligned to the query, then write them."""
        if not self.selected_hits():
            self.message.emit("Select hits first.", 4000)
            return None
        start = str(settings().value("paths/export", str(Path.home())))
        path, _ = QFileDialog.getSaveFileName(self, "Aligned FASTA for an alignment viewer",
                                              str(Path(start) / "hits_aligned.fasta"),
                                              "Aligned FASTA (*.fasta *.fa *.afa);;All files (*)")
        if not path:
            return None
        settings().setValue("paths/export", str(Path(path).parent))
        return self.write_aligned_fasta(path)

    def write_aligned_fasta(self, path: str) -> Job | None:
        """Write the query and the selected hits, aligned to it, to ``path`` (on the engine thread)."""
        session = self.catalog.session
        hits = self.selected_hits()
        if self.outcome is None or session is None or not hits:
            return None
        query = self.outcome.results[self._query_index].query
        pairs = [(str(h["id"]), str(h["sequence"])) for h in hits]
        fn = search_ops.aligned_fasta_job(session, query.id, query.sequence, pairs, path)
        job = self.engine.submit("export", f"Writing {Path(path).name}", fn)
        job.finished.connect(lambda n: self.message.emit(f"Wrote the query and {n:,} aligned hits to {path}.", 6000))
        job.failed.connect(lambda m, d: self.on_error("Cannot write the aligned FASTA", m, d))
        return job

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
