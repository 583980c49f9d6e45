"""The Arrow rows of new catalog records, shared by the local import and the distributed write tasks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genocat_desktop.engine.catalog.schema import field_default
from genocat_desktop.engine.core.progress import CancelToken
from genocat_desktop.engine.ingest.headers import parse_headers_arrow
from genocat_desktop.engine.ingest.records import MOL_AMBIGUOUS, MOL_DNA, MOL_RNA, MOLECULES

__all__ = ["MOLECULE_NAMES", "RowContext", "build_rows", "embedder_key", "gather_records"]

#: Molecule names indexed by molecule code (``MOL_AMBIGUOUS`` reads as protein).
MOLECULE_NAMES: Final = np.array([*MOLECULES, "protein"], dtype=object)
#: The same names as an Arrow array, indexed by molecule code (``take``).
_MOLECULE_ARROW: Final = pa.array(MOLECULE_NAMES.tolist(), pa.string())


@dataclass(slots=True)
class RowContext:
    """What the rows of one file (or one part of it) share.

    Attributes
    ----------
    ids
        Identifiers of the valid records by position (``ids[pos + j]``); a header without one
        was named ``<file>#<record>`` by the scan.
    aliases
        Position -> identifiers appended to that row's ``aliases``.
    majority
        The molecule code that records too short to tell take.
    source
        The file name written to ``source_file``.
    now
        The ``imported_at`` time.
    embedders
        Vector column -> embedder.
    schema
        The catalog's schema (user fields included).
    cancel
        Checked by slow (model) embedders between their own small batches.
    """

    ids: list[str]
    aliases: dict[int, list[str]]
    majority: int
    source: str
    now: datetime
    embedders: dict[str, Any]
    schema: pa.Schema
    cancel: CancelToken | None = None


def build_rows(
    ctx: RowContext,
    batch: Any,
    sel: np.ndarray,
    pos: int,
    *,
    vectors: dict[str, np.ndarray] | None = None,
    headers: dict[str, pa.Array] | None = None,
    on_embedded: Callable[[int], None] | None = None,
) -> pa.Table:
    """Build the Arrow rows for the selected records of one parsed batch.

    Parameters
    ----------
    ctx
        What the rows of the file share.
    batch
        A :class:`~genocat_desktop.engine.ingest.records.ParsedBatch`.
    sel
        Batch-local indices of the records to build, sorted.
    pos
        Position of the batch's first record among the file's valid records.
    vectors, headers
        When given, already computed for every record of the batch: vectors by vector column,
        and :func:`parse_headers_arrow` of the batch's titles.
    on_embedded
        Called with the records embedded so far by slow (model) embedders.

    Returns
    -------
    pyarrow.Table
        The rows, in the catalog's schema.
    """
    # Columns are built whole (Arrow kernels, numpy buffers): a Python object per
    # value and column cost more than the parsing, hashing and embedding together.
    n = sel.size
    whole = n == len(batch)
    cols = _header_columns(ctx, batch, sel, pos, headers)
    if whole:
        packed: Any = batch.data
        sub_off = batch.offsets
    else:
        packed, sub_off = gather_records(np.frombuffer(batch.data, dtype=np.uint8), batch.offsets, sel)
    mol = batch.molecule[sel].copy()
    mol[mol == MOL_AMBIGUOUS] = ctx.majority
    hashes = np.ascontiguousarray(batch.hashes[sel])
    stamp = pa.scalar(ctx.now, pa.timestamp("us", tz="UTC")).value
    arrays: dict[str, pa.Array] = {
        "seq_hash": pa.StringArray.from_buffers(
            n, pa.py_buffer(np.arange(0, 32 * (n + 1), 32, dtype=np.int32)), pa.py_buffer(hashes)
        ),
        "sequence": pa.StringArray.from_buffers(n, pa.py_buffer(sub_off.astype(np.int32)), pa.py_buffer(packed)),
        "length": pa.array(np.diff(sub_off).astype(np.int32)),
        "molecule": _MOLECULE_ARROW.take(pa.array(mol)),
        "source_file": pa.array([ctx.source], pa.string()).take(pa.array(np.zeros(n, dtype=np.int32))),
        "imported_at": pa.array(np.full(n, stamp, dtype=np.int64), pa.timestamp("us", tz="UTC")),
    }
    for col_name, values in cols.items():
        if col_name not in ctx.schema.names:
            continue  # the gene fields (cds_*) of a header, in a catalog without them
        wanted = ctx.schema.field(col_name).type
        arrays[col_name] = values if values.type == wanted else values.cast(wanted)
    for col, emb in ctx.embedders.items():
        if hasattr(emb, "sketch_packed"):  # a MinHash sketch column: hashes per row, not a vector
            arrays[col] = emb.sketch_packed(packed, sub_off, (mol == MOL_DNA) | (mol == MOL_RNA))
            continue
        if vectors is not None and col in vectors:
            vecs = vectors[col] if whole else vectors[col][sel]
        else:
            vecs = _embed(ctx, emb, packed, sub_off, mol, on_embedded)
        flat = np.ascontiguousarray(vecs, dtype=np.float32).reshape(-1)
        arrays[col] = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), emb.dim)
    return pa.Table.from_arrays([_fill(arrays, f, n) for f in ctx.schema], schema=ctx.schema)


def _header_columns(
    ctx: RowContext, batch: Any, sel: np.ndarray, pos: int, headers: dict[str, pa.Array] | None
) -> dict[str, pa.Array]:
    """The columns parsed from the selected records' headers, with ``id``, ``accession``, ``name`` and aliases."""
    n = sel.size
    whole = n == len(batch)
    picked = sel.tolist()
    if headers is not None:
        index = None if whole else pa.array(sel)
        cols = {name: values if index is None else values.take(index) for name, values in headers.items()}
    else:
        cols = parse_headers_arrow(batch.titles if whole else [batch.titles[j] for j in picked])
    ids = pa.array(ctx.ids[pos : pos + n] if whole else [ctx.ids[pos + j] for j in picked], pa.string())
    cols["id"] = ids
    acc = cols["accession"]
    cols["accession"] = pc.if_else(pc.fill_null(pc.equal(acc, ""), True), ids, acc)
    name = cols["name"]
    cols["name"] = pc.if_else(pc.fill_null(pc.equal(name, ""), False), pa.scalar(None, pa.string()), name)
    aliases = ctx.aliases
    if aliases and any(pos + j in aliases for j in picked):
        cols["aliases"] = pa.array(
            [list(al) + aliases.get(pos + j, []) for al, j in zip(cols["aliases"].to_pylist(), picked, strict=True)],
            pa.list_(pa.string()),
        )
    return cols


