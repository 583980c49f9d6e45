"""Errors shown to the user: a dialog with a readable message and details to copy.

:func:`install_excepthook` routes every unhandled exception (in a slot, a
timer, an event handler) to :class:`ErrorDialog` instead of letting PySide6
print it and carry on in an unknown state, or Python abort the app.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

__all__ = ["ErrorDialog", "install_excepthook", "show_error"]

log = logging.getLogger("genocat")


class ErrorDialog(QMessageBox):
    """A warning box: the message, "Show Details…" with the technical text, and "Copy details"."""

    def __init__(self, title: str, message: str, details: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle(title)
        self.setText(message)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = details or message
        if details:
            self.setDetailedText(details)
        self.setStandardButtons(QMessageBox.StandardButton.Ok)
        copy = self.addButton("Copy details", QMessageBox.ButtonRole.ActionRole)
        # An action-role button closes the box by default; copying should not.
        copy.clicked.disconnect()
        copy.clicked.connect(self.copy_details)

    def copy_details(self) -> None:
        """Put the message and the details on the clipboard (for a bug report)."""
        QGuiApplication.clipboard().setText(f"{self.text()}\n\n{self.details}")


#: Dialogs without a parent window: Python must hold them, or PySide deletes them at once.
_orphans: set[ErrorDialog] = set()


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> ErrorDialog:
    """Show an :class:`ErrorDialog` without blocking (window-modal); return it."""
    box = ErrorDialog(title, message, details, parent)
    if parent is None:
        _orphans.add(box)
        box.finished.connect(lambda _result: _orphans.discard(box))
    else:
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


class _Relay(QObject):
    """Carries exceptions from any thread to the GUI thread."""

    raised = Signal(str, str)


_relay: _Relay | None = None
_previous_hook: Any = None


def _format(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> tuple[str, str]:
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    # Engine errors are written for users; anything else is a bug, said as such.
    if type(exc).__module__.startswith("genocat_desktop.engine"):
        return str(exc), details
    return (
        f"Something went wrong: {exc_type.__name__}: {exc}\n\n"
        "GenoCat kept running, and the catalog is safe (changes are only saved when complete). "
        "Use \"Copy details\" to report the problem.",
        details,
    )


def install_excepthook() -> None:
    """Show unhandled exceptions in an :class:`ErrorDialog` (call once the QApplication exists)."""
    global _relay, _previous_hook
    if _relay is not None:
        return
    _relay = _Relay()
    _previous_hook = sys.excepthook

    def on_error(message: str, details: str) -> None:
        app = QApplication.instance()
        parent = app.activeWindow() if isinstance(app, QApplication) else None
        show_error(parent, "GenoCat: unexpected error", message, details)

    _relay.raised.connect(on_error)

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        log.error("unhandled exception", exc_info=(exc_type, exc, tb))
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        assert _relay is not None
        _relay.raised.emit(*_format(exc_type, exc, tb))

    sys.excepthook = hook
    # Exceptions escaping a Python thread (the engine thread catches its own; this is for the
    # unforeseen) take the same way: the relay's signal is queued to the GUI thread.
    threading.excepthook = lambda args: hook(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)


def uninstall_excepthook() -> None:
    """Restore the previous hook (tests)."""
    global _relay
    if _relay is not None:
        sys.excepthook = _previous_hook
        threading.excepthook = threading.__excepthook__
        _relay.deleteLater()
        _relay = None
