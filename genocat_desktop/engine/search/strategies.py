"""How one search finds its hits: one strategy object per search of a catalog version.

:meth:`Searcher.search_many <genocat_desktop.engine.search.searcher.Searcher.search_many>`
picks one of these for the version it searches, the filter and the vectors it
holds in RAM, then asks it for each query's hits:

* :class:`MemoryScan`: exact, the float32 matrix in RAM (a filter is a mask).
* :class:`LanceScan`: exact, Lance's flat scan (no index, vectors beyond the memory budget).
* :class:`LanceIndex`: through the ANN index, Lance refining the candidates from its data files.
* :class:`RefinedIndex`: through the ANN index, the candidates refined with the half-precision copy
  (in RAM, or read from files on this machine for a catalog too large for RAM: :mod:`.refine_files`).
* :class:`SubsetScan`: exact, the float32 vectors of the rows passing a filter (an indexed catalog).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.search.ann import SearchEffort, VectorIndexRef, ann_candidates, ann_search
from genocat_desktop.engine.search.refine_files import FileVectors
from genocat_desktop.engine.search.scan import scan_scores, top_k
from genocat_desktop.engine.search.vectors import ExactMatrix, FilteredSubset, RefinementCopy

__all__ = ["Found", "LanceIndex", "LanceScan", "MemoryScan", "RefinedIndex", "Strategy", "SubsetScan"]

#: Queries given as vectors are scored one block at a time: one matrix-matrix product runs BLAS at full speed.
QUERY_BLOCK: Final = 64


@dataclass(slots=True)
class Found:
    """One query's hits before ranking is added: rows and scores, best first.

    ``strategy`` names the path taken (``"memory"``, ``"scan"``, ``"index"``,
    ``"exact-filtered"``); ``refine`` who refined ANN candidates (``"memory"``,
    ``"files"``: the copy kept in files, ``"lance"``, ``None`` when there were none).
    """

    rows: pa.Table
    scores: np.ndarray
    exact: bool
    strategy: str
    refine: str | None = None
    #: The rows' addresses where the strategy knows them without a read (the exact matrix in RAM).
    ids: np.ndarray | None = None


class Strategy:
    """Finds one query's hits; ``passing`` is the number of rows that pass the filter."""

    passing: int = 0
    #: The catalog's rows held in RAM beside the vectors (``None``: read from Lance).
    held_rows: pa.Table | None = None

    def use_batch(self, vectors: np.ndarray) -> None:
        """Every query's vector, known before the first query (a strategy may score them in blocks)."""

    def find(self, n: int, vec: np.ndarray, fetch: int) -> Found:
        """The best ``fetch`` rows for query number ``n`` of the batch, whose vector is ``vec``."""
        raise NotImplementedError


class MemoryScan(Strategy):
    """Exact search of the float32 matrix in RAM; a filter is a mask over its rows."""

    def __init__(self, ds: Any, matrix: ExactMatrix, mask: np.ndarray | None, columns: list[str], select: bool
                 ) -> None:
        self.ds, self.matrix, self.mask, self.columns, self.select = ds, matrix, mask, columns, select
        self.passing = matrix.addresses.size if mask is None else int(mask.sum())
        self.held_rows = matrix.rows
        self.batch: np.ndarray | None = None
        self._block: np.ndarray | None = None

    def use_batch(self, vectors: np.ndarray) -> None:
        """Score the queries one block of :data:`QUERY_BLOCK` at a time (one matrix-matrix product each)."""
        self.batch = vectors

    def find(self, n: int, vec: np.ndarray, fetch: int) -> Found:
        """See :meth:`Strategy.find`."""
        matrix = self.matrix
        row_scores = None
        if self.batch is not None and matrix.vectors.shape[0]:
            if n % QUERY_BLOCK == 0:
                self._block = self.batch[n : n + QUERY_BLOCK] @ matrix.vectors.T
            assert self._block is not None
            row_scores = self._block[n % QUERY_BLOCK]
        scores, top = top_k(matrix.vectors, vec, fetch, self.mask, row_scores)
        if matrix.rows is not None:
            rows = matrix.rows.take(top)
            if self.select:
                rows = rows.select(self.columns)
        elif top.size:
            rows = self.ds._take_rows(matrix.addresses[top].tolist(), columns=self.columns)
        else:
            rows = self.ds.to_table(columns=self.columns, limit=0)
        return Found(rows, scores, True, "memory", ids=matrix.addresses[top])


class LanceScan(Strategy):
    """Exact search by Lance's flat scan: no vector index on the column, vectors beyond the memory budget."""

    def __init__(self, ds: Any, column: str, sql: str | None, columns: list[str], passing: int) -> None:
        self.ds, self.column, self.sql, self.columns, self.passing = ds, column, sql, columns, passing

    def find(self, n: int, vec: np.ndarray, fetch: int) -> Found:
        """See :meth:`Strategy.find`."""
        table = self.ds.to_table(
            columns=[*self.columns, "_distance"],
            nearest={"column": self.column, "q": vec, "k": fetch, "metric": "cosine", "use_index": False},
            filter=self.sql,
            prefilter=True,
        )
        return Found(table.drop_columns(["_distance"]), 1.0 - table.column("_distance").to_numpy(), True, "scan")


