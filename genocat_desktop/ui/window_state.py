"""The main window's saved state: its geometry and the pages' settings, restored at start and saved on quit.

Functions of the :class:`~genocat_desktop.ui.main_window.MainWindow`: :func:`restore` when it is
built, :func:`save` when it closes; :func:`fit_to_screen` keeps a restored geometry on screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from genocat_desktop.ui.settings import settings

if TYPE_CHECKING:
    from genocat_desktop.ui.main_window import MainWindow

__all__ = ["fit_to_screen", "restore", "save"]


def restore(window: MainWindow) -> None:
    """Give ``window`` its saved geometry (1280 × 800 the first time) and the Search tab its settings."""
    s = settings()
    geometry = s.value("window/geometry")
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    else:
        window.resize(1280, 800)
    window.fit_to_screen()
    window.search_page.restore_settings(s)


def fit_to_screen(window: QWidget) -> None:
    """Shrink ``window`` to its screen's available area (a small screen, 150 % scaling, a saved
    geometry from a larger monitor) so that no part of it is off-screen."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return
    room = screen.availableGeometry()
    frame = window.frameGeometry().size() - window.geometry().size()  # title bar and borders, once shown
    width = min(window.width(), room.width() - frame.width())
    height = min(window.height(), room.height() - frame.height())
    if (width, height) != (window.width(), window.height()):
        window.resize(width, height)
    if not room.contains(window.frameGeometry().topLeft()):
        window.move(room.topLeft())


def save(window: MainWindow) -> None:
    """Save ``window``'s geometry, the Search tab's settings and the Browse table's columns."""
    s = settings()
    s.setValue("window/geometry", window.saveGeometry())
    window.search_page.save_settings(s)
    window.browse_page.browse_table.save_state()
