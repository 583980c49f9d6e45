"""The main window: a shell of menus, a status bar and tabs around one open catalog.

The window owns the :class:`~genocat_desktop.ui.catalog_model.CatalogModel`;
the pages (:mod:`genocat_desktop.ui.pages`) listen to it and are found by name
in :attr:`MainWindow.pages`. Every engine call goes through
:class:`~genocat_desktop.ui.engine_thread.EngineThread` as a job from
:mod:`genocat_desktop.app`; slots here only read results and update widgets.
The window opens at once and the catalog opens on the engine thread behind it
(the status bar says "Opening catalog…").
"""

from __future__ import annotations

import contextlib
import gc
import html
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QTextCursor
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app import catalog as catalog_ops
from genocat_desktop.app import search as search_ops
from genocat_desktop.app.storage import is_remote, reopen_s3_job
from genocat_desktop.ui import exports, window_state
from genocat_desktop.ui.catalog_model import CatalogModel
from genocat_desktop.ui.dialogs.s3 import S3Dialog, load_location
from genocat_desktop.ui.dialogs.schema import SetValueDialog
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.errors import show_error
from genocat_desktop.ui.menus import build_menus, make_action, show_about
from genocat_desktop.ui.pages.benchmark import BenchmarkPage
from genocat_desktop.ui.pages.browse import BrowsePage
from genocat_desktop.ui.pages.import_panel import ImportPanel, ImportReportDialog
from genocat_desktop.ui.pages.indexes import IndexDialog
from genocat_desktop.ui.pages.models import ModelsPage
from genocat_desktop.ui.pages.schema import SchemaPage
from genocat_desktop.ui.pages.search import FASTA_FILTER, SearchPage
from genocat_desktop.ui.pages.welcome import WelcomePage
from genocat_desktop.ui.settings import add_recent, recent_catalogs, settings
from genocat_desktop.ui.widgets.file_drop import FileDropFilter
from genocat_desktop.ui.widgets.job_status import JobStatus
from genocat_desktop.ui.widgets.tables import scrolling

