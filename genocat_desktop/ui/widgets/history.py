"""The Search tab's history button: a drop-down of past searches; choosing one runs it again."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from genocat_desktop.app.history import SearchEntry, SearchHistory

__all__ = ["HistoryButton"]


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
