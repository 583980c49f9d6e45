"""Aligned search beyond the embedding's candidates: the sequences in RAM, the rows aligned, the ranking.

The ``sensitive`` and ``exhaustive`` modes (:mod:`.modes`) align rows that the vectors did not
propose. They need each row's sequence without a Lance read per query: :class:`SequenceStores`
keeps, per catalog version and molecule kind, the row addresses and sequences (loaded per fragment
and reused across versions, as :mod:`.vectors` does for the vectors), and for proteins the seed
index of :mod:`.seeds`, extended with the new fragments after an import instead of rebuilt.

:func:`align_rows` aligns a query to the chosen rows (:func:`.alignment.align_to`), ranks them by
bit score (raw score, then row, breaking ties) and applies the cut-offs on alignment columns
(:func:`split_conditions`: ``evalue <= 1e-3``, ``identity >= 0.4`` ...) before keeping ``k``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.query import Condition
from genocat_desktop.engine.core.errors import FilterError
from genocat_desktop.engine.core.progress import CancelToken, ProgressCallback, no_progress
from genocat_desktop.engine.search.locate import LONG_RECORD

__all__ = [
    "ALIGNMENT_FIELDS",
    "TRACED_FIELDS",
    "Aligned",
    "SequenceStore",
    "SequenceStores",
    "align_rows",
    "alignment_mask",
    "ranked_alignment",
    "split_conditions",
    "untraced",
]

#: Alignment columns a filter may name; applied to the aligned hits, not by Lance.
ALIGNMENT_FIELDS: Final = frozenset({"aln_score", "bits", "evalue", "identity", "query_cov", "target_cov"})
#: The alignment columns that need a traceback (the others come from the score-only pass).
TRACED_FIELDS: Final = frozenset({"identity", "query_cov", "target_cov"})
#: A store up to this many residues keeps its sequences encoded for the aligner (about a byte a
#: residue), which saves encoding them for every query.
ENCODED_MAX_RESIDUES: Final = 64_000_000
_COMPARE: Final = {
    "=": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
}
#: The molecule filter of each kind's rows.
KIND_SQL: Final = {"nucleotide": "molecule IN ('dna', 'rna')", "protein": "molecule = 'protein'"}
#: The rows each kind's store aligns: long nucleotide records are located instead (:mod:`.locate`).
STORE_SQL: Final = {**KIND_SQL, "nucleotide": f"{KIND_SQL['nucleotide']} AND length < {LONG_RECORD}"}


def split_conditions(conditions: Sequence[Condition]) -> tuple[list[Condition], list[Condition]]:
    """The conditions Lance evaluates (catalog fields) and those on alignment columns, apart.

    Raises
    ------
    FilterError
        For an alignment column with an operator other than a comparison, or a value that is no number.
    """
    catalog, aligned = [], []
    for c in conditions:
        if c.field not in ALIGNMENT_FIELDS:
            catalog.append(c)
            continue
        if c.op not in _COMPARE:
            raise FilterError(f"{c.field} is an alignment column: compare it with one of {', '.join(_COMPARE)}")
        try:
            value = float(str(c.value).replace(",", "").replace("_", ""))
        except ValueError:
            raise FilterError(f"{c.field} {c.op} needs a number, not {c.value!r}") from None
        if math.isnan(value):
            raise FilterError(f"{c.field} {c.op} needs a number, not {c.value!r}")
        aligned.append(Condition(c.field, c.op, value))
    return catalog, aligned


def untraced(stats: dict[str, np.ndarray], traced: Sequence[int]) -> None:
    """Mark identity and coverage unknown (NaN) for the targets aligned without a traceback.

    A cut-off such as ``identity < 0.9`` must not keep a row whose identity was never computed.
    """
    n = len(stats["aln_score"])
    missing = np.ones(n, dtype=bool)
    missing[np.asarray(traced, dtype=np.int64)] = False
    for name in ("identity", "query_cov", "target_cov"):
        values = np.asarray(stats[name], dtype=np.float64).copy()
        values[missing] = np.nan
        stats[name] = values


def alignment_mask(stats: dict[str, np.ndarray], conditions: Sequence[Condition]) -> np.ndarray:
    """Which aligned hits pass every condition on alignment columns (NaN never passes)."""
    n = len(next(iter(stats.values()))) if stats else 0
    keep = np.ones(n, dtype=bool)
    for c in conditions:
        values = np.asarray(stats[c.field], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            keep &= _COMPARE[c.op](values, float(c.value)) & ~np.isnan(values)
    return keep


@dataclass(slots=True)
class _Piece:
    signature: tuple[Any, ...]
    ids: np.ndarray
    sequences: pa.Array


@dataclass(slots=True)
class SequenceStore:
    """One molecule kind's rows of one catalog version: sorted row addresses and their sequences."""

    version: int
    kind: str
    ids: np.ndarray
    sequences: pa.Array
    residues: int
    fragments: tuple[int, ...]
    seeds: Any = None  # the seed index (:class:`.seeds.SeedIndex`), built on first use
    seed_fragments: tuple[int, ...] = ()
    whole: Any = None  # every sequence encoded for the aligner (:meth:`encoded`), built on first use

    def encoded(self, positions: np.ndarray) -> Any:
        """The rows at ``positions`` (sorted, unique) encoded for the batch aligner, from the whole store
        encoded once; ``None`` for a store over :data:`ENCODED_MAX_RESIDUES` (encoded per query)."""
        if self.residues > ENCODED_MAX_RESIDUES:
            return None
        if self.whole is None:
            from genocat_desktop.engine.search.alignment import encoded
            from genocat_desktop.engine.search.scoring import NUCLEOTIDE, PROTEIN

            # Two threads may both build it: the same result, one kept.
            self.whole = encoded(self.sequences.to_pylist(), PROTEIN if self.kind == "protein" else NUCLEOTIDE)
        if positions.size == self.ids.size:
            return self.whole
        return self.whole.extract(positions.tolist())

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Positions in this store of the row addresses ``ids`` (those absent dropped)."""
        if self.ids.size == 0 or ids.size == 0:
            return np.empty(0, dtype=np.int64)
        ids = np.asarray(ids, dtype=np.uint64)
        pos = np.minimum(np.searchsorted(self.ids, ids), self.ids.size - 1)
        return pos[self.ids[pos] == ids].astype(np.int64)


@dataclass(slots=True)
class SequenceStores:
    """Per-kind :class:`SequenceStore` of the latest version searched, reusing unchanged fragments."""

    stores: dict[str, SequenceStore] = field(default_factory=dict)
    pieces: dict[str, dict[int, _Piece]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, ds: Any, kind: str, cancel: CancelToken | None = None) -> SequenceStore:
        """The store of ``kind`` (``"protein"`` or ``"nucleotide"``) at the version of ``ds``."""
        import pyarrow.compute as pc

        with self.lock:
            old = self.stores.get(kind)
            if old is not None and old.version == ds.version:
                return old
            previous = self.pieces.get(kind, {})
            fields = [ds.lance_schema.field(name).id() for name in ("sequence", "molecule")]
            pieces: dict[int, _Piece] = {}
            for frag in ds.get_fragments():
                meta = frag.metadata
                d = meta.deletion_file
                deletions = (d.id, d.read_version, d.num_deleted_rows) if d is not None else None
                signature = (deletions, tuple(sorted(f.path for f in meta.files if set(fields) & set(f.fields))))
                piece = previous.get(frag.fragment_id)
                if piece is None or piece.signature != signature:
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    table = frag.to_table(columns=["sequence"], filter=STORE_SQL[kind], with_row_address=True)
                    piece = _Piece(signature, np.asarray(table.column("_rowaddr").to_numpy(), np.uint64),
                                   table.column("sequence").combine_chunks())
                pieces[frag.fragment_id] = piece
            order = sorted(pieces)
            ids = np.concatenate([pieces[i].ids for i in order]) if order else np.empty(0, np.uint64)
            chunks = [pieces[i].sequences for i in order]
            sequences = pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())
            start = 0
            for i in order:  # the pieces keep slices of this array, not copies of their own (0.36 GB at 1M)
                size = len(pieces[i].sequences)
                pieces[i].sequences = sequences.slice(start, size)
                start += size
            residues = int(pc.sum(pc.binary_length(sequences)).as_py() or 0) if len(sequences) else 0
            store = SequenceStore(ds.version, kind, ids, sequences, residues, tuple(order))
            if old is not None and old.seeds is not None:
                _carry_seeds(old, store, pieces, previous)
            self.stores[kind], self.pieces[kind] = store, pieces
            return store

    def seeds(self, store: SequenceStore, progress: ProgressCallback = no_progress,
              cancel: CancelToken | None = None) -> Any:
        """The seed index of ``store``, built (or extended with new fragments) on first use.

        Protein rows get :class:`.seeds.SeedParams`'s defaults, nucleotide rows
        :data:`.seeds.NUCLEOTIDE_SEEDS` (exact words, both strands).
        """
        from genocat_desktop.engine.search.seeds import NUCLEOTIDE_SEEDS, SeedIndex

        with self.lock:
            if store.seeds is not None and store.seed_fragments == store.fragments:
                return store.seeds
            if store.seeds is not None:
                known = set(store.seed_fragments)
                pieces = self.pieces[store.kind]
                new = [pieces[i] for i in store.fragments if i not in known]
                for piece in new:
                    # the Arrow arrays themselves: no Python strings (~0.4 GB at 1M proteins)
                    store.seeds = store.seeds.extend(piece.ids.astype(np.int64), piece.sequences)
            else:
                store.seeds = SeedIndex.build(store.ids.astype(np.int64), store.sequences,
                                              progress=progress, cancel=cancel,
                                              params=NUCLEOTIDE_SEEDS if store.kind == "nucleotide" else None)
            store.seed_fragments = store.fragments
            return store.seeds


def _carry_seeds(old: SequenceStore, new: SequenceStore, pieces: dict[int, _Piece],
                 previous: dict[int, _Piece]) -> None:
    """Keep the old seed index when the new version only appended fragments (an import)."""
    for fid in old.seed_fragments:
        if fid not in pieces or pieces[fid] is not previous.get(fid):
            return  # a fragment changed or went (a delete, a compaction): rebuild on first use
    new.seeds, new.seed_fragments = old.seeds, old.seed_fragments


@dataclass(slots=True)
class Aligned:
    """A query's aligned hits, best first: row addresses and their alignment columns."""

    ids: np.ndarray
    stats: dict[str, np.ndarray]
    examined: int


