"""Models (ESM-2 as ONNX), the runtime options, and the catalog's embedding columns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genocat_desktop.app.catalog import CatalogSummary, Change, Session

if TYPE_CHECKING:
    from genocat_desktop.app.jobs import Job, ProgressCallback
    from genocat_desktop.engine import CancelToken, EmbedReport, ModelInfo, RuntimeOptions

__all__ = [
    "EmbedOutcome",
    "EmbeddingRow",
    "ModelsState",
    "add_embedding_job",
    "add_model_job",
    "discard_embedding_job",
    "embedder_label",
    "models_state_job",
    "remove_embedding_job",
    "remove_model_job",
    "runtime_options_job",
    "set_default_embedding_job",
]


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

    models: list[ModelInfo]  # by name
    folder: str
    options: RuntimeOptions
    embeddings: list[EmbeddingRow]
    version: int | None


@dataclass(frozen=True, slots=True)
class EmbedOutcome:
    """A finished embedding run and the catalog as it is afterwards."""

    report: EmbedReport
    summary: CatalogSummary


def embedder_label(record: dict[str, Any]) -> str:
    """What made an embedding, in words, from its embedder record."""
    params = record.get("params", {})
    if record.get("name") == "esm":
        return str(params.get("model", "esm"))
    if record.get("name") == "kmer":
        return f"k-mer, k={params.get('k')}, {params.get('dim')} buckets"
    if record.get("name") == "sketch":
        return f"MinHash sketch (DNA), k={params.get('ksize')}, scaled {params.get('scaled')}"
    return str(record.get("name"))


def _embedding_rows(session: Session) -> tuple[list[EmbeddingRow], int]:
    """The catalog's vector columns and interrupted runs, and its version."""
    from genocat_desktop.engine import pending_embeddings

    catalog = session.catalog
    version = catalog.refresh()
    total = catalog.count()
    default = catalog.default_vector
    rows = [
        EmbeddingRow(column, str(record.get("name")), embedder_label(record), int(record["dim"]), total, total,
                     column == default, False, dict(record))
        for column, record in catalog.vector_columns().items()
    ]
    rows.extend(
        EmbeddingRow(p.column, str(p.record.get("name")), embedder_label(p.record), int(p.record.get("dim", 0)),
                     min(p.done, total), total, False, True, dict(p.record))
        for p in pending_embeddings(catalog)
    )
    return rows, version


def models_state_job(session: Session | None) -> Job[ModelsState]:
    """List installed models, the runtime options and (with a catalog) its embeddings and interrupted runs."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> ModelsState:
        from genocat_desktop.engine import get_runtime_options, list_models, models_dir

        embeddings: list[EmbeddingRow] = []
        version = None
        if session is not None:
            embeddings, version = _embedding_rows(session)
        return ModelsState(list_models(), str(models_dir()), get_runtime_options(), embeddings, version)

    return run


def add_model_job(path: str | os.PathLike[str], *, name: str | None = None, replace: bool = False) -> Job[ModelInfo]:
    """Check and install an ONNX model (copied into the models folder); returns its ``ModelInfo``.

    ``name`` overrides the manifest's; ``replace`` replaces an installed model of that name.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> ModelInfo:
        from genocat_desktop.engine import add_model

        return add_model(path, name=name, replace=replace, progress=progress, cancel=cancel)

    return run


def remove_model_job(name: str) -> Job[str]:
    """Uninstall a model (catalog columns made with it cannot be searched until it is added again)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> str:
        from genocat_desktop.engine import remove_model

        remove_model(name)
        return name

    return run


def runtime_options_job(**options: Any) -> Job[RuntimeOptions]:
    """Set ONNX Runtime options (threads, token budget, GPU, spinning); returns the options in force."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> RuntimeOptions:
        from genocat_desktop.engine import set_runtime_options

        return set_runtime_options(**options)

    return run


def add_embedding_job(session: Session, embedder: str, params: dict[str, Any], *, column: str | None = None,
                      make_default: bool = False) -> Job[EmbedOutcome]:
    """Embed every row into a new vector column (resuming an interrupted run of the same embedder).

    Progress may come from a Lance worker thread; the window's reporter only
    emits a queued signal, which is safe from any thread.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> EmbedOutcome:
        from genocat_desktop.engine import add_embedding

        report = add_embedding(session.catalog, embedder, params, column=column, make_default=make_default,
                               progress=progress, cancel=cancel)
        return EmbedOutcome(report, session.summary())

    return run


def set_default_embedding_job(session: Session, column: str) -> Job[Change]:
    """Make ``column`` the embedding searched when none is chosen."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        from genocat_desktop.engine import set_default_embedding

        set_default_embedding(session.catalog, column)
        return session.change(f"Searches now use {column} by default")

    return run


def remove_embedding_job(session: Session, column: str) -> Job[Change]:
    """Drop a vector column (never the last one; older versions keep it)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        from genocat_desktop.engine import remove_embedding

        remove_embedding(session.catalog, column)
        return session.change(f"Removed the embedding {column}")

    return run


def discard_embedding_job(session: Session, column: str) -> Job[Change]:
    """Delete the saved work of an interrupted embedding run (the catalog itself is not changed)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        from genocat_desktop.engine import discard_pending_embedding

        found = discard_pending_embedding(session.catalog, column)
        message = f"Discarded the interrupted run of {column}" if found else f"No interrupted run of {column}"
        return session.change(message)

    return run