__all__ = ["MainWindow"]


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
        self.catalog = CatalogModel(self)
        # Connected before any page: the window's chrome follows the catalog first.
        self.catalog.opened.connect(lambda summary: self._apply_summary(summary, first=True))
        self.catalog.changed.connect(self._apply_summary)
        self._pending_files: list[str] = list(files)
        self._last_report: ImportReportDialog | None = None
        self._warmed = False
        self.s3_dialog: S3Dialog | None = None
        #: Asked before quitting while a job runs; tests replace it.
        self.confirm: Callable[[str, str], bool] = self._ask

        self._build_actions()
        self._build_ui()
        self.recent_menu = build_menus(self)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        window_state.restore(self)
        # A file dropped anywhere on the window, text boxes included, is imported.
        self.file_drop = FileDropFilter(self)
        self.file_drop.dropped.connect(self.import_paths)
        search = self.search_page
        for widget in (self, search.query_edit.viewport(), search.description_edit, search.hits_filter,
                       self.browse_page.browse_text):
            widget.installEventFilter(self.file_drop)
        if self.models_page.has_saved_options():
            self.models_page.apply_options()  # queued before the catalog opens: every model loads with them
        self.open_catalog(location)

    # ================================================================== state
    @property
    def session(self) -> catalog_ops.Session | None:
        """The open catalog's session (``None`` while none is open)."""
        return self.catalog.session

    @property
    def summary(self) -> catalog_ops.CatalogSummary | None:
        """The open catalog's latest summary (``None`` while none is open)."""
        return self.catalog.summary

    # ================================================================== building
    def _build_actions(self) -> None:
        action = partial(make_action, self)
        self.act_import = action("&Import FASTA…", self.choose_import, "Ctrl+I", "Import FASTA files into the catalog")
        self.act_import_folder = action("Import &folder…", self.choose_import_folder, None,
                                        "Import every FASTA file in a folder")
        self.act_bulk_ingest = action("&Bulk ingest…", self.bulk_ingest_dialog, "Ctrl+Shift+I",
                                      "Ingest many files, folders or s3:// prefixes with parallel workers (or Ray)")
        self.act_sample = action("Load &sample data", self.load_sample, None,
                                 "Import 379 real proteins from 15 Pfam families")
        self.act_call_genes = action(
            "Call &genes at import", self._remember_call_genes, None, "Imports and drops also predict the proteins "
            "of DNA records (genomes, contigs) with Prodigal and add them as protein rows linked to their record "
            "(fields cds_contig, cds_start, cds_end, cds_strand)")
        self.act_call_genes.setCheckable(True)
        self.act_call_genes.setChecked(bool(settings().value("import/call_genes", False, type=bool)))
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
        self.act_open_query = action("Open &query file…", lambda: self.search_page.choose_query_file(), "Ctrl+O",
                                     "Use the sequences of a FASTA file as queries")
        self.act_cancel = action("&Cancel job", self.cancel_current, "Esc", "Cancel the running job")
        self.act_browse = action("&Browse catalog", lambda: self.show_tab("browse"), "Ctrl+B",
                                 "Page through every row of the catalog")
        self.act_schema = action("Sc&hema and history", lambda: self.show_tab("schema"), "Ctrl+Shift+H",
                                 "Add, rename and drop user fields; the catalog's versions")
        self.act_benchmark = action("Bench&mark", lambda: self.show_tab("benchmark"), None,
                                    "Measure the catalog against the design targets")
        self.act_models = action("&Models and embeddings…", self.show_models, "Ctrl+Shift+M",
                                 "Install ONNX models, set their runtime options, add embeddings to the catalog")
        self.act_set_value = action("Set &value for selected rows…", self.set_value_for_selected, "Ctrl+Shift+V",
                                    "Give a user field one value on the rows selected in the browser")
        self.act_annotate = action("&Annotate from CSV/TSV…", lambda: self.schema_page.choose_annotations(), None,
                                   "Fill user fields from a spreadsheet keyed by accession, id or seq_hash")
        self.act_about = action("&About GenoCat", self.about)

    def _build_ui(self) -> None:
        self.stack = QStackedWidget()
        self.loading = QLabel("Opening the catalog…")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.welcome = WelcomePage()
        self.welcome.open_fasta.connect(self.choose_import)
        self.welcome.load_sample.connect(self.load_sample)
        self._build_tabs()
        for w in (self.loading, self.welcome, self.tabs):
            self.stack.addWidget(w)

        self.import_panel = ImportPanel()
        self.import_panel.cancel_requested.connect(self.engine.cancel)
        self.import_panel.batch_finished.connect(self._on_imports_done)
        self.import_panel.setMaximumHeight(170)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 4)
        # The pages scroll rather than make the window taller or wider than a small screen (1024×700,
        # 150 % scaling) when their minimum and the import panel's do not fit; otherwise no scroll bar.
        layout.addWidget(scrolling(self.stack), 1)
        layout.addWidget(self.import_panel)
        self.setCentralWidget(central)
        self._build_status_bar()

    def _build_tabs(self) -> None:
        """The pages, each subscribed to the catalog, in :attr:`pages` by name and in the tab bar."""
        self.search_page = SearchPage(self.engine, self.catalog, self.job_error)
        self.browse_page = BrowsePage(self.engine, self.catalog, self.job_error)
        self.schema_page = SchemaPage(self.engine, self.job_error)
        self.benchmark_page = BenchmarkPage(self.engine, self.job_error)
        self.models_page = ModelsPage(self.engine, self.job_error)
        self.index_dialog = IndexDialog(self.engine, self.job_error, self)
        for listener in (self.schema_page, self.benchmark_page, self.index_dialog, self.models_page):
            listener.bind(self.catalog)
        for rows_page in (self.search_page, self.browse_page):
            rows_page.message.connect(self._show_message)
            rows_page.export_requested.connect(lambda: self.export_dialog())
            rows_page.find_similar.connect(self.find_similar)
        self.search_page.results_shown.connect(self.results_shown)
        self.browse_page.page_shown.connect(self.page_shown)
        self.browse_page.set_value_requested.connect(self.set_value_for_selected)
        self.browse_page.browse_table.row_actions.append(self.act_set_value)
        self.browse_page.cells_edited.connect(self.schema_page.set_cells)
        self.schema_page.changed.connect(self._on_catalog_changed)
        self.schema_page.state_shown.connect(self.browse_page.set_editable)
        self.models_page.changed.connect(self._on_catalog_changed)
        self.index_dialog.changed.connect(self.catalog.update)

        self.tabs = QTabWidget()
        #: The tabs by name; the window picks a tab by its page, never by its position.
        self.pages: dict[str, QWidget] = {}
        for name, page, label, tip in (
            ("search", self.search_page, "Search", ""),
            ("browse", self.browse_page, "Browse catalog", ""),
            ("schema", self.schema_page, "Schema", "Fields, user-field editing, annotations and history "
                                                   "(Ctrl+Shift+H)"),
            ("benchmark", self.benchmark_page, "Benchmark", "Measure import, search latency, recall and export "
                                                            "against the targets"),
            ("models", self.models_page, "Models", "ONNX models, runtime options and the catalog's embeddings "
                                                   "(Ctrl+Shift+M)"),
        ):
            page.setObjectName(f"{name}Page")
            self.pages[name] = page
            index = self.tabs.addTab(page, label)
            if tip:
                self.tabs.setTabToolTip(index, tip)
        self._on_show: dict[QWidget, Callable[[], object]] = {
            self.browse_page: self.browse_page.activate,
            self.schema_page: self.schema_page.activate,
            self.models_page: self.models_page.activate,
        }
        self.tabs.currentChanged.connect(self._on_tab)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.catalog_label = QLabel("")
        status.addWidget(self.catalog_label, 1)
        status.addPermanentWidget(self.index_dialog.status_button)
        self.job_status = JobStatus(self.engine, status)

    # ================================================================== tabs
    def show_tab(self, name: str) -> None:
        """Make the page called ``name`` (a key of :attr:`pages`) the current tab."""
        self.tabs.setCurrentWidget(self.pages[name])

    def showing(self, name: str) -> bool:
        """Whether the tabs are on screen with the page called ``name`` current."""
        return self.stack.currentWidget() is self.tabs and self.tabs.currentWidget() is self.pages[name]

    def _on_tab(self, index: int) -> None:
        page = self.tabs.widget(index)
        activate = self._on_show.get(page) if page is not None else None
        if activate is not None and self.engine.running:  # not while the window is torn down
            activate()

    def show_models(self) -> None:
        """Tools → Models and embeddings… (Ctrl+Shift+M): the Models tab, even before anything is imported."""
        self.stack.setCurrentWidget(self.tabs)
        self.show_tab("models")

    def _show_message(self, text: str, ms: int) -> None:
        self.statusBar().showMessage(text, ms)

    # ================================================================== settings
    def fit_to_screen(self) -> None:
        """Shrink the window to its screen's available area, so that no part of it is off-screen."""
        window_state.fit_to_screen(self)

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
        fn = reopen_s3_job(spec) if spec is not None else catalog_ops.open_catalog_job(location)
        job = self.engine.submit("open", "Opening the catalog", fn)
        job.finished.connect(self._on_opened)
        job.failed.connect(lambda message, details: self._on_open_failed(location, message, details))
        return job

    def _close_session(self) -> None:
        self._warmed = False
        self.catalog.close()

    def _on_opened(self, result: tuple[catalog_ops.Session, catalog_ops.CatalogSummary]) -> None:
        session, summary = result
        add_recent(summary.location)
        self.catalog.open(session, summary)
        if summary.notice:
            self.statusBar().showMessage(summary.notice, 10000)
        if self._warmed:
            self._ready(summary)
            return
        self._warmed = True
        warm = self.engine.submit("warm", "Loading", catalog_ops.warm_up_job(session, preload=("pyqtgraph",)))

        def warmed(_: object = None) -> None:
            # Building the (empty) plot costs 0.1-0.4 s of GUI-thread time the first time (pyqtgraph's
            # menus and axes). Done before the catalog is announced as open, it never lands inside an
            # import or the first search's results (bench/gui_bench.py measured it there as a stall).
            with contextlib.suppress(Exception):  # a plot that cannot be built must not stop the app
                self.search_page.histogram.prepare()
            # Everything loaded so far (Qt, Arrow, Lance, pyqtgraph: ~10^6 objects) lives as long as the
            # app: frozen out of the collector, a later full collection walks only new objects.
            gc.freeze()
            self._ready(summary)

        warm.finished.connect(warmed)
        warm.failed.connect(lambda m, d: warmed())
        warm.cancelled.connect(warmed)

    def _ready(self, summary: catalog_ops.CatalogSummary) -> None:
        """The catalog is open and the window has what its first results need."""
        if self.engine.closed or self.catalog.closing:
            return  # the window is closing: a warm-up cancelled by the shutdown ends here
        if self.session is None or self.summary is None or self.summary.location != summary.location:
            return  # closed, or another catalog was opened meanwhile (its own open announces it)
        if summary.rows:
            # Vectors loaded now, not by the first search (queued searches wait for it, as they would).
            self.engine.submit("warm", "Preparing search", search_ops.warm_search_job(self.session))
            # An automatic index build that a kill interrupted is finished now (cancellable; one file look-up if none).
            self.engine.submit("index", "Resuming the index build", catalog_ops.resume_index_job(self.session))
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

    def _apply_summary(self, summary: catalog_ops.CatalogSummary, *, first: bool = False) -> None:
        """The window's own part of showing a catalog: title, status line, welcome page or tabs."""
        # Qt appends " — GenoCat" (the display name) to a title that does not end with it.
        self.setWindowTitle(f"{Path(summary.location).name} — GenoCat")
        self.catalog_label.setText(
            f"Catalog {summary.location} · {summary.rows:,} sequences · version {summary.version}"
        )
        self.catalog_label.setToolTip("\n".join(f"{c}: {e}" for c, e in summary.embedders.items()))
        if summary.rows == 0 and not self.showing("models"):
            self.stack.setCurrentWidget(self.welcome)
        else:
            self.stack.setCurrentWidget(self.tabs)
            if first:
                self.search_page.query_edit.setFocus()

    def _on_catalog_changed(self, change: catalog_ops.Change) -> None:
        """A page's job changed the catalog: say so, and announce its new summary."""
        if not self.catalog.closing:
            self.statusBar().showMessage(change.message, 8000)
            self.catalog.update(change.summary)

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

    def _adopt_catalog(self, result: tuple[catalog_ops.Session, catalog_ops.CatalogSummary]) -> None:
        """Show a catalog opened elsewhere (the S3 dialog) in place of the current one."""
        self._close_session()
        self._on_opened(result)
        warning = self.s3_dialog.warning if self.s3_dialog is not None else ""
        if warning:
            self.statusBar().showMessage(f"Opened, but: {warning}", 10000)

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

    def _remember_call_genes(self) -> None:
        """File → Call genes at import was toggled: later imports (and drops) follow it, also after a restart."""
        settings().setValue("import/call_genes", self.act_call_genes.isChecked())

    def import_paths(self, paths: Sequence[str | Path]) -> list[Job]:
        """Queue files (folders are expanded to the FASTA files they hold); one job per file."""
        if self.session is None:
            self._pending_files.extend(str(p) for p in paths)
            return []
        files = catalog_ops.fasta_files_in(paths)
        if not files:
            self.statusBar().showMessage("No FASTA files found there.", 5000)
            return []
        queued = []
        for path in files:
            job = self.engine.submit("import", f"Importing {path.name}", catalog_ops.import_job(
                self.session, path, call_genes=self.act_call_genes.isChecked()))
            job.finished.connect(lambda outcome: self.catalog.update(outcome.summary))
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
        dialog.ingest_finished.connect(lambda outcome: self.catalog.update(outcome.summary))
        dialog.show()
        return dialog

    def _on_imports_done(self, results: list[tuple[str, Any, str]]) -> None:
        if self.catalog.closing:
            return
        dialog = ImportReportDialog(results, self)
        self._last_report = dialog
        dialog.show()
        QTimer.singleShot(8000, self._hide_import_panel)
        self.imports_done.emit(results)
        self.index_dialog.after_imports()
        rejected = sum(1 for _, report, _ in results if report is None or report.error)
        if rejected:
            self.statusBar().showMessage(
                f"{rejected} of {len(results)} file{'' if len(results) == 1 else 's'} not imported: "
                "see the import report.", 8000)
        elif self.summary is not None and self.summary.rows and not self.search_page.query_edit.toPlainText().strip():
            self.statusBar().showMessage("Imported. Paste a sequence and press Ctrl+Enter to search.", 8000)

    def _hide_import_panel(self) -> None:
        if not self.import_panel.active:
            self.import_panel.setVisible(False)

    # ================================================================== search, browse
    def focus_query(self) -> None:
        """Ctrl+F: go to the query box (on the Browse tab: to its text search)."""
        if self.showing("browse"):
            self.browse_page.browse_text.setFocus()
            self.browse_page.browse_text.selectAll()
            return
        if self.showing("search"):
            self.search_page.focus_query()
            return
        # From another tab the query was hidden: show it and keep it whole (no selection that the next
        # key would replace), the cursor at its end.
        self.show_tab("search")
        edit = self.search_page.query_edit
        edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        edit.moveCursor(QTextCursor.MoveOperation.End)

    def run_search(self) -> Job | None:
        """Search → Search (Ctrl+Enter): search with the Search tab's query and parameters."""
        return self.search_page.run_search()

    def find_similar(self, ident: str, sequence: str) -> None:
        """Right-click → Find similar: search with a row's sequence."""
        self.show_tab("search")
        self.search_page.search_for(ident, sequence)

    def set_value_for_selected(self) -> None:
        """Set value for selected rows… (the browser's selection; a dialog chooses field and value)."""
        if self.session is None:
            return
        hashes = self.browse_page.selected_hashes()
        if not hashes:
            self.show_tab("browse")
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

    # ================================================================== export
    def export_dialog(self, selected: bool = False) -> None:
        """Ask for a file name and export (hits on the Search tab, rows on the Browse tab)."""
        exports.export_dialog(self, selected)

    def export_to(self, path: str, *, selected: bool = False, browsing: bool = False) -> Job | None:
        """Export hits (or browsed rows) to ``path`` (.csv or .fasta) on the engine thread."""
        return exports.export_to(self, path, selected=selected, browsing=browsing)

    # ================================================================== jobs, status
    def job_error(self, title: str, message: str, details: str) -> None:
        """Show a failed job's error (unless the catalog is closing) and emit :attr:`job_failed`."""
        if self.catalog.closing:
            return
        show_error(self, title, message, details)
        self.job_failed.emit(message)

    def cancel_current(self) -> None:
        """Cancel the running job (Esc)."""
        self.job_status.cancel_current()

    def about(self) -> QMessageBox:
        """Help → About GenoCat: the versions and the shortcuts (an open, window-modal box)."""
        return show_about(self)

    # ================================================================== closing
    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _quit_text(self) -> str | None:
        """What to ask before quitting while a job that writes runs (``None``: nothing to ask)."""
        if not self.engine.is_busy(("import", "ingest", "export", "embed")):
            return None
        if self.engine.is_busy(("embed",)):
            return ("An embedding is still running. Quit anyway? It will be cancelled; the catalog stays as it "
                    "was, and the sequences embedded so far are kept for Resume (Models tab).")
        what = "An import" if self.engine.is_busy(("import", "ingest")) else "An export"
        return (f"{what} is still running. Quit anyway? It will be cancelled; the catalog stays as it was "
                "before the unfinished file.")

    def closeEvent(self, event: QCloseEvent) -> None:
        text = self._quit_text()
        if text is not None and not self.confirm("Quit GenoCat?", text):
            event.ignore()
            return
        self.catalog.closing = True
        self.models_page.save_pending_options()  # an edit made just before quitting is still saved
        window_state.save(self)
        self.statusBar().showMessage("Stopping…")
        self.engine.shutdown()
        if self.session is not None:
            self.session.close()  # after the engine thread stopped: no job can use it any more
        if self._last_report is not None:
            self._last_report.close()
        event.accept()
