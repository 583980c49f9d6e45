"""The open catalog and the operations on its rows: open, import, ingest, browse, export.

Each ``*_job`` function returns a :class:`~genocat_desktop.app.jobs.Job`; the
desktop app runs it on its engine thread and the CLI runs it directly. They
only call the engine's public API (and its small ``browse`` helpers); the
results are plain objects (dataclasses, Arrow tables) the GUI thread reads but
never uses for I/O. Keeping them free of Qt makes them testable headless and
keeps every LanceDB call off the GUI thread by construction.

The engine is imported inside the functions so that importing this module
(at window start-up) does not load pyarrow or Lance.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from genocat_desktop.app.jobs import Job, ProgressCallback
    from genocat_desktop.engine import (
        CancelToken,
        Catalog,
        Condition,
        EditReport,
        FieldInfo,
        ImportReport,
        IngestReport,
        Searcher,
    )
    from genocat_desktop.engine.catalog.browse import BrowsePage

__all__ = [
    "CatalogSummary",
    "Change",
    "FieldSpec",
    "FilterSpec",
    "ImportOutcome",
    "IngestOutcome",
    "IngestTuning",
    "Session",
    "browse_job",
    "collect_leftovers_line",
    "conditions_from",
    "export_browse_job",
    "export_rows_job",
    "fasta_files_in",
    "import_job",
    "ingest_job",
    "open_catalog_job",
    "resume_index_job",
    "summary_job",
    "warm_up_job",
    "write_table",
]

#: A filter as the GUI holds it: (field, operator, value text).
FilterSpec = tuple[str, str, str]

#: Suffixes written as CSV and as FASTA by :func:`write_table`.
CSV_SUFFIXES = ("csv", "tsv", "txt")
FASTA_SUFFIXES = ("fasta", "fa", "faa", "fna", "fas")


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
    notice: str = ""  # on opening: what was collected from interrupted writers (a status bar line)


@dataclass(frozen=True, slots=True)
class Change:
    """A change made to the catalog: what it was, and the catalog as it is afterwards.

    Attributes
    ----------
    message
        The change in words.
    summary
        The catalog afterwards.
    version
        The catalog's version afterwards.
    report
        The engine's report of a value edit (rows changed), when the change was one.
    """

    message: str
    summary: CatalogSummary
    version: int
    report: EditReport | None = None


def _field_kind(info: FieldInfo, dtype: pa.DataType) -> str:
    """The filter editor's kind of a field, from its Arrow type."""
    import pyarrow as pa

    if info.kind == "vector":
        return "vector"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return "list"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        return "number"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        return "date"
    return "text"


