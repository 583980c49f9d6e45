"""Full-text search of the descriptions: BM25 through the full-text index, else a substring scan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.query import Condition, to_sql
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.core.process import configure_process
from genocat_desktop.engine.search.ann import index_kind
from genocat_desktop.engine.search.lance_errors import storage_errors

__all__ = ["TEXT_FIELD", "text_search"]

#: The field the full-text index covers (built by :func:`~genocat_desktop.engine.search.indexes.build_indexes`).
TEXT_FIELD: Final = "description"


def text_search(
    catalog: Catalog,
    text: str,
    *,
    k: int = 50,
    conditions: Sequence[Condition] = (),
    field: str = TEXT_FIELD,
) -> pa.Table:
    """Find rows whose ``field`` (the FASTA description) contains the words of ``text``.

    With the full-text index (built by :func:`~genocat_desktop.engine.search.indexes.build_indexes`) this is a BM25
    ranked search (``"heat shock"`` in quotes is a phrase); without it, a
    case-insensitive substring scan of the whole column (exact, slower).

    Returns
    -------
    pyarrow.Table
        ``rank``, ``score`` (BM25, or 1.0 for the substring scan) and the row's
        columns (no vectors), best first.

    Raises
    ------
    QueryError
        If ``text`` is empty.
    FilterError
        If a condition is invalid.
    """
    configure_process()
    words = text.strip()
    if not words:
        raise QueryError("the text query is empty")
    ds = catalog.dataset()
    sql = to_sql(conditions, ds.schema)
    columns = [c for c in ds.schema.names if c not in catalog.vector_columns()]
    indexed = any(
        index_kind(d.index_type) == "text" and field in d.field_names for d in ds.describe_indices()
    )
    with storage_errors(catalog, "search the text of"):
        if indexed:
            query: Any = {"query": words, "columns": [field]}
            if words.startswith('"') and words.endswith('"') and len(words) > 2:
                from lance.query import PhraseQuery

                query = PhraseQuery(words.strip('"'), field)
            table = ds.to_table(
                columns=[*columns, "_score"], full_text_query=query, filter=sql, prefilter=True, limit=k
            )
            scores = table.column("_score").to_numpy()
            table = table.drop_columns(["_score"])
        else:
            escaped = words.strip('"').lower().replace("\\", "\\\\").replace("'", "''").replace("%", "\\%")
            like = f"lower(`{field}`) LIKE '%{escaped}%'"
            table = ds.to_table(columns=columns, filter=like if sql is None else f"({sql}) AND {like}", limit=k)
            scores = np.ones(table.num_rows)
    order = np.argsort(-scores, kind="stable")
    table = table.take(order)
    scores = scores[order]
    table = table.add_column(0, "score", pa.array(np.round(scores.astype(np.float64), 6)))
    return table.add_column(0, "rank", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int32)))
