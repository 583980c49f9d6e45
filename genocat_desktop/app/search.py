"""Search, its provenance and export, and the pairwise alignment of a hit.

The GUI and the CLI search through :func:`search_request_job` and export hits
through :func:`write_hits`, so the parameters recorded in an export (its
``#`` provenance lines) are built in one place, :func:`search_provenance`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genocat_desktop.app.catalog import FilterSpec, Session, conditions_from

if TYPE_CHECKING:
    from genocat_desktop.app.jobs import Job, ProgressCallback
    from genocat_desktop.engine import CancelToken, Condition, Query, SearchResult
    from genocat_desktop.engine.search.alignment import PairAlignment

__all__ = [
    "MAX_QUERY_TEXT",
    "SearchOutcome",
    "SearchRequest",
    "align_job",
    "export_hits_job",
    "read_query_file_job",
    "search_job",
    "search_provenance",
    "search_request_job",
    "warm_search_job",
    "write_hits",
]

#: Largest query file shown in the query box (bigger ones are searched from the file).
MAX_QUERY_TEXT = 2_000_000
#: Queries named in the provenance of a GUI search before "...".
NAMED_QUERIES = 20


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One search: the queries, the filters and how the hits are ranked.

    Attributes
    ----------
    queries
        The engine's queries (``read_queries``).
    k
        Hits per query.
    conditions
        Filters; every one must hold.
    column
        The vector column searched (``None``: the catalog's default).
    align
        Align the best candidates to the query (Smith-Waterman) and add the alignment columns.
    candidates
        With ``align``: candidates aligned (``None``: the engine's default, 10 × k).
    rank_by
        With ``align``: ``"alignment"`` or ``"embedding"`` order.
    source
        How several queries were given (a file name, or their ids), for the provenance.
    filter_text
        The filters in the user's words, for the provenance.
    """

    queries: list[Query]
    k: int
    conditions: list[Condition] = dataclasses.field(default_factory=list)
    column: str | None = None
    align: bool = False
    candidates: int | None = None
    rank_by: str = "alignment"
    source: str = ""
    filter_text: str = ""


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """Search results and the parameters that produced them (recorded in exports)."""

    results: list[SearchResult]
    parameters: dict[str, object]


def search_provenance(request: SearchRequest, location: str, first: SearchResult) -> dict[str, object]:
    """The parameters of a search, as the ``#`` lines of its export record them.

    Parameters
    ----------
    request
        The search.
    location
        The catalog searched.
    first
        The first query's result (the version and embedding searched).
    """
    one = len(request.queries) == 1
    return {
        "query": request.queries[0].id if one else request.source,
        "catalog": location,
        "version": first.version,
        "embedding": first.column,
        "filter": request.filter_text or "none",
        "hits per query": request.k,
        "alignment": f"Smith-Waterman BLOSUM62 11/1, {request.rank_by} order" if request.align else "none",
    }


def search_request_job(session: Session, request: SearchRequest) -> Job[SearchOutcome]:
    """Run one :class:`SearchRequest` with the session's searcher; returns a :class:`SearchOutcome`."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> SearchOutcome:
        results = session.searcher.search_many(
            request.queries, k=request.k, conditions=request.conditions, column=request.column,
            align=request.align, candidates=request.candidates, rank_by=request.rank_by,
            progress=progress, cancel=cancel,
        )
        return SearchOutcome(results, search_provenance(request, session.catalog.location, results[0]))

    return run


def search_job(
    session: Session,
    query: str,
    *,
    k: int,
    filters: Sequence[FilterSpec] = (),
    description: str = "",
    column: str | None = None,
    align: bool = False,
) -> Job[SearchOutcome]:
    """Search ``query`` (FASTA text, bare sequence or a file path) as the window asks; returns a :class:`SearchOutcome`.

    With ``align``, the best candidates by embedding are aligned to the query
    (Smith-Waterman, the engine's re-ranking) and ranked by alignment score.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> SearchOutcome:
        from genocat_desktop.engine import Condition, read_queries

        conditions = conditions_from(filters)
        if description.strip():
            conditions.append(Condition("description", "contains", description.strip()))
        queries = read_queries(query)
        ids = ", ".join(q.id for q in queries[:NAMED_QUERIES]) + (" ..." if len(queries) > NAMED_QUERIES else "")
        request = SearchRequest(queries, k, conditions, column=column, align=align, source=ids,
                                filter_text=" AND ".join(str(c) for c in conditions))
        return search_request_job(session, request)(progress, cancel)

    return run


def write_hits(outcome: SearchOutcome, path: str | os.PathLike[str], rows: dict[int, list[int]] | None = None) -> int:
    """Export hits to CSV (with the search's provenance) or FASTA, by the file's suffix.

    Parameters
    ----------
    outcome
        The search.
    path
        ``.csv``/``.tsv``/``.txt`` or a FASTA suffix.
    rows
        Limits each query's hits (by result index) to these positions; ``None`` exports them all.

    Returns
    -------
    int
        The number of rows written.
    """
    from genocat_desktop.engine import export_hits

    results = outcome.results
    if rows is not None:
        results = [
            dataclasses.replace(r, hits=r.hits.take(sorted(rows[i])))
            for i, r in enumerate(results) if rows.get(i)
        ]
    comments = dict(outcome.parameters)
    if rows is not None:
        comments["rows"] = "selected hits only"
    return export_hits(results, path, comments=comments)


def export_hits_job(outcome: SearchOutcome, path: str, rows: dict[int, list[int]] | None = None) -> Job[int]:
    """Export hits to CSV or FASTA (by suffix); ``rows`` limits each query's hits to those positions.

    Returns the number of rows written.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> int:
        return write_hits(outcome, path, rows)

    return run


def align_job(session: Session, query: str, target: str) -> Job[PairAlignment]:
    """Align a hit to its query (in the session's aligner process); returns a ``PairAlignment``."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> PairAlignment:
        from genocat_desktop.engine import InputError

        try:
            return session.aligner.align(query, target, lambda: bool(cancel.cancelled))
        except ValueError as exc:
            raise InputError(str(exc)) from None

    return run


def warm_search_job(session: Session) -> Job[None]:
    """Load the open catalog's vectors for search (in RAM, or the index's re-ranking copy).

    Without it the first search paid for it: a second at 100k rows, several
    at 1M rows. Cancelled by quitting, between fragments.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        session.searcher.warm(cancel=cancel)

    return run


def read_query_file_job(path: str) -> Job[str]:
    """Read a FASTA query file; returns its queries as FASTA text (or the path, if very large)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> str:
        from genocat_desktop.engine import read_queries

        queries = read_queries(Path(path))
        text = "\n".join(f">{q.id}\n{q.sequence}" for q in queries)
        return text if len(text) <= MAX_QUERY_TEXT else path

    return run