def _embed(
    ctx: RowContext, emb: Any, packed: Any, offsets: np.ndarray, mol: np.ndarray,
    on_embedded: Callable[[int], None] | None,
) -> Any:
    """Vectors of the packed records from one embedder (its packed fast path when it has one)."""
    if hasattr(emb, "embed_packed"):
        return emb.embed_packed(packed, offsets, (mol == MOL_DNA) | (mol == MOL_RNA))
    raw, o = bytes(packed), offsets.tolist()
    seqs = [raw[o[i] : o[i + 1]].decode() for i in range(len(o) - 1)]
    molecules = MOLECULE_NAMES[mol].tolist()
    if getattr(emb, "cancellable", False):
        # Slow (model) embedders check the token between their own small batches.
        return emb.embed(seqs, molecules, cancel=ctx.cancel, on_progress=on_embedded)
    return emb.embed(seqs, molecules)


def gather_records(arr: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pack the records ``rows`` of a packed buffer into a new one.

    Parameters
    ----------
    arr
        The packed residues (``uint8``).
    offsets
        Record ``i`` is ``arr[offsets[i]:offsets[i + 1]]``.
    rows
        The records to keep, sorted.

    Returns
    -------
    tuple
        The new buffer and its offsets.
    """
    starts, ends = offsets[rows], offsets[rows + 1]
    lens = ends - starts
    new_off = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lens, out=new_off[1:])
    if new_off[-1] == 0:
        return arr[:0], new_off
    idx = np.repeat(starts - new_off[:-1], lens) + np.arange(new_off[-1])
    return arr[idx], new_off


def embedder_key(emb: Any) -> tuple[Any, ...]:
    """What makes two embedders give the same vectors: name, version, dimension and parameters."""
    return emb.name, emb.version, emb.dim, json.dumps(emb.params(), sort_keys=True)


def _fill(arrays: dict[str, pa.Array], f: pa.Field, n: int) -> pa.Array:
    # User fields added by the schema editor start empty for new rows, or with the field's default.
    if f.name in arrays:
        return arrays[f.name]
    default = field_default(f)
    if default is None:
        return pa.nulls(n, f.type)
    return pa.array([default], f.type).take(pa.array(np.zeros(n, dtype=np.int32)))
