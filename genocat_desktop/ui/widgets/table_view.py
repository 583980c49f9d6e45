"""The table used for hits and for catalog rows: sort, filter, multi-select, copy, column chooser."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QByteArray, QItemSelectionModel, QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView, QWidget

from genocat_desktop.ui.settings import settings
from genocat_desktop.ui.widgets.table_model import COLUMN_LABELS, ArrowTableModel

__all__ = ["ArrowTableView"]


class ArrowTableView(QTableView):
    """A table over an :class:`ArrowTableModel` (which sorts and filters its rows itself).

    Signals
    -------
    current_row_changed(int)
        The model row under the cursor (-1 when none).
    find_similar(str, str)
        Right-click "Find similar": the row's identifier and sequence.
    row_menu_requested(QMenu, int)
        A row's context menu is about to open (the view row, -1 below the rows): the owner may add actions.
    row_activated(int)
        A row was double-clicked (or Enter pressed on it): the view row.
    """

    current_row_changed = Signal(int)
    find_similar = Signal(str, str)
    row_menu_requested = Signal(QMenu, int)
    row_activated = Signal(int)

    def __init__(
        self, settings_key: str, hidden: Iterable[str] = (), parent: QWidget | None = None, *, server_sort: bool = False
    ) -> None:
        super().__init__(parent)
        self.settings_key = settings_key
        self.source = ArrowTableModel(self, server_sort=server_sort)
        self.setModel(self.source)
        self._default_hidden = set(hidden)
        self._hidden: set[str] | None = None
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSortingEnabled(True)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.horizontalHeader()
        header.setSectionsMovable(True)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu)
        header.setToolTip("Click to sort; right-click to choose columns")
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._row_menu)
        self.selectionModel().currentRowChanged.connect(self._on_current)
        copy = QAction("Copy", self)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selection)
        self.addAction(copy)
        self._settings_loaded = False
        self.activated.connect(lambda index: self.row_activated.emit(index.row()))
        #: Extra actions offered on right-clicking rows (the browser's "Set value…").
        self.row_actions: list[QAction] = []

    # ------------------------------------------------------------------ content
    def set_table(self, table: Any, docs: dict[str, str] | None = None) -> None:
        """Show an Arrow table; keeps column visibility, order and widths the user chose."""
        # Widths belong to column names, not positions: a table with other columns is sized afresh.
        first = self.source.columnCount() == 0 or (table is not None and table.column_names != self.source.column_names)
        self.source.set_table(table, docs)
        self._apply_hidden()
        if first and table is not None and table.num_rows:
            self._restore_header()
            self._size_columns()
        # Lay the rows out now rather than on Qt's delayed-layout timer: otherwise the viewport is
        # painted once with the old geometry and again when the scroll bar range changes (two full
        # repaints of the table, ~10-20 ms each, whenever the number of rows changed: bench/gui_bench.py).
        self.executeDelayedItemsLayout()

    def set_filter_text(self, text: str) -> None:
        """Show only rows containing ``text`` in their identifier, name, organism, gene or description."""
        self.source.set_filter_text(text)

    def set_profile(self, settings_key: str, hidden: Iterable[str]) -> None:
        """Switch to another remembered column layout (hidden columns, order, widths) under ``settings_key``."""
        if settings_key == self.settings_key:
            return
        self.save_state()
        self.settings_key = settings_key
        self._default_hidden = set(hidden)
        self._hidden = None
        self.source.set_table(None)  # the next set_table lays the columns out for this profile

    def reset_sort(self) -> None:
        """Show the next rows in their own order (rank 1 first), whatever column was sorted before."""
        self.source.reset_sort()
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)

    def visible_columns(self) -> list[str]:
        """The shown column names, in screen order."""
        header = self.horizontalHeader()
        names = self.source.column_names
        logical = (header.logicalIndex(v) for v in range(header.count()))
        return [names[c] for c in logical if not header.isSectionHidden(c)]

    def _size_columns(self) -> None:
        widths = {"rank": 52, "score": 104, "length": 64, "taxid": 64, "id": 180, "name": 200, "organism": 190,
                  "description": 320, "accession": 90, "gene": 70, "molecule": 70, "title": 260, "bits": 96,
                  "evalue": 70, "identity": 74, "query_cov": 104, "aln_score": 70, "target_cov": 70, "sstrand": 64,
                  "frame": 56, "hit_start": 84, "hit_end": 84, "query_start": 90, "query_end": 90}
        header = self.horizontalHeader()
        for col, name in enumerate(self.source.column_names):
            # Never narrower than the header's label: at 150 % or with a larger font, "% identity" was cut.
            self.setColumnWidth(col, max(widths.get(name, 110), header.sectionSizeFromContents(col).width()))

    def source_rows(self, selected_only: bool = True) -> list[int]:
        """Model rows: the selected ones, in table order (or all rows that pass the filter)."""
        if selected_only:
            return sorted({i.row() for i in self.selectionModel().selectedRows()})
        return list(range(self.source.rowCount()))

    def select_source_row(self, row: int) -> None:
        """Select and show one model row."""
        index = self.source.index(row, 0)
        if index.isValid():
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            self.selectionModel().setCurrentIndex(index, flags)
            self.scrollTo(index)

    # ------------------------------------------------------------------ copy
    def copy_selection(self) -> str:
        """Copy the selected rows (visible columns, in screen order) as tab-separated text; return it."""
        rows = self.source_rows()
        if not rows:
            return ""
        header = self.horizontalHeader()
        columns = [
            header.logicalIndex(v) for v in range(header.count()) if not header.isSectionHidden(header.logicalIndex(v))
        ]
        names = self.source.column_names
        lines = ["\t".join(names[c] for c in columns)]
        for row in rows:
            values = self.source.row_dict(row)
            lines.append("\t".join(_plain(values[names[c]]) for c in columns))
        text = "\n".join(lines) + "\n"
        QGuiApplication.clipboard().setText(text)
        return text

    # ------------------------------------------------------------------ columns
    def hidden_columns(self) -> set[str]:
        """Names of the columns the user hid."""
        return set(self._hidden if self._hidden is not None else self._default_hidden)

    def set_column_visible(self, name: str, visible: bool) -> None:
        """Show or hide a column by name (remembered across sessions)."""
        hidden = self.hidden_columns()
        if visible:
            hidden.discard(name)
        else:
            hidden.add(name)
        self._hidden = hidden
        self._apply_hidden()
        settings().setValue(f"{self.settings_key}/hidden", sorted(hidden))

    def _apply_hidden(self) -> None:
        if self._hidden is None:
            stored = settings().value(f"{self.settings_key}/hidden")
            self._hidden = set(stored) if isinstance(stored, list) else set(self._default_hidden)
        for col, name in enumerate(self.source.column_names):
            self.setColumnHidden(col, name in self._hidden)

    def _restore_header(self) -> None:
        state = settings().value(f"{self.settings_key}/header")
        names = settings().value(f"{self.settings_key}/header_columns")
        # A saved header is only valid for the same columns (a catalog with user fields differs).
        if isinstance(state, QByteArray) and names == self.source.column_names:
            self.horizontalHeader().restoreState(state)
            self._apply_hidden()

    def save_state(self) -> None:
        """Remember column order and widths."""
        if self.source.columnCount():
            settings().setValue(f"{self.settings_key}/header", self.horizontalHeader().saveState())
            settings().setValue(f"{self.settings_key}/header_columns", self.source.column_names)

    def column_menu(self, parent: QWidget | None = None) -> QMenu:
        """A menu of checkable column names."""
        menu = QMenu("Columns", parent or self)
        for name in self.source.column_names:
            action = menu.addAction(COLUMN_LABELS.get(name, name))
            action.setCheckable(True)
            action.setChecked(name not in self.hidden_columns())
            action.toggled.connect(lambda on, n=name: self.set_column_visible(n, on))
        return menu

    def _header_menu(self, pos: QPoint) -> None:
        self.column_menu().exec(self.horizontalHeader().mapToGlobal(pos))

    def _row_menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        menu = QMenu(self)
        copy = menu.addAction("Copy selected rows")
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.triggered.connect(self.copy_selection)
        if index.isValid() and "sequence" in self.source.column_names:
            row = index.row()
            similar = menu.addAction("Find similar sequences")
            similar.setToolTip("Search the catalog with this row's sequence")
            ident, seq = str(self.source.value(row, "id")), str(self.source.value(row, "sequence"))
            similar.triggered.connect(lambda: self.find_similar.emit(ident, seq))
        for action in self.row_actions:
            menu.addAction(action)
        self.row_menu_requested.emit(menu, index.row() if index.isValid() else -1)
        menu.addSeparator()
        menu.addMenu(self.column_menu(menu))
        menu.exec(self.viewport().mapToGlobal(pos))

    def _on_current(self, current: QModelIndex, previous: QModelIndex) -> None:
        self.current_row_changed.emit(current.row() if current.isValid() else -1)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("\t", " ").replace("\n", " ")
