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

Each front calls :func:`configure_process` once at start-up (process-wide
settings for Lance); importing the engine changes nothing outside it. Names
are imported from their modules on first use, so ``import genocat_desktop.engine``
stays cheap for a window that has not touched a catalog yet.

Long tasks take ``progress`` (a callable receiving :class:`Progress`) and
``cancel`` (a :class:`CancelToken`); errors are :class:`GenoCatError` subclasses
whose messages are written for the person at the workstation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

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
    from genocat_desktop.engine.catalog.access import check_access
    from genocat_desktop.engine.catalog.damage import explain_read_failure
    from genocat_desktop.engine.catalog.embeddings import (
        EmbedReport,
        PendingEmbedding,
        add_embedding,
        discard_pending_embedding,
        pending_embeddings,
        remove_embedding,
        resolve_column,
        set_default_embedding,
    )
    from genocat_desktop.engine.catalog.query import (
        OPERATORS,
        Condition,
        parse_condition,
        parse_filter_value,
        to_sql,
    )
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
        delete_credentials,
        load_credentials,
        resolve_credentials,
        save_credentials,
        storage_options,
    )
    from genocat_desktop.engine.catalog.summaries import CatalogInfo, FieldInfo, VersionInfo
    from genocat_desktop.engine.catalog.table import (
        Catalog,
        default_location,
    )
    from genocat_desktop.engine.catalog.writers import Leftovers, collect_leftovers
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
    from genocat_desktop.engine.core.process import (
        configure_process,
    )
    from genocat_desktop.engine.core.progress import (
        CancelToken,
        Progress,
        ProgressCallback,
        no_progress,
    )
    from genocat_desktop.engine.embed.embedders.esm_onnx import (
        RuntimeOptions,
        get_runtime_options,
        set_runtime_options,
    )
    from genocat_desktop.engine.embed.models import (
        ModelInfo,
        add_model,
        find_model,
        list_models,
        models_dir,
        remove_model,
    )
    from genocat_desktop.engine.ingest.distributed import (
        IngestReport,
        cleanup_orphans,
        plan_ingest,
        ray_available,
    )
    from genocat_desktop.engine.ingest.importer import (
        FileReport,
        ImportReport,
        import_files,
    )
    from genocat_desktop.engine.search.ann import Calibration, SearchEffort
    from genocat_desktop.engine.search.auto_index import auto_index, resume_index
    from genocat_desktop.engine.search.calibration import calibrate
    from genocat_desktop.engine.search.export import (
        export_csv,
        export_fasta,
        export_hits,
    )
    from genocat_desktop.engine.search.indexes import (
        AUTO_INDEX_ROWS,
        IndexInfo,
        IndexStatus,
        VectorIndexParams,
        build_indexes,
        choose_vector_params,
        drop_indexes,
        index_status,
        optimize_indexes,
    )
    from genocat_desktop.engine.search.searcher import (
        Query,
        Searcher,
        SearchResult,
        read_queries,
    )
    from genocat_desktop.engine.search.text import text_search

