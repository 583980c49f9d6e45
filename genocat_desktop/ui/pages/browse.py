"""The Browse catalog tab: every row of the catalog, a page at a time, with text search, filters and a sort.

Pages are read as jobs on the
:class:`~genocat_desktop.ui.engine_thread.EngineThread`; a newer request
supersedes an older one still waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app import catalog as catalog_ops
from genocat_desktop.app import jobs as app_jobs
from genocat_desktop.app import schema as schema_ops
from genocat_desktop.ui.catalog_model import CatalogModel
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.pages.search import HIDDEN_HIT_COLUMNS
from genocat_desktop.ui.widgets.detail import DetailPane
from genocat_desktop.ui.widgets.filters import FilterEditor
from genocat_desktop.ui.widgets.table_view import ArrowTableView

__all__ = ["HIDDEN_BROWSE_COLUMNS", "PAGE_SIZE", "BrowsePage", "CategoryDelegate"]

PAGE_SIZE = 200
HIDDEN_BROWSE_COLUMNS = (*HIDDEN_HIT_COLUMNS, "rank", "score")

ErrorHandler = Callable[[str, str, str], None]
Index = QModelIndex | QPersistentModelIndex


class CategoryDelegate(QStyledItemDelegate):
    """Edits a category field's cell with a list of its allowed values (and an empty entry to clear it).

    Typed as free text, a category took any spelling and failed only when saved; other columns are
    edited as before. :attr:`allowed` maps a category field's name to its allowed values.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.allowed: dict[str, tuple[str, ...]] = {}

    def _values(self, index: Index) -> tuple[str, ...] | None:
        names = getattr(index.model(), "column_names", None)
        if not names or not 0 <= index.column() < len(names):
            return None
        return self.allowed.get(names[index.column()])

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        values = self._values(index)
        if values is None:
            return super().createEditor(parent, option, index)
        combo = QComboBox(parent)
        combo.addItems(["", *values])
        return combo

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        if isinstance(editor, QComboBox):
            current = index.data(Qt.ItemDataRole.EditRole)
            editor.setCurrentIndex(max(0, editor.findText("" if current is None else str(current))))
            return
        super().setEditorData(editor, index)

    def setModelData(self, editor: QWidget, model: QAbstractItemModel, index: Index) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)
            return
        super().setModelData(editor, model, index)


