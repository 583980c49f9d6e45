"""The engine jobs the desktop app runs: plain functions, no Qt, run on the engine thread.

Each ``*_job`` function returns a closure ``fn(progress, cancel) -> result``
for :meth:`genocat_desktop.ui.engine_thread.EngineThread.submit`. They only
call the engine's public API (and its small ``browse``/``align`` helpers); the
results are plain objects (dataclasses, Arrow tables) the GUI thread reads but
never uses for I/O. Keeping them free of Qt makes them testable headless and
keeps every LanceDB call off the GUI thread by construction.

The engine is imported inside the functions so that importing this module
(at window start-up) does not load pyarrow or Lance.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from genocat_desktop.engine import Catalog, ImportReport, IngestReport, Searcher, SearchResult
    from genocat_desktop.engine.catalog.browse import BrowsePage
    from genocat_desktop.engine.search.pairwise import PairAlignment

__all__ = [
    "AnnotationPreview",
    "BenchmarkOutcome",
    "CatalogSummary",
    "Change",
    "EmbedOutcome",
    "EmbeddingRow",
    "FieldSpec",
    "ImportOutcome",
    "IngestOutcome",
    "ModelsState",
    "SchemaState",
    "SearchOutcome",
    "Session",
    "VersionView",
    "add_embedding_job",
    "add_field_job",
    "add_model_job",
    "align_job",
    "annotate_job",
    "benchmark_job",
    "benchmark_runs_job",
    "browse_job",
    "check_name_job",
    "discard_embedding_job",
    "drop_field_job",
    "export_browse_job",
    "export_hits_job",
    "export_rows_job",
    "fasta_files_in",
    "import_job",
    "ingest_job",
    "models_state_job",
    "open_catalog_job",
    "plan_annotations_job",
    "read_query_file_job",
    "remove_embedding_job",
    "remove_model_job",
    "rename_field_job",
    "restore_job",
    "runtime_options_job",
    "save_benchmark_job",
    "schema_state_job",
    "search_job",
    "set_cells_job",
    "set_default_embedding_job",
    "set_values_job",
    "summary_job",
    "update_field_job",
    "version_view_job",
    "warm_search_job",
    "warm_up_job",
]

Job = Callable[[Callable[[Any], None], Any], Any]
#: A filter as the GUI holds it: (field, operator, value text).
FilterSpec = tuple[str, str, str]

#: Largest query file shown in the query box (bigger ones are searched from the file).
MAX_QUERY_TEXT = 2_000_000


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A catalog field, as the filter editor needs it."""

    name: str
    kind: str  # "text", "number", "list", "date", "vector"
    description: str


@dataclass(frozen=True, slots=True)
class CatalogSummary:
    """What the window shows about the open catalog."""

    location: str
    rows: int
    version: int
    fields: tuple[FieldSpec, ...]
    vector_columns: tuple[str, ...]
    default_vector: str
    embedders: dict[str, str] = field(default_factory=dict)  # column -> "kmer v1, 512 d"


class Session:
    """An open catalog and its searcher. Created and used only on the engine thread."""

    def __init__(self, catalog: Catalog) -> None:
        from genocat_desktop.engine import Searcher
        from genocat_desktop.engine.search.pairwise import AlignerProcess

        self.catalog = catalog
        self.searcher: Searcher = Searcher(catalog)
        self.aligner = AlignerProcess()

    def close(self) -> None:
        """Stop the aligner's child process (the catalog itself needs no closing)."""
        self.aligner.close()

    def summary(self) -> CatalogSummary:
        """A fresh :class:`CatalogSummary` of the latest version."""
        import pyarrow as pa

        self.catalog.refresh()
        info = self.catalog.info()
        schema = self.catalog.schema
        fields = []
        for f in info.fields:
            dtype = schema.field(f.name).type
            if f.kind == "vector":
                kind = "vector"
            elif pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
                kind = "list"
            elif pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
                kind = "number"
            elif pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
                kind = "date"
            else:
                kind = "text"
            fields.append(FieldSpec(f.name, kind, f.description))
        embedders = {
            column: f"{rec['name']} v{rec['version']}, {rec['dim']} d" for column, rec in info.embedders.items()
        }
        return CatalogSummary(
            info.location, info.rows, info.version, tuple(fields), tuple(info.embedders), info.default_vector, embedders
        )


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """An import report and the catalog as it is afterwards."""

    report: ImportReport
    summary: CatalogSummary


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """A bulk ingest's report and the catalog as it is afterwards (unchanged unless committed)."""

    report: IngestReport
    summary: CatalogSummary


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """Search results and the parameters that produced them (recorded in exports)."""

    results: list[SearchResult]
    parameters: dict[str, object]


