"""Files dropped anywhere on the window mean "import them", even over a text box."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QDragMoveEvent, QDropEvent

__all__ = ["FileDropFilter"]


class FileDropFilter(QObject):
    """An event filter that takes drags of local files and emits the dropped paths.

    Text boxes take dropped files as text (their path); installed on them (and
    on the window), it sees their drag events first, so a file dropped on a
    text box is imported rather than pasted. Drags without local files pass on
    to the widget unchanged.
    """

    #: The local paths of a drop.
    dropped = Signal(list)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            return super().eventFilter(watched, event)
        assert isinstance(event, QDragMoveEvent | QDropEvent)  # DragEnter is a DragMove
        mime = event.mimeData()
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
        if not paths:
            return super().eventFilter(watched, event)
        event.acceptProposedAction()
        if kind == QEvent.Type.Drop:
            self.dropped.emit(paths)
        return True