def align_rows(
    query: str,
    molecule: str,
    store: SequenceStore,
    positions: np.ndarray,
    residues: int,
    k: int,
    conditions: Sequence[Condition] = (),
    strands: np.ndarray | None = None,
) -> Aligned:
    """Align ``query`` to the rows of ``store`` at ``positions``; the best ``k`` that pass ``conditions``.

    Parameters
    ----------
    query, molecule
        The normalised query and its molecule type.
    store, positions
        The rows to align (positions in ``store``).
    residues
        Residues of the whole catalog (the E-value's search space).
    k
        Hits to keep.
    conditions
        Cut-offs on alignment columns (:func:`split_conditions`).
    strands
        Per position, the nucleotide strands to align (:func:`.alignment.align_to`); ``None``: both.

    Returns
    -------
    Aligned
        Ranked by bit score (for schemes without statistics, raw score), then raw score, then row.
    """
    positions, first = np.unique(np.asarray(positions, dtype=np.int64), return_index=True)
    targets = store.sequences.take(pa.array(positions)).to_pylist() if positions.size else []
    ids = store.ids[positions]
    order, stats = ranked_alignment(query, molecule, targets, [molecule] * len(targets), residues, k, conditions,
                                    tiebreak=ids, database=store.encoded(positions) if positions.size else None,
                                    strands=None if strands is None else np.asarray(strands)[first])
    return Aligned(ids[order], {name: values[order] for name, values in stats.items()}, len(targets))