def fasta_files_in(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand folders into the FASTA files they contain (recursively, sorted); keep files as given.

    Files inside folders are kept when their name ends in a FASTA suffix
    (optionally compressed); a file named explicitly is always kept, so that
    the importer can say what is wrong with it.
    """
    from genocat_desktop.engine.ingest.fasta import is_fasta_name

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = []
            for root, dirs, files in os.walk(p):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found.extend(Path(root) / name for name in files if is_fasta_name(name))
            out.extend(sorted(found))
        else:
            out.append(p)
    return out


def conditions_from(specs: Sequence[FilterSpec]) -> list[Any]:
    """Engine conditions from the GUI's (field, operator, value text) rows."""
    from genocat_desktop.engine import Condition

    out = []
    for name, op, value in specs:
        if op in ("is empty", "is not empty"):
            out.append(Condition(name, op, None))
        elif op == "in":
            out.append(Condition(name, op, [v.strip() for v in value.split(",") if v.strip()]))
        else:
            out.append(Condition(name, op, value.strip()))
    return out


def open_catalog_job(location: str | None) -> Job:
    """Open (creating if needed) the catalog at ``location``; returns ``(Session, CatalogSummary)``."""

    def run(progress: Callable[[Any], None], cancel: Any) -> tuple[Session, CatalogSummary]:
        from genocat_desktop.engine import Catalog

        session = Session(Catalog.open(location, create=True))
        return session, session.summary()

    return run


def summary_job(session: Session) -> Job:
    """Re-read the catalog's summary (after a change made elsewhere)."""

    def run(progress: Callable[[Any], None], cancel: Any) -> CatalogSummary:
        return session.summary()

    return run


def import_job(session: Session, path: str | os.PathLike[str], *, strip_gaps: bool = False) -> Job:
    """Import one file (one atomic commit); returns an :class:`ImportOutcome`."""

    def run(progress: Callable[[Any], None], cancel: Any) -> ImportOutcome:
        from genocat_desktop.engine import import_files

        report = import_files(session.catalog, [path], strip_gaps=strip_gaps, progress=progress, cancel=cancel)
        return ImportOutcome(report, session.summary())

    return run


def ingest_job(
    session: Session,
    inputs: Sequence[str],
    *,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    input_options: dict[str, str] | None = None,
) -> Job:
    """Bulk-ingest files, folders or ``s3://`` prefixes with parallel tasks (one commit).

    Parameters
    ----------
    session
        The open catalog.
    inputs
        FASTA files, folders of them, or ``s3://bucket/prefix`` locations.
    engine
        ``"local"`` (processes on this machine) or ``"ray"``.
    workers
        Local processes (``0``: in the engine thread itself), or CPUs of a Ray started here.
    address
        A Ray cluster (``"auto"``, ``"ray://host:10001"``); ``None`` starts one for the ingest.
    input_options
        Storage options for ``s3://`` inputs (default: the catalog's, or the environment's).

    Returns
    -------
    Job
        Returns an :class:`IngestOutcome`; a cancelled or failed ingest commits nothing and says so
        in its report (``cancelled``, ``error``, ``failed_parts``) instead of raising.
    """

    def run(progress: Callable[[Any], None], cancel: Any) -> IngestOutcome:
        from genocat_desktop.engine import ingest

        report = ingest(session.catalog, list(inputs), engine=engine, workers=workers, address=address,
                        input_options=input_options, progress=progress, cancel=cancel)
        return IngestOutcome(report, session.summary())

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
) -> Job:
    """Search ``query`` (FASTA text, bare sequence or a file path); returns a :class:`SearchOutcome`.

    With ``align``, the best candidates by embedding are aligned to the query
    (Smith-Waterman, the engine's re-ranking) and ranked by alignment score.
    """

    def run(progress: Callable[[Any], None], cancel: Any) -> SearchOutcome:
        from genocat_desktop.engine import Condition, read_queries

        conditions = conditions_from(filters)
        if description.strip():
            conditions.append(Condition("description", "contains", description.strip()))
        queries = read_queries(query)
        results = session.searcher.search_many(
            queries, k=k, conditions=conditions, column=column, align=align, progress=progress, cancel=cancel
        )
        first = results[0]
        parameters: dict[str, object] = {
            "query": ", ".join(q.id for q in queries[:20]) + (" ..." if len(queries) > 20 else ""),
            "queries": len(queries),
            "catalog": session.catalog.location,
            "version": first.version,
            "embedding": first.column,
            "hits per query": k,
            "ranked by": "alignment score (Smith-Waterman re-ranking)" if align else "embedding score",
            "filter": " AND ".join(str(c) for c in conditions) or "none",
        }
        return SearchOutcome(results, parameters)

    return run