class Session:
    """An open catalog and its searcher. Created and used only on the engine thread (or by the CLI).

    Parameters
    ----------
    catalog
        The open catalog.
    searcher
        The searcher to use (the CLI sets its index use and effort); a default one if ``None``.
    """

    def __init__(self, catalog: Catalog, searcher: Searcher | None = None) -> None:
        from genocat_desktop.engine import Searcher
        from genocat_desktop.engine.search.pairwise import AlignerProcess

        self.catalog = catalog
        self.searcher: Searcher = searcher if searcher is not None else Searcher(catalog)
        self.aligner = AlignerProcess()  # its child process starts on first use (or warm_up_job)

    def close(self) -> None:
        """Stop the aligner's child process (the catalog itself needs no closing)."""
        self.aligner.close()

    def summary(self) -> CatalogSummary:
        """A fresh :class:`CatalogSummary` of the latest version."""
        self.catalog.refresh()
        info = self.catalog.info()
        schema = self.catalog.schema
        fields = tuple(FieldSpec(f.name, _field_kind(f, schema.field(f.name).type), f.description)
                       for f in info.fields)
        embedders = {
            column: f"MinHash sketch, k={rec['params'].get('ksize')}, scaled {rec['params'].get('scaled')} "
            "(containment, ANI)" if rec["name"] == "sketch" else f"{rec['name']} v{rec['version']}, {rec['dim']} d"
            for column, rec in info.embedders.items()
        }
        return CatalogSummary(
            info.location, info.rows, info.version, fields, tuple(info.embedders), info.default_vector, embedders
        )

    def change(self, message: str, report: EditReport | None = None) -> Change:
        """A :class:`Change` saying ``message``, with the catalog's summary as it is now."""
        summary = self.summary()
        return Change(message, summary, summary.version, report)


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
class IngestTuning:
    """How a bulk ingest cuts and deduplicates its work (the engine's defaults unless set).

    Attributes
    ----------
    retries
        Ray retries of a task whose worker died.
    part_bytes
        Uncompressed files are cut into parts of about this many bytes (``None``: the engine's default).
    strip_gaps
        Remove alignment gaps instead of rejecting aligned files.
    dedup
        ``"driver"`` (every hash in this process) or ``"partitioned"`` (hash partitions decided by tasks).
    partitions
        Hash partitions for ``dedup="partitioned"`` (``None``: the engine's default).
    call_genes
        Predict the proteins of DNA records and ingest them too (as :func:`import_job`'s ``call_genes``).
    """

    retries: int = 2
    part_bytes: int | None = None
    strip_gaps: bool = False
    dedup: str = "driver"
    partitions: int | None = None
    call_genes: bool = False

    def engine_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the engine's ``ingest`` these settings stand for."""
        kwargs: dict[str, Any] = {"retries": self.retries, "strip_gaps": self.strip_gaps, "dedup": self.dedup,
                                  "partitions": self.partitions, "call_genes": self.call_genes}
        if self.part_bytes is not None:
            kwargs["part_bytes"] = self.part_bytes
        return kwargs


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
            found: list[Path] = []
            for root, dirs, files in os.walk(p):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found.extend(Path(root) / name for name in files if is_fasta_name(name))
            out.extend(sorted(found))
        else:
            out.append(p)
    return out


def conditions_from(specs: Sequence[FilterSpec]) -> list[Condition]:
    """Engine conditions from the GUI's (field, operator, value text) rows.

    Values are read as the CLI's ``--where`` reads them (``parse_filter_value``:
    optional quotes, comma-separated ``in`` lists).

    Raises
    ------
    FilterError
        A value that cannot be read, e.g. an unclosed quote or an ambiguous list.
    """
    from genocat_desktop.engine import Condition, parse_filter_value

    return [Condition(name, op, parse_filter_value(op, value, name)) for name, op, value in specs]


def open_catalog_job(location: str | None) -> Job[tuple[Session, CatalogSummary]]:
    """Open (creating if needed) the catalog at ``location``; returns ``(Session, CatalogSummary)``."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> tuple[Session, CatalogSummary]:
        from dataclasses import replace

        from genocat_desktop.engine import Catalog

        session = Session(Catalog.open(location, create=True))
        return session, replace(session.summary(), notice=collect_leftovers_line(session.catalog))

    return run


def collect_leftovers_line(catalog: Catalog) -> str:
    """Remove what interrupted writers left in the catalog; the line to show ("" if nothing was found).

    Runs on the engine thread (or in the CLI), like every catalog call: it lists the work area and,
    only when a writer died, the data files and the stored versions.
    """
    from genocat_desktop.engine import GenoCatError, collect_leftovers

    try:
        return collect_leftovers(catalog).message
    except (GenoCatError, OSError, RuntimeError, ValueError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        return f"Could not check for files left by interrupted writers: {first}"


def resume_index_job(session: Session) -> Job[str | None]:
    """After opening: finish an automatic index build a kill interrupted (``"built"``; ``None``: none was)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> str | None:
        from genocat_desktop.engine import resume_index

        return resume_index(session.catalog, progress=progress, cancel=cancel)

    return run


