"""Persistent settings (window geometry, recent catalogs, last folders, search defaults) via QSettings."""

from __future__ import annotations

from PySide6.QtCore import QSettings

__all__ = ["APP", "ORG", "add_recent", "recent_catalogs", "settings"]

ORG = "GenoCat"
APP = "GenoCat Desktop"
MAX_RECENT = 8


def settings() -> QSettings:
    """The app's settings store (``~/.config/GenoCat/GenoCat Desktop.conf`` on Linux)."""
    return QSettings(ORG, APP)


def recent_catalogs() -> list[str]:
    """Catalog locations opened before, most recent first."""
    value = settings().value("catalogs/recent")
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def add_recent(location: str) -> None:
    """Put ``location`` first in the recent catalogs."""
    items = [location, *(r for r in recent_catalogs() if r != location)][:MAX_RECENT]
    settings().setValue("catalogs/recent", items)