class LanceIndex(Strategy):
    """Search through the ANN index, Lance refining the candidates (or scanning when a filter bypasses it)."""

    def __init__(self, ds: Any, index: VectorIndexRef, sql: str | None, columns: list[str], passing: int,
                 effort: SearchEffort) -> None:
        self.ds, self.index, self.sql, self.columns, self.passing = ds, index, sql, columns, passing
        self.effort = effort

    def find(self, n: int, vec: np.ndarray, fetch: int) -> Found:
        """See :meth:`Strategy.find`."""
        table, exact = ann_search(
            self.ds, self.index, vec, fetch, sql=self.sql, columns=self.columns, candidates=self.passing,
            effort=self.effort,
        )
        scores = 1.0 - table.column("_distance").to_numpy()
        rows = table.drop_columns(["_distance"])
        return Found(rows, scores, exact, "exact-filtered" if exact else "index", None if exact else "lance")


class RefinedIndex(Strategy):
    """Search through the ANN index, the candidates refined with the half-precision copy (RAM or files).

    With ``allowed`` (the sorted row ids passing the filter) the candidates are
    post-filtered; a filter that bypasses the index scores every passing row
    with the copy (Lance's flat scan of 990 of 1M rows took ~30 ms). A
    candidate missing from the copy hands the query to Lance (``fallback``).
    """

    def __init__(self, fallback: LanceIndex, copy: RefinementCopy, allowed: np.ndarray | None) -> None:
        self.fallback, self.copy, self.allowed = fallback, copy, allowed
        self.passing = fallback.passing
        self.held_rows = None

    def find(self, n: int, vec: np.ndarray, fetch: int) -> Found:
        """See :meth:`Strategy.find`."""
        lance = self.fallback
        found = ann_candidates(
            lance.ds, lance.index, vec, fetch, sql=lance.sql, candidates=self.passing, effort=lance.effort,
            allowed=self.allowed,
        )
        exact = found is None
        if found is None:
            assert self.allowed is not None
            found = self.allowed
        ranked = refined(lance.ds, self.copy, vec, found, fetch, lance.columns)
        if ranked is None:
            return lance.find(n, vec, fetch)
        rows, scores = ranked
        where = "files" if isinstance(self.copy.vectors, FileVectors) else "memory"
        return Found(rows, scores, exact, "exact-filtered" if exact else "index", where)


class SubsetScan(Strategy):
    """Exact search of the float32 vectors of the rows passing the filter (few enough to search them all)."""

    def __init__(self, ds: Any, subset: FilteredSubset, copy: RefinementCopy, columns: list[str]) -> None:
        self.ds, self.subset, self.copy, self.columns = ds, subset, copy, columns
        self.passing = int(subset.ids.size)

    def find(self, n: int, vec: np.ndarray, fetch: int) -> Found:
        """See :meth:`Strategy.find`."""
        scores = scan_scores(self.subset.vectors, vec.astype(np.float32))
        rows, ranked_scores = ranked_rows(self.ds, self.subset.ids, scores, fetch, self.columns, self.copy)
        return Found(rows, ranked_scores, True, "exact-filtered", "memory")


def refined(
    ds: Any, copy: RefinementCopy, vec: np.ndarray, found: np.ndarray, k: int, columns: list[str]
) -> tuple[pa.Table, np.ndarray] | None:
    """The best ``k`` of the ANN candidates ``found`` (row ids), scored with the refinement copy.

    Returns ``None`` if a candidate is missing from the copy (then Lance refines).
    """
    ids = copy.ids
    if ids.size == 0:
        return None
    pos = np.minimum(np.searchsorted(ids, found), ids.size - 1)
    if not bool(np.all(ids[pos] == found)):
        return None
    try:
        held = copy.vectors[pos]
    except OSError:  # a file of a copy kept in files went missing (another process's cleanup)
        return None
    # Half-precision vectors, float32 arithmetic: within 1e-4 of the float32 score (6.6e-5 at most
    # on 1M synthetic 320-d rows), so the order of any two hits is right unless they are that close.
    scores = held.astype(np.float32) @ vec.astype(np.float32)
    return ranked_rows(ds, found, scores, k, columns, copy)


def ranked_rows(
    ds: Any, found: np.ndarray, scores: np.ndarray, k: int, columns: list[str], copy: RefinementCopy | None = None
) -> tuple[pa.Table, np.ndarray]:
    """The rows of the best ``k`` of the row ids ``found`` by ``scores``, best first, and their scores.

    Fields held in ``copy.rows`` come from RAM, the sequences from the copy's files where it keeps them,
    the others from one Lance take.
    """
    if found.size > k:
        keep = np.argpartition(-scores, k - 1)[:k]
        found, scores = found[keep], scores[keep]
    # Best first; ties broken by row id, as exact search breaks them by position.
    order = np.lexsort((found, -scores))
    found, scores = found[order], scores[order]
    if not found.size:
        return ds.to_table(columns=columns, limit=0), scores
    held = copy.rows if copy is not None else None
    if held is None:
        return ds._take_rows(found.tolist(), columns=columns), scores
    assert copy is not None
    positions = np.searchsorted(copy.ids, found)
    cached = held.select([c for c in columns if c in held.column_names]).take(positions)  # the asked ones only
    missing = [c for c in columns if c not in cached.column_names]
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {c: cached.column(c) for c in cached.column_names}
    fields = {f.name: f for f in cached.schema}
    text = copy.sequences
    if text is not None and text.field.name in missing:
        # A copy kept in files holds the sequences too: one read each instead of a Lance take.
        with contextlib.suppress(OSError):  # a file gone missing: Lance reads them
            arrays[text.field.name] = text.take(positions)
            fields[text.field.name] = text.field
    rest = [c for c in missing if c not in arrays]
    if rest:
        read = ds._take_rows(found.tolist(), columns=rest)
        arrays.update({c: read.column(c) for c in rest})
        fields.update({c: read.schema.field(c) for c in rest})
    schema = pa.schema([fields[c] for c in columns])
    return pa.Table.from_arrays([arrays[c] for c in columns], schema=schema), scores
