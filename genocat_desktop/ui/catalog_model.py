"""The open catalog, as one object that the window's pages listen to.

The main window owns one :class:`CatalogModel`; it opens and closes catalogs
through it and tells it when a job changed the catalog. Pages connect to its
signals instead of being handed the session one by one, so a new page needs
no change to the window beyond being added to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from genocat_desktop.app.catalog import CatalogSummary, Session

__all__ = ["CatalogModel"]


class CatalogModel(QObject):
    """The session and summary of the catalog on screen (both ``None`` while none is open).

    Signals are emitted on the GUI thread, after the attributes are updated.
    """

    #: A catalog was opened (or adopted from the S3 dialog); carries its summary.
    opened = Signal(object)
    #: A job changed the open catalog (import, schema edit, index, embedding); carries the new summary.
    changed = Signal(object)
    #: The catalog was closed (another one is about to open).
    closed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.summary: CatalogSummary | None = None
        #: Set when the window is closing: late job results must not touch the widgets any more.
        self.closing = False

    def open(self, session: Session, summary: CatalogSummary) -> None:
        """Show ``session``'s catalog (its summary is ``summary``)."""
        self.session = session
        self.summary = summary
        self.opened.emit(summary)

    def update(self, summary: CatalogSummary) -> None:
        """The open catalog changed: announce its new summary (ignored once the window is closing)."""
        if self.closing:
            return
        self.summary = summary
        self.changed.emit(summary)

    def close(self) -> None:
        """Close the session (if any) and tell the pages that no catalog is open."""
        if self.session is not None:
            self.session.close()
        self.session = None
        self.summary = None
        self.closed.emit()
