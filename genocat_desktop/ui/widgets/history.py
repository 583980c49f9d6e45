"""The Search tab's history: a drop-down of past searches (choosing one runs it again), and the form
fields an entry is read from and written back to."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QComboBox, QLineEdit, QMenu, QPlainTextEdit, QSpinBox, QToolButton, QWidget

from genocat_desktop.app.history import SearchEntry, SearchHistory
from genocat_desktop.app.search import ALIGNED_MODES
from genocat_desktop.ui.widgets.filters import FilterEditor
from genocat_desktop.ui.widgets.significance import parse_cutoff

__all__ = ["HistoryButton", "SearchForm"]


class HistoryButton(QToolButton):
    """"History ▾" by the query box (Ctrl+H, or Tab to it and Space): the searches run, most recent first.

    Parameters
    ----------
    history
        The store it lists (read each time the menu opens).
    """

    #: The entry the user chose (the page fills its form and searches).
    chosen = Signal(object)

    def __init__(self, history: SearchHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.setText("History")
        self.setShortcut(QKeySequence("Ctrl+H"))
        self.setToolTip("Run a previous search again (Ctrl+H)")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_ = QMenu(self)
        self.menu_.aboutToShow.connect(self.fill)
        self.setMenu(self.menu_)
        self.fill()

    def fill(self) -> None:
        """Rebuild the menu from the store."""
        self.menu_.clear()
        for entry in self.history.entries:
            action = self.menu_.addAction(entry.label())
            action.setToolTip(entry.query[:500])
            action.triggered.connect(lambda checked=False, e=entry: self.chosen.emit(e))
        if not self.history.entries:
            self.menu_.addAction("(no search yet)").setEnabled(False)
            return
        self.menu_.addSeparator()
        self.menu_.addAction("Clear history").triggered.connect(self._clear)

    def _clear(self) -> None:
        self.history.clear()
        self.fill()

    def pick(self, entry: SearchEntry) -> None:
        """Choose ``entry`` as if from the menu."""
        self.chosen.emit(entry)


@dataclass(frozen=True, slots=True)
class SearchForm:
    """The Search tab's form fields that a history entry is read from (:meth:`entry`) and fills."""

    query: QPlainTextEdit
    k: QSpinBox
    mode: QComboBox
    evalue: QLineEdit
    embedder: QComboBox
    description: QLineEdit
    filters: FilterEditor

    def entry(self) -> SearchEntry:
        """The search the form describes (query, parameters, filters), as the history keeps it."""
        return SearchEntry(
            self.query.toPlainText().strip(), self.k.value(), self.mode.currentData() in ALIGNED_MODES,
            self.evalue.text(), self.embedder.currentData(), self.description.text(),
            tuple(tuple(spec) for spec in self.filters.specs()),  # type: ignore[misc]
            mode=str(self.mode.currentData()),
        )

    def fill(self, entry: SearchEntry) -> None:
        """Fill the fields that need no catalog: query, parameters, cut-off (when valid), description."""
        self.query.setPlainText(entry.query)
        self.k.setValue(entry.k)
        index = self.mode.findData(entry.mode)
        if index >= 0:
            self.mode.setCurrentIndex(index)
        if entry.evalue and parse_cutoff(entry.evalue) is not None:
            self.evalue.setText(entry.evalue)
        self.description.setText(entry.description)

    def fill_catalog_parts(self, entry: SearchEntry) -> None:
        """Fill the filters and the embedding (once the catalog's fields and embeddings are offered)."""
        self.filters.clear()
        for name, op, value in entry.filters:
            self.filters.add_row(name, op, value)
        index = self.embedder.findData(entry.column) if entry.column else -1
        if index >= 0:
            self.embedder.setCurrentIndex(index)