#: Where each public name lives: ``from genocat_desktop.engine import X`` imports its module on first use.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "TARGETS",
            "BenchmarkResult",
            "Check",
            "Targets",
            "load_results",
            "results_folder",
            "results_table",
            "run_benchmark",
            "save_result",
            "write_synthetic_fasta",
        ),
        "genocat_desktop.engine.benchmark",
    ),
    **dict.fromkeys(
        (
            "EmbedReport",
            "PendingEmbedding",
            "add_embedding",
            "discard_pending_embedding",
            "pending_embeddings",
            "remove_embedding",
            "resolve_column",
            "set_default_embedding",
        ),
        "genocat_desktop.engine.catalog.embeddings",
    ),
    **dict.fromkeys(("OPERATORS", "Condition", "parse_condition", "parse_filter_value", "to_sql"),
                   "genocat_desktop.engine.catalog.query"),
    **dict.fromkeys(
        (
            "FIELD_TYPES",
            "AnnotationPlan",
            "EditReport",
            "FieldSummary",
            "UserField",
            "add_field",
            "annotate",
            "check_field_name",
            "drop_field",
            "list_fields",
            "parse_value",
            "plan_annotations",
            "rename_field",
            "set_cells",
            "set_values",
            "update_field",
            "user_fields",
        ),
        "genocat_desktop.engine.catalog.schema",
    ),
    **dict.fromkeys(
        (
            "Credentials",
            "S3Settings",
            "delete_credentials",
            "load_credentials",
            "resolve_credentials",
            "save_credentials",
            "storage_options",
        ),
        "genocat_desktop.engine.catalog.storage",
    ),
    "check_access": "genocat_desktop.engine.catalog.access",
    "explain_read_failure": "genocat_desktop.engine.catalog.damage",
    **dict.fromkeys(
        ("CatalogInfo", "FieldInfo", "VersionInfo"),
        "genocat_desktop.engine.catalog.summaries",
    ),
    **dict.fromkeys(("Catalog", "default_location"), "genocat_desktop.engine.catalog.table"),
    **dict.fromkeys(
        (
            "BucketNotFoundError",
            "Cancelled",
            "CatalogError",
            "CatalogNotFoundError",
            "EmbedderError",
            "EmbedderMismatchError",
            "EndpointUnreachableError",
            "FastaFormatError",
            "FilterError",
            "GenoCatError",
            "InputError",
            "InsecureEndpointError",
            "ModelNotFoundError",
            "QueryError",
            "SchemaError",
            "StorageAuthError",
            "StorageError",
        ),
        "genocat_desktop.engine.core.errors",
    ),
    **dict.fromkeys(("configure_process",), "genocat_desktop.engine.core.process"),
    **dict.fromkeys(
        ("CancelToken", "Progress", "ProgressCallback", "no_progress"), "genocat_desktop.engine.core.progress"
    ),
    **dict.fromkeys(
        ("RuntimeOptions", "get_runtime_options", "set_runtime_options"),
        "genocat_desktop.engine.embed.embedders.esm_onnx",
    ),
    **dict.fromkeys(
        ("ModelInfo", "add_model", "find_model", "list_models", "models_dir", "remove_model"),
        "genocat_desktop.engine.embed.models",
    ),
    **dict.fromkeys(
        ("IngestReport", "cleanup_orphans", "plan_ingest", "ray_available"),
        "genocat_desktop.engine.ingest.distributed",
    ),
    **dict.fromkeys(("FileReport", "ImportReport", "import_files"), "genocat_desktop.engine.ingest.importer"),
    **dict.fromkeys(("export_csv", "export_fasta", "export_hits"), "genocat_desktop.engine.search.export"),
    **dict.fromkeys(("Calibration", "SearchEffort"), "genocat_desktop.engine.search.ann"),
    "calibrate": "genocat_desktop.engine.search.calibration",
    **dict.fromkeys(
        (
            "AUTO_INDEX_ROWS",
            "IndexInfo",
            "IndexStatus",
            "VectorIndexParams",
            "build_indexes",
            "choose_vector_params",
            "drop_indexes",
            "index_status",
            "optimize_indexes",
        ),
        "genocat_desktop.engine.search.indexes",
    ),
    **dict.fromkeys(("auto_index", "resume_index"), "genocat_desktop.engine.search.auto_index"),
    **dict.fromkeys(("Leftovers", "collect_leftovers"), "genocat_desktop.engine.catalog.writers"),
    "text_search": "genocat_desktop.engine.search.text",
    **dict.fromkeys(("Query", "Searcher", "SearchResult", "read_queries"), "genocat_desktop.engine.search.searcher"),
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


# ``ingest`` names both a sub-package and the public bulk-ingest function. The sub-package is
# imported here first (it is light: an empty ``__init__``), because the first import of any module
# under it sets this attribute to the package; the name is then bound to the function for good.
import genocat_desktop.engine.ingest as _ingest_package  # noqa: E402, F401


def ingest(catalog: Catalog, inputs: Sequence[str | os.PathLike[str]], **options: Any) -> IngestReport:
    """Bulk-ingest FASTA files in parallel tasks, one commit: :func:`~.ingest.distributed.driver.ingest`."""
    from genocat_desktop.engine.ingest.distributed.driver import ingest as run

    return run(catalog, inputs, **options)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
    "Leftovers",
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
    "collect_leftovers",
    "configure_process",
    "default_location",
    "delete_credentials",
    "discard_pending_embedding",
    "drop_field",
    "drop_indexes",
    "explain_read_failure",
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
    "parse_filter_value",
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
    "resume_index",
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