def browse_job(
    session: Session,
    *,
    filters: Sequence[FilterSpec] = (),
    text: str = "",
    sort: str | None = None,
    descending: bool = False,
    offset: int = 0,
    limit: int = 200,
) -> Job:
    """Load one page of catalog rows; returns a ``BrowsePage``."""

    def run(progress: Callable[[Any], None], cancel: Any) -> BrowsePage:
        from genocat_desktop.engine.catalog.browse import browse_page

        return browse_page(
            session.catalog, conditions=conditions_from(filters), text=text, sort=sort, descending=descending,
            offset=offset, limit=limit,
        )

    return run


def _write_table(table: pa.Table, path: str, comments: dict[str, object] | None) -> int:
    from genocat_desktop.engine import InputError, export_csv, export_fasta

    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv", "txt"):
        return export_csv(table, path, comments=comments)
    if suffix in ("fasta", "fa", "faa", "fna", "fas"):
        return export_fasta(table, path)
    raise InputError(f"cannot tell the format from {Path(path).name!r}; name it .csv or .fasta")


def export_hits_job(outcome: SearchOutcome, path: str, rows: dict[int, list[int]] | None = None) -> Job:
    """Export hits to CSV or FASTA (by suffix); ``rows`` limits each query's hits to those positions.

    Returns the number of rows written.
    """

    def run(progress: Callable[[Any], None], cancel: Any) -> int:
        import dataclasses

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

    return run


def export_rows_job(table: pa.Table, path: str, comments: dict[str, object] | None = None) -> Job:
    """Export rows already loaded (a selection in the browser) to CSV or FASTA."""

    def run(progress: Callable[[Any], None], cancel: Any) -> int:
        return _write_table(table, path, comments)

    return run


def export_browse_job(session: Session, path: str, *, filters: Sequence[FilterSpec] = (), text: str = "") -> Job:
    """Export every catalog row matching the browser's filters to CSV or FASTA."""

    def run(progress: Callable[[Any], None], cancel: Any) -> int:
        from genocat_desktop.engine.catalog.browse import browse_sql, browse_table

        conditions = conditions_from(filters)
        table = browse_table(session.catalog, conditions=conditions, text=text)
        cancel.raise_if_cancelled()
        comments: dict[str, object] = {
            "catalog": session.catalog.location,
            "version": session.catalog.version,
            "filter": browse_sql(session.catalog, conditions, text) or "none",
        }
        return _write_table(table, path, comments)

    return run


