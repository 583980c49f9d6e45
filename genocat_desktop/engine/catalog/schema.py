"""User-defined fields: add, rename, drop, list, and edit their values without touching the vectors.

A lab adds its own columns to the catalog (``assay``, ``ph_optimum``,
``reviewed``...). Lance stores each column of a fragment in data files that
name the fields they hold, so every operation here either changes only the
schema or writes *new* files that hold only the changed user field; the data
files holding the sequences and vectors are never rewritten, and vector
indexes keep covering every fragment (measured with pylance 14, tested in
``tests/test_schema.py`` by hashing every data file before and after):

========================  =====================================================
operation                 what Lance writes
========================  =====================================================
add (no default)          nothing but the new manifest (the field reads as null)
add with a default        one small file per fragment holding only the new field
rename, drop              nothing but the new manifest (field ids are kept)
set values / annotate     per touched fragment, one file holding only that field
                          (``LanceFragment.update_columns`` + an ``Update``
                          commit in ``rewrite_columns`` mode); the old file of
                          that field is masked, not modified
========================  =====================================================

``LanceDataset.update`` (SQL ``UPDATE``) and ``merge_insert`` were measured and
are not used: both delete the matched rows and write them again whole,
vectors included.

Where the field's definition lives: its type (``category`` vs ``text``,
``date``...), the allowed values of a category, its description and default
are JSON in the Arrow *field* metadata (key ``genocat``; the description also
under ``doc``, which :meth:`Catalog.fields` shows). Field metadata is part of
the field in the Lance manifest, so it is created, renamed and dropped in the
same commit as the column: there is no moment at which a field exists without
its definition, or a definition without its field. (The table-level
``user_fields`` map could only be updated by a second commit.)

Every change is one catalog version with a commit message; a change that
fails validation raises before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.query import Condition, to_sql
from genocat_desktop.engine.catalog.storage import is_remote
from genocat_desktop.engine.catalog.table import BUILTIN_NAMES, Catalog
from genocat_desktop.engine.core.errors import InputError, SchemaError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.search.alignment import ALIGNMENT_COLUMNS

if TYPE_CHECKING:
    import lance

__all__ = [
    "ANNOTATION_KEYS",
    "FIELD_TYPES",
    "RESERVED_NAMES",
    "AnnotationPlan",
    "EditReport",
    "FieldSummary",
    "UserField",
    "add_field",
    "annotate",
    "check_field_name",
    "describe_schema_change",
    "drop_field",
    "field_default",
    "list_fields",
    "parse_value",
    "plan_annotations",
    "rename_field",
    "set_cells",
    "set_values",
    "update_field",
    "user_fields",
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
#: Names a user field may not take besides the built-in fields: columns the
#: search results and exports add (``rank``, ``score``, ``query_id``, the
#: alignment columns) and Lance's own (``_rowid``, ``_rowaddr``,
#: ``_distance``...: every name with a leading underscore is refused by the
#: identifier rule).
RESERVED_NAMES: Final = frozenset({"rank", "score", "query_id", *ALIGNMENT_COLUMNS})
#: Catalog columns a spreadsheet of annotations can be keyed by.
ANNOTATION_KEYS: Final = ("accession", "id", "seq_hash")
META: Final = b"genocat"
DOC: Final = b"doc"
MAX_NAME: Final = 64
MAX_CATEGORY_VALUES: Final = 1000
_NAME_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TRUE: Final = frozenset({"true", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "no", "n", "0"})
#: Built-in fields the importer fills for every row.
ALWAYS_FILLED: Final = frozenset(
    {"seq_hash", "id", "accession", "sequence", "length", "molecule", "source_file", "imported_at"}
)
#: How many changed rows an annotation preview holds.
PREVIEW_ROWS: Final = 50


# ---------------------------------------------------------------------- definitions
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


def _definition(f: pa.Field) -> UserField:
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
        f.name: _definition(f) for f in catalog.schema if f.name not in BUILTIN_NAMES and f.name not in vectors
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
            d = _definition(f)
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


def _user_field(catalog: Catalog, name: str) -> UserField:
    if name not in catalog.schema.names:
        known = ", ".join(user_fields(catalog)) or "none yet"
        raise SchemaError(f"no field named {name!r}; user fields: {known}")
    kind = _kind(catalog, name)
    if kind == "builtin":
        raise SchemaError(f"{name!r} is a built-in field (read from the FASTA headers); only user fields can be edited")
    if kind == "vector":
        raise SchemaError(f"{name!r} holds embedding vectors; it cannot be edited here")
    return _definition(catalog.schema.field(name))


# ---------------------------------------------------------------------- schema changes
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
    value = parse_value(definition, default)
    definition = UserField(name, kind, values, definition.description, value)
    arrow_field = pa.field(name, definition.arrow_type, nullable=True, metadata=definition.to_metadata())
    ds = catalog.dataset()
    message = f"schema: add field {name!r} ({definition.describe()})"
    if value is not None:
        message += f", default {_show(value)}"
    fragments = ds.get_fragments()
    if value is None or not fragments:
        # Schema only: no data file is written, the field reads as null. Lance's
        # own add_columns takes no commit message, so versions() describes it
        # from the schema difference (describe_schema_change).
        try:
            ds.add_columns(arrow_field)
        except (OSError, ValueError) as exc:
            raise SchemaError(f"could not add {name!r}: {_first_line(exc)}") from None
        return catalog.refresh()
    import lance

    out_schema = pa.schema([arrow_field])

    def fill(batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([pa.array([value] * batch.num_rows, definition.arrow_type)],
                                          schema=out_schema)

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
            progress(Progress(i + 1, len(fragments), "fragments", "adding", f"Adding {name}"))
        cancel.raise_if_cancelled()
        op = lance.LanceOperation.Merge(new_fragments, lance_schema, preserves_nullability=True)
        version = catalog.commit(op, ds.version, message)
    except BaseException:
        _discard(catalog, written)
        raise
    return version


def rename_field(catalog: Catalog, old: str, new: str) -> int:
    """Rename a user field (schema only; its definition moves with it). Return the new version.

    Raises
    ------
    SchemaError
        Unknown or built-in field, invalid or taken new name.
    """
    catalog.refresh()
    _user_field(catalog, old)
    if old == new:
        raise SchemaError(f"{old!r} already has that name")
    check_field_name(catalog, new, exclude=old)
    try:
        alteration: Any = {"path": old, "name": new}
        catalog.dataset().alter_columns(alteration)
    except (OSError, ValueError) as exc:
        raise SchemaError(f"could not rename {old!r}: {_first_line(exc)}") from None
    return catalog.refresh()


def drop_field(catalog: Catalog, name: str) -> int:
    """Drop a user field (schema only). Return the new version.

    The values stay in older versions: ``restore`` brings the field back.

    Raises
    ------
    SchemaError
        Unknown, built-in or vector field.
    """
    catalog.refresh()
    _user_field(catalog, name)
    try:
        catalog.dataset().drop_columns([name])
    except (OSError, ValueError) as exc:
        raise SchemaError(f"could not drop {name!r}: {_first_line(exc)}") from None
    return catalog.refresh()


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
    current = _user_field(catalog, name)
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


def describe_schema_change(before: pa.Schema | None, after: pa.Schema) -> str:
    """Describe what changed between two schemas, for versions that carry no message.

    Lance's schema-only operations (add, rename, drop) take no commit
    message; this says "schema: rename field 'a' to 'b'" instead.
    Field ids identify a field across a rename.
    """

    def ids(schema: pa.Schema | None) -> dict[int, pa.Field]:
        out: dict[int, pa.Field] = {}
        for f in schema or []:
            fid = (f.metadata or {}).get(b"__lance_field_id")
            out[int(fid) if fid is not None else -len(out) - 1] = f
        return out

    old, new = ids(before), ids(after)
    if all(k < 0 for k in [*old, *new]):
        # No ids available: compare by name.
        old_names = {f.name for f in old.values()}
        new_names = {f.name for f in new.values()}
        added = [f for f in new.values() if f.name not in old_names]
        dropped = [f.name for f in old.values() if f.name not in new_names]
        renamed: list[tuple[str, str]] = []
    else:
        added = [f for k, f in new.items() if k not in old]
        dropped = [f.name for k, f in old.items() if k not in new]
        renamed = [(old[k].name, f.name) for k, f in new.items() if k in old and old[k].name != f.name]
    parts = [f"add field {f.name!r} ({_definition(f).describe()})" for f in added]
    parts += [f"rename field {a!r} to {b!r}" for a, b in renamed]
    parts += [f"drop field {n!r}" for n in dropped]
    return "schema: " + "; ".join(parts) if parts else ""


def _lance_ids(ds: lance.LanceDataset) -> pa.Schema:
    """The dataset's Arrow schema with each top-level field's Lance id in its metadata."""
    ids = {f.name(): int(f.id()) for f in ds.lance_schema.fields()}
    return pa.schema(
        [f.with_metadata({**(f.metadata or {}), b"__lance_field_id": str(ids.get(f.name, -1)).encode()})
         for f in ds.schema]
    )


def version_description(catalog: Catalog, version: int) -> str:
    """What a version without a commit message changed in the schema ('' if nothing)."""
    try:
        after = catalog.dataset(version)
        tx = after.read_transaction(version)
        if tx is not None and type(tx.operation).__name__ == "Restore":
            return f"restore version {getattr(tx.operation, 'version', '?')}"
        before = catalog.dataset(version - 1) if version > 1 else None
    except (OSError, ValueError, AttributeError):
        return ""
    return describe_schema_change(_lance_ids(before) if before is not None else None, _lance_ids(after))


# ---------------------------------------------------------------------- values
def _matching_rows(ds: lance.LanceDataset, sql: str | None) -> pa.Table:
    """Row ids and addresses of the rows matching ``sql`` (all rows if ``None``)."""
    return ds.to_table(columns=[], filter=sql, with_row_id=True, with_row_address=True)


def _hash_filter(hashes: Sequence[str]) -> list[str]:
    out = []
    for i in range(0, len(hashes), 5000):
        chunk = [h for h in hashes[i : i + 5000] if h.isalnum()]
        if chunk:
            out.append("seq_hash IN (" + ",".join(f"'{h}'" for h in chunk) + ")")
    return out


def set_values(
    catalog: Catalog,
    name: str,
    value: Any,
    *,
    hashes: Sequence[str] | None = None,
    conditions: Sequence[Condition] = (),
    all_rows: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> EditReport:
    """Give a user field one value (or clear it with ``None``) on selected rows.

    Choose the rows by ``hashes`` (``seq_hash`` of the rows selected in the
    browser: it identifies a row across versions), by ``conditions`` (the rows
    a filter matches), both (rows satisfying both), or ``all_rows=True``.

    Only the field's values are rewritten (one new file per touched fragment);
    vectors and other columns are untouched. One commit; no commit when no row
    matches.

    Raises
    ------
    SchemaError
        Unknown, built-in or vector field; no selection given.
    InputError, FilterError
        A value that does not fit the field; a bad filter.
    """
    cancel = cancel or CancelToken()
    catalog.refresh()
    definition = _user_field(catalog, name)
    parsed = parse_value(definition, value)
    if hashes is None and not conditions and not all_rows:
        raise SchemaError("choose the rows to change (a selection or a filter), or ask for all rows")
    ds = catalog.dataset()
    sql = to_sql(conditions, ds.schema)
    if hashes is not None:
        parts = _hash_filter(list(hashes))
        if not parts:
            return EditReport(ds.version, 0, [name], "no row selected")
        tables = [_matching_rows(ds, f"({p}) AND ({sql})" if sql else p) for p in parts]
        rows = pa.concat_tables(tables)
    else:
        rows = _matching_rows(ds, sql)
    where = " AND ".join(str(c) for c in conditions)
    if hashes is not None:
        where = f"{len(hashes):,} selected row(s)" + (f" with {where}" if where else "")
    elif not where:
        where = "all rows"
    if parsed is None:
        message = f"clear {name} on {rows.num_rows:,} row(s) ({where})"
    else:
        message = f"set {name} = {_show(parsed)} on {rows.num_rows:,} row(s) ({where})"
    if rows.num_rows == 0:
        return EditReport(ds.version, 0, [name], "no row matched; nothing changed")
    values = pa.array([parsed] * rows.num_rows, definition.arrow_type)
    update = pa.table({"_rowid": rows.column("_rowid"), "_rowaddr": rows.column("_rowaddr"), name: values})
    version = _write_columns(catalog, ds, update, [name], message, progress, cancel)
    return EditReport(version, rows.num_rows, [name], message)


def set_cells(
    catalog: Catalog,
    name: str,
    values: Mapping[str, Any],
    *,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> EditReport:
    """Give rows of a user field each its own value (cells edited in the catalog browser), in one version.

    Parameters
    ----------
    values
        ``seq_hash`` of a row -> its new value (``None`` clears it). Every
        value is checked before anything is written.

    Raises
    ------
    SchemaError
        Unknown, built-in or vector field; a ``seq_hash`` not in the catalog.
    InputError
        A value that does not fit the field (the row is named).
    """
    cancel = cancel or CancelToken()
    catalog.refresh()
    definition = _user_field(catalog, name)
    parsed: dict[str, Any] = {}
    for h, value in values.items():
        try:
            parsed[h] = parse_value(definition, value)
        except InputError as exc:
            raise InputError(f"row {h}: {exc}") from None
    ds = catalog.dataset()
    if not parsed:
        return EditReport(ds.version, 0, [name], "no cell changed")
    hashes = list(parsed)
    parts = _hash_filter(hashes)
    found = pa.concat_tables([ds.to_table(columns=["seq_hash"], filter=p, with_row_id=True,
                                          with_row_address=True) for p in parts]) if parts else None
    found_hashes = found.column("seq_hash").to_pylist() if found is not None else []
    missing = sorted(set(hashes) - set(found_hashes))
    if found is None or missing:
        raise SchemaError(f"{len(missing or hashes):,} row(s) are not in the catalog (first: {(missing or hashes)[0]})")
    column = pa.array([parsed[h] for h in found_hashes], definition.arrow_type)
    update = pa.table({"_rowid": found.column("_rowid"), "_rowaddr": found.column("_rowaddr"), name: column})
    message = f"edit {name} in {len(parsed):,} row(s)"
    version = _write_columns(catalog, ds, update, [name], message, progress, cancel)
    return EditReport(version, len(parsed), [name], message)


def _write_columns(
    catalog: Catalog,
    ds: lance.LanceDataset,
    update: pa.Table,
    names: list[str],
    message: str,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> int:
    """Write new values of user fields for some rows, in one commit.

    ``update`` has ``_rowid``, ``_rowaddr`` and one column per name. Each touched
    fragment gets a new data file holding only these fields (its other rows keep
    their values); the files holding vectors and other columns stay as they are.
    """
    import lance

    fragment_of = update.column("_rowaddr").to_numpy() >> np.uint64(32)
    ids = np.unique(fragment_of)
    payload = update.select(["_rowid", *names])
    updated, modified, written = [], set(), []
    try:
        for i, frag_id in enumerate(ids.tolist()):
            cancel.raise_if_cancelled()
            fragment = ds.get_fragment(int(frag_id))
            if fragment is None:
                raise SchemaError("the catalog changed during the edit; try again")
            part = payload.filter(pa.array(fragment_of == frag_id))
            meta, fields = fragment.update_columns(part, left_on="_rowid")
            updated.append(meta)
            written.append(meta)
            modified.update(fields)
            progress(Progress(i + 1, len(ids), "fragments", "writing", f"Writing {', '.join(names)}"))
        cancel.raise_if_cancelled()
        op = lance.LanceOperation.Update(
            updated_fragments=updated, fields_modified=sorted(modified), update_mode="rewrite_columns"
        )
        return catalog.commit(op, ds.version, message)
    except BaseException:
        _discard(catalog, written)
        raise


def _discard(catalog: Catalog, fragments: list[Any]) -> None:
    """Delete data files written for fragments that were not committed (local catalogs only)."""
    if is_remote(catalog.uri):
        return  # object stores: unreferenced files go with the next cleanup
    committed = {d.path for f in catalog.dataset().get_fragments() for d in f.data_files()}
    for meta in fragments:
        for data_file in meta.files:
            if data_file.path not in committed:
                path = Path(catalog.uri) / "data" / data_file.path
                path.unlink(missing_ok=True)


def _show(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, date):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__


# ---------------------------------------------------------------------- annotations
@dataclass(slots=True)
class AnnotationPlan:
    """What :func:`annotate` would change: the preview, before anything is written.

    Attributes
    ----------
    path
        The spreadsheet.
    key
        The catalog column the keys are matched against (``accession``, ``id`` or ``seq_hash``).
    fields
        The user fields filled (spreadsheet columns of the same name).
    rows_in_file
        Data rows in the file.
    matched_keys, unmatched_keys
        Keys found / not found in the catalog (unmatched in file order).
    rows
        Catalog rows that get at least one value.
    cells
        Values written, over all fields (empty cells are left alone).
    preview
        Arrow table ``key, field, old, new`` (as text) for the first changes.
    version
        The catalog version the plan was made against.
    """

    path: str
    key: str
    fields: list[str]
    rows_in_file: int
    matched_keys: int
    unmatched_keys: list[str]
    rows: int
    cells: int
    preview: pa.Table
    version: int
    # The rows to write: _rowid, _rowaddr and one column per field (old values where the cell was empty).
    update: pa.Table | None = None

    def summary(self) -> str:
        """One paragraph for a dialog or a terminal."""
        text = (
            f"{Path(self.path).name}: {self.rows_in_file:,} row(s), keyed by {self.key}; "
            f"{self.matched_keys:,} key(s) matched {self.rows:,} catalog row(s), "
            f"{len(self.unmatched_keys):,} not found; {self.cells:,} value(s) for {', '.join(self.fields)}"
        )
        return text


def _read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV or TSV file, all as text (the delimiter is sniffed)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if b"\0" in raw[:65536]:
        raise InputError(f"{path.name} is not a text file (CSV or TSV)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # spreadsheets exported on Windows
    first = text.split("\n", 1)[0]
    if path.suffix.lower() in (".tsv", ".tab") or first.count("\t") > first.count(","):
        delimiter = "\t"
    elif first.count(";") > first.count(","):
        delimiter = ";"  # European spreadsheet exports
    else:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = [r for r in reader]
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise InputError(f"{path.name} is empty")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise InputError(f"{path.name}: the column {dup!r} appears twice in the header")
    return header, rows[1:]


def plan_annotations(
    catalog: Catalog,
    path: str | Path,
    *,
    key: str = "accession",
    key_column: str | None = None,
    columns: Sequence[str] | None = None,
) -> AnnotationPlan:
    """Read a spreadsheet of annotations and work out what :func:`annotate` would change.

    The file is CSV or TSV with a header row. One column holds the key
    (``key_column``, by default the column named like ``key``); every other
    column (or only ``columns``) must be a user field of the catalog; its
    cells are parsed with :func:`parse_value`. Empty cells leave the catalog
    value as it is. A key that matches several catalog rows (an identifier
    used for different sequences) fills all of them.

    Raises
    ------
    InputError
        Unreadable file, missing key column, a value that does not fit its
        field (line and column named), or the same key twice with different values.
    SchemaError
        A column that is not a user field.
    """
    path = Path(path)
    if key not in ANNOTATION_KEYS:
        raise InputError(f"annotations are matched by {', '.join(ANNOTATION_KEYS)}, not {key!r}")
    catalog.refresh()
    header, data = _read_table(path)
    key_col = key_column or key
    if key_col not in header:
        raise InputError(f"{path.name} has no column {key_col!r} to match by {key}; its columns: {', '.join(header)}")
    wanted = list(columns) if columns else [h for h in header if h != key_col and h]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise InputError(f"{path.name} has no column {missing[0]!r}; its columns: {', '.join(header)}")
    if not wanted:
        raise InputError(f"{path.name} has no column besides the key {key_col!r}: nothing to fill")
    definitions = {}
    for c in wanted:
        if c not in catalog.schema.names:
            raise SchemaError(
                f"the column {c!r} of {path.name} is not a field of the catalog; add it first "
                f"(genocat schema add {c} TYPE) or leave it out"
            )
        definitions[c] = _user_field(catalog, c)
    key_index = header.index(key_col)
    positions = {c: header.index(c) for c in wanted}
    # key -> {field: (value, line)}
    values: dict[str, dict[str, tuple[Any, int]]] = {}
    order: list[str] = []
    for line, row in enumerate(data, start=2):
        if not any(cell.strip() for cell in row):
            continue
        k = row[key_index].strip() if key_index < len(row) else ""
        if not k:
            raise InputError(f"{path.name}, line {line}: the key column {key_col!r} is empty")
        entry = values.get(k)
        if entry is None:
            entry = values[k] = {}
            order.append(k)
        for c, pos in positions.items():
            cell = row[pos] if pos < len(row) else ""
            try:
                parsed = parse_value(definitions[c], cell)
            except InputError as exc:
                raise InputError(f"{path.name}, line {line}, column {c!r}: {exc}") from None
            if parsed is None:
                continue
            if c in entry and entry[c][0] != parsed:
                raise InputError(
                    f"{path.name}: key {k!r} has two different values for {c!r} "
                    f"(line {entry[c][1]}: {_show(entry[c][0])}, line {line}: {_show(parsed)})"
                )
            entry[c] = (parsed, line)
    rows_in_file = sum(1 for row in data if any(cell.strip() for cell in row))
    ds = catalog.dataset()
    # Find the catalog rows of every key in one pass over the key column.
    table = ds.to_table(columns=[key, *wanted], with_row_id=True, with_row_address=True)
    keys_col = table.column(key).to_pylist()
    index: dict[str, list[int]] = {}
    for i, k in enumerate(keys_col):
        if k is not None and k in values:
            index.setdefault(k, []).append(i)
    unmatched = [k for k in order if k not in index]
    take: list[int] = []
    new_cols: dict[str, list[Any]] = {c: [] for c in wanted}
    preview_rows: list[tuple[str, str, str, str]] = []
    old_cols = {c: table.column(c).to_pylist() for c in wanted}
    cells = 0
    for k in order:
        for i in index.get(k, []):
            entry = values[k]
            if not entry:
                continue
            for c in wanted:
                old = old_cols[c][i]
                new = entry[c][0] if c in entry else old
                new_cols[c].append(new)
                if c in entry:
                    cells += 1
                    if new != old and len(preview_rows) < PREVIEW_ROWS:
                        preview_rows.append((k, c, _text(old), _text(new)))
            take.append(i)
    preview = pa.table(
        {name: pa.array([r[j] for r in preview_rows], pa.string())
         for j, name in enumerate(("key", "field", "old", "new"))}
    )
    update = None
    if take:
        idx = pa.array(take, pa.int64())
        arrays = {"_rowid": table.column("_rowid").take(idx), "_rowaddr": table.column("_rowaddr").take(idx)}
        for c in wanted:
            arrays[c] = pa.array(new_cols[c], definitions[c].arrow_type)
        update = pa.table(arrays)
    return AnnotationPlan(
        path=str(path), key=key, fields=wanted, rows_in_file=rows_in_file,
        matched_keys=len(order) - len(unmatched), unmatched_keys=unmatched, rows=len(take), cells=cells,
        preview=preview, version=ds.version, update=update,
    )


def annotate(
    catalog: Catalog,
    plan: AnnotationPlan,
    *,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> EditReport:
    """Write a plan made by :func:`plan_annotations` as one catalog version.

    Raises
    ------
    SchemaError
        If the catalog changed since the plan was made (make the plan again).
    """
    cancel = cancel or CancelToken()
    if plan.update is None or plan.update.num_rows == 0:
        return EditReport(catalog.version, 0, plan.fields, "no row matched; nothing changed")
    if catalog.refresh() != plan.version:
        raise SchemaError("the catalog changed since the preview; preview the file again")
    ds = catalog.dataset()
    message = (
        f"annotate from {Path(plan.path).name} by {plan.key}: {plan.rows:,} row(s), "
        f"{', '.join(plan.fields)}"
    )
    version = _write_columns(catalog, ds, plan.update, plan.fields, message, progress, cancel)
    return EditReport(version, plan.rows, plan.fields, message)


def field_default(f: pa.Field) -> Any:
    """The default of a user field (``None`` if it has none): the value rows imported later get."""
    if not f.metadata or META not in f.metadata or f.name in BUILTIN_NAMES:
        return None
    return _definition(f).default
