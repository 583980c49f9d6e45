"""Bulk ingest on many cores or machines (see :mod:`~genocat_desktop.engine.ingest.distributed.driver`).

The modules: ``plan`` (inputs into parts), ``reading`` (one part's bytes), ``tasks`` (what workers
run), ``runners`` (where they run), ``dedup_modes`` and ``dedup`` (the two deduplications),
``driver`` (:func:`ingest`), ``report`` and ``housekeeping`` (leases, orphan cleanup).
"""

from genocat_desktop.engine.ingest.distributed.driver import DEDUP_MODES, ingest
from genocat_desktop.engine.ingest.distributed.housekeeping import CleanupReport, cleanup_orphans
from genocat_desktop.engine.ingest.distributed.plan import DEFAULT_PART_BYTES, IngestPlan, Part, plan_ingest
from genocat_desktop.engine.ingest.distributed.report import IngestReport
from genocat_desktop.engine.ingest.distributed.runners import ENGINES, RAY_RUNTIME_ENV, ray_available

__all__ = [
    "DEDUP_MODES",
    "DEFAULT_PART_BYTES",
    "ENGINES",
    "RAY_RUNTIME_ENV",
    "CleanupReport",
    "IngestPlan",
    "IngestReport",
    "Part",
    "cleanup_orphans",
    "ingest",
    "plan_ingest",
    "ray_available",
]