def ranked_alignment(
    query: str,
    molecule: str,
    targets: Sequence[str],
    target_molecules: Sequence[str],
    residues: int,
    k: int,
    conditions: Sequence[Condition] = (),
    *,
    tiebreak: np.ndarray,
    by_alignment: bool = True,
    database: Any = None,
    strands: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Align ``query`` to ``targets`` and pick the best ``k`` that pass ``conditions``.

    Parameters
    ----------
    query, molecule, targets, target_molecules, residues
        As for :func:`.alignment.align_to`.
    k, conditions
        Hits to keep; cut-offs on alignment columns (:func:`split_conditions`).
    tiebreak
        Per target, ascending, after bit score and raw score (row addresses, or minus the embedding score).
    by_alignment
        ``False``: the targets' own order is kept (alignments only reported).
    database
        The targets encoded for the aligner (:meth:`SequenceStore.encoded`), or ``None``.
    strands
        Per target, the nucleotide strands to align (:func:`.alignment.align_to`); ``None``: both.

    Returns
    -------
    tuple
        The indexes of the kept targets, best first, and :func:`.alignment.align_to`'s columns for every target.
    """
    from genocat_desktop.engine.search.alignment import align_to

    room = 2 * k + 10 if not conditions else max(4 * k, 200)
    if not by_alignment and not conditions:
        room = k  # the targets' own order: only the first k can be shown
    candidates: list[int] = []
    traced: list[int] = []

    def ordered(primary: np.ndarray, raw: np.ndarray) -> np.ndarray:
        if not by_alignment:
            return np.arange(len(raw))
        return np.lexsort((tiebreak, -raw, -primary))

    # With the list's order by bits and no cut-off, the k hits are known once k candidates are adjusted:
    # the others are adjusted only if they could still enter the list (composition.adjusted_bits).
    keep = k if by_alignment and not conditions else None

    def detail(scores: np.ndarray) -> list[int]:
        # The candidates for the list, best raw score first: with room for those a cut-off removes and
        # for the few that the composition-adjusted bit score ranks differently from the raw score.
        best = ordered(scores, scores)[:room]
        if keep is not None and molecule == "protein":
            from genocat_desktop.engine.search.composition import preliminary

            best = preliminary(best, scores, len(query), residues, keep)
        candidates.extend(best.tolist())
        return candidates

    def ranking(stats: dict[str, np.ndarray]) -> np.ndarray:
        bits = stats["bits"]
        order = ordered(np.where(np.isnan(bits), -np.inf, bits), stats["aln_score"])
        if by_alignment:
            # Hits come from the candidates only: their bits are composition-adjusted by realignment (BLAST's
            # default), the others' standard, a bound that must not place a row above them. (A mask, not
            # np.isin: ~90 µs a call on the few rows of a nucleotide query, twice a query.)
            among = np.zeros(len(order), dtype=bool)
            among[np.asarray(candidates, dtype=np.int64)] = True
            order = order[among[order]]
        if conditions:
            order = order[alignment_mask({n: v[order] for n, v in stats.items() if n in ALIGNMENT_FIELDS},
                                         conditions)]
        return order

    def shown(stats: dict[str, np.ndarray]) -> list[int]:
        # Tracebacks (identity, coverage) cost more than scores: only for the hits shown, or for every
        # candidate where a cut-off needs identity or coverage.
        needed = any(c.field in TRACED_FIELDS for c in conditions)
        traced.extend(candidates if needed else ranking(stats)[:k].tolist())
        return traced

    stats = align_to(query, molecule, targets, target_molecules, residues, detail=detail, shown=shown, keep=keep,
                     database=database, strands=strands)
    untraced(stats, traced)
    return ranking(stats)[:k], stats
