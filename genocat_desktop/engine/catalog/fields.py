"""User fields: list them, check names and values, add, rename, drop and redescribe them.

Schema changes only: each is one catalog version, and none rewrites the data
files holding sequences or vectors (see :mod:`.schema`). Writing values into a
field is :mod:`.values`; filling fields from a spreadsheet is :mod:`.annotate`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.commits import raise_if_conflict, retried
from genocat_desktop.engine.catalog.definitions import (
    DOC,
    FIELD_TYPES,
    META,
    FieldSummary,
    UserField,
    field_definition,
    show_value,
)
from genocat_desktop.engine.catalog.storage import is_remote
from genocat_desktop.engine.catalog.table import ALIGNMENT_COLUMNS, BUILTIN_NAMES, Catalog
from genocat_desktop.engine.catalog.writers import writes_files
from genocat_desktop.engine.core.errors import InputError, SchemaError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress

__all__ = [
    "ALWAYS_FILLED",
    "RESERVED_NAMES",
    "add_field",
    "check_field_name",
    "discard_fragments",
    "drop_field",
    "editable_field",
    "field_default",
    "list_fields",
    "parse_value",
    "rename_field",
    "update_field",
    "user_fields",
]

#: Names a user field may not take besides the built-in fields: columns the
#: search results and exports add (``rank``, ``score``, ``query_id``, the
#: alignment columns) and Lance's own (``_rowid``, ``_rowaddr``,
#: ``_distance``...: every name with a leading underscore is refused by the
#: identifier rule).
RESERVED_NAMES: Final = frozenset({"rank", "score", "query_id", *ALIGNMENT_COLUMNS})
MAX_NAME: Final = 64
MAX_CATEGORY_VALUES: Final = 1000
_NAME_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TRUE: Final = frozenset({"true", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "no", "n", "0"})
#: Built-in fields the importer fills for every row.
ALWAYS_FILLED: Final = frozenset(
    {"seq_hash", "id", "accession", "sequence", "length", "molecule", "source_file", "imported_at"}
)


def _kind(catalog: Catalog, name: str) -> str:
    if name in catalog.vector_columns():
        return "vector"
    if name in BUILTIN_NAMES:
        return "builtin"
    return "user"


def user_fields(catalog: Catalog) -> dict[str, UserField]:
    """The user fields of the catalog, in column order, with their definitions."""
    vectors = catalog.vector_columns()
    return {
        f.name: field_definition(f) for f in catalog.schema if f.name not in BUILTIN_NAMES and f.name not in vectors
    }


def list_fields(catalog: Catalog, *, counts: bool = True, version: int | None = None) -> list[FieldSummary]:
    """Every column with its type, kind, description and how many rows have a value.

    Parameters
    ----------
    counts
        Count the rows with a value in each field (one column scan per field);
        ``False`` leaves :attr:`FieldSummary.filled` as ``None``.
    version
        List the fields as of this version (the history view); the latest if ``None``.
    """
    ds = catalog.dataset(version)
    rows = ds.count_rows()
    out = []
    for f in ds.schema:
        kind = _kind(catalog, f.name)
        filled = None
        if counts:
            # The importer fills these (and the vectors) for every row; scanning them only to
            # count would be slow (the sequence column alone: 0.5 s of 0.6 s at 100k rows).
            always = kind == "vector" or f.name in ALWAYS_FILLED
            filled = rows if always or rows == 0 else ds.count_rows(f"`{f.name}` IS NOT NULL")
        if kind == "user":
            d = field_definition(f)
            out.append(FieldSummary(f.name, d.type, kind, d.description, filled, rows, d.allowed, d.default))
        else:
            doc = (f.metadata or {}).get(DOC, b"").decode()
            out.append(FieldSummary(f.name, str(f.type), kind, doc, filled, rows))
    return out


# ---------------------------------------------------------------------- validation
def check_field_name(catalog: Catalog, name: str, *, exclude: str | None = None) -> str:
    """Return ``name`` if it can be a new user field, else raise :class:`SchemaError`.

    A name starts with a letter, has only letters, digits and ``_``, at most
    64 characters; it is not a built-in field, a vector column (``vec_*``), a
    column search results add (``rank``, ``score``, ``query_id``), or an
    existing field (compared case-insensitively, since SQL filters and
    spreadsheets do not keep case reliably). ``exclude`` is the field being
    renamed.
    """
    if not isinstance(name, str) or not name:
        raise SchemaError("a field needs a name")
    if len(name) > MAX_NAME:
        raise SchemaError(f"the field name {name[:20]!r}... is longer than {MAX_NAME} characters")
    if not _NAME_RE.match(name):
        hint = " (names starting with '_' are reserved)" if name.startswith("_") else ""
        raise SchemaError(
            f"{name!r} is not a valid field name: use letters, digits and '_', starting with a letter{hint}"
        )
    lower = name.lower()
    if lower in {n.lower() for n in BUILTIN_NAMES}:
        raise SchemaError(f"{name!r} is a built-in field of every catalog; choose another name")
    if lower in RESERVED_NAMES:
        raise SchemaError(f"{name!r} is reserved (search results add a column of that name); choose another")
    if lower.startswith("vec_") or lower in {c.lower() for c in catalog.vector_columns()}:
        raise SchemaError(f"{name!r} is reserved for embedding columns (vec_*); choose another name")
    for existing in catalog.schema.names:
        if existing.lower() == lower and existing != exclude:
            raise SchemaError(f"the catalog already has a field named {existing!r}")
    return name


def _check_type(type: str) -> str:
    kind = str(type).strip().lower()
    aliases = {"string": "text", "str": "text", "int": "integer", "number": "float", "bool": "boolean",
               "yes/no": "boolean", "choice": "category", "enum": "category"}
    kind = aliases.get(kind, kind)
    if kind not in FIELD_TYPES:
        raise SchemaError(f"unknown field type {type!r}; use one of: {', '.join(FIELD_TYPES)}")
    return kind


def _check_allowed(kind: str, allowed: Iterable[str] | None) -> tuple[str, ...]:
    values = tuple(str(v).strip() for v in (allowed or ()))
    if kind != "category":
        if values:
            raise SchemaError(f"allowed values are for category fields, not {kind} fields")
        return ()
    if not values:
        raise SchemaError("a category field needs its allowed values (for example: low, medium, high)")
    if any(not v for v in values):
        raise SchemaError("an allowed value of a category is empty")
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise SchemaError(f"the allowed value {v!r} is given twice")
        seen.add(v)
    if len(values) > MAX_CATEGORY_VALUES:
        raise SchemaError(f"a category can have at most {MAX_CATEGORY_VALUES} values; use a text field")
    return values


def parse_value(definition: UserField, value: Any) -> Any:
    """Convert ``value`` (typed, or text from a command line or a spreadsheet) for the field.

    ``None`` and empty text are ``None`` (no value). Booleans accept
    true/false, yes/no, y/n, 1/0; dates are ISO (``2024-03-01``); categories
    must be one of the allowed values (case-insensitive; the stored spelling
    is the allowed one).

    Raises
    ------
    InputError
        If the value does not fit the field, saying why.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    kind = definition.type
    name = definition.name
    text = value.strip() if isinstance(value, str) else value
    try:
        if kind == "text":
            return str(text)
        if kind == "integer":
            if isinstance(text, bool):
                raise ValueError
            if isinstance(text, float):
                if not text.is_integer():
                    raise ValueError
                return int(text)
            number = int(str(text).replace("_", ""))
            if not -(2**63) <= number < 2**63:
                raise ValueError
            return number
        if kind == "float":
            if isinstance(text, bool):
                raise ValueError
            number_f = float(text)
            if np.isnan(number_f):
                raise ValueError
            return number_f
        if kind == "boolean":
            if isinstance(text, bool):
                return text
            word = str(text).lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            raise ValueError
        if kind == "date":
            if isinstance(text, datetime):
                return text.date()
            if isinstance(text, date):
                return text
            return date.fromisoformat(str(text)[:10] if "T" in str(text) else str(text))
        if kind == "category":
            word = str(text)
            if word in definition.allowed:
                return word
            for allowed in definition.allowed:
                if allowed.lower() == word.lower():
                    return allowed
            raise InputError(f"{word!r} is not an allowed value of {name!r}; allowed: {', '.join(definition.allowed)}")
    except (TypeError, ValueError, OverflowError):
        expected = {"integer": "a whole number", "float": "a number", "boolean": "yes/no (true/false, 1/0)",
                    "date": "a date as YYYY-MM-DD"}[kind]
        raise InputError(f"{value!r} is not a valid value for {name!r}: expected {expected}") from None
    raise SchemaError(f"field {name!r} has an unknown type {kind!r}")


