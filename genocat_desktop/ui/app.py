"""Starting the desktop app: the QApplication, the error hook, the main window."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["run"]


def run(location: str | None = None, files: Sequence[str] = (), argv: Sequence[str] | None = None) -> int:
    """Show the main window on ``location`` (the default catalog if ``None``), import ``files``; block until quit.

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
    window = MainWindow(location, files)
    window.show()
    return int(app.exec())