def align_job(session: Session, query: str, target: str) -> Job:
    """Align a hit to its query (in the session's aligner process); returns a ``PairAlignment``."""

    def run(progress: Callable[[Any], None], cancel: Any) -> PairAlignment:
        from genocat_desktop.engine import InputError
        try:
            return session.aligner.align(query, target, lambda: bool(cancel.cancelled))
        except ValueError as exc:
            raise InputError(str(exc)) from None

    return run


def warm_up_job(session: Session) -> Job:
    """Prepare what the first results need: import pyqtgraph, start the aligner process.

    Importing pyqtgraph takes 0.5-1.3 s; done in a GUI slot it froze the window
    at the first search (measured with bench/gui_bench.py).
    """

    def run(progress: Callable[[Any], None], cancel: Any) -> None:
        import pyqtgraph  # noqa: F401

        session.aligner.start()

    return run


def warm_search_job(session: Session) -> Job:
    """Load the open catalog's vectors for search (in RAM, or the index's re-ranking copy).

    Without it the first search paid for it: a second at 100k rows, several
    at 1M rows. Cancelled by quitting, between fragments.
    """

    def run(progress: Callable[[Any], None], cancel: Any) -> None:
        session.searcher.warm(cancel=cancel)

    return run


def read_query_file_job(path: str) -> Job:
    """Read a FASTA query file; returns its queries as FASTA text (or the path, if very large)."""

    def run(progress: Callable[[Any], None], cancel: Any) -> str:
        from genocat_desktop.engine import read_queries

        queries = read_queries(Path(path))
        text = "\n".join(f">{q.id}\n{q.sequence}" for q in queries)
        return text if len(text) <= MAX_QUERY_TEXT else path

    return run


# ====================================================================== schema page
@dataclass(frozen=True, slots=True)
class SchemaState:
    """What the schema page shows: every field (with value counts) and the versions."""

    fields: list[Any]  # engine FieldSummary
    versions: list[Any]  # engine VersionInfo, oldest first
    version: int


@dataclass(frozen=True, slots=True)
class Change:
    """A change made to the catalog: what it was, and the catalog as it is afterwards."""

    message: str
    summary: CatalogSummary
    version: int


@dataclass(frozen=True, slots=True)
class VersionView:
    """The catalog as of an older version: its fields and its first rows (read-only)."""

    version: int
    rows: pa.Table
    total: int
    fields: list[Any]


def schema_state_job(session: Session) -> Job:
    """List the fields (with how many rows hold a value) and the stored versions."""

    def run(progress: Callable[[Any], None], cancel: Any) -> SchemaState:
        from genocat_desktop.engine import list_fields

        version = session.catalog.refresh()
        return SchemaState(list_fields(session.catalog), session.catalog.versions(), version)

    return run


def check_name_job(session: Session, name: str, exclude: str | None = None) -> Job:
    """Check a new field name (raises the engine's ``SchemaError`` with the reason)."""

    def run(progress: Callable[[Any], None], cancel: Any) -> str:
        from genocat_desktop.engine import check_field_name

        session.catalog.refresh()
        return check_field_name(session.catalog, name, exclude=exclude)

    return run


def _change(session: Session, message: str) -> Change:
    summary = session.summary()
    return Change(message, summary, summary.version)


def add_field_job(
    session: Session,
    name: str,
    type: str,
    *,
    allowed: Sequence[str] | None = None,
    default: str | None = None,
    description: str = "",
) -> Job:
    """Add a user field (``default`` as text, parsed by the engine for the type)."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        from genocat_desktop.engine import add_field

        add_field(session.catalog, name, type, allowed=allowed, default=default or None, description=description,
                  progress=progress, cancel=cancel)
        return _change(session, f"Added the field {name!r} ({type})")

    return run


def rename_field_job(session: Session, old: str, new: str) -> Job:
    """Rename a user field."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        from genocat_desktop.engine import rename_field

        rename_field(session.catalog, old, new)
        return _change(session, f"Renamed {old!r} to {new!r}")

    return run


