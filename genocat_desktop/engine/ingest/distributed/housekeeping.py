"""Storage housekeeping of bulk ingests: leases, discarding uncommitted fragments, and orphan cleanup."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from genocat_desktop.engine.catalog.filesystems import catalog_filesystem
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.catalog.writers import REMOTE_SLACK_SECONDS, live_writers
from genocat_desktop.engine.core.errors import StorageError

__all__ = ["LEASE_DIR", "LEASE_TTL", "CleanupReport", "Lease", "cleanup_orphans", "discard_fragments"]

#: Where ingest leases live, next to the table (``<catalog>/_genocat/leases``).
LEASE_DIR: Final = "_genocat/leases"
#: A lease older than this is considered dead (its ingest crashed without removing it).
LEASE_TTL: Final = timedelta(hours=24)


def discard_fragments(catalog: Catalog, fragments: list[Any]) -> None:
    """Delete the data files of fragments that were written but never committed."""
    if not fragments:
        return
    with contextlib.suppress(Exception):
        fs, base = catalog_filesystem(catalog.uri, catalog.storage_options)
        for frag in fragments:
            for f in frag.files:
                with contextlib.suppress(OSError):
                    fs.delete_file(f"{base}/data/{f.path}")


class Lease:
    """A marker object saying "an ingest is running on this catalog" (for :func:`cleanup_orphans`)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.path: str | None = None

    def take(self) -> None:
        fs, base = catalog_filesystem(self.catalog.uri, self.catalog.storage_options)
        folder = f"{base.rsplit('/', 1)[0]}/{LEASE_DIR}"
        with contextlib.suppress(OSError):
            fs.create_dir(folder, recursive=True)
        path = f"{folder}/ingest-{uuid.uuid4().hex}.json"
        body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                           "started": datetime.now(UTC).isoformat(timespec="seconds")}).encode()
        try:
            with fs.open_output_stream(path) as out:
                out.write(body)
        except OSError as exc:
            raise StorageError(f"cannot write to {self.catalog.location}: {exc}") from None
        self.path = path

    def release(self) -> None:
        if self.path is not None:
            with contextlib.suppress(Exception):
                fs, _ = catalog_filesystem(self.catalog.uri, self.catalog.storage_options)
                fs.delete_file(self.path)
            self.path = None


@dataclass(slots=True)
class CleanupReport:
    """What :func:`cleanup_orphans` found and removed."""

    orphans: list[str] = field(default_factory=list)  # unreferenced data files old enough to delete
    kept_recent: int = 0  # unreferenced but younger than min_age (maybe a write in progress)
    deleted: int = 0
    bytes: int = 0


def cleanup_orphans(
    catalog: Catalog, *, min_age: timedelta = timedelta(hours=6), dry_run: bool = False
) -> CleanupReport:
    """Delete data files no version of the catalog refers to (left by crashed writers).

    Safe while people search and even while a local import runs: only files
    older than ``min_age`` that no stored version references and that are older
    than every running writer (:mod:`~genocat_desktop.engine.catalog.writers`)
    are deleted, and nothing while an ingest holds a lease on the catalog.

    Raises
    ------
    StorageError
        If an ingest lease younger than :data:`LEASE_TTL` exists (an ingest may be running).
    """
    import pyarrow.fs as pafs

    fs, base = catalog_filesystem(catalog.uri, catalog.storage_options)
    now = datetime.now(UTC)
    leases = fs.get_file_info(pafs.FileSelector(f"{base.rsplit('/', 1)[0]}/{LEASE_DIR}", allow_not_found=True))
    live = [i for i in leases if i.type == pafs.FileType.File and i.mtime and now - _utc(i.mtime) < LEASE_TTL]
    if live:
        raise StorageError(
            f"an ingest may be running on {catalog.location} ({len(live)} lease(s), newest "
            f"{max(_utc(i.mtime) for i in live):%Y-%m-%d %H:%M} UTC); clean up when it has finished"
        )
    # Files a running writer (an import, an index build) may still commit are younger than its record.
    first_live = min((r.started for r in live_writers(catalog)), default=float("inf")) - REMOTE_SLACK_SECONDS
    ds = catalog.dataset()
    referenced: set[str] = set()
    for v in ds.versions():
        for frag in catalog.dataset(int(v["version"])).get_fragments():
            referenced.update(f.path for f in frag.metadata.files)
    report = CleanupReport()
    files = fs.get_file_info(pafs.FileSelector(f"{base}/data", allow_not_found=True))
    for info in files:
        if info.type != pafs.FileType.File or info.base_name in referenced:
            continue
        if info.mtime is None or now - _utc(info.mtime) < min_age or _utc(info.mtime).timestamp() >= first_live:
            report.kept_recent += 1
            continue
        report.orphans.append(info.base_name)
        report.bytes += int(info.size or 0)
        if not dry_run:
            fs.delete_file(info.path)
            report.deleted += 1
    # Spill folders of hash-partitioned deduplications whose ingest died (a finished one deletes its own).
    spills = fs.get_file_info(pafs.FileSelector(f"{base.rsplit('/', 1)[0]}/_genocat/spill", allow_not_found=True))
    for info in spills:
        if info.type != pafs.FileType.Directory:
            continue
        if info.mtime is not None and now - _utc(info.mtime) < min_age:
            report.kept_recent += 1
            continue
        report.orphans.append(f"spill/{info.base_name}/")
        if not dry_run:
            fs.delete_dir(info.path)
            report.deleted += 1
    return report


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)
