"""Search, its provenance and export, and the pairwise alignment of a hit.

The GUI and the CLI search through :func:`search_request_job` and export hits
through :func:`write_hits`, so the parameters recorded in an export (the
``NAME.provenance.json`` side file of a CSV/TSV, the ``provenance`` of a JSON
file) are built in one place, :func:`search_provenance`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genocat_desktop.app.catalog import FilterSpec, Session, conditions_from
from genocat_desktop.engine.core.molecules import is_nucleotide

if TYPE_CHECKING:
    import numpy as np

    from genocat_desktop.app.jobs import Job, ProgressCallback
    from genocat_desktop.engine import CancelToken, Condition, Query, SearchResult
    from genocat_desktop.engine.search.pairwise import PairAlignment

__all__ = [
    "ALIGNED_MODES",
    "DEFAULT_EVALUE_CUTOFF",
    "MAX_QUERY_TEXT",
    "SEARCH_MODES",
    "SearchOutcome",
    "SearchRequest",
    "accession_links",
    "align_job",
    "aligned_fasta",
    "aligned_fasta_job",
    "export_hits_job",
    "hits_fasta",
    "is_nucleotide",
    "read_query_file_job",
    "search_job",
    "search_provenance",
    "search_request_job",
    "warm_search_job",
    "write_hits",
]

#: The search modes as the fronts offer them: (mode, label, what it does). The engine's
#: :mod:`~genocat_desktop.engine.search.modes` defines them; ``auto`` is the default.
SEARCH_MODES: tuple[tuple[str, str, str], ...] = (
    ("auto", "Automatic", "The most sensitive mode the catalog's size allows: every sequence aligned on small\n"
     "catalogs, k-mer seeds then alignment on larger ones. The results say which ran."),
    ("fast", "Fast (embedding only)", "Embedding similarity only: milliseconds on any catalog, no alignment,\n"
     "no E-values. Close relatives rank well; distant homologues may be missed."),
    ("align", "Aligned embedding candidates", "The best candidates by embedding, aligned (Smith-Waterman) and\n"
     "ranked by bit score."),
    ("sensitive", "Sensitive (seeds + alignment)", "Candidates from substitution-tolerant k-mer seeds scored on\n"
     "diagonals (proteins), aligned and ranked by bit score: finds distant homologues in large catalogs."),
    ("exhaustive", "Exhaustive (align every sequence)", "Every sequence of the query's type aligned, as BLAST\n"
     "does: the most sensitive, slow on large catalogs."),
)
#: Modes whose hits carry alignment columns (bits, E-value, identity, coverage).
ALIGNED_MODES = frozenset({"align", "sensitive", "exhaustive"})
#: Largest query file shown in the query box (bigger ones are searched from the file).
MAX_QUERY_TEXT = 2_000_000
#: Queries named in the provenance of a GUI search before "...".
NAMED_QUERIES = 20
#: E-value at or below which a hit is called significant. BLAST's default of 10 is a reporting
#: limit, not a significance level: 1e-3 is the usual threshold for inferring homology from a
#: protein search of a large database (Pearson, Curr Protoc Bioinformatics 2013, 3.1).
DEFAULT_EVALUE_CUTOFF = 1e-3
#: Residues per line in the FASTA text written here.
FASTA_WIDTH = 60
#: UniProtKB accessions, as UniProt documents them (uniprot.org/help/accession_numbers).
UNIPROT_ACCESSION = re.compile(r"^([OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9]([A-Z][A-Z0-9]{2}[0-9]){1,2})(-\d+)?$")
#: RefSeq accessions: two letters and an underscore; the letters say protein or nucleotide.
REFSEQ_ACCESSION = re.compile(r"^(AP|NP|XP|YP|WP|ZP|AC|NC|NG|NM|NR|NT|NW|NZ|XM|XR)_[0-9]+(\.[0-9]+)?$")
#: GenBank/ENA/DDBJ protein ids (three letters, five or seven digits) and nucleotide accessions.
GENBANK_PROTEIN = re.compile(r"^[A-Z]{3}[0-9]{5}([0-9]{2})?(\.[0-9]+)?$")
GENBANK_NUCLEOTIDE = re.compile(r"^([A-Z][0-9]{5}|[A-Z]{2}[0-9]{6}|[A-Z]{2}[0-9]{8}|[A-Z]{4}[0-9]{8,10})(\.[0-9]+)?$")


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
        With ``align``: candidates aligned (``None``: the engine's default, max(10 × k, 100)).
    rank_by
        With ``align``: ``"alignment"`` or ``"embedding"`` order.
    source
        How several queries were given (a file name, or their ids), for the provenance.
    filter_text
        The filters in the user's words, for the provenance.
    mode
        The search mode (:data:`genocat_desktop.engine.search.modes.MODES`); ``None``: ``align``
        with ``align``, else ``fast``. ``auto`` picks by the catalog's size.
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
    mode: str | None = None

    @property
    def asked_mode(self) -> str:
        """The mode asked for, ``align``/``fast`` standing for the legacy ``align`` flag."""
        return self.mode if self.mode is not None else ("align" if self.align else "fast")


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """Search results and the parameters that produced them (recorded in exports).

    Attributes
    ----------
    results
        One result per query.
    parameters
        The search's provenance (:func:`search_provenance`).
    regions
        With alignment (GUI searches): per result, an ``int64`` array of shape
        ``(hits, 4)`` in hit order: query start, query end, hit start, hit end
        (0-based, end exclusive) of each hit's alignment; empty otherwise.
    """

    results: list[SearchResult]
    parameters: dict[str, object]
    regions: list[np.ndarray] = dataclasses.field(default_factory=list)

    @property
    def aligned(self) -> bool:
        """Whether the hits carry alignment columns (bits, E-value, identity, coverage)."""
        return bool(self.results) and "bits" in self.results[0].hits.column_names


def search_provenance(request: SearchRequest, location: str, first: SearchResult) -> dict[str, object]:
    """The parameters of a search, as its exports record them (the provenance side file, or JSON's).

    Parameters
    ----------
    request
        The search.
    location
        The catalog searched.
    first
        The first query's result (the version and embedding searched).

    Returns
    -------
    dict
        ``query`` (its id, or the source of several), ``queries`` (their number), ``catalog``,
        ``version``, ``embedding``, ``filter``, ``hits_per_query``, ``mode`` (as run, and why),
        ``alignment`` (the scoring of each molecule searched, and the order; ``"none"`` without),
        ``candidates`` (aligned ones), ``genocat_version`` and ``date`` (UTC, ISO 8601).
    """
    from datetime import UTC, datetime

    from genocat_desktop import __version__

    one = len(request.queries) == 1
    provenance: dict[str, object] = {
        "query": request.queries[0].id if one else request.source,
        "queries": len(request.queries),
        "catalog": location,
        "version": first.version,
        "embedding": first.column,
        "filter": request.filter_text or "none",
        "hits_per_query": request.k,
        "mode": mode_summary(first),
        "alignment": _alignment_text(request) if first_aligned(first) else "none",
    }
    if first.extra.get("mode") == "align":
        provenance["candidates"] = request.candidates or "default: max(10 × hits per query, 100)"
    elif "aligned_rows" in first.extra:
        provenance["candidates"] = f"{first.extra['aligned_rows']:,} rows aligned (first query)"
    provenance["genocat_version"] = __version__
    provenance["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    return provenance


def first_aligned(result: SearchResult) -> bool:
    """Whether a result's hits carry alignment columns."""
    return "bits" in result.hits.column_names


def mode_summary(result: SearchResult, *, short: bool = False) -> str:
    """The mode a search ran in and, when chosen automatically, why: ``"sensitive (auto: ...)"``.

    ``short``: without the why (``"sensitive (auto)"``), for a one-line summary.
    """
    mode = str(result.extra.get("mode", "fast"))
    reason = str(result.extra.get("mode_reason", ""))
    if result.extra.get("strategy") == "translated":
        return f"translated ({result.extra.get('translated', '')})"
    if not reason.startswith("auto"):
        return mode
    return f"{mode} (auto)" if short else f"{mode} ({reason})"


def _alignment_text(request: SearchRequest) -> str:
    """The alignment's scoring as used: one scheme per molecule among the queries, then the order."""
    from genocat_desktop.engine.search.scoring import scheme_for

    schemes = []
    for molecule in dict.fromkeys(q.molecule for q in request.queries):
        strands = ", both strands" if is_nucleotide(molecule) else ""
        schemes.append(f"{molecule}: {scheme_for(molecule).name}{strands}")
    return f"Smith-Waterman local ({'; '.join(schemes)}), {request.rank_by} order"


def search_request_job(session: Session, request: SearchRequest) -> Job[SearchOutcome]:
    """Run one :class:`SearchRequest` with the session's searcher; returns a :class:`SearchOutcome`."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> SearchOutcome:
        results = session.searcher.search_many(
            request.queries, k=request.k, conditions=request.conditions, column=request.column,
            align=request.align, candidates=request.candidates, rank_by=request.rank_by,
            progress=progress, cancel=cancel, mode=request.mode,
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
    mode: str | None = None,
) -> Job[SearchOutcome]:
    """Search ``query`` (FASTA text, bare sequence or a file path) as the window asks; returns a :class:`SearchOutcome`.

    ``mode`` is the search mode (the window's default is ``auto``); with ``align`` and no mode, the
    best candidates by embedding are aligned to the query and ranked by alignment score.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> SearchOutcome:
        from genocat_desktop.engine import Condition, read_queries

        conditions = conditions_from(filters)
        if description.strip():
            conditions.append(Condition("description", "contains", description.strip()))
        queries = read_queries(query)
        ids = ", ".join(q.id for q in queries[:NAMED_QUERIES]) + (" ..." if len(queries) > NAMED_QUERIES else "")
        request = SearchRequest(queries, k, conditions, column=column, align=align, source=ids,
                                filter_text=" AND ".join(str(c) for c in conditions), mode=mode)
        outcome = search_request_job(session, request)(progress, cancel)
        if outcome.aligned:
            outcome = dataclasses.replace(outcome, regions=[_regions(r) for r in outcome.results])
        return outcome

    return run


def _regions(result: SearchResult) -> np.ndarray:
    """Where each hit of ``result`` aligns (the hit list's own alignment, see ``query_regions``)."""
    from genocat_desktop.engine.search.alignment import query_regions

    hits = result.hits
    return query_regions(result.query.sequence, result.query.molecule, hits.column("sequence").to_pylist(),
                         hits.column("molecule").to_pylist())


def write_hits(
    outcome: SearchOutcome, path: str | os.PathLike[str], rows: dict[int, list[int]] | None = None,
    *, fmt: str | None = None,
) -> int:
    """Export hits to CSV, TSV, JSON or FASTA, with the search's provenance.

    CSV and TSV files start with their header; the provenance goes to the side
    file ``NAME.provenance.json`` next to them. A JSON file holds it as
    ``"provenance"`` next to ``"hits"``.

    Parameters
    ----------
    outcome
        The search.
    path
        The file; its suffix names the format unless ``fmt`` is given.
    rows
        Limits each query's hits (by result index) to these positions; ``None`` exports them all.
    fmt
        ``"csv"``, ``"tsv"``, ``"json"`` or ``"fasta"``; ``None``: by the suffix.

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
    provenance = dict(outcome.parameters)
    if rows is not None:
        provenance["rows"] = "selected hits only"
    return export_hits(results, path, fmt=fmt, provenance=provenance)


def export_hits_job(outcome: SearchOutcome, path: str, rows: dict[int, list[int]] | None = None) -> Job[int]:
    """Export hits to CSV, TSV, JSON or FASTA (by suffix); ``rows`` limits each query's hits to those positions.

    Returns the number of rows written.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> int:
        return write_hits(outcome, path, rows)

    return run


def align_job(session: Session, query: str, target: str, region: tuple[int, int] | None = None
              ) -> Job[PairAlignment]:
    """Align a hit to its query (in the session's aligner process); returns a ``PairAlignment``.

    ``region``: a located hit's ``hit_start``/``hit_end`` in a long record (only that part is aligned).
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> PairAlignment:
        from genocat_desktop.engine import InputError

        try:
            return session.aligner.align(query, target, lambda: bool(cancel.cancelled), region=region)
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


# ---------------------------------------------------------------------------- hit actions
def hits_fasta(rows: Sequence[dict[str, object]]) -> str:
    """Hits as FASTA text: ``>id description`` and the sequence in lines of 60 residues.

    Parameters
    ----------
    rows
        Hits as dicts with at least ``id`` and ``sequence`` (``description`` or ``name`` if present).
    """
    out = []
    for row in rows:
        title = str(row.get("description") or row.get("name") or "").strip()
        seq = str(row.get("sequence") or "")
        out.append(f">{row.get('id')}{' ' + title if title else ''}")
        out.extend(seq[i : i + FASTA_WIDTH] for i in range(0, len(seq), FASTA_WIDTH))
    return "\n".join(out) + "\n" if out else ""


def _accession(row: dict[str, object]) -> str:
    """The row's accession: its own field, else the middle of a ``db|ACC|name`` identifier, else the id."""
    accession = str(row.get("accession") or "").strip()
    if accession:
        return accession
    ident = str(row.get("id") or "").strip()
    parts = ident.split("|")
    if len(parts) >= 2 and parts[0] in ("sp", "tr", "ref", "gb", "emb", "dbj") and parts[1]:
        return parts[1]
    return ident


def accession_links(row: dict[str, object]) -> list[tuple[str, str]]:
    """Web pages for a hit's accession, as (label, URL): UniProt and/or NCBI, by the accession's form.

    UniProt accessions are recognised by UniProt's documented pattern, RefSeq by
    its two-letter prefix and underscore, GenBank/ENA/DDBJ by their letter and
    digit counts; an identifier of none of these forms gets no link.
    """
    accession = _accession(row)
    bare = accession.split(".")[0]
    links: list[tuple[str, str]] = []
    if UNIPROT_ACCESSION.match(accession) or str(row.get("db") or "") in ("sp", "tr"):
        links.append(("UniProt", f"https://www.uniprot.org/uniprotkb/{bare.split('-')[0]}/entry"))
    if REFSEQ_ACCESSION.match(accession):
        kind = "protein" if accession[:2] in ("AP", "NP", "XP", "YP", "WP", "ZP") else "nuccore"
        links.append(("NCBI RefSeq", f"https://www.ncbi.nlm.nih.gov/{kind}/{accession}"))
    elif GENBANK_PROTEIN.match(accession):
        links.append(("NCBI Protein", f"https://www.ncbi.nlm.nih.gov/protein/{accession}"))
    elif GENBANK_NUCLEOTIDE.match(accession) and not links:
        links.append(("NCBI Nucleotide", f"https://www.ncbi.nlm.nih.gov/nuccore/{accession}"))
    return links


def aligned_fasta(query_id: str, query: str, hits: Sequence[tuple[str, PairAlignment]]) -> str:
    """The query and its hits as one gapped, equal-length FASTA alignment (Jalview, AliView, MEGA read it).

    Each hit is placed by its pairwise alignment to the query (a query-anchored
    alignment, as BLAST's "query-anchored" view): residues aligned to the query
    share its columns, residues a hit inserts get columns of their own (gaps in
    the query and in the other hits), and the hit's unaligned ends are gaps.
    """
    length = len(query)
    # Per hit: the residue on each query position, and what it inserts before each position.
    placed: list[tuple[str, list[str], dict[int, str]]] = []
    widest: dict[int, int] = {}
    for ident, a in hits:
        cells = ["-"] * length
        inserts: dict[int, str] = {}
        p = a.query_start
        for q, t in zip(a.aligned_query, a.aligned_target, strict=True):
            if q == "-":
                inserts[p] = inserts.get(p, "") + t
            else:
                cells[p] = t
                p += 1
        for p, text in inserts.items():
            widest[p] = max(widest.get(p, 0), len(text))
        placed.append((ident, cells, inserts))

    def row(cells: Sequence[str], inserts: dict[int, str]) -> str:
        out = []
        for p in range(length):
            width = widest.get(p, 0)
            if width:
                out.append(inserts.get(p, "").ljust(width, "-"))
            out.append(cells[p])
        return "".join(out)

    blocks = [(query_id, row(list(query), {}))] + [(ident, row(cells, ins)) for ident, cells, ins in placed]
    lines = []
    for ident, text in blocks:
        lines.append(f">{ident}")
        lines.extend(text[i : i + FASTA_WIDTH] for i in range(0, len(text), FASTA_WIDTH))
    return "\n".join(lines) + "\n"


def aligned_fasta_job(
    session: Session, query_id: str, query: str, hits: Sequence[tuple[str, str]], path: str
) -> Job[int]:
    """Align each hit (id, sequence) to the query and write :func:`aligned_fasta` to ``path``.

    The pairwise alignments are the detail pane's (same scoring as the hit list).
    The file is written next to ``path`` and renamed, so a cancelled job leaves no
    half file. Returns the number of hits written.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> int:
        from genocat_desktop.engine import InputError, Progress

        pairs = []
        for i, (ident, sequence) in enumerate(hits):
            cancel.raise_if_cancelled()
            progress(Progress(i, len(hits), "hits", "aligning", f"Aligning hit {i + 1} of {len(hits)}"))
            try:
                pairs.append((ident, session.aligner.align(query, sequence, lambda: bool(cancel.cancelled))))
            except ValueError as exc:
                raise InputError(f"cannot align {ident}: {exc}") from None
        text = aligned_fasta(query_id, query, pairs)
        target = Path(path)
        # open() (not mkstemp, whose files are 0600) so the file gets the user's usual permissions.
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
        return len(pairs)

    return run
