"""User fields, their values, annotation from a spreadsheet, and the catalog's versions.

Every change returns a :class:`~genocat_desktop.app.catalog.Change` (the
catalog's new summary), so that the window refreshes what it shows and the
CLI prints the new version.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genocat_desktop.app.catalog import Change, Session

if TYPE_CHECKING:
    import pyarrow as pa

    from genocat_desktop.app.jobs import Job, ProgressCallback
    from genocat_desktop.engine import AnnotationPlan, CancelToken, Condition, FieldSummary, VersionInfo

__all__ = [
    "AnnotationPreview",
    "SchemaState",
    "ValueEdit",
    "VersionView",
    "add_field_job",
    "annotate_job",
    "check_name_job",
    "drop_field_job",
    "plan_annotations_job",
    "rename_field_job",
    "restore_job",
    "schema_state_job",
    "set_cells_job",
    "set_values_job",
    "spreadsheet_header",
    "update_field_job",
    "version_view_job",
]


@dataclass(frozen=True, slots=True)
class SchemaState:
    """What the schema page shows: every field (with value counts) and the versions."""

    fields: list[FieldSummary]
    versions: list[VersionInfo]  # oldest first
    version: int


@dataclass(frozen=True, slots=True)
class VersionView:
    """The catalog as of an older version: its fields and its first rows (read-only)."""

    version: int
    rows: pa.Table
    total: int
    fields: list[FieldSummary]


@dataclass(frozen=True, slots=True)
class AnnotationPreview:
    """An engine ``AnnotationPlan`` and the spreadsheet columns left out (not user fields)."""

    plan: AnnotationPlan
    ignored: list[str]


@dataclass(frozen=True, slots=True)
class ValueEdit:
    """Which rows get one value of a field.

    Attributes
    ----------
    hashes
        Rows by ``seq_hash`` (``None``: not chosen this way).
    conditions
        Rows matching every condition.
    all_rows
        Every row.
    """

    hashes: Sequence[str] | None = None
    conditions: Sequence[Condition] = ()
    all_rows: bool = False


def schema_state_job(session: Session) -> Job[SchemaState]:
    """List the fields (with how many rows hold a value) and the stored versions."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> SchemaState:
        from genocat_desktop.engine import list_fields

        version = session.catalog.refresh()
        return SchemaState(list_fields(session.catalog), session.catalog.versions(), version)

    return run


def check_name_job(session: Session, name: str, exclude: str | None = None) -> Job[str]:
    """Check a new field name (raises the engine's ``SchemaError`` with the reason)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> str:
        from genocat_desktop.engine import check_field_name

        session.catalog.refresh()
        return check_field_name(session.catalog, name, exclude=exclude)

    return run


def add_field_job(
    session: Session,
    name: str,
    type: str,
    *,
    allowed: Sequence[str] | None = None,
    default: str | None = None,
    description: str = "",
) -> Job[Change]:
    """Add a user field (``default`` as text, parsed by the engine for the type; empty means none)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        from genocat_desktop.engine import add_field

        add_field(session.catalog, name, type, allowed=allowed, default=default or None, description=description,
                  progress=progress, cancel=cancel)
        return session.change(f"Added the field {name!r} ({type})")

    return run


def rename_field_job(session: Session, old: str, new: str) -> Job[Change]:
    """Rename a user field."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        from genocat_desktop.engine import rename_field

        rename_field(session.catalog, old, new)
        return session.change(f"Renamed {old!r} to {new!r}")

    return run


def drop_field_job(session: Session, name: str) -> Job[Change]:
    """Drop a user field (its values stay in older versions)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        from genocat_desktop.engine import drop_field

        drop_field(session.catalog, name)
        return session.change(f"Dropped the field {name!r}")

    return run


