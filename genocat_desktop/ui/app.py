"""Starting the desktop app: the QApplication, the error hook, the main window."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QPalette

__all__ = ["dark_palette", "error_color", "is_dark", "muted_color", "ok_color", "run"]


def run(location: str | None = None, files: Sequence[str] = (), argv: Sequence[str] | None = None,
        single_instance: bool = True) -> int:
    """Show the main window on ``location`` (the default catalog if ``None``), import ``files``; block until quit.

    With ``single_instance``, a window already open for this user takes ``files`` instead (see
    :mod:`genocat_desktop.ui.single_instance`) and this returns 0 at once.

    Returns the application's exit code.
    """
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from genocat_desktop.engine.core.process import configure_process
    from genocat_desktop.ui.errors import install_excepthook
    from genocat_desktop.ui.main_window import MainWindow
    from genocat_desktop.ui.settings import APP, ORG

    configure_process()
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication([sys.argv[0], *(argv or [])])
    assert isinstance(app, QApplication)
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    app.setApplicationDisplayName("GenoCat")
    app.setDesktopFileName("genocat")
    install_excepthook()
    server = None
    if single_instance:
        from genocat_desktop.ui import single_instance as instance

        handed, server = instance.start(location, files)
        if handed:
            print("genocat: GenoCat is already open; its window takes the files", file=sys.stderr)
            return 0
    window = MainWindow(location, files)
    if server is not None:
        instance.attach(server, window, location)
    events = _event_writer()
    if events is not None:
        window.imports_done.connect(lambda results: events("imported"))
        if server is not None:
            events("listening")
    window.show()
    return int(app.exec())


def _event_writer() -> Callable[[str], None] | None:
    """A writer of one line per event to the file descriptor ``$GENOCAT_EVENTS_FD``, if set.

    For scripts and tests that drive the real app and must know when it got somewhere instead of
    guessing with a clock: ``listening`` (it takes the files of later launches), ``imported``
    (a batch of imports ended). Nothing is written when the variable is unset or not a descriptor.
    """
    import os

    text = os.environ.get("GENOCAT_EVENTS_FD", "")
    if not text.isdigit():
        return None
    try:
        stream = os.fdopen(int(text), "w", buffering=1, encoding="utf-8")
    except OSError:
        return None

    def write(event: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            stream.write(event + "\n")

    return write


def is_dark() -> bool:
    """Whether the application's palette has light text on a dark window (a dark theme)."""
    from PySide6.QtGui import QGuiApplication, QPalette

    palette = QGuiApplication.palette()
    window = palette.color(QPalette.ColorRole.Window).lightness()
    return window < palette.color(QPalette.ColorRole.WindowText).lightness()


def muted_color() -> str:
    """A secondary-text colour (``#rrggbb``) that stays readable on the current palette."""
    from PySide6.QtGui import QGuiApplication, QPalette

    return QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText).name()


def error_color() -> str:
    """The colour of an error message, readable on the current palette's window colour."""
    return "#ff7b72" if is_dark() else "#b00020"


def ok_color() -> str:
    """The colour of a success message, readable on the current palette's window colour."""
    return "#56d364" if is_dark() else "#1b7f3b"


def dark_palette() -> QPalette:
    """A dark palette (light text on dark grey), for users and screenshots that want one."""
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    role = QPalette.ColorRole
    for r, colour in (
        (role.Window, "#2b2b2b"), (role.WindowText, "#e6e6e6"), (role.Base, "#1f1f1f"),
        (role.AlternateBase, "#2a2a2a"), (role.Text, "#e6e6e6"), (role.Button, "#353535"),
        (role.ButtonText, "#e6e6e6"), (role.Highlight, "#3d6fb4"), (role.HighlightedText, "#ffffff"),
        (role.ToolTipBase, "#353535"), (role.ToolTipText, "#e6e6e6"), (role.Link, "#7aa7ff"),
        (role.PlaceholderText, "#a0a0a0"), (role.Mid, "#555555"), (role.Dark, "#1a1a1a"),
        (role.Light, "#505050"), (role.Midlight, "#444444"), (role.Shadow, "#000000"),
        (role.BrightText, "#ffffff"),
    ):
        p.setColor(r, QColor(colour))
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, r, QColor("#808080"))
    return p
