"""What a user field is: its definition, read from and written to the Arrow field metadata.

The lowest layer of the schema feature: no catalog access, so the version
history (:mod:`.history`) can describe fields without importing the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

import pyarrow as pa

__all__ = [
    "DOC",
    "FIELD_TYPES",
    "META",
    "EditReport",
    "FieldSummary",
    "UserField",
    "field_definition",
    "show_value",
]

#: The types a user field can have, and the Arrow type that stores each.
FIELD_TYPES: Final[dict[str, pa.DataType]] = {
    "text": pa.string(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "category": pa.string(),
}
#: Field-metadata keys: the JSON definition, and the description alone (which Catalog.fields shows).
META: Final = b"genocat"
DOC: Final = b"doc"


@dataclass(frozen=True, slots=True)
class UserField:
    """The definition of a user field.

    Attributes
    ----------
    name
        Column name.
    type
        One of :data:`FIELD_TYPES`.
    allowed
        The allowed values of a ``category`` (empty for other types).
    description
        Free text for the person reading the catalog.
    default
        The value of rows imported later (and of existing rows when the field
        was added with it); ``None`` for none.
    """

    name: str
    type: str
    allowed: tuple[str, ...] = ()
    description: str = ""
    default: Any = None

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type of the column."""
        return FIELD_TYPES[self.type]

    def to_metadata(self) -> dict[bytes, bytes]:
        """The Arrow field metadata that records this definition."""
        record: dict[str, Any] = {"type": self.type}
        if self.allowed:
            record["allowed"] = list(self.allowed)
        if self.description:
            record["description"] = self.description
        if self.default is not None:
            record["default"] = self.default.isoformat() if isinstance(self.default, date) else self.default
        return {META: json.dumps(record).encode(), DOC: self.description.encode()}

    def describe(self) -> str:
        """``category (a, b, c)``, ``integer``..."""
        if self.type == "category":
            return f"category ({', '.join(self.allowed)})"
        return self.type


@dataclass(frozen=True, slots=True)
class FieldSummary:
    """One column of the catalog as the schema page lists it.

    Attributes
    ----------
    kind
        ``"builtin"``, ``"user"`` or ``"vector"``.
    type
        A user field's type (:data:`FIELD_TYPES`), else the Arrow type.
    filled
        Rows with a value (``None`` when not counted).
    """

    name: str
    type: str
    kind: str
    description: str
    filled: int | None
    rows: int
    allowed: tuple[str, ...] = ()
    default: Any = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        default = self.default.isoformat() if isinstance(self.default, date) else self.default
        return {
            "name": self.name, "type": self.type, "kind": self.kind, "description": self.description,
            "filled": self.filled, "rows": self.rows, "allowed": list(self.allowed), "default": default,
        }


@dataclass(slots=True)
class EditReport:
    """The outcome of :func:`set_values` or :func:`annotate`.

    Attributes
    ----------
    version
        The catalog version after the change (unchanged when nothing matched).
    rows
        Rows that were given a value (or cleared).
    fields
        The fields written.
    """

    version: int
    rows: int
    fields: list[str] = field(default_factory=list)
    message: str = ""


def field_definition(f: pa.Field) -> UserField:
    """Read a field's definition from its metadata (or infer one from its Arrow type)."""
    meta = f.metadata or {}
    record: dict[str, Any] = {}
    if META in meta:
        try:
            record = json.loads(meta[META])
        except ValueError:
            record = {}
    kind = record.get("type")
    if kind not in FIELD_TYPES:
        kind = _type_of(f.type)
    default = record.get("default")
    if default is not None and kind == "date":
        default = date.fromisoformat(default)
    description = str(record.get("description") or meta.get(DOC, b"").decode())
    return UserField(f.name, kind, tuple(record.get("allowed") or ()), description, default)


def _type_of(dtype: pa.DataType) -> str:
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype):
        return "float"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_date(dtype) or pa.types.is_timestamp(dtype):
        return "date"
    return "text"



def show_value(value: Any) -> str:
    """A value as a commit message or an error shows it: ``(empty)``, ``'text'``, ``2024-05-01``, ``3``."""
    if value is None:
        return "(empty)"
    if isinstance(value, date):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)

