"""The main window's menu bar, built from the window's actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

if TYPE_CHECKING:
    from genocat_desktop.ui.main_window import MainWindow

__all__ = ["build_menus", "make_action"]


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
    file_menu.addActions([window.act_import, window.act_import_folder, window.act_bulk_ingest, window.act_sample])
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
