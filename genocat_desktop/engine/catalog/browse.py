"""Paging through catalog rows with filters and sorting, without loading the catalog.

The desktop app's catalog browser (and anything else that shows "rows 201-400
of 1,234,567") asks for one page at a time. Lance evaluates the filter, the
sort (a top-k over ``offset + limit`` rows, so memory is bounded by the page,
not the catalog) and the offset; only the page's rows, without their vectors,
reach Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from genocat_desktop.engine.catalog.query import Condition, to_sql
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import FilterError

__all__ = ["PAGE_SIZE", "BrowsePage", "browse_page", "browse_sql", "browse_table"]

PAGE_SIZE: Final = 200


@dataclass(frozen=True, slots=True)
class BrowsePage:
    """One page of catalog rows.

    Attributes
    ----------
    rows
        The page (every column except vectors), at most ``limit`` rows.
    offset
        Position of the first row of the page among all matching rows.
    total
        Number of rows matching the filter.
    version
        Catalog version the page was read from.
    filter
        The Lance SQL predicate used, or ``None``.
    """

    rows: pa.Table
    offset: int
    total: int
    version: int
    filter: str | None


def browse_sql(catalog: Catalog, conditions: Sequence[Condition] = (), text: str | None = None) -> str | None:
    """The SQL predicate for ``conditions`` plus a free-text search of descriptions.

    ``text`` matches rows whose description, name or identifier contains it
    (case-insensitive): a biologist typing "kinase" means any of the three.

    Raises
    ------
    FilterError
        If a condition is invalid for the catalog's schema.
    """
    schema = catalog.schema
    sql = to_sql(conditions, schema)
    text = (text or "").strip()
    if text:
        parts = [
            to_sql([Condition(field, "contains", text)], schema)
            for field in ("description", "name", "id")
            if field in schema.names
        ]
        either = " OR ".join(p for p in parts if p)
        if either:
            sql = f"({sql}) AND ({either})" if sql else f"({either})"
    return sql


def _columns(catalog: Catalog) -> list[str]:
    vectors = set(catalog.vector_columns())
    return [c for c in catalog.schema.names if c not in vectors]


def browse_page(
    catalog: Catalog,
    *,
    conditions: Sequence[Condition] = (),
    text: str | None = None,
    sort: str | None = None,
    descending: bool = False,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> BrowsePage:
    """Read one page of rows that match ``conditions`` (and ``text``), sorted by ``sort``.

    Parameters
    ----------
    catalog
        The catalog (its latest version is read).
    conditions
        Metadata filters, all of which must hold.
    text
        Free text searched in descriptions, names and identifiers.
    sort
        Column to sort by (``None``: import order). Rows with no value come last.
    descending
        Sort from largest to smallest.
    offset, limit
        Which rows of the sorted result to return.

    Raises
    ------
    FilterError
        On an invalid filter or an unknown/unsortable sort column.
    """
    from lance.dataset import ColumnOrdering

    catalog.refresh()
    ds = catalog.dataset()
    sql = browse_sql(catalog, conditions, text)
    columns = _columns(catalog)
    order = None
    if sort is not None:
        if sort not in columns:
            raise FilterError(f"cannot sort by {sort!r}; it is not a field of the catalog")
        dtype = ds.schema.field(sort).type
        if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
            raise FilterError(f"{sort!r} is a list and cannot be sorted")
        order = [ColumnOrdering(sort, ascending=not descending, nulls_first=False)]
    total = int(ds.count_rows(sql))
    offset = max(0, min(offset, max(total - 1, 0)))
    # A stable order without a sort column: Lance scans fragments in parallel,
    # so without scan_in_order two reads of "page 3" could differ.
    table = ds.to_table(
        columns=columns, filter=sql, limit=max(0, limit), offset=offset, order_by=order, scan_in_order=True
    )
    return BrowsePage(table, offset, total, int(ds.version), sql)


def browse_table(
    catalog: Catalog, *, conditions: Sequence[Condition] = (), text: str | None = None, limit: int | None = None
) -> pa.Table:
    """Every row (without vectors) matching ``conditions``/``text``, for export."""
    catalog.refresh()
    sql = browse_sql(catalog, conditions, text)
    return catalog.dataset().to_table(columns=_columns(catalog), filter=sql, limit=limit, scan_in_order=True)
