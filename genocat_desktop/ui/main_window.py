"""The main window: welcome page, search, results, catalog browser, schema, benchmark, models, import queue.

Every engine call goes through :class:`~genocat_desktop.ui.engine_thread.EngineThread`
as a job from :mod:`genocat_desktop.app.operations`; slots here only read results
and update widgets. The window opens at once and the catalog opens on the
engine thread behind it (the status bar says "Opening catalog…").
"""

from __future__ import annotations

import contextlib
import gc
import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app import operations as jobs
from genocat_desktop.app.storage import is_remote, reopen_s3_job
from genocat_desktop.ui.dialogs.s3 import S3Dialog, load_location
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.errors import show_error
from genocat_desktop.ui.pages.benchmark import BenchmarkPage
from genocat_desktop.ui.pages.import_panel import ImportPanel, ImportReportDialog
from genocat_desktop.ui.pages.indexes import IndexDialog
from genocat_desktop.ui.pages.models import ModelsPage, describe_embedding_progress
from genocat_desktop.ui.pages.schema import SchemaPage, SetValueDialog
from genocat_desktop.ui.settings import add_recent, recent_catalogs, settings
from genocat_desktop.ui.widgets.detail import DetailPane, ScoreHistogram, _mono
from genocat_desktop.ui.widgets.filters import FilterEditor
from genocat_desktop.ui.widgets.progress import show_fraction
from genocat_desktop.ui.widgets.table_view import ArrowTableView

__all__ = ["MainWindow"]

PAGE_SIZE = 200
#: Delay between drawing the hit table, the histogram and the first hit's details.
STAGGER_MS = 30
DEFAULT_K = 50
#: Hit columns hidden until the user shows them (the detail pane has everything).
HIDDEN_HIT_COLUMNS = (
    "accession", "description", "aliases", "db", "entry_name", "protein_existence", "sequence_version",
    "source_file", "seq_hash", "sequence", "molecule", "imported_at",
)
HIDDEN_BROWSE_COLUMNS = (*HIDDEN_HIT_COLUMNS, "rank", "score")
FASTA_FILTER = "FASTA files (*.fa *.fasta *.faa *.fna *.fas *.pep *.pro *.gz *.bz2 *.xz);;All files (*)"
EXAMPLE_QUERY = "Paste a protein sequence or FASTA records here, or open a FASTA file.\n\n>example\nMKVLAAGIVALLLAAG…"