def editable_field(catalog: Catalog, name: str) -> UserField:
    """The definition of user field ``name``; :class:`SchemaError` if it is missing, built-in or a vector column."""
    if name not in catalog.schema.names:
        known = ", ".join(user_fields(catalog)) or "none yet"
        raise SchemaError(f"no field named {name!r}; user fields: {known}")
    kind = _kind(catalog, name)
    if kind == "builtin":
        raise SchemaError(f"{name!r} is a built-in field (read from the FASTA headers); only user fields can be edited")
    if kind == "vector":
        raise SchemaError(f"{name!r} holds embedding vectors; it cannot be edited here")
    return field_definition(catalog.schema.field(name))



# ---------------------------------------------------------------------- schema changes
@retried
@writes_files("field")
def add_field(
    catalog: Catalog,
    name: str,
    type: str,
    *,
    allowed: Iterable[str] | None = None,
    default: Any = None,
    description: str = "",
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> int:
    """Add a user field; return the new catalog version.

    Without a default only the schema changes (existing rows read as empty).
    With one, each fragment gets one new data file holding only this field,
    filled with the default; rows imported later get the default too.

    Parameters
    ----------
    name
        See :func:`check_field_name`.
    type
        One of :data:`FIELD_TYPES` (``text``, ``integer``, ``float``, ``boolean``, ``date``, ``category``).
    allowed
        The allowed values of a ``category`` (required for it, refused for other types).
    default
        Value for the existing rows (and later imports); converted by :func:`parse_value`.
    description
        Shown on the schema page and in ``genocat schema list``.

    Raises
    ------
    SchemaError
        Invalid or taken name, unknown type, bad allowed values.
    InputError
        A default that does not fit the type.
    """
    cancel = cancel or CancelToken()
    catalog.refresh()
    check_field_name(catalog, name)
    kind = _check_type(type)
    values = _check_allowed(kind, allowed)
    definition = UserField(name, kind, values, str(description or "").strip())
    definition = UserField(name, kind, values, definition.description, parse_value(definition, default))
    arrow_field = pa.field(name, definition.arrow_type, nullable=True, metadata=definition.to_metadata())
    message = f"schema: add field {name!r} ({definition.describe()})"
    if definition.default is not None:
        message += f", default {show_value(definition.default)}"
    ds = catalog.dataset()
    fragments = ds.get_fragments()
    if definition.default is None or not fragments:
        # Schema only: no data file is written, the field reads as null. Lance's
        # own add_columns takes no commit message, so versions() describes it
        # from the schema difference (history.describe_schema_change).
        try:
            ds.add_columns(arrow_field)
        except (OSError, ValueError) as exc:
            raise_if_conflict(exc)
            raise SchemaError(f"could not add {name!r}: {_first_line(exc)}") from None
        return catalog.refresh()
    return _add_filled_column(catalog, ds, arrow_field, definition.default, message, progress, cancel)


def _add_filled_column(
    catalog: Catalog,
    ds: Any,
    arrow_field: pa.Field,
    value: Any,
    message: str,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> int:
    """Add ``arrow_field`` filled with ``value``: one new data file per fragment, one ``Merge`` commit."""
    import lance

    out_schema = pa.schema([arrow_field])

    def fill(batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([pa.array([value] * batch.num_rows, arrow_field.type)], schema=out_schema)

    fragments = ds.get_fragments()
    new_fragments = []
    lance_schema = None
    written: list[Any] = []
    try:
        for i, fragment in enumerate(fragments):
            cancel.raise_if_cancelled()
            # "length" is the smallest built-in column: the function only needs the row count.
            meta, lance_schema = fragment.merge_columns(fill, columns=["length"])
            new_fragments.append(meta)
            written.append(meta)
            progress(Progress(i + 1, len(fragments), "fragments", "adding", f"Adding {arrow_field.name}"))
        cancel.raise_if_cancelled()
        op = lance.LanceOperation.Merge(new_fragments, lance_schema, preserves_nullability=True)
        version: int = catalog.commit(op, ds.version, message)
    except BaseException:
        discard_fragments(catalog, written)
        raise
    return version


@retried
def rename_field(catalog: Catalog, old: str, new: str) -> int:
    """Rename a user field (schema only; its definition moves with it). Return the new version.

    Raises
    ------
    SchemaError
        Unknown or built-in field, invalid or taken new name.
    """
    catalog.refresh()
    editable_field(catalog, old)
    if old == new:
        raise SchemaError(f"{old!r} already has that name")
    check_field_name(catalog, new, exclude=old)
    try:
        alteration: Any = {"path": old, "name": new}
        catalog.dataset().alter_columns(alteration)
    except (OSError, ValueError) as exc:
        raise_if_conflict(exc)
        raise SchemaError(f"could not rename {old!r}: {_first_line(exc)}") from None
    return catalog.refresh()


@retried
def drop_field(catalog: Catalog, name: str) -> int:
    """Drop a user field (schema only). Return the new version.

    The values stay in older versions: ``restore`` brings the field back.

    Raises
    ------
    SchemaError
        Unknown, built-in or vector field.
    """
    catalog.refresh()
    editable_field(catalog, name)
    try:
        catalog.dataset().drop_columns([name])
    except (OSError, ValueError) as exc:
        raise_if_conflict(exc)
        raise SchemaError(f"could not drop {name!r}: {_first_line(exc)}") from None
    return catalog.refresh()


@retried
def update_field(
    catalog: Catalog,
    name: str,
    *,
    description: str | None = None,
    allowed: Iterable[str] | None = None,
) -> int:
    """Change a user field's description or a category's allowed values; return the new version.

    Only metadata changes (one ``UpdateConfig`` commit). Removing an allowed
    value that rows still hold is refused.

    Raises
    ------
    SchemaError
        Unknown field, allowed values for a non-category, or a removed value still in use.
    """
    catalog.refresh()
    current = editable_field(catalog, name)
    values = current.allowed if allowed is None else _check_allowed(current.type, allowed)
    if allowed is not None and current.type == "category":
        removed = [v for v in current.allowed if v not in values]
        if removed:
            sql = f"`{name}` IN (" + ", ".join("'" + v.replace("'", "''") + "'" for v in removed) + ")"
            in_use = catalog.count(sql)
            if in_use:
                raise SchemaError(
                    f"{in_use:,} row(s) of {name!r} hold {', '.join(map(repr, removed))}; change them first"
                )
    text = current.description if description is None else description.strip()
    updated = UserField(name, current.type, values, text, current.default)
    import lance

    ds = catalog.dataset()
    lance_field = ds.lance_schema.field(name)
    assert lance_field is not None  # checked by _user_field
    field_id = int(lance_field.id())
    meta: dict[str, str | None] = {k.decode(): v.decode() for k, v in updated.to_metadata().items()}
    op = lance.LanceOperation.UpdateConfig(
        field_metadata_updates={field_id: lance.LanceOperation.UpdateMap(meta, replace=False)}
    )
    return catalog.commit(op, ds.version, f"schema: describe field {name!r} ({updated.describe()})")



def discard_fragments(catalog: Catalog, fragments: list[Any]) -> None:
    """Delete data files written for fragments that were not committed (local catalogs only)."""
    if is_remote(catalog.uri):
        return  # object stores: unreferenced files go with the next cleanup
    committed = {d.path for f in catalog.dataset().get_fragments() for d in f.data_files()}
    for meta in fragments:
        for data_file in meta.files:
            if data_file.path not in committed:
                path = Path(catalog.uri) / "data" / data_file.path
                path.unlink(missing_ok=True)



def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__


def field_default(f: pa.Field) -> Any:
    """The default of a user field (``None`` if it has none): the value rows imported later get."""
    if not f.metadata or META not in f.metadata or f.name in BUILTIN_NAMES:
        return None
    return field_definition(f).default
