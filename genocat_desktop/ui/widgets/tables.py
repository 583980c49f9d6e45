"""Small read-only tables (fields, versions, models, embeddings) built one way on every page; scroll wrappers."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QFrame, QScrollArea, QTableWidget, QTableWidgetItem, QWidget

__all__ = ["make_table", "scrolling", "table_item"]

# Combined once: Python's enum makes each flag combination anew (measured ~0.5 ms each under load),
# and the schema table sets them on every cell after each import.
READ_ONLY = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def table_item(text: str, tip: str = "", *, right: bool = False) -> QTableWidgetItem:
    """A read-only cell with an optional tooltip, right-aligned for numbers."""
    item = QTableWidgetItem(text)
    item.setFlags(READ_ONLY)
    if tip:
        item.setToolTip(tip)
    if right:
        item.setTextAlignment(RIGHT)
    return item


def make_table(headers: Sequence[str]) -> QTableWidget:
    """A read-only table that selects one whole row at a time, its last column stretched."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area that takes any size and scrolls only when it must.

    A panel whose controls need more room than a small screen (1024×700, or 150 % scaling) offers
    scrolls inside the window instead of raising the window's minimum size past the screen.
    """
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area
