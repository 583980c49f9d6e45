"""A one-line rich-text label that never makes the window lay itself out again."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QTextDocument
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["SummaryLine"]


class SummaryLine(QWidget):
    """One line (or ``lines``) of rich text (the search summary) whose changes never re-lay out the window.

    A ``QLabel`` asks its parent layout to recompute on every ``setText``; inside
    the results splitter that re-laid out and repainted the whole window after
    each search (~25 ms of GUI time, bench/gui_bench.py). This line has a fixed
    height, ignores its text's width, and only repaints itself; text wraps at
    words onto its lines, what does not fit is shown plain and elided with "…",
    and the tooltip has all of it.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None, *, lines: int = 1) -> None:
        super().__init__(parent)
        self._doc = QTextDocument(self)
        self._doc.setDocumentMargin(0)
        self._doc.setDefaultFont(self.font())
        self._html = ""
        self._lines = max(1, lines)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * self._lines + 6)
        self.setText(text)

    def setText(self, text: str, detail: str = "") -> None:  # the QLabel name, so callers read the same
        """Show ``text`` (Qt rich text or plain); ``detail`` (plain) is added to its tooltip on a line of its own."""
        self._html = text
        self._doc.setHtml(text)
        plain = self._doc.toPlainText()
        self.setToolTip(f"{plain}\n{detail}" if detail else plain)
        self.setAccessibleName(plain)
        self.setAccessibleDescription(detail)
        self.update()

    def text(self) -> str:
        """The text as given to :meth:`setText`."""
        return self._html

    def sizeHint(self) -> QSize:
        return QSize(240, self.height())

    def elided(self) -> bool:
        """Whether the text does not fit its lines (it is then shown elided)."""
        if self._lines == 1:
            return self._doc.idealWidth() > self.width()
        self._doc.setTextWidth(max(1, self.width()))  # wrapped at words onto the lines it has
        return self._doc.size().height() > self.fontMetrics().lineSpacing() * self._lines + 2

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self.elided():
            # Rich text cannot be elided; cut mid-word it read as a different number or name.
            metrics = self.fontMetrics()
            flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
            room = self.width()
            if self._lines > 1:
                # Word wrap loses part of a line at each break: elide a little short of all the lines.
                room = self._lines * self.width() - 2 * metrics.averageCharWidth() * 8
                flags |= Qt.TextFlag.TextWordWrap
            text = metrics.elidedText(self._doc.toPlainText(), Qt.TextElideMode.ElideRight, max(1, room))
            painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
            painter.drawText(self.rect(), int(flags), text)
            return
        top = max(0.0, (self.height() - self._doc.size().height()) / 2)
        painter.translate(0, top)
        self._doc.drawContents(painter, QRectF(0, 0, self.width(), self.height()))
