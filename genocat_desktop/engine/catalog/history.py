"""Version history: what a catalog version changed, for versions without a commit message.

Lance's schema-only operations (add, rename, drop a column) take no commit
message; :func:`version_description` says what they did from the schema
difference. :meth:`Catalog.versions <genocat_desktop.engine.catalog.table.Catalog.versions>`
calls it, so this module does not import the table: it reads a catalog
through the small :class:`VersionSource` protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from genocat_desktop.engine.catalog.definitions import field_definition

if TYPE_CHECKING:
    import lance

__all__ = ["VersionSource", "describe_schema_change", "lance_ids", "version_description"]


class VersionSource(Protocol):
    """Anything that opens a catalog's dataset at a version (a :class:`~.table.Catalog`)."""

    def dataset(self, version: int | None = None) -> Any:
        """The Lance dataset at ``version`` (the latest if ``None``)."""
        ...


def describe_schema_change(before: pa.Schema | None, after: pa.Schema) -> str:
    """Describe what changed between two schemas, for versions that carry no message.

    Lance's schema-only operations (add, rename, drop) take no commit
    message; this says "schema: rename field 'a' to 'b'" instead.
    Field ids identify a field across a rename.
    """

    def ids(schema: pa.Schema | None) -> dict[int, pa.Field]:
        out: dict[int, pa.Field] = {}
        for f in schema or []:
            fid = (f.metadata or {}).get(b"__lance_field_id")
            out[int(fid) if fid is not None else -len(out) - 1] = f
        return out

    old, new = ids(before), ids(after)
    if all(k < 0 for k in [*old, *new]):
        # No ids available: compare by name.
        old_names = {f.name for f in old.values()}
        new_names = {f.name for f in new.values()}
        added = [f for f in new.values() if f.name not in old_names]
        dropped = [f.name for f in old.values() if f.name not in new_names]
        renamed: list[tuple[str, str]] = []
    else:
        added = [f for k, f in new.items() if k not in old]
        dropped = [f.name for k, f in old.items() if k not in new]
        renamed = [(old[k].name, f.name) for k, f in new.items() if k in old and old[k].name != f.name]
    parts = [f"add field {f.name!r} ({field_definition(f).describe()})" for f in added]
    parts += [f"rename field {a!r} to {b!r}" for a, b in renamed]
    parts += [f"drop field {n!r}" for n in dropped]
    return "schema: " + "; ".join(parts) if parts else ""


def lance_ids(ds: lance.LanceDataset) -> pa.Schema:
    """The dataset's Arrow schema with each top-level field's Lance id in its metadata."""
    ids = {f.name(): int(f.id()) for f in ds.lance_schema.fields()}
    return pa.schema(
        [f.with_metadata({**(f.metadata or {}), b"__lance_field_id": str(ids.get(f.name, -1)).encode()})
         for f in ds.schema]
    )


def version_description(catalog: VersionSource, version: int) -> str:
    """What a version without a commit message changed in the schema ('' if nothing)."""
    try:
        after = catalog.dataset(version)
        tx = after.read_transaction(version)
        if tx is not None and type(tx.operation).__name__ == "Restore":
            return f"restore version {getattr(tx.operation, 'version', '?')}"
        before = catalog.dataset(version - 1) if version > 1 else None
    except (OSError, ValueError, AttributeError):
        return ""
    return describe_schema_change(lance_ids(before) if before is not None else None, lance_ids(after))