class SummaryLine(QWidget):
    """One line of rich text (the search summary) whose changes never re-lay out the window.

    A ``QLabel`` asks its parent layout to recompute on every ``setText``; inside
    the results splitter that re-laid out and repainted the whole window after
    each search (~25 ms of GUI time, bench/gui_bench.py). This line has a fixed
    height, ignores its text's width, and only repaints itself; text that does
    not fit is cut, and the tooltip has all of it.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = QTextDocument(self)
        self._doc.setDocumentMargin(0)
        self._doc.setDefaultFont(self.font())
        self._html = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().height() + 6)
        self.setText(text)

    def setText(self, text: str) -> None:  # the QLabel name, so callers read the same
        """Show ``text`` (Qt rich text or plain)."""
        self._html = text
        self._doc.setHtml(text)
        plain = self._doc.toPlainText()
        self.setToolTip(plain)
        self.setAccessibleName(plain)
        self.update()

    def text(self) -> str:
        """The text as given to :meth:`setText`."""
        return self._html

    def sizeHint(self) -> QSize:
        return QSize(240, self.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        top = max(0.0, (self.height() - self._doc.size().height()) / 2)
        painter.translate(0, top)
        self._doc.drawContents(painter, QRectF(0, 0, self.width(), self.height()))


class WelcomePage(QWidget):
    """Shown while the catalog is empty: a big drop target, "Open FASTA…", "Load sample data"."""

    open_fasta = Signal()
    load_sample = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        box = QFrame()
        box.setObjectName("dropTarget")
        box.setStyleSheet(
            "#dropTarget { border: 2px dashed #8aa4c8; border-radius: 12px; background: #f5f8fc; }"
        )
        box.setMinimumSize(560, 300)
        inner = QVBoxLayout(box)
        inner.setContentsMargins(40, 30, 40, 30)
        title = QLabel("<h2>Welcome to GenoCat</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Your catalog is empty. <b>Drop FASTA files or folders anywhere on this window</b> to import them "
            "(plain, gzip, bzip2 or xz), or start with a small set of real proteins."
        )
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open FASTA…")
        self.open_button.setToolTip("Choose FASTA files to import (Ctrl+I)")
        self.sample_button = QPushButton("Load sample data")
        self.sample_button.setToolTip("Import 379 real proteins from 15 Pfam families (CC0/BSD/MIT)")
        for b in (self.open_button, self.sample_button):
            b.setMinimumHeight(36)
            b.setMinimumWidth(170)
        self.open_button.clicked.connect(self.open_fasta)
        self.sample_button.clicked.connect(self.load_sample)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_button)
        buttons.addStretch(1)
        hint = QLabel("Each file is imported in one step: a file that is not valid FASTA changes nothing.")
        hint.setStyleSheet("color:#666")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        inner.addWidget(title)
        inner.addWidget(text)
        inner.addSpacing(16)
        inner.addLayout(buttons)
        inner.addSpacing(8)
        inner.addWidget(hint)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(box, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)


class MainWindow(QMainWindow):
    """GenoCat's main window over one catalog.

    Parameters
    ----------
    location
        Catalog folder or URI; ``None`` opens the default catalog (created on first start).
    files
        FASTA files (or folders) to import once the catalog is open.
    """

    #: Emitted with the summary once the catalog is open (tests, scripts).
    catalog_opened = Signal(object)
    #: Emitted when search results are on screen.
    results_shown = Signal(object)
    #: Emitted when a browser page is on screen.
    page_shown = Signal(object)
    #: Emitted with the per-file results after a batch of imports.
    imports_done = Signal(list)
    #: Emitted with the number of rows written after an export.
    export_done = Signal(int)
    #: Emitted with the message of a job that failed (after its dialog is shown).
    job_failed = Signal(str)

    def __init__(self, location: str | None = None, files: Sequence[str] = ()) -> None:
        super().__init__()
        self.setWindowTitle("GenoCat")
        self.setAcceptDrops(True)
        self.engine = EngineThread(self)
        self.session: jobs.Session | None = None
        self.summary: jobs.CatalogSummary | None = None
        self.outcome: jobs.SearchOutcome | None = None
        self.page: Any = None
        self._pending_files: list[str] = list(files)
        self._browse_sort: tuple[str | None, bool] = (None, False)
        self._query_index = 0
        self._last_report: ImportReportDialog | None = None
        self._closing = False
        self._warmed = False
        self.s3_dialog: S3Dialog | None = None
        #: Asked before quitting while a job runs; tests replace it.
        self.confirm: Callable[[str, str], bool] = self._ask

        self._build_actions()
        self._build_ui()
        self._restore_settings()
        # Text boxes take dropped files as text (their path); on this window a dropped file
        # means "import it", wherever it lands, so their drag events come here first.
        for widget in (self.query_edit.viewport(), self.description_edit, self.hits_filter, self.browse_text):
            widget.installEventFilter(self)
        self.engine.job_started.connect(self._on_job_started)
        self.engine.busy_changed.connect(self._on_busy)
        if self.models_page.has_saved_options():
            self.models_page.apply_options()  # queued before the catalog opens: every model loads with them
        self.open_catalog(location)

    # ================================================================== building
    def _build_actions(self) -> None:
        def action(text: str, slot: Callable[[], Any], shortcut: Any = None, tip: str = "") -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            if tip:
                a.setStatusTip(tip)
                a.setToolTip(tip)
            a.triggered.connect(lambda checked=False: slot())
            return a

        self.act_import = action("&Import FASTA…", self.choose_import, "Ctrl+I", "Import FASTA files into the catalog")
        self.act_import_folder = action("Import &folder…", self.choose_import_folder, None,
                                        "Import every FASTA file in a folder")
        self.act_bulk_ingest = action("&Bulk ingest…", self.bulk_ingest_dialog, "Ctrl+Shift+I",
                                      "Ingest many files, folders or s3:// prefixes with parallel workers (or Ray)")
        self.act_sample = action("Load &sample data", self.load_sample, None,
                                 "Import 379 real proteins from 15 Pfam families")
        self.act_open_catalog = action("&Open catalog…", self.choose_catalog, "Ctrl+Shift+O",
                                       "Open another catalog folder (created if empty)")
        self.act_open_s3 = action("Open &S3 catalog…", self.choose_s3_catalog, "Ctrl+Alt+O",
                                  "Open or create a catalog on AWS S3 or an S3-compatible store")
        self.act_indexes = action("&Indexes…", lambda: self.index_dialog.show_dialog(), "Ctrl+Shift+X",
                                  "Vector, filter and full-text indexes: build, optimize, drop; search effort")
        self.act_export = action("&Export…", self.export_dialog, "Ctrl+E",
                                 "Export the hits (or browsed rows) to CSV or FASTA")
        self.act_export_selected = action("Export &selected…", lambda: self.export_dialog(selected=True),
                                          "Ctrl+Shift+E", "Export only the selected rows")
        self.act_quit = action("&Quit", self.close, QKeySequence.StandardKey.Quit, "Quit GenoCat")
        self.act_quit.setShortcut(QKeySequence("Ctrl+Q"))
        self.act_find = action("&Find (focus the query)", self.focus_query, "Ctrl+F", "Type or paste a query")
        self.act_search = action("&Search", self.run_search, "Ctrl+Return", "Search the catalog with the query")
        self.act_open_query = action("Open &query file…", self.choose_query_file, "Ctrl+O",
                                     "Use the sequences of a FASTA file as queries")
        self.act_cancel = action("&Cancel job", self.cancel_current, "Esc", "Cancel the running job")
        self.act_browse = action("&Browse catalog", lambda: self.tabs.setCurrentIndex(1), "Ctrl+B",
                                 "Page through every row of the catalog")
        self.act_schema = action("Sc&hema and history", lambda: self.tabs.setCurrentIndex(2), "Ctrl+Shift+H",
                                 "Add, rename and drop user fields; the catalog's versions")
        self.act_benchmark = action("Bench&mark", lambda: self.tabs.setCurrentIndex(3), None,
                                    "Measure the catalog against the design targets")
        self.act_models = action("&Models and embeddings…", self.show_models, "Ctrl+Shift+M",
                                 "Install ONNX models, set their runtime options, add embeddings to the catalog")
        self.act_set_value = action("Set &value for selected rows…", self.set_value_for_selected, "Ctrl+Shift+V",
                                    "Give a user field one value on the rows selected in the browser")
        self.act_annotate = action("&Annotate from CSV/TSV…", lambda: self.schema_page.choose_annotations(), None,
                                   "Fill user fields from a spreadsheet keyed by accession, id or seq_hash")
        self.act_about = action("&About GenoCat", self._about)

    def _build_ui(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addActions([self.act_import, self.act_import_folder, self.act_bulk_ingest, self.act_sample])
        file_menu.addSeparator()
        file_menu.addActions([self.act_open_catalog, self.act_open_s3])
        self.recent_menu = file_menu.addMenu("Recent catalogs")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        file_menu.addActions([self.act_export, self.act_export_selected])
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        search_menu = menu.addMenu("&Search")
        search_menu.addActions([self.act_find, self.act_search, self.act_open_query, self.act_browse, self.act_cancel])
        catalog_menu = menu.addMenu("&Catalog")
        catalog_menu.addActions([self.act_schema, self.act_set_value, self.act_annotate])
        catalog_menu.addSeparator()
        catalog_menu.addAction(self.act_indexes)
        catalog_menu.addAction(self.act_benchmark)
        tools_menu = menu.addMenu("&Tools")
        tools_menu.addAction(self.act_models)
        self.view_menu = menu.addMenu("&View")
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.act_about)

        self.stack = QStackedWidget()
        self.loading = QLabel("Opening the catalog…")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.welcome = WelcomePage()
        self.welcome.open_fasta.connect(self.choose_import)
        self.welcome.load_sample.connect(self.load_sample)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_search_tab(), "Search")
        self.tabs.addTab(self._build_browse_tab(), "Browse catalog")
        self.schema_page = SchemaPage(self.engine, self._job_error)
        self.schema_page.changed.connect(self._on_catalog_changed)
        self.schema_page.state_shown.connect(self._on_schema_state)
        self.tabs.addTab(self.schema_page, "Schema")
        self.tabs.setTabToolTip(2, "Fields, user-field editing, annotations and history (Ctrl+Shift+H)")
        self.benchmark_page = BenchmarkPage(self.engine, self._job_error)
        self.tabs.addTab(self.benchmark_page, "Benchmark")
        self.tabs.setTabToolTip(3, "Measure import, search latency, recall and export against the targets")
        self.models_page = ModelsPage(self.engine, self._job_error)
        self.models_page.changed.connect(self._on_catalog_changed)
        self.tabs.addTab(self.models_page, "Models")
        self.tabs.setTabToolTip(4, "ONNX models, runtime options and the catalog's embeddings (Ctrl+Shift+M)")
        self.tabs.currentChanged.connect(self._on_tab)
        self.index_dialog = IndexDialog(self.engine, self._job_error, self)
        self.index_dialog.changed.connect(self._on_index_changed)
        for w in (self.loading, self.welcome, self.tabs):
            self.stack.addWidget(w)

        self.import_panel = ImportPanel()
        self.import_panel.cancel_requested.connect(self.engine.cancel)
        self.import_panel.batch_finished.connect(self._on_imports_done)
        self.import_panel.setMaximumHeight(170)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 4)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.import_panel)
        self.setCentralWidget(central)

        status = self.statusBar()
        self.catalog_label = QLabel("")
        self.job_label = QLabel("")
        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(160)
        self.job_bar.setMaximumHeight(14)
        self.job_bar.setTextVisible(False)
        self.job_bar.setVisible(False)
        self.job_cancel = QToolButton()
        self.job_cancel.setText("Cancel")
        self.job_cancel.setToolTip("Cancel the running job (Esc)")
        self.job_cancel.clicked.connect(self.cancel_current)
        self.job_cancel.setVisible(False)
        status.addWidget(self.catalog_label, 1)
        status.addPermanentWidget(self.index_dialog.status_button)
        status.addPermanentWidget(self.job_label)
        status.addPermanentWidget(self.job_bar)
        status.addPermanentWidget(self.job_cancel)

        cols = self.view_menu.addAction("Hit columns…")
        cols.triggered.connect(lambda: self.hits_table.column_menu(self).exec(self.cursor().pos()))
        bcols = self.view_menu.addAction("Catalog columns…")
        bcols.triggered.connect(lambda: self.browse_table.column_menu(self).exec(self.cursor().pos()))

    def _build_search_tab(self) -> QWidget:
        # Left: the query and its parameters.
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 6, 0)
        qbox = QGroupBox("Query")
        qv = QVBoxLayout(qbox)
        self.query_edit = QPlainTextEdit()
        self.query_edit.setPlaceholderText(EXAMPLE_QUERY)
        self.query_edit.setFont(_mono())
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
        lv.addWidget(qbox, 3)

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
        lv.addWidget(pbox)
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

        # Right: hits, then detail and histogram.
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(6, 0, 0, 0)
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
        self.export_button.clicked.connect(lambda: self.export_dialog())
        self.export_button.setEnabled(False)
        bar.addWidget(self.results_label, 1)
        bar.addWidget(self.query_combo)
        bar.addWidget(self.hits_filter)
        bar.addWidget(self.export_button)
        rv.addLayout(bar)
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

        self.search_split = QSplitter(Qt.Orientation.Horizontal)
        self.search_split.addWidget(left)
        self.search_split.addWidget(right)
        self.search_split.setStretchFactor(0, 0)
        self.search_split.setStretchFactor(1, 1)
        self.search_split.setSizes([340, 900])
        left.setMinimumWidth(300)
        return self.search_split

    def _build_browse_tab(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        v.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.browse_text = QLineEdit()
        self.browse_text.setPlaceholderText("ID or description contains…")
        self.browse_text.setClearButtonEnabled(True)
        self.browse_text.setToolTip("Free-text search in identifiers, names and descriptions")
        self.browse_text.returnPressed.connect(lambda: self.load_page(0))
        apply = QPushButton("Apply")
        apply.setToolTip("Apply the text and the filters")
        apply.clicked.connect(lambda: self.load_page(0))
        self.prev_button = QPushButton("◀ Previous")
        self.prev_button.clicked.connect(lambda: self.load_page(self._page_offset() - PAGE_SIZE))
        self.next_button = QPushButton("Next ▶")
        self.next_button.clicked.connect(lambda: self.load_page(self._page_offset() + PAGE_SIZE))
        self.page_label = QLabel("")
        self.set_value_button = QPushButton("Set value…")
        self.set_value_button.setToolTip("Give a user field one value on the selected rows (Ctrl+Shift+V); "
                                         "double-click a user field's cell to edit it")
        self.set_value_button.clicked.connect(self.set_value_for_selected)
        self.browse_export = QPushButton("Export…")
        self.browse_export.setToolTip("Export every matching row (Ctrl+E) or the selected rows (Ctrl+Shift+E)")
        self.browse_export.clicked.connect(lambda: self.export_dialog())
        top.addWidget(self.browse_text, 2)
        top.addWidget(apply)
        top.addStretch(1)
        top.addWidget(self.page_label)
        top.addWidget(self.prev_button)
        top.addWidget(self.next_button)
        top.addWidget(self.set_value_button)
        top.addWidget(self.browse_export)
        v.addLayout(top)
        self.browse_filters = FilterEditor()
        self.browse_filters.add_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        v.addWidget(self.browse_filters)
        self.browse_table = ArrowTableView("browse", HIDDEN_BROWSE_COLUMNS, server_sort=True)
        self.browse_table.source.sort_requested.connect(self._on_browse_sort)
        self.browse_table.current_row_changed.connect(self._on_browse_selected)
        self.browse_table.find_similar.connect(self.find_similar)
        self.browse_table.row_actions.append(self.act_set_value)
        self.browse_table.source.cell_edited.connect(self._on_cell_edited)
        self.browse_detail = DetailPane()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.browse_table)
        split.addWidget(self.browse_detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        v.addWidget(split, 1)
        return page

    # ================================================================== settings
    def _restore_settings(self) -> None:
        s = settings()
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        k = s.value("search/k")
        if k is not None:
            with contextlib.suppress(ValueError):
                self.k_spin.setValue(int(str(k)))
        self.align_check.setChecked(str(s.value("search/align", "false")).lower() == "true")
        for key, splitter in (("window/search_split", self.search_split), ("window/results_split", self.results_split)):
            state = s.value(key)
            if isinstance(state, QByteArray):
                splitter.restoreState(state)

    def _save_settings(self) -> None:
        s = settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/search_split", self.search_split.saveState())
        s.setValue("window/results_split", self.results_split.saveState())
        s.setValue("search/k", self.k_spin.value())
        s.setValue("search/align", self.align_check.isChecked())
        self.hits_table.save_state()
        self.browse_table.save_state()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for location in recent_catalogs():
            a = self.recent_menu.addAction(location)
            a.triggered.connect(lambda checked=False, loc=location: self.open_catalog(loc))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    # ================================================================== catalog
    def open_catalog(self, location: str | None) -> Job:
        """Open (or create) a catalog on the engine thread; the window shows it when ready.

        A recent ``s3://`` location is reopened with its saved settings (its key from the keyring).
        """
        self._close_session()
        self.stack.setCurrentWidget(self.loading)
        self.catalog_label.setText("Opening the catalog…")
        spec = load_location(location) if location and is_remote(location) else None
        fn = reopen_s3_job(spec) if spec is not None else jobs.open_catalog_job(location)
        job = self.engine.submit("open", "Opening the catalog", fn)
        job.finished.connect(self._on_opened)
        job.failed.connect(lambda message, details: self._on_open_failed(location, message, details))
        return job

    def _close_session(self) -> None:
        if self.session is not None:
            self.session.close()
        self._warmed = False
        self.session = None
        self.summary = None
        self.schema_page.set_session(None)
        self.benchmark_page.set_session(None)
        self.index_dialog.set_session(None)
        self.models_page.session = None

    def _on_opened(self, result: tuple[jobs.Session, jobs.CatalogSummary]) -> None:
        self.session, summary = result
        add_recent(summary.location)
        self._apply_summary(summary)
        self.schema_page.set_session(self.session)
        self.benchmark_page.set_session(self.session)
        self.index_dialog.set_session(self.session)
        self.models_page.set_session(self.session)
        if self._warmed:
            self._ready(summary)
            return
        self._warmed = True
        warm = self.engine.submit("warm", "Loading", jobs.warm_up_job(self.session))

        def warmed(_: object = None) -> None:
            # Building the (empty) plot costs 0.1-0.4 s of GUI-thread time the first time (pyqtgraph's
            # menus and axes). Done before the catalog is announced as open, it never lands inside an
            # import or the first search's results (bench/gui_bench.py measured it there as a stall).
            with contextlib.suppress(Exception):  # a plot that cannot be built must not stop the app
                self.histogram.prepare()
            # Everything loaded so far (Qt, Arrow, Lance, pyqtgraph: ~10^6 objects) lives as long as the
            # app: frozen out of the collector, a later full collection walks only new objects.
            gc.freeze()
            self._ready(summary)

        warm.finished.connect(warmed)
        warm.failed.connect(lambda m, d: warmed())
        warm.cancelled.connect(warmed)

    def _ready(self, summary: jobs.CatalogSummary) -> None:
        """The catalog is open and the window has what its first results need."""
        if self.session is None or self.summary is None or self.summary.location != summary.location:
            return  # closed, or another catalog was opened meanwhile (its own open announces it)
        if summary.rows:
            # Vectors loaded now, not by the first search (queued searches wait for it, as they would).
            self.engine.submit("warm", "Preparing search", jobs.warm_search_job(self.session))
        self.catalog_opened.emit(summary)
        if self._pending_files:
            files, self._pending_files = self._pending_files, []
            self.import_paths(files)

    def _on_open_failed(self, location: str | None, message: str, details: str) -> None:
        self.loading.setText(
            f"<p>The catalog could not be opened:</p><p><b>{html.escape(message)}</b></p>"
            "<p>Use File → Open catalog… to choose another folder, or File → Open S3 catalog….</p>"
        )
        self.catalog_label.setText("No catalog open")
        show_error(self, "Cannot open the catalog", message, details)
        self.job_failed.emit(message)

    def _apply_summary(self, summary: jobs.CatalogSummary) -> None:
        first = self.summary is None
        self.summary = summary
        self.setWindowTitle(f"GenoCat — {Path(summary.location).name}")
        self.catalog_label.setText(
            f"Catalog {summary.location} · {summary.rows:,} sequences · version {summary.version}"
        )
        self.catalog_label.setToolTip("\n".join(f"{c}: {e}" for c, e in summary.embedders.items()))
        self.search_filters.set_fields(summary.fields)
        self.browse_filters.set_fields(summary.fields)
        current = self.embedder_combo.currentData()
        self.embedder_combo.clear()
        for column in summary.vector_columns:
            self.embedder_combo.addItem(summary.embedders.get(column, column), column)
            self.embedder_combo.setItemData(self.embedder_combo.count() - 1, f"vector column {column}",
                                            Qt.ItemDataRole.ToolTipRole)
        index = self.embedder_combo.findData(current or summary.default_vector)
        self.embedder_combo.setCurrentIndex(max(index, 0))
        on_models = self.stack.currentWidget() is self.tabs and self.tabs.currentWidget() is self.models_page
        if summary.rows == 0 and not on_models:
            self.stack.setCurrentWidget(self.welcome)
        else:
            self.stack.setCurrentWidget(self.tabs)
            if first:
                self.query_edit.setFocus()
        if self.tabs.currentIndex() == 1 or self.page is not None:
            self.load_page(self._page_offset())

    def choose_catalog(self) -> None:
        """Ask for a catalog folder and open it."""
        folder = QFileDialog.getExistingDirectory(self, "Open or create a catalog folder", str(Path.home()))
        if folder:
            self.open_catalog(folder)

    def choose_s3_catalog(self) -> S3Dialog:
        """File → Open S3 catalog…: the dialog opens the catalog itself and hands it over."""
        # One dialog per window, kept (hidden) between uses: its jobs may answer after it closes.
        if self.s3_dialog is None:
            self.s3_dialog = S3Dialog(self.engine, None, self)
            self.s3_dialog.opened.connect(self._adopt_catalog)
        current = self.summary.location if self.summary is not None and is_remote(self.summary.location) else None
        spec = load_location(current) if current else None
        if spec is not None:
            self.s3_dialog.set_location(spec)
        self.s3_dialog.open()
        return self.s3_dialog

    def _adopt_catalog(self, result: tuple[jobs.Session, jobs.CatalogSummary]) -> None:
        """Show a catalog opened elsewhere (the S3 dialog) in place of the current one."""
        self._close_session()
        self._on_opened(result)
        warning = self.s3_dialog.warning if self.s3_dialog is not None else ""
        if warning:
            self.statusBar().showMessage(f"Opened, but: {warning}", 10000)

    def _on_index_changed(self, summary: jobs.CatalogSummary) -> None:
        if not self._closing:
            self._apply_summary(summary)

    # ================================================================== import
    def choose_import(self) -> None:
        """File → Import FASTA…"""
        start = str(settings().value("paths/import", str(Path.home())))
        files, _ = QFileDialog.getOpenFileNames(self, "Import FASTA files", start, FASTA_FILTER)
        if files:
            settings().setValue("paths/import", str(Path(files[0]).parent))
            self.import_paths(files)

    def choose_import_folder(self) -> None:
        """File → Import folder…"""
        folder = QFileDialog.getExistingDirectory(self, "Import every FASTA file in a folder", str(Path.home()))
        if folder:
            self.import_paths([folder])

    def load_sample(self) -> None:
        """Import the bundled sample proteins."""
        from genocat_desktop.resources import sample_fasta

        self.import_paths([str(sample_fasta())])

    def import_paths(self, paths: Sequence[str | Path]) -> list[Job]:
        """Queue files (folders are expanded to the FASTA files they hold); one job per file."""
        if self.session is None:
            self._pending_files.extend(str(p) for p in paths)
            return []
        files = jobs.fasta_files_in(paths)
        if not files:
            self.statusBar().showMessage("No FASTA files found there.", 5000)
            return []
        queued = []
        for path in files:
            job = self.engine.submit("import", f"Importing {path.name}", jobs.import_job(self.session, path))
            job.finished.connect(self._on_import_finished)
            self.import_panel.add(job, path)
            queued.append(job)
        return queued

    def bulk_ingest_dialog(self) -> Any:
        """File → Bulk ingest…: the dialog, or ``None`` while no catalog is open."""
        if self.session is None:
            self.statusBar().showMessage("Open a catalog first.", 5000)
            return None
        from genocat_desktop.ui.dialogs.ingest import BulkIngestDialog

        dialog = BulkIngestDialog(self.engine, self.session, self)
        dialog.ingest_finished.connect(lambda outcome: None if self._closing else self._apply_summary(outcome.summary))
        dialog.show()
        return dialog

    def _on_import_finished(self, outcome: jobs.ImportOutcome) -> None:
        if not self._closing:
            self._apply_summary(outcome.summary)

    def _on_imports_done(self, results: list[tuple[str, Any, str]]) -> None:
        if self._closing:
            return
        dialog = ImportReportDialog(results, self)
        self._last_report = dialog
        dialog.show()
        QTimer.singleShot(8000, self._hide_import_panel)
        self.imports_done.emit(results)
        self.index_dialog.after_imports()
        if self.summary is not None and self.summary.rows and not self.query_edit.toPlainText().strip():
            self.statusBar().showMessage("Imported. Paste a sequence and press Ctrl+Enter to search.", 8000)

    def _hide_import_panel(self) -> None:
        if not self.import_panel.active:
            self.import_panel.setVisible(False)

    # ---------------------------------------------------------------- drag and drop
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            mime = event.mimeData()  # type: ignore[attr-defined]
            if mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()):
                if kind == QEvent.Type.Drop:
                    self.dropEvent(event)  # type: ignore[arg-type]
                else:
                    event.acceptProposedAction()  # type: ignore[attr-defined]
                return True
        return super().eventFilter(watched, event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_paths(paths)
        else:
            event.ignore()

    # ================================================================== search
    def focus_query(self) -> None:
        """Ctrl+F: go to the query box (on the Browse tab: to its text search)."""
        if self.stack.currentWidget() is self.tabs and self.tabs.currentIndex() == 1:
            self.browse_text.setFocus()
            self.browse_text.selectAll()
            return
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
        job = self.engine.submit("read", f"Reading {Path(path).name}", jobs.read_query_file_job(path))
        job.finished.connect(self.query_edit.setPlainText)
        job.failed.connect(lambda m, d: self._job_error("Cannot read the query file", m, d))
        return job

    def find_similar(self, ident: str, sequence: str) -> None:
        """Right-click → Find similar: search with a row's sequence."""
        self.tabs.setCurrentIndex(0)
        self.query_edit.setPlainText(f">{ident}\n{sequence}")
        self.run_search()

    def run_search(self) -> Job | None:
        """Search with the query box's content and the chosen parameters (cancels a running search)."""
        if self.session is None:
            return None
        text = self.query_edit.toPlainText().strip()
        if not text:
            self.statusBar().showMessage("Paste a sequence or FASTA records first.", 5000)
            self.query_edit.setFocus()
            return None
        fn = jobs.search_job(
            self.session, text, k=self.k_spin.value(), filters=self.search_filters.specs(),
            description=self.description_edit.text(), column=self.embedder_combo.currentData(),
            align=self.align_check.isChecked(),
        )
        job = self.engine.submit("search", "Searching", fn, supersede=True)
        self.results_label.setText("Searching…")
        job.finished.connect(self.show_results)
        job.failed.connect(lambda m, d: self._job_error("Search failed", m, d))
        job.failed.connect(lambda m, d: self.results_label.setText("The search failed."))
        return job

    def show_results(self, outcome: jobs.SearchOutcome) -> None:
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
        docs = {f.name: f.description for f in self.summary.fields} if self.summary else None
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
        if self._closing:
            return
        if self.outcome is not None and self.outcome.results[self._query_index] is result:
            self.hits_table.select_source_row(0)

    def _on_hit_selected(self, row: int) -> None:
        if self._closing:
            return
        if self.outcome is None or self.session is None or row < 0:
            self.histogram.mark(None)
            return
        values = self.hits_table.source.row_dict(row)
        result = self.outcome.results[self._query_index]
        self.histogram.mark(values.get("score"))
        self.hit_detail.show_row(values, "Aligning to the query…")
        query = result.query
        fn = jobs.align_job(self.session, query.sequence, str(values["sequence"]))
        job = self.engine.submit("align", "Aligning", fn, supersede=True)
        job.finished.connect(lambda a: self.hit_detail.show_alignment(a, query.id, len(query.sequence)))
        job.failed.connect(lambda m, d: self.hit_detail.show_alignment_error(m))

    # ================================================================== browse
    def _on_tab(self, index: int) -> None:
        if index == 1 and self.page is None and self.session is not None:
            self.load_page(0)
        state = self.schema_page.state
        if index == 2 and self.session is not None and self.summary is not None and (
            state is None or state.version != self.summary.version
        ):
            self.schema_page.refresh()
        models = self.models_page.state
        if index == 4 and self.session is not None and self.summary is not None and (
            models is None or models.version != self.summary.version
        ):
            self.models_page.refresh()

    # ================================================================== schema edits
    def _on_catalog_changed(self, change: jobs.Change) -> None:
        """A schema page job changed the catalog: show its new summary (and reload the browser's page)."""
        if not self._closing:
            self.statusBar().showMessage(change.message, 8000)
            self._apply_summary(change.summary)

    def show_models(self) -> None:
        """Tools → Models and embeddings… (Ctrl+Shift+M): the Models tab, even before anything is imported."""
        self.stack.setCurrentWidget(self.tabs)
        self.tabs.setCurrentWidget(self.models_page)

    def _on_schema_state(self, state: jobs.SchemaState) -> None:
        self.browse_table.source.editable = {f.name for f in state.fields if f.kind == "user"}

    def selected_hashes(self) -> list[str]:
        """``seq_hash`` of the rows selected in the browser."""
        rows = self.browse_table.source_rows()
        if not rows or "seq_hash" not in self.browse_table.source.column_names:
            return []
        return [str(self.browse_table.source.value(r, "seq_hash")) for r in rows]

    def set_value_for_selected(self) -> None:
        """Set value for selected rows… (the browser's selection; a dialog chooses field and value)."""
        if self.session is None:
            return
        hashes = self.selected_hashes()
        if not hashes:
            self.tabs.setCurrentIndex(1)
            self.statusBar().showMessage("Select rows in the catalog browser first.", 5000)
            return
        fields = self.schema_page.user_fields
        if not fields:
            self.statusBar().showMessage("The catalog has no user field yet: add one on the Schema tab.", 6000)
            return
        dialog = SetValueDialog(fields, len(hashes), self)
        if dialog.exec() == SetValueDialog.DialogCode.Accepted:
            name, value = dialog.values()
            self.schema_page.set_values(name, value, hashes)

    def _on_cell_edited(self, row: int, name: str, text: str) -> None:
        if "seq_hash" not in self.browse_table.source.column_names:
            return
        seq_hash = str(self.browse_table.source.value(row, "seq_hash"))
        self.schema_page.set_cells(name, {seq_hash: text.strip() or None})

    def _page_offset(self) -> int:
        return int(self.page.offset) if self.page is not None else 0

    def load_page(self, offset: int) -> Job | None:
        """Load a page of catalog rows with the browser's text, filters and sort."""
        if self.session is None:
            return None
        sort, descending = self._browse_sort
        fn = jobs.browse_job(
            self.session, filters=self.browse_filters.specs(), text=self.browse_text.text(), sort=sort,
            descending=descending, offset=max(0, offset), limit=PAGE_SIZE,
        )
        job = self.engine.submit("browse", "Loading rows", fn, supersede=True)
        self.page_label.setText("Loading…")
        job.finished.connect(self._show_page)
        job.failed.connect(lambda m, d: self._job_error("Cannot show these rows", m, d))
        job.failed.connect(lambda m, d: self.page_label.setText("—"))
        return job

    def _show_page(self, page: Any) -> None:
        self.page = page
        docs = {f.name: f.description for f in self.summary.fields} if self.summary else None
        self.browse_table.set_table(page.rows, docs)
        n = page.rows.num_rows
        if page.total:
            self.page_label.setText(f"rows {page.offset + 1:,}–{page.offset + n:,} of {page.total:,}")
        else:
            self.page_label.setText("no matching rows")
        self.prev_button.setEnabled(page.offset > 0)
        self.next_button.setEnabled(page.offset + n < page.total)
        self.browse_detail.show_placeholder()
        self.page_shown.emit(page)

    def _on_browse_sort(self, column: str, descending: bool) -> None:
        if column in ("aliases",):
            self.statusBar().showMessage("Lists cannot be sorted.", 4000)
            return
        self._browse_sort = (column, descending)
        self.load_page(0)

    def _on_browse_selected(self, row: int) -> None:
        if row >= 0:
            self.browse_detail.show_row(self.browse_table.source.row_dict(row))

    # ================================================================== export
    def export_dialog(self, selected: bool = False) -> None:
        """Ask for a file name and export (hits on the Search tab, rows on the Browse tab)."""
        browsing = self.stack.currentWidget() is self.tabs and self.tabs.currentIndex() == 1
        if not browsing and self.outcome is None:
            self.statusBar().showMessage("Nothing to export yet: run a search (or browse the catalog).", 5000)
            return
        start = str(settings().value("paths/export", str(Path.home())))
        default = "catalog_rows.csv" if browsing else "hits.csv"
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export selected rows" if selected else "Export", str(Path(start) / default),
            "CSV (*.csv);;FASTA (*.fasta)",
        )
        if not path:
            return
        if not Path(path).suffix:
            path += ".fasta" if "FASTA" in chosen else ".csv"
        settings().setValue("paths/export", str(Path(path).parent))
        self.export_to(path, selected=selected, browsing=browsing)

    def export_to(self, path: str, *, selected: bool = False, browsing: bool = False) -> Job | None:
        """Export hits (or browsed rows) to ``path`` (.csv or .fasta) on the engine thread."""
        if browsing:
            if self.session is None:
                return None
            if selected:
                rows = self.browse_table.source_rows()
                if not rows:
                    self.statusBar().showMessage("Select rows first.", 4000)
                    return None
                fn = jobs.export_rows_job(self.browse_table.source.take(rows), path,
                                          {"catalog": self.session.catalog.location, "rows": "selected rows"})
            else:
                fn = jobs.export_browse_job(self.session, path, filters=self.browse_filters.specs(),
                                            text=self.browse_text.text())
        else:
            if self.outcome is None:
                return None
            selection = None
            if selected:
                view_rows = self.hits_table.source_rows()
                if not view_rows:
                    self.statusBar().showMessage("Select hits first.", 4000)
                    return None
                selection = {self._query_index: [self.hits_table.source.table_row(r) for r in view_rows]}
            fn = jobs.export_hits_job(self.outcome, path, selection)
        job = self.engine.submit("export", f"Exporting to {Path(path).name}", fn)
        job.finished.connect(lambda n: self._on_exported(n, path))
        job.failed.connect(lambda m, d: self._job_error("Export failed", m, d))
        return job

    def _on_exported(self, count: int, path: str) -> None:
        self.statusBar().showMessage(f"Wrote {count:,} rows to {path}", 8000)
        self.export_done.emit(count)

    # ================================================================== jobs, status
    def _job_error(self, title: str, message: str, details: str) -> None:
        if self._closing:
            return
        show_error(self, title, message, details)
        self.job_failed.emit(message)

    def _on_job_started(self, job: Job) -> None:
        self.job_label.setText(job.title + "…")
        self.job_bar.setRange(0, 0)
        self.job_bar.setVisible(job.kind not in ("align",))
        self.job_cancel.setVisible(job.kind in ("search", "export", "import", "ingest", "browse", "benchmark",
                                                  "schema-change", "index", "embed", "model"))
        job.progress.connect(self._on_job_progress)
        if job.kind in ("embed", "model"):
            # A long job: the status bar says how far it is and how long is left, on any tab.
            job.progress.connect(lambda p: self.job_label.setText(describe_embedding_progress(p, compact=True)[1]))

    def _on_job_progress(self, p: Any) -> None:
        if p.fraction is not None:  # an unknown total keeps the busy indicator set when the job started
            show_fraction(self.job_bar, p.fraction)

    def _on_busy(self, busy: bool) -> None:
        if not busy:
            self.job_label.setText("")
            self.job_bar.setVisible(False)
            self.job_cancel.setVisible(False)

    def cancel_current(self) -> None:
        """Cancel the running job (Esc)."""
        job = self.engine.current
        if job is not None and job.kind != "open":
            self.engine.cancel(job)
            self.statusBar().showMessage(f"Cancelling: {job.title}…", 4000)

    def _about(self) -> None:
        from genocat_desktop import __version__

        QMessageBox.about(
            self, "About GenoCat",
            f"<h3>GenoCat {__version__}</h3><p>Catalog and search your lab's protein and DNA sequences.</p>"
            "<p>Shortcuts: Ctrl+I import · Ctrl+Shift+I bulk ingest · Ctrl+F query · Ctrl+Enter search · "
            "Ctrl+E export · "
            "Ctrl+B browse · Ctrl+Shift+H schema · Ctrl+Shift+M models · Ctrl+Shift+V set value · "
            "Ctrl+Shift+X indexes · Ctrl+Alt+O open S3 catalog · Esc cancel · Ctrl+Q quit</p>",
        )

    # ================================================================== closing
    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.engine.is_busy(("import", "ingest", "export", "embed")):
            if self.engine.is_busy(("embed",)):
                text = ("An embedding is still running. Quit anyway? It will be cancelled; the catalog stays as it "
                        "was, and the sequences embedded so far are kept for Resume (Models tab).")
            else:
                what = "An import" if self.engine.is_busy(("import", "ingest")) else "An export"
                text = (f"{what} is still running. Quit anyway? It will be cancelled; the catalog stays as it was "
                        "before the unfinished file.")
            if not self.confirm("Quit GenoCat?", text):
                event.ignore()
                return
        self._closing = True
        if self.models_page._options_timer.isActive():
            self.models_page.apply_options()  # an edit made just before quitting is still saved
        self._save_settings()
        self.statusBar().showMessage("Stopping…")
        self.engine.shutdown()
        if self.session is not None:
            self.session.close()  # after the engine thread stopped: no job can use it any more
        if self._last_report is not None:
            self._last_report.close()
        event.accept()