def drop_field_job(session: Session, name: str) -> Job:
    """Drop a user field (its values stay in older versions)."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        from genocat_desktop.engine import drop_field

        drop_field(session.catalog, name)
        return _change(session, f"Dropped the field {name!r}")

    return run


def update_field_job(session: Session, name: str, *, description: str | None = None,
                     allowed: Sequence[str] | None = None) -> Job:
    """Change a user field's description or a category's allowed values."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        from genocat_desktop.engine import update_field

        update_field(session.catalog, name, description=description, allowed=allowed)
        return _change(session, f"Updated the field {name!r}")

    return run


def set_values_job(session: Session, name: str, value: str | None, hashes: Sequence[str]) -> Job:
    """Give ``name`` one value (text, parsed for its type; empty clears) on the rows with these ``seq_hash``."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        from genocat_desktop.engine import set_values

        report = set_values(session.catalog, name, value, hashes=list(hashes), progress=progress, cancel=cancel)
        return _change(session, report.message)

    return run


def set_cells_job(session: Session, name: str, values: dict[str, str | None]) -> Job:
    """Give rows (by ``seq_hash``) each its own value of ``name`` (cells edited in the browser)."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        from genocat_desktop.engine import set_cells

        report = set_cells(session.catalog, name, values, progress=progress, cancel=cancel)
        return _change(session, report.message)

    return run


@dataclass(frozen=True, slots=True)
class AnnotationPreview:
    """An engine ``AnnotationPlan`` and the spreadsheet columns left out (not user fields)."""

    plan: Any
    ignored: list[str]


def _header(path: str) -> list[str]:
    """The header row of a CSV/TSV, split the way the engine splits it (tab, ';' or ',')."""
    import csv

    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            first = fh.readline()
    except OSError:
        return []  # the engine says what is wrong with the file
    if Path(path).suffix.lower() in (".tsv", ".tab") or first.count("\t") > first.count(","):
        delimiter = "\t"
    elif first.count(";") > first.count(","):
        delimiter = ";"
    else:
        delimiter = ","
    return [h.strip() for h in next(csv.reader([first], delimiter=delimiter), [])]


def plan_annotations_job(session: Session, path: str, key: str) -> Job:
    """Read a CSV/TSV of annotations and work out what it would change (nothing is written).

    Columns of the spreadsheet that are not user fields of the catalog (a
    lab's sheet often has more) are left out and listed in the preview; when
    none is a user field, the engine's message says which column to add.
    """

    def run(progress: Callable[[Any], None], cancel: Any) -> AnnotationPreview:
        from genocat_desktop.engine import plan_annotations, user_fields

        session.catalog.refresh()
        header = [h for h in _header(path) if h and h != key]
        fields = user_fields(session.catalog)
        columns = [h for h in header if h in fields]
        ignored = [h for h in header if h not in fields] if columns else []
        plan = plan_annotations(session.catalog, path, key=key, columns=columns or None)
        return AnnotationPreview(plan, ignored)

    return run


def annotate_job(session: Session, plan: Any) -> Job:
    """Write an annotation plan as one version."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        from genocat_desktop.engine import annotate

        report = annotate(session.catalog, plan, progress=progress, cancel=cancel)
        return _change(session, report.message)

    return run


def version_view_job(session: Session, version: int, limit: int = 200) -> Job:
    """The fields and first ``limit`` rows (without vectors) of the catalog as of ``version``."""

    def run(progress: Callable[[Any], None], cancel: Any) -> VersionView:
        from genocat_desktop.engine import list_fields

        ds = session.catalog.dataset(version)
        vectors = set(session.catalog.vector_columns())
        columns = [n for n in ds.schema.names if n not in vectors]
        rows = ds.to_table(columns=columns, limit=limit)
        return VersionView(version, rows, ds.count_rows(), list_fields(session.catalog, counts=False, version=version))

    return run


def restore_job(session: Session, version: int) -> Job:
    """Make ``version``'s content the latest version again."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        session.catalog.restore(version)
        return _change(session, f"Restored version {version}")

    return run


