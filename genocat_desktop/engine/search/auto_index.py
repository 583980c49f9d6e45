"""The automatic index policy: indexes built and kept up to date after imports, and resumed after a kill.

:func:`auto_index` runs after an import (when the caller asks for it): it builds the indexes once the
catalog reaches :data:`~genocat_desktop.engine.search.indexes.AUTO_INDEX_ROWS` rows, and adds new rows
to existing indexes once they are more than
:data:`~genocat_desktop.engine.search.indexes.OPTIMIZE_FRACTION` of the catalog.

The vector index is built only where it beats exact search (:mod:`.index_policy`): not while the
searcher holds the vectors in RAM (it searches them exactly and would not use one; the scalar and
full-text indexes are still built), and, beyond that, an IVF index only where a measurement on a
sample of the catalog's own vectors says it can prune; otherwise one partition (a compressed scan,
no k-means). The measured decision is stored in the catalog metadata.

An automatic build
runs under a *pending* marker (:func:`~genocat_desktop.engine.catalog.writers.mark_index_pending`) that
stays until its indexes are published, so :func:`resume_index`, when the catalog is next opened,
finishes a build that a kill interrupted.
"""

from __future__ import annotations

from collections.abc import Callable

from genocat_desktop.engine.catalog.commits import lost_to_another_writer
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.catalog.writers import (
    clear_index_pending,
    index_pending,
    live_writers,
    mark_index_pending,
)
from genocat_desktop.engine.core.errors import GenoCatError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.search.index_policy import IndexDecision, plan_vector_index
from genocat_desktop.engine.search.indexes import (
    AUTO_INDEX_ROWS,
    OPTIMIZE_FRACTION,
    IndexStatus,
    build_indexes,
    index_status,
    optimize_indexes,
)

__all__ = ["auto_index", "resume_index"]


def auto_index(
    catalog: Catalog,
    *,
    threshold: int = AUTO_INDEX_ROWS,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> str | None:
    """After an import: build the indexes once the catalog reaches ``threshold`` rows,
    or add new rows to existing indexes once they are more than 5 % of the catalog.

    The vector index is left out while the searcher holds the vectors in RAM, and is one partition
    where IVF cannot prune them (see the module docstring).

    Returns
    -------
    str or None
        ``"built"``, ``"optimized"``, ``"deferred"`` (another process changed the catalog during
        the build: the import is kept, a later one builds them), or ``None`` when nothing was needed.
    """
    status = index_status(catalog)
    vec = status.vector(catalog.default_vector)
    if vec is None:
        # A build that a kill interrupted left its marker: it is resumed whatever the row count.
        if status.rows == 0 or (status.rows < threshold and not index_pending(catalog)):
            return None
        decision = plan_vector_index(catalog, cancel=cancel)
        if decision.action == "none":
            if index_pending(catalog):
                clear_index_pending(catalog)
            return _unless_lost(lambda: _other_indexes(catalog, status, decision, progress, cancel))
        return _unless_lost(lambda: _build_marked(catalog, threshold, progress, cancel, decision))
    if index_pending(catalog):
        clear_index_pending(catalog)  # built since, by another process or by hand
    if vec.rows_unindexed > OPTIMIZE_FRACTION * status.rows:
        return _unless_lost(lambda: _optimize(catalog, progress, cancel))
    return None


def _optimize(catalog: Catalog, progress: ProgressCallback, cancel: CancelToken | None) -> str:
    optimize_indexes(catalog, progress=progress, cancel=cancel)
    return "optimized"


def _other_indexes(catalog: Catalog, status: IndexStatus, decision: IndexDecision, progress: ProgressCallback,
                   cancel: CancelToken | None) -> str | None:
    """No vector index (see ``decision``): build the scalar and full-text indexes, or bring them up to date."""
    progress(Progress(0, None, "steps", "policy", f"No vector index: {decision.reason}"))
    if not status.indexes:
        build_indexes(catalog, vector=False, progress=progress, cancel=cancel)
        return "built"
    if max(i.rows_unindexed for i in status.indexes) > OPTIMIZE_FRACTION * status.rows:
        return _optimize(catalog, progress, cancel)
    return None


def _unless_lost(action: Callable[[], str | None]) -> str | None:
    """Run an automatic index step; one that loses to another process's commit is left for later.

    Another process building the same indexes, or changing the catalog during the build, is no
    failure of the import that asked for them: the rows are committed and the build is retried
    after a later import (``"deferred"``).
    """
    try:
        return action()
    except GenoCatError as exc:
        if not lost_to_another_writer(exc):
            raise
        return "deferred"


def _build_marked(catalog: Catalog, threshold: int, progress: ProgressCallback,
                  cancel: CancelToken | None, decision: IndexDecision | None = None) -> str | None:
    """The automatic build, under a marker that stays until its indexes are published."""
    if live_writers(catalog, "index"):
        return None  # another process is building them now
    decision = decision or plan_vector_index(catalog, cancel=cancel)
    if decision.action == "none":  # (resumed: the catalog is now searched in RAM)
        clear_index_pending(catalog)
        return None
    mark_index_pending(catalog, threshold)
    build_indexes(catalog, decision=decision, progress=progress, cancel=cancel)
    clear_index_pending(catalog)
    return "built"


def resume_index(
    catalog: Catalog, *, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None
) -> str | None:
    """When a catalog is opened: finish an automatic index build that a kill interrupted.

    Returns
    -------
    str or None
        ``"built"``, or ``None`` when no interrupted build was found (cheap: one file look-up).

    Raises
    ------
    Cancelled
        If cancelled; the build is resumed again next time.
    """
    if not index_pending(catalog):
        return None
    status = index_status(catalog)
    if status.vector(catalog.default_vector) is not None or status.rows == 0:
        clear_index_pending(catalog)
        return None
    return _build_marked(catalog, status.auto_threshold, progress, cancel)
