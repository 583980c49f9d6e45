"""The main window's menu bar, built from the window's actions."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from genocat_desktop.app.about import version_info

if TYPE_CHECKING:
    from genocat_desktop.ui.main_window import MainWindow

__all__ = ["SHORTCUTS", "build_menus", "make_action", "show_about"]

#: The keyboard shortcuts, as Help → About lists them.
SHORTCUTS = ("Ctrl+I import · Ctrl+Shift+I bulk ingest · Ctrl+F query · Ctrl+Enter search · Ctrl+E export · "
             "Ctrl+B browse · Ctrl+Shift+H schema · Ctrl+Shift+M models · Ctrl+Shift+V set value · "
             "Ctrl+Shift+X indexes · Ctrl+Alt+O open S3 catalog · Esc cancel · Ctrl+Q quit")


def make_action(parent: QWidget, text: str, slot: Callable[[], Any], shortcut: Any = None, tip: str = "") -> QAction:
    """An action of ``parent`` that calls ``slot`` (without the ``checked`` argument)."""
    a = QAction(text, parent)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(tip)
    a.triggered.connect(lambda checked=False: slot())
    return a


def build_menus(window: MainWindow) -> QMenu:
    """File, Search, Catalog, Tools, View and Help menus of ``window``; returns its Recent catalogs menu."""
    menu = window.menuBar()
    file_menu = menu.addMenu("&File")
    file_menu.addActions([window.act_import, window.act_import_folder, window.act_bulk_ingest, window.act_sample,
                          window.act_call_genes])
    file_menu.setToolTipsVisible(True)  # what "Call genes at import" does, on hover
    file_menu.addSeparator()
    file_menu.addActions([window.act_open_catalog, window.act_open_s3])
    recent_menu = file_menu.addMenu("Recent catalogs")
    file_menu.addSeparator()
    file_menu.addActions([window.act_export, window.act_export_selected])
    file_menu.addSeparator()
    file_menu.addAction(window.act_quit)
    search_menu = menu.addMenu("&Search")
    search_menu.addActions([window.act_find, window.act_search, window.act_open_query, window.act_browse,
                            window.act_cancel])
    catalog_menu = menu.addMenu("&Catalog")
    catalog_menu.addActions([window.act_schema, window.act_set_value, window.act_annotate])
    catalog_menu.addSeparator()
    catalog_menu.addAction(window.act_indexes)
    catalog_menu.addAction(window.act_benchmark)
    tools_menu = menu.addMenu("&Tools")
    tools_menu.addAction(window.act_models)
    view_menu = menu.addMenu("&View")
    hits, browse = window.search_page.hits_table, window.browse_page.browse_table
    view_menu.addAction("Hit columns…").triggered.connect(lambda: hits.column_menu(window).exec(window.cursor().pos()))
    view_menu.addAction("Catalog columns…").triggered.connect(
        lambda: browse.column_menu(window).exec(window.cursor().pos())
    )
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(window.act_about)
    return recent_menu


def show_about(parent: QWidget) -> QMessageBox:
    """Help → About GenoCat: the versions (as ``genocat --version``, with the running Qt) and the shortcuts.

    Parameters
    ----------
    parent
        The main window; the box is modal to it and deletes itself when closed.

    Returns
    -------
    QMessageBox
        The box, already open (``open()`` returns at once, unlike ``exec()``).
    """
    info = version_info(qt=qVersion())
    rows = "".join(f"<tr><td>{html.escape(label)}</td><td>&nbsp;{html.escape(value)}</td></tr>"
                   for label, value in info.rows()[1:])
    box = QMessageBox(parent)
    box.setWindowTitle("About GenoCat")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(f"<h3>GenoCat {html.escape(info.app)}</h3>"
                "<p>Catalog and search your lab's protein and DNA sequences.</p>"
                f"<table>{rows}</table><p>Shortcuts: {SHORTCUTS}</p>")
    # Selectable, so that the versions can be copied into a support request.
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    icon = parent.windowIcon()
    if not icon.isNull():
        box.setIconPixmap(icon.pixmap(64, 64))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
