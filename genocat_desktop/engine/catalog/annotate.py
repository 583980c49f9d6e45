"""Annotations from a spreadsheet: preview (:func:`plan_annotations`), then write (:func:`annotate`).

A CSV or TSV file keyed by accession, id or ``seq_hash`` fills user fields of
the matching catalog rows in one version, through :func:`.values.write_columns`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from genocat_desktop.engine.catalog.commits import retry_conflicts
from genocat_desktop.engine.catalog.definitions import EditReport, UserField, show_value
from genocat_desktop.engine.catalog.fields import editable_field, parse_value
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.catalog.values import write_columns
from genocat_desktop.engine.catalog.writers import writes_files
from genocat_desktop.engine.core.errors import InputError, SchemaError
from genocat_desktop.engine.core.progress import CancelToken, ProgressCallback, no_progress

__all__ = ["ANNOTATION_KEYS", "PREVIEW_ROWS", "AnnotationPlan", "annotate", "plan_annotations"]

#: Catalog columns a spreadsheet of annotations can be keyed by.
ANNOTATION_KEYS: Final = ("accession", "id", "seq_hash")
#: How many changed rows an annotation preview holds.
PREVIEW_ROWS: Final = 50


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
    key_column: str | None = None  # the spreadsheet column of the keys (to make the plan again)

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
    sheet = _Sheet(path, *_read_table(path), key_column or key)
    if sheet.key_column not in sheet.header:
        raise InputError(f"{path.name} has no column {sheet.key_column!r} to match by {key}; "
                         f"its columns: {', '.join(sheet.header)}")
    definitions = _fields_to_fill(catalog, sheet, columns)
    values, order = _cell_values(sheet, definitions)
    ds = catalog.dataset()
    # Find the catalog rows of every key in one pass over the key column.
    table = ds.to_table(columns=[key, *definitions], with_row_id=True, with_row_address=True)
    index: dict[str, list[int]] = {}
    for i, k in enumerate(table.column(key).to_pylist()):
        if k is not None and k in values:
            index.setdefault(k, []).append(i)
    unmatched = [k for k in order if k not in index]
    take, update, preview, cells = _changes(table, definitions, values, [(k, index.get(k, [])) for k in order])
    return AnnotationPlan(
        path=str(path), key=key, fields=list(definitions), rows_in_file=sheet.rows_in_file,
        matched_keys=len(order) - len(unmatched), unmatched_keys=unmatched, rows=len(take), cells=cells,
        preview=preview, version=ds.version, update=update, key_column=sheet.key_column,
    )


@dataclass(frozen=True, slots=True)
class _Sheet:
    """A spreadsheet as read: its header, data rows (all text) and the column holding the keys."""

    path: Path
    header: list[str]
    data: list[list[str]]
    key_column: str

    @property
    def rows_in_file(self) -> int:
        """Data rows with at least one non-empty cell."""
        return sum(1 for row in self.data if any(cell.strip() for cell in row))


def _fields_to_fill(catalog: Catalog, sheet: _Sheet, columns: Sequence[str] | None) -> dict[str, UserField]:
    """The user fields the sheet fills (``columns``, or every column but the key), with their definitions."""
    name, header = sheet.path.name, sheet.header
    wanted = list(columns) if columns else [h for h in header if h != sheet.key_column and h]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise InputError(f"{name} has no column {missing[0]!r}; its columns: {', '.join(header)}")
    if not wanted:
        raise InputError(f"{name} has no column besides the key {sheet.key_column!r}: nothing to fill")
    definitions = {}
    for c in wanted:
        if c not in catalog.schema.names:
            raise SchemaError(
                f"the column {c!r} of {name} is not a field of the catalog; add it first "
                f"(genocat schema add {c} TYPE) or leave it out"
            )
        definitions[c] = editable_field(catalog, c)
    return definitions


def _cell_values(
    sheet: _Sheet, definitions: dict[str, UserField]
) -> tuple[dict[str, dict[str, tuple[Any, int]]], list[str]]:
    """Parse every non-empty cell: ``key -> {field: (value, line)}``, and the keys in file order.

    Empty cells are left out (they keep the catalog's value); a key given twice
    must not have two different values for a field.
    """
    name = sheet.path.name
    key_index = sheet.header.index(sheet.key_column)
    positions = {c: sheet.header.index(c) for c in definitions}
    values: dict[str, dict[str, tuple[Any, int]]] = {}
    order: list[str] = []
    for line, row in enumerate(sheet.data, start=2):
        if not any(cell.strip() for cell in row):
            continue
        k = row[key_index].strip() if key_index < len(row) else ""
        if not k:
            raise InputError(f"{name}, line {line}: the key column {sheet.key_column!r} is empty")
        entry = values.get(k)
        if entry is None:
            entry = values[k] = {}
            order.append(k)
        for c, pos in positions.items():
            cell = row[pos] if pos < len(row) else ""
            try:
                parsed = parse_value(definitions[c], cell)
            except InputError as exc:
                raise InputError(f"{name}, line {line}, column {c!r}: {exc}") from None
            if parsed is None:
                continue
            if c in entry and entry[c][0] != parsed:
                raise InputError(
                    f"{name}: key {k!r} has two different values for {c!r} "
                    f"(line {entry[c][1]}: {show_value(entry[c][0])}, line {line}: {show_value(parsed)})"
                )
            entry[c] = (parsed, line)
    return values, order


def _changes(
    table: pa.Table,
    definitions: dict[str, UserField],
    values: dict[str, dict[str, tuple[Any, int]]],
    matches: list[tuple[str, list[int]]],
) -> tuple[list[int], pa.Table | None, pa.Table, int]:
    """The catalog rows to write, the update table, the preview and the number of cells written.

    ``matches`` pairs each key (in file order) with the indices of its rows in ``table``.
    """
    wanted = list(definitions)
    take: list[int] = []
    new_cols: dict[str, list[Any]] = {c: [] for c in wanted}
    preview_rows: list[tuple[str, str, str, str]] = []
    old_cols = {c: table.column(c).to_pylist() for c in wanted}
    cells = 0
    for k, rows in matches:
        entry = values[k]
        if not entry:
            continue
        for i in rows:
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
    return take, update, preview, cells


@writes_files("annotate")
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
    token = cancel
    planned = [plan]

    def attempt() -> EditReport:
        current = planned[0]
        if catalog.refresh() != current.version:
            # Lost to another process's commit: the same file planned again on the latest data.
            current = planned[0] = plan_annotations(catalog, current.path, key=current.key,
                                                    key_column=current.key_column, columns=current.fields)
            if current.update is None or current.update.num_rows == 0:
                return EditReport(catalog.version, 0, current.fields, "no row matched; nothing changed")
        message = (
            f"annotate from {Path(current.path).name} by {current.key}: {current.rows:,} row(s), "
            f"{', '.join(current.fields)}"
        )
        assert current.update is not None
        version = write_columns(catalog, catalog.dataset(), current.update, current.fields, message, progress, token)
        return EditReport(version, current.rows, current.fields, message)

    return retry_conflicts(attempt, catalog=catalog, cancel=token)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)

