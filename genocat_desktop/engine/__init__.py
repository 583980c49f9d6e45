"""GenoCat's engine: everything the desktop app and the CLI do, with no Qt.

The public API (both fronts use only this)::

    from genocat_desktop.engine import Catalog, Searcher, import_files, parse_condition

    catalog = Catalog.open("~/lab-catalog")            # created if missing
    report = import_files(catalog, ["proteins.fa.gz"])  # one atomic version per file
    hits = Searcher(catalog).search("MKVLAAGIV...", k=10, conditions=[parse_condition("length > 100")])
    export_hits([hits], "hits.csv")

    add_field(catalog, "assay", "category", allowed=["low", "high"])    # user fields (schema.py)
    set_values(catalog, "assay", "high", conditions=[parse_condition("length > 300")])
    plan = plan_annotations(catalog, "lab.csv", key="accession")        # preview, unmatched keys
    annotate(catalog, plan)
    result = run_benchmark(catalog, queries=200)                        # benchmark.py

Long jobs take ``progress`` (a callable receiving :class:`Progress`) and
``cancel`` (a :class:`CancelToken`); errors are :class:`GenoCatError` subclasses
whose messages are written for the person at the workstation.
"""

from .benchmark import (
    TARGETS,
    BenchmarkResult,
    Check,
    Targets,
    load_results,
    results_folder,
    results_table,
    run_benchmark,
    save_result,
    write_synthetic_fasta,
)
from .catalog import Catalog, CatalogInfo, FieldInfo, VersionInfo, default_location
from .errors import (
    Cancelled,
    CatalogError,
    CatalogNotFoundError,
    EmbedderError,
    EmbedderMismatchError,
    FastaFormatError,
    FilterError,
    GenoCatError,
    InputError,
    QueryError,
    SchemaError,
    StorageError,
)
from .export import export_csv, export_fasta, export_hits
from .importer import FileReport, ImportReport, import_files
from .jobs import CancelToken, Progress, ProgressCallback, no_progress
from .query import OPERATORS, Condition, parse_condition, to_sql
from .schema import (
    FIELD_TYPES,
    AnnotationPlan,
    EditReport,
    FieldSummary,
    UserField,
    add_field,
    annotate,
    check_field_name,
    drop_field,
    list_fields,
    parse_value,
    plan_annotations,
    rename_field,
    set_cells,
    set_values,
    update_field,
    user_fields,
)
from .search import Query, Searcher, SearchResult, read_queries

__all__ = [
    "FIELD_TYPES",
    "OPERATORS",
    "TARGETS",
    "AnnotationPlan",
    "BenchmarkResult",
    "CancelToken",
    "Cancelled",
    "Catalog",
    "CatalogError",
    "CatalogInfo",
    "CatalogNotFoundError",
    "Check",
    "Condition",
    "EditReport",
    "EmbedderError",
    "EmbedderMismatchError",
    "FastaFormatError",
    "FieldInfo",
    "FieldSummary",
    "FileReport",
    "FilterError",
    "GenoCatError",
    "ImportReport",
    "InputError",
    "Progress",
    "ProgressCallback",
    "Query",
    "QueryError",
    "SchemaError",
    "SearchResult",
    "Searcher",
    "StorageError",
    "Targets",
    "UserField",
    "VersionInfo",
    "add_field",
    "annotate",
    "check_field_name",
    "default_location",
    "drop_field",
    "export_csv",
    "export_fasta",
    "export_hits",
    "import_files",
    "list_fields",
    "load_results",
    "no_progress",
    "parse_condition",
    "parse_value",
    "plan_annotations",
    "read_queries",
    "rename_field",
    "results_folder",
    "results_table",
    "run_benchmark",
    "save_result",
    "set_cells",
    "set_values",
    "to_sql",
    "update_field",
    "user_fields",
    "write_synthetic_fasta",
]