# ====================================================================== benchmark page
@dataclass(frozen=True, slots=True)
class BenchmarkOutcome:
    """A benchmark run, where it was saved, and the earlier runs saved next to it."""

    result: Any  # engine BenchmarkResult
    saved: str | None
    earlier: list[Any]


def benchmark_job(session: Session | None, *, size: int | None, queries: int, k: int,
                  import_size: int = 10_000) -> Job:
    """Run the benchmark on the open catalog (``size`` None) or a synthetic one of ``size`` rows.

    The result is saved in the open catalog's ``benchmarks`` folder (when it is
    a local folder) and returned with the runs saved there before.
    """

    def run(progress: Callable[[Any], None], cancel: Any) -> BenchmarkOutcome:
        from genocat_desktop.engine import load_results, results_folder, run_benchmark, save_result

        catalog = session.catalog if session is not None else None
        result = run_benchmark(catalog, size=size, queries=queries, k=k, import_size=import_size,
                               progress=progress, cancel=cancel)
        folder = results_folder(catalog) if catalog is not None else None
        if folder is None:
            return BenchmarkOutcome(result, None, [])
        earlier = load_results(folder)
        saved = save_result(result, folder)
        return BenchmarkOutcome(result, str(saved), earlier)

    return run


def benchmark_runs_job(session: Session) -> Job:
    """The benchmark runs saved in the open catalog's folder, oldest first."""

    def run(progress: Callable[[Any], None], cancel: Any) -> list[Any]:
        from genocat_desktop.engine import load_results, results_folder

        folder = results_folder(session.catalog)
        return load_results(folder) if folder is not None and folder.is_dir() else []

    return run


def save_benchmark_job(result: Any, path: str) -> Job:
    """Save one run as JSON (everything) or CSV (its summary line), by the file's suffix."""

    def run(progress: Callable[[Any], None], cancel: Any) -> str:
        import json

        from genocat_desktop.engine import InputError, export_csv, results_table

        suffix = Path(path).suffix.lower()
        if suffix == ".json":
            Path(path).write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
        elif suffix in (".csv", ".tsv", ".txt"):
            export_csv(results_table([result]), path)
        else:
            raise InputError(f"cannot tell the format from {Path(path).name!r}; name it .json or .csv")
        return path

    return run


# ====================================================================== models and embeddings page
@dataclass(frozen=True, slots=True)
class EmbeddingRow:
    """One embedding of the open catalog: a vector column, or an interrupted run that can be resumed.

    Attributes
    ----------
    column
        The vector column (``vec_esm_tiny``).
    embedder
        The embedder's registry name (``"esm"``, ``"kmer"``).
    label
        What made it, in words (``"esm2_t6_8M_UR50D"``, ``"k-mer, k=4"``).
    dim
        Vector length.
    done
        Rows with a vector: every row for a finished column (imports fill every column),
        the rows saved so far for an interrupted run.
    total
        Rows in the catalog.
    default
        Searched when no embedding is named.
    pending
        An interrupted run (not yet a column): Resume or Discard.
    record
        The embedder record (name, version, dim, params), which recreates it on Resume.
    """

    column: str
    embedder: str
    label: str
    dim: int
    done: int
    total: int
    default: bool
    pending: bool
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelsState:
    """What the Models page shows: the installed models, the runtime options, the catalog's embeddings."""

    models: list[Any]  # engine ModelInfo, by name
    folder: str
    options: Any  # engine RuntimeOptions
    embeddings: list[EmbeddingRow]
    version: int | None