def summary_job(session: Session) -> Job[CatalogSummary]:
    """Re-read the catalog's summary (after a change made elsewhere)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> CatalogSummary:
        return session.summary()

    return run


def import_job(
    session: Session,
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    strip_gaps: bool = False,
    call_genes: bool = False,
) -> Job[ImportOutcome]:
    """Import one file or several (one atomic commit each); returns an :class:`ImportOutcome`.

    A rejected file does not stop the others; a cancel stops at the next batch
    and keeps the files finished before (the report says so). With ``call_genes`` the
    proteins predicted on DNA records (pyrodigal) are imported too, linked to their record.
    """
    files = [paths] if isinstance(paths, str | os.PathLike) else list(paths)

    def run(progress: ProgressCallback, cancel: CancelToken) -> ImportOutcome:
        from genocat_desktop.engine import import_files

        report = import_files(session.catalog, files, strip_gaps=strip_gaps, call_genes=call_genes,
                              progress=progress, cancel=cancel)
        return ImportOutcome(report, session.summary())

    return run


def ingest_job(
    session: Session,
    inputs: Sequence[str | os.PathLike[str]],
    *,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    input_options: Mapping[str, str] | None = None,
    tuning: IngestTuning | None = None,
) -> Job[IngestOutcome]:
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
    tuning
        Parts, retries, gap stripping and deduplication (the engine's defaults if ``None``).

    Returns
    -------
    Job[IngestOutcome]
        A cancelled or failed ingest commits nothing and says so in its report
        (``cancelled``, ``error``, ``failed_parts``) instead of raising.
    """
    settings = tuning or IngestTuning()

    def run(progress: ProgressCallback, cancel: CancelToken) -> IngestOutcome:
        from genocat_desktop.engine.ingest.distributed import ingest

        report = ingest(session.catalog, list(inputs), engine=engine, workers=workers, address=address,
                        input_options=input_options, progress=progress, cancel=cancel, **settings.engine_kwargs())
        return IngestOutcome(report, session.summary())

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
) -> Job[BrowsePage]:
    """Load one page of catalog rows; returns a ``BrowsePage``."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> BrowsePage:
        from genocat_desktop.engine.catalog.browse import browse_page

        return browse_page(
            session.catalog, conditions=conditions_from(filters), text=text, sort=sort, descending=descending,
            offset=offset, limit=limit,
        )

    return run


def write_table(table: pa.Table, path: str | os.PathLike[str], provenance: Mapping[str, object] | None) -> int:
    """Write catalog rows to CSV, TSV, JSON or FASTA, by the file's suffix.

    A CSV or TSV file starts with its header; ``provenance`` (catalog, version,
    filter) goes to the side file ``NAME.provenance.json`` next to it, and into
    a JSON file's ``"provenance"``.

    Returns
    -------
    int
        The number of rows written.

    Raises
    ------
    InputError
        If the suffix names none of these formats.
    """
    from genocat_desktop.engine import InputError, export_csv, export_fasta
    from genocat_desktop.engine.search.export import export_json, format_of

    fmt = format_of(path)
    if fmt in ("csv", "tsv"):
        return export_csv(table, path, provenance=provenance)
    if fmt == "json":
        return export_json(table, path, provenance=provenance)
    if fmt == "fasta":
        return export_fasta(table, path)
    raise InputError(f"cannot tell the format from {Path(path).name!r}; name it .csv, .tsv, .json or .fasta")


def export_rows_job(table: pa.Table, path: str, provenance: dict[str, object] | None = None) -> Job[int]:
    """Export rows already loaded (a selection in the browser) to CSV, TSV, JSON or FASTA."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> int:
        return write_table(table, path, provenance)

    return run


def export_browse_job(session: Session, path: str, *, filters: Sequence[FilterSpec] = (), text: str = "") -> Job[int]:
    """Export every catalog row matching the browser's filters to CSV, TSV, JSON or FASTA."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> int:
        from genocat_desktop.engine.catalog.browse import browse_sql, browse_table

        conditions = conditions_from(filters)
        table = browse_table(session.catalog, conditions=conditions, text=text)
        cancel.raise_if_cancelled()
        provenance: dict[str, object] = {
            "catalog": session.catalog.location,
            "version": session.catalog.version,
            "filter": browse_sql(session.catalog, conditions, text) or "none",
        }
        return write_table(table, path, provenance)

    return run


def warm_up_job(session: Session, *, preload: Sequence[str] = ()) -> Job[None]:
    """Prepare what the first results need: import the ``preload`` modules, start the aligner process.

    The window preloads its plotting library here: importing pyqtgraph takes
    0.5-1.3 s, which froze the window when done in a GUI slot at the first
    search (measured with bench/gui_bench.py). The modules are named by the
    caller so that this layer imports no Qt.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        import importlib

        for name in preload:
            importlib.import_module(name)
        session.aligner.start()

    return run