def update_field_job(session: Session, name: str, *, description: str | None = None,
                     allowed: Sequence[str] | None = None) -> Job[Change]:
    """Change a user field's description or a category's allowed values."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        from genocat_desktop.engine import update_field

        update_field(session.catalog, name, description=description, allowed=allowed)
        return session.change(f"Updated the field {name!r}")

    return run


def set_values_job(session: Session, name: str, value: str | None, hashes: Sequence[str] | ValueEdit) -> Job[Change]:
    """Give ``name`` one value (text, parsed for its type; ``None`` or empty clears) on some rows.

    Parameters
    ----------
    session
        The open catalog.
    name
        The user field.
    value
        The value as text.
    hashes
        The rows by ``seq_hash`` (the window's selection), or a :class:`ValueEdit`
        (filters, or every row: the CLI's ``genocat set``).

    Returns
    -------
    Job[Change]
        The change carries the engine's report (``rows`` changed, ``message``).
    """
    edit = hashes if isinstance(hashes, ValueEdit) else ValueEdit(hashes=list(hashes))

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        from genocat_desktop.engine import set_values

        report = set_values(session.catalog, name, value, hashes=list(edit.hashes) if edit.hashes is not None else None,
                            conditions=list(edit.conditions), all_rows=edit.all_rows, progress=progress,
                            cancel=cancel)
        return session.change(report.message, report)

    return run


def set_cells_job(session: Session, name: str, values: dict[str, str | None]) -> Job[Change]:
    """Give rows (by ``seq_hash``) each its own value of ``name`` (cells edited in the browser)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        from genocat_desktop.engine import set_cells

        report = set_cells(session.catalog, name, values, progress=progress, cancel=cancel)
        return session.change(report.message, report)

    return run


def spreadsheet_header(path: str) -> list[str]:
    """The header row of a CSV/TSV, split the way the engine splits it (tab, ';' or ',').

    An unreadable file gives ``[]``: the engine then says what is wrong with it.
    """
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            first = fh.readline()
    except OSError:
        return []
    if Path(path).suffix.lower() in (".tsv", ".tab") or first.count("\t") > first.count(","):
        delimiter = "\t"
    elif first.count(";") > first.count(","):
        delimiter = ";"
    else:
        delimiter = ","
    return [h.strip() for h in next(csv.reader([first], delimiter=delimiter), [])]


def plan_annotations_job(session: Session, path: str, key: str) -> Job[AnnotationPreview]:
    """Read a CSV/TSV of annotations and work out what it would change (nothing is written).

    Columns of the spreadsheet that are not user fields of the catalog (a
    lab's sheet often has more) are left out and listed in the preview; when
    none is a user field, the engine's message says which column to add.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> AnnotationPreview:
        from genocat_desktop.engine import plan_annotations, user_fields

        session.catalog.refresh()
        header = [h for h in spreadsheet_header(path) if h and h != key]
        fields = user_fields(session.catalog)
        columns = [h for h in header if h in fields]
        ignored = [h for h in header if h not in fields] if columns else []
        plan = plan_annotations(session.catalog, path, key=key, columns=columns or None)
        return AnnotationPreview(plan, ignored)

    return run


def annotate_job(session: Session, plan: AnnotationPlan) -> Job[Change]:
    """Write an annotation plan as one version; the change carries the engine's report."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        from genocat_desktop.engine import annotate

        report = annotate(session.catalog, plan, progress=progress, cancel=cancel)
        return session.change(report.message, report)

    return run


def version_view_job(session: Session, version: int, limit: int = 200) -> Job[VersionView]:
    """The fields and first ``limit`` rows (without vectors) of the catalog as of ``version``."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> VersionView:
        from genocat_desktop.engine import list_fields

        ds = session.catalog.dataset(version)
        vectors = set(session.catalog.vector_columns())
        columns = [n for n in ds.schema.names if n not in vectors]
        rows = ds.to_table(columns=columns, limit=limit)
        return VersionView(version, rows, ds.count_rows(), list_fields(session.catalog, counts=False, version=version))

    return run


def restore_job(session: Session, version: int) -> Job[Change]:
    """Make ``version``'s content the latest version again."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Change:
        session.catalog.restore(version)
        return session.change(f"Restored version {version}")

    return run
