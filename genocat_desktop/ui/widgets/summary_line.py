"""A one-line rich-text label that never makes the window lay itself out again."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QTextDocument
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["SummaryLine"]


class SummaryLine(QWidget):
    """One line of rich text (the search summary) whose changes never re-lay out the window.

    A ``QLabel`` asks its parent layout to recompute on every ``setText``; inside
    the results splitter that re-laid out and repainted the whole window after
    each search (~25 ms of GUI time, bench/gui_bench.py). This line has a fixed
    height, ignores its text's width, and only repaints itself; text that does
    not fit is shown plain and elided with "…", and the tooltip has all of it.
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

    def elided(self) -> bool:
        """Whether the text is wider than the line (it is then shown elided)."""
        return self._doc.idealWidth() > self.width()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self.elided():
            # Rich text cannot be elided; cut mid-word it read as a different number or name.
            text = self.fontMetrics().elidedText(self._doc.toPlainText(), Qt.TextElideMode.ElideRight, self.width())
            painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
            painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)
            return
        top = max(0.0, (self.height() - self._doc.size().height()) / 2)
        painter.translate(0, top)
        self._doc.drawContents(painter, QRectF(0, 0, self.width(), self.height()))
