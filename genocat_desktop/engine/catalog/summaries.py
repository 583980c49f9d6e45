"""What a catalog says about itself: its columns, its versions and a summary (plain records).

:class:`~genocat_desktop.engine.catalog.table.Catalog` returns them from ``fields()``,
``versions()`` and ``info()``; they hold no reference to the table, so they can cross threads
and be printed as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["CatalogInfo", "FieldInfo", "VersionInfo"]


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One column of the catalog."""

    name: str
    type: str
    kind: str  # "builtin", "user" or "vector"
    description: str


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One version of the catalog."""

    version: int
    timestamp: datetime
    rows: int | None
    message: str


@dataclass(frozen=True, slots=True)
class CatalogInfo:
    """A summary of a catalog, for ``genocat info`` and the status bar."""

    location: str
    rows: int
    version: int
    embedders: dict[str, dict[str, Any]]
    default_vector: str
    fields: list[FieldInfo]
    created: str
    size_bytes: int | None = None  # data files of the current version
    versions: int | None = None  # versions still stored

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "location": self.location,
            "rows": self.rows,
            "version": self.version,
            "embedders": self.embedders,
            "default_vector": self.default_vector,
            "fields": [{"name": f.name, "type": f.type, "kind": f.kind} for f in self.fields],
            "created": self.created,
            "size_bytes": self.size_bytes,
            "versions": self.versions,
        }
