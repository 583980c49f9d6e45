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
    build_indexes(catalog, progress=..., cancel=token)   # ANN + scalar + full-text; index_status(catalog)
    text_search(catalog, "kinase", k=20)

    opts = storage_options("s3://lab/catalog", S3Settings(endpoint="http://nas:9000", allow_http=True))
    shared = Catalog.open("s3://lab/catalog", storage_options=opts)
    add_model("esm2_t6_8M_UR50D.onnx")                   # install an exported ESM-2 model
    add_embedding(catalog, "esm", {"model": "esm2_t6_8M_UR50D"})  # a second vector column, resumable
    Searcher(catalog).search("MKV...", column=resolve_column(catalog, "esm2_t6_8M_UR50D"))

Long jobs take ``progress`` (a callable receiving :class:`Progress`) and
``cancel`` (a :class:`CancelToken`); errors are :class:`GenoCatError` subclasses
whose messages are written for the person at the workstation.
"""

import os as _os

# Lance sizes its encoding pool as the CPUs less two kept for I/O, at least one: on a 2- or 3-CPU
# workstation one thread encodes every write, and an import's last pass waits on it. Two threads,
# with two writes in flight (importer.WRITES_IN_FLIGHT), took a 1M-record import from 21.0 to 18.6 s
# (BENCHMARKS.md). Lance reads the variable when it first encodes, so it is set before any Lance
# call; a value set by the user stays.
if (_os.cpu_count() or 1) in (2, 3):
    _os.environ.setdefault("LANCE_CPU_THREADS", "2")

from genocat_desktop.engine.benchmark import (
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
from genocat_desktop.engine.catalog.query import OPERATORS, Condition, parse_condition, to_sql
from genocat_desktop.engine.catalog.schema import (
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
from genocat_desktop.engine.catalog.storage import (
    Credentials,
    S3Settings,
    check_access,
    delete_credentials,
    load_credentials,
    resolve_credentials,
    save_credentials,
    storage_options,
)
from genocat_desktop.engine.catalog.table import Catalog, CatalogInfo, FieldInfo, VersionInfo, default_location
from genocat_desktop.engine.core.errors import (
    BucketNotFoundError,
    Cancelled,
    CatalogError,
    CatalogNotFoundError,
    EmbedderError,
    EmbedderMismatchError,
    EndpointUnreachableError,
    FastaFormatError,
    FilterError,
    GenoCatError,
    InputError,
    InsecureEndpointError,
    ModelNotFoundError,
    QueryError,
    SchemaError,
    StorageAuthError,
    StorageError,
)
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.embed.columns import (
    EmbedReport,
    PendingEmbedding,
    add_embedding,
    discard_pending_embedding,
    pending_embeddings,
    remove_embedding,
    resolve_column,
    set_default_embedding,
)
from genocat_desktop.engine.embed.embedders.esm_onnx import RuntimeOptions, get_runtime_options, set_runtime_options
from genocat_desktop.engine.embed.models import ModelInfo, add_model, find_model, list_models, models_dir, remove_model
from genocat_desktop.engine.ingest.distributed.bulk import (
    IngestReport,
    cleanup_orphans,
    ingest,
    plan_ingest,
    ray_available,
)
from genocat_desktop.engine.ingest.importer import FileReport, ImportReport, import_files
from genocat_desktop.engine.search.export import export_csv, export_fasta, export_hits
from genocat_desktop.engine.search.indexes import (
    AUTO_INDEX_ROWS,
    Calibration,
    IndexInfo,
    IndexStatus,
    SearchEffort,
    VectorIndexParams,
    auto_index,
    build_indexes,
    calibrate,
    choose_vector_params,
    drop_indexes,
    index_status,
    optimize_indexes,
    text_search,
)
from genocat_desktop.engine.search.searcher import Query, Searcher, SearchResult, read_queries

__all__ = [
    "AUTO_INDEX_ROWS",
    "FIELD_TYPES",
    "OPERATORS",
    "TARGETS",
    "AnnotationPlan",
    "BenchmarkResult",
    "BucketNotFoundError",
    "Calibration",
    "CancelToken",
    "Cancelled",
    "Catalog",
    "CatalogError",
    "CatalogInfo",
    "CatalogNotFoundError",
    "Check",
    "Condition",
    "Credentials",
    "EditReport",
    "EmbedReport",
    "EmbedderError",
    "EmbedderMismatchError",
    "EndpointUnreachableError",
    "FastaFormatError",
    "FieldInfo",
    "FieldSummary",
    "FileReport",
    "FilterError",
    "GenoCatError",
    "ImportReport",
    "IndexInfo",
    "IndexStatus",
    "IngestReport",
    "InputError",
    "InsecureEndpointError",
    "ModelInfo",
    "ModelNotFoundError",
    "PendingEmbedding",
    "Progress",
    "ProgressCallback",
    "Query",
    "QueryError",
    "RuntimeOptions",
    "S3Settings",
    "SchemaError",
    "SearchEffort",
    "SearchResult",
    "Searcher",
    "StorageAuthError",
    "StorageError",
    "Targets",
    "UserField",
    "VectorIndexParams",
    "VersionInfo",
    "add_embedding",
    "add_field",
    "add_model",
    "annotate",
    "auto_index",
    "build_indexes",
    "calibrate",
    "check_access",
    "check_field_name",
    "choose_vector_params",
    "cleanup_orphans",
    "default_location",
    "delete_credentials",
    "discard_pending_embedding",
    "drop_field",
    "drop_indexes",
    "export_csv",
    "export_fasta",
    "export_hits",
    "find_model",
    "get_runtime_options",
    "import_files",
    "index_status",
    "ingest",
    "list_fields",
    "list_models",
    "load_credentials",
    "load_results",
    "models_dir",
    "no_progress",
    "optimize_indexes",
    "parse_condition",
    "parse_value",
    "pending_embeddings",
    "plan_annotations",
    "plan_ingest",
    "ray_available",
    "read_queries",
    "remove_embedding",
    "remove_model",
    "rename_field",
    "resolve_column",
    "resolve_credentials",
    "results_folder",
    "results_table",
    "run_benchmark",
    "save_credentials",
    "save_result",
    "set_cells",
    "set_default_embedding",
    "set_runtime_options",
    "set_values",
    "storage_options",
    "text_search",
    "to_sql",
    "update_field",
    "user_fields",
    "write_synthetic_fasta",
]
