"""The hit table's query-cover cell: a bar showing where on the query each hit aligns.

BLAST's "graphic summary" draws each hit as a segment along the query; here the
segment is drawn in the hit's own row, in its "Query cover" cell, next to the
percentage, so it sorts, filters and scrolls with the hit. Colours come from the
palette (the highlight for the aligned part, a mid tone for the rest of the
query), so a dark palette draws it as legibly as a light one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

if TYPE_CHECKING:
    import numpy as np

    from genocat_desktop.ui.widgets.table_model import ArrowTableModel

__all__ = ["CoverageDelegate"]

#: Pixels kept for the percentage at the right of the cell.
TEXT_WIDTH = 38


class CoverageDelegate(QStyledItemDelegate):
    """Paints a query-cover cell as a bar of the query with the hit's aligned region filled.

    Parameters
    ----------
    model
        The hit table's model (its view rows are mapped to table rows, as the regions are).
    """

    def __init__(self, model: ArrowTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.query_length = 0
        #: Per table row: query start, query end (0-based, end exclusive), ...; None: text only.
        self.regions: np.ndarray | None = None

    def set_regions(self, regions: np.ndarray | None, query_length: int) -> None:
        """Where each hit (in table order) aligns on a query of ``query_length`` residues."""
        self.regions = regions if regions is not None and len(regions) else None
        self.query_length = query_length

    def region(self, row: int) -> tuple[int, int] | None:
        """The aligned query region (start, end) of view row ``row``, or None."""
        if self.regions is None or self.query_length <= 0 or not 0 <= row < self.model.rowCount():
            return None
        table_row = self.model.table_row(row)
        if table_row >= len(self.regions):
            return None
        start, end = int(self.regions[table_row][0]), int(self.regions[table_row][1])
        return (start, end) if end > start else None

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        region = self.region(index.row())
        if region is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget: Any = opt.widget
        style = widget.style() if widget is not None else None
        text = opt.text
        opt.text = ""
        if style is not None:  # the background, selection and focus as for any cell
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        rect = opt.rect.adjusted(4, 0, -4, 0)
        bar = QRect(rect.left(), rect.center().y() - 3, max(rect.width() - TEXT_WIDTH, 10), 7)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        palette = opt.palette
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Mid))
        painter.drawRect(bar)
        start, end = region
        x0 = bar.left() + round(bar.width() * start / self.query_length)
        x1 = bar.left() + max(round(bar.width() * end / self.query_length), x0 - bar.left() + 2)
        fill = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Highlight
        painter.setBrush(palette.color(fill))
        painter.drawRect(QRect(x0, bar.top(), x1 - x0, bar.height()))
        foreground = index.data(Qt.ItemDataRole.ForegroundRole)  # dimmed past the E-value cut-off
        if selected:
            painter.setPen(palette.color(QPalette.ColorRole.HighlightedText))
        else:
            painter.setPen(foreground.color() if foreground is not None else palette.color(QPalette.ColorRole.Text))
        text_rect = QRect(bar.right() + 4, rect.top(), rect.right() - bar.right() - 4, rect.height())
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
        painter.restore()

    def helpEvent(self, event: Any, view: Any, option: QStyleOptionViewItem,
                  index: QModelIndex | QPersistentModelIndex) -> bool:
        region = self.region(index.row())
        if region is not None and event.type() == event.Type.ToolTip:
            from PySide6.QtWidgets import QToolTip

            QToolTip.showText(event.globalPos(),
                              f"aligns to query residues {region[0] + 1}-{region[1]} of {self.query_length:,}", view)
            return True
        return bool(super().helpEvent(event, view, option, index))