class BrowsePage(QWidget):
    """The catalog browser over the window's :class:`~genocat_desktop.ui.catalog_model.CatalogModel`.

    Parameters
    ----------
    engine
        The window's engine thread (every page is read there).
    catalog
        The open catalog; the page shown is read again when it changes.
    on_error
        Called with (title, message, details) when a job fails.
    """

    #: Emitted with the page once its rows are on screen.
    page_shown = Signal(object)
    #: A status-bar message and how long to show it (ms).
    message = Signal(str, int)
    #: The Export… button was pressed.
    export_requested = Signal()
    #: The Set value… button was pressed.
    set_value_requested = Signal()
    #: Right-click → Find similar on a row: (id, sequence).
    find_similar = Signal(str, str)
    #: A user field's cell was edited: (field name, {seq_hash: new value or None}, {seq_hash: row ID}).
    cells_edited = Signal(str, dict, dict)

    def __init__(self, engine: EngineThread, catalog: CatalogModel, on_error: ErrorHandler,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.catalog = catalog
        self.on_error = on_error
        self.page: Any = None
        self._sort: tuple[str | None, bool] = (None, False)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addLayout(self._build_top_row())
        self.browse_filters = FilterEditor()
        self.browse_filters.add_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        v.addWidget(self.browse_filters)
        self.browse_filters.submitted.connect(lambda: self.load_page(0))  # Enter in a filter value lists
        self.browse_table = ArrowTableView("browse", HIDDEN_BROWSE_COLUMNS, server_sort=True)
        self.browse_table.source.sort_requested.connect(self._on_sort)
        self.browse_table.current_row_changed.connect(self._on_selected)
        self.browse_table.find_similar.connect(self.find_similar)
        self.browse_table.source.cell_edited.connect(self._on_cell_edited)
        self.category_delegate = CategoryDelegate(self.browse_table)
        self.browse_table.setItemDelegate(self.category_delegate)
        self.browse_detail = DetailPane()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.browse_table)
        split.addWidget(self.browse_detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        v.addWidget(split, 1)
        catalog.opened.connect(self.apply_summary)
        catalog.changed.connect(self.apply_summary)

    def _build_top_row(self) -> QHBoxLayout:
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
        self.prev_button.clicked.connect(lambda: self.load_page(self._offset() - PAGE_SIZE))
        self.next_button = QPushButton("Next ▶")
        self.next_button.clicked.connect(lambda: self.load_page(self._offset() + PAGE_SIZE))
        self.page_label = QLabel("")
        self.set_value_button = QPushButton("Set value…")
        self.set_value_button.setToolTip("Give a user field one value on the selected rows (Ctrl+Shift+V); "
                                         "double-click a user field's cell to edit it")
        self.set_value_button.clicked.connect(lambda: self.set_value_requested.emit())
        self.browse_export = QPushButton("Export…")
        self.browse_export.setToolTip("Export every matching row (Ctrl+E) or the selected rows (Ctrl+Shift+E)")
        self.browse_export.clicked.connect(lambda: self.export_requested.emit())
        top.addWidget(self.browse_text, 2)
        top.addWidget(apply)
        top.addStretch(1)
        top.addWidget(self.page_label)
        top.addWidget(self.prev_button)
        top.addWidget(self.next_button)
        top.addWidget(self.set_value_button)
        top.addWidget(self.browse_export)
        return top

    # ------------------------------------------------------------------ catalog
    def apply_summary(self, summary: catalog_ops.CatalogSummary) -> None:
        """Offer the catalog's fields as filters; read the page shown again (rows may have changed)."""
        self.browse_filters.set_fields(summary.fields)
        if self.is_current() or self.page is not None:
            self.load_page(self._offset())

    def is_current(self) -> bool:
        """Whether this is the tab shown in its tab widget (even while the window itself is hidden)."""
        stack = self.parentWidget()  # a QTabWidget keeps its pages in a QStackedWidget
        return isinstance(stack, QStackedWidget) and stack.currentWidget() is self

    def activate(self) -> None:
        """The tab is shown: read the first page if none was read yet."""
        if self.page is None and self.catalog.session is not None:
            self.load_page(0)

    def set_editable(self, state: schema_ops.SchemaState) -> None:
        """Let the user fields' cells be edited in place."""
        self.browse_table.source.editable = {f.name for f in state.fields if f.kind == "user"}
        self.category_delegate.allowed = {f.name: tuple(f.allowed) for f in state.fields
                                          if f.kind == "user" and f.type == "category" and f.allowed}

    # ------------------------------------------------------------------ pages
    def _offset(self) -> int:
        return int(self.page.offset) if self.page is not None else 0

    def load_page(self, offset: int) -> Job | None:
        """Load a page of catalog rows with the browser's text, filters and sort."""
        session = self.catalog.session
        if session is None:
            return None
        sort, descending = self._sort
        fn = catalog_ops.browse_job(
            session, filters=self.browse_filters.specs(), text=self.browse_text.text(), sort=sort,
            descending=descending, offset=max(0, offset), limit=PAGE_SIZE,
        )
        job = self.engine.submit("browse", "Loading rows", fn, supersede=True)
        self.page_label.setText("Loading…")
        job.finished.connect(self._show_page)
        job.failed.connect(lambda m, d: self.on_error("Cannot show these rows", m, d))
        job.failed.connect(lambda m, d: self.page_label.setText("—"))
        return job

    def _show_page(self, page: Any) -> None:
        self.page = page
        summary = self.catalog.summary
        docs = {f.name: f.description for f in summary.fields} if summary else None
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

    def _on_sort(self, column: str, descending: bool) -> None:
        if column in ("aliases",):
            self.message.emit("Lists cannot be sorted.", 4000)
            return
        self._sort = (column, descending)
        self.load_page(0)

    def _on_selected(self, row: int) -> None:
        if row >= 0:
            self.browse_detail.show_row(self.browse_table.source.row_dict(row))

    def _on_cell_edited(self, row: int, name: str, text: str) -> None:
        if "seq_hash" not in self.browse_table.source.column_names:
            return
        source = self.browse_table.source
        seq_hash = str(source.value(row, "seq_hash"))
        label = source.value(row, "id") if "id" in source.column_names else None
        self.cells_edited.emit(name, {seq_hash: text.strip() or None}, {seq_hash: str(label or f"row {row + 1}")})

    def selected_hashes(self) -> list[str]:
        """``seq_hash`` of the selected rows."""
        rows = self.browse_table.source_rows()
        if not rows or "seq_hash" not in self.browse_table.source.column_names:
            return []
        return [str(self.browse_table.source.value(r, "seq_hash")) for r in rows]

    # ------------------------------------------------------------------ export
    def export_job(self, path: str, *, selected: bool = False) -> app_jobs.Job[int] | None:
        """The job that writes every matching row (or only the selected ones) to ``path``."""
        session = self.catalog.session
        if session is None:
            return None
        if selected:
            rows = self.browse_table.source_rows()
            if not rows:
                self.message.emit("Select rows first.", 4000)
                return None
            return catalog_ops.export_rows_job(self.browse_table.source.take(rows), path,
                                        {"catalog": session.catalog.location, "rows": "selected rows"})
        return catalog_ops.export_browse_job(session, path, filters=self.browse_filters.specs(),
                                      text=self.browse_text.text())
