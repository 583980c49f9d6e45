"""Writing values into user fields: one value on chosen rows, or one value per row.

Each edit is one catalog version that writes, per touched fragment, one new
data file holding only the edited fields (``rewrite_columns`` mode): the files
holding sequences and vectors are never rewritten (see :mod:`.schema`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.commits import retry_conflicts
from genocat_desktop.engine.catalog.definitions import EditReport, show_value
from genocat_desktop.engine.catalog.fields import discard_fragments, editable_field, parse_value
from genocat_desktop.engine.catalog.query import Condition, to_sql
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.catalog.writers import writes_files
from genocat_desktop.engine.core.errors import InputError, SchemaError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress

if TYPE_CHECKING:
    import lance

__all__ = ["set_cells", "set_values", "write_columns"]


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


@writes_files("values")
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
    token = cancel or CancelToken()
    # Rebuilt from the latest data after losing to another process's commit (rows may have moved).
    return retry_conflicts(
        lambda: _set_values_once(catalog, name, value, hashes, conditions, all_rows, progress, token),
        catalog=catalog, cancel=token,
    )


def _set_values_once(
    catalog: Catalog,
    name: str,
    value: Any,
    hashes: Sequence[str] | None,
    conditions: Sequence[Condition],
    all_rows: bool,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> EditReport:
    catalog.refresh()
    definition = editable_field(catalog, name)
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
        message = f"set {name} = {show_value(parsed)} on {rows.num_rows:,} row(s) ({where})"
    if rows.num_rows == 0:
        return EditReport(ds.version, 0, [name], "no row matched; nothing changed")
    values = pa.array([parsed] * rows.num_rows, definition.arrow_type)
    update = pa.table({"_rowid": rows.column("_rowid"), "_rowaddr": rows.column("_rowaddr"), name: values})
    version = write_columns(catalog, ds, update, [name], message, progress, cancel)
    return EditReport(version, rows.num_rows, [name], message)


@writes_files("values")
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
    token = cancel or CancelToken()
    return retry_conflicts(lambda: _set_cells_once(catalog, name, values, progress, token),
                           catalog=catalog, cancel=token)


def _set_cells_once(
    catalog: Catalog, name: str, values: Mapping[str, Any], progress: ProgressCallback, cancel: CancelToken
) -> EditReport:
    catalog.refresh()
    definition = editable_field(catalog, name)
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
    version = write_columns(catalog, ds, update, [name], message, progress, cancel)
    return EditReport(version, len(parsed), [name], message)


def write_columns(
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
        discard_fragments(catalog, written)
        raise