@dataclass(frozen=True, slots=True)
class EmbedOutcome:
    """A finished embedding run and the catalog as it is afterwards."""

    report: Any  # engine EmbedReport
    summary: CatalogSummary


def _label(record: dict[str, Any]) -> str:
    params = record.get("params", {})
    if record.get("name") == "esm":
        return str(params.get("model", "esm"))
    if record.get("name") == "kmer":
        return f"k-mer, k={params.get('k')}, {params.get('dim')} buckets"
    return str(record.get("name"))


def models_state_job(session: Session | None) -> Job:
    """List installed models, the runtime options and (with a catalog) its embeddings and interrupted runs."""

    def run(progress: Callable[[Any], None], cancel: Any) -> ModelsState:
        from genocat_desktop.engine import get_runtime_options, list_models, models_dir, pending_embeddings

        embeddings: list[EmbeddingRow] = []
        version = None
        if session is not None:
            catalog = session.catalog
            version = catalog.refresh()
            total = catalog.count()
            default = catalog.default_vector
            for column, record in catalog.vector_columns().items():
                embeddings.append(EmbeddingRow(column, str(record.get("name")), _label(record), int(record["dim"]),
                                               total, total, column == default, False, dict(record)))
            for p in pending_embeddings(catalog):
                embeddings.append(EmbeddingRow(p.column, str(p.record.get("name")), _label(p.record),
                                               int(p.record.get("dim", 0)), min(p.done, total), total, False, True,
                                               dict(p.record)))
        return ModelsState(list_models(), str(models_dir()), get_runtime_options(), embeddings, version)

    return run


def add_model_job(path: str) -> Job:
    """Check and install an ONNX model (copied into the models folder); returns its ``ModelInfo``."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Any:
        from genocat_desktop.engine import add_model

        return add_model(path, progress=progress, cancel=cancel)

    return run


def remove_model_job(name: str) -> Job:
    """Uninstall a model (catalog columns made with it cannot be searched until it is added again)."""

    def run(progress: Callable[[Any], None], cancel: Any) -> str:
        from genocat_desktop.engine import remove_model

        remove_model(name)
        return name

    return run


def runtime_options_job(**options: Any) -> Job:
    """Set ONNX Runtime options (threads, token budget, GPU, spinning); returns the options in force."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Any:
        from genocat_desktop.engine import set_runtime_options

        return set_runtime_options(**options)

    return run


def add_embedding_job(session: Session, embedder: str, params: dict[str, Any], *, column: str | None = None,
                      make_default: bool = False) -> Job:
    """Embed every row into a new vector column (resuming an interrupted run of the same embedder).

    Progress may come from a Lance worker thread; the engine thread's reporter only
    emits a queued signal, which is safe from any thread.
    """

    def run(progress: Callable[[Any], None], cancel: Any) -> EmbedOutcome:
        from genocat_desktop.engine import add_embedding

        report = add_embedding(session.catalog, embedder, params, column=column, make_default=make_default,
                               progress=progress, cancel=cancel)
        return EmbedOutcome(report, session.summary())

    return run


def set_default_embedding_job(session: Session, column: str) -> Job:
    """Make ``column`` the embedding searched when none is chosen."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        from genocat_desktop.engine import set_default_embedding

        set_default_embedding(session.catalog, column)
        return _change(session, f"Searches now use {column} by default")

    return run


def remove_embedding_job(session: Session, column: str) -> Job:
    """Drop a vector column (never the last one; older versions keep it)."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        from genocat_desktop.engine import remove_embedding

        remove_embedding(session.catalog, column)
        return _change(session, f"Removed the embedding {column}")

    return run


def discard_embedding_job(session: Session, column: str) -> Job:
    """Delete the saved work of an interrupted embedding run (the catalog itself is not changed)."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Change:
        from genocat_desktop.engine import discard_pending_embedding

        found = discard_pending_embedding(session.catalog, column)
        message = f"Discarded the interrupted run of {column}" if found else f"No interrupted run of {column}"
        return _change(session, message)

    return run
