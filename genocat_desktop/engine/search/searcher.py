"""Similarity search: cosine search over a catalog's vectors, with filters.

Vectors are L2-normalised, so cosine similarity is one matrix-vector product.
For catalogs that fit a memory budget (the default 1 GiB is 500k rows of the
512-d k-mer vectors) the :class:`Searcher` keeps the vector column of the
current version in RAM and answers with numpy: a few milliseconds at 100k
rows, where a flat LanceDB scan pays a fixed ~3 ms per query and is 4-11×
slower than numpy (``python -m bench --only search`` measures both). Larger
catalogs are searched by Lance: through the ANN vector index when one is built
(:mod:`.ann`: IVF probes plus exact refinement; selective filters bypass the
index for exact results), else by a flat scan. :mod:`.strategies` holds each
of these paths; :mod:`.vectors` the copies of the vectors held in RAM.

Filters are applied *before* ranking (Lance evaluates the SQL predicate,
the matching row addresses become a mask), so a selective filter still returns
``k`` hits when ``k`` rows match.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.query import Condition, to_sql
from genocat_desktop.engine.catalog.table import ALIGNMENT_COLUMNS, Catalog
from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.core.molecules import is_nucleotide
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, gc_paused, no_progress
from genocat_desktop.engine.search.ann import DEFAULT_EFFORT, SearchEffort, VectorIndexRef, vector_index
from genocat_desktop.engine.search.homology import (
    KIND_SQL,
    STORE_SQL,
    SequenceStores,
    align_rows,
    split_conditions,
)
from genocat_desktop.engine.search.locate import Located, Locator, merge_located, without_long
from genocat_desktop.engine.search.modes import (
    EMBEDDING_NEIGHBOURS_MAX_ROWS,
    NUCLEOTIDE_SEED_CANDIDATES,
    NUCLEOTIDE_SEED_EVALUE,
    ModeChoice,
    check_mode,
    choose_mode,
    seeded_settings,
)
from genocat_desktop.engine.search.queries import Query, detect_molecule, read_queries
from genocat_desktop.engine.search.strategies import (
    LanceIndex,
    LanceScan,
    MemoryScan,
    RefinedIndex,
    Strategy,
    SubsetScan,
)
from genocat_desktop.engine.search.translated import BLASTX, TBLASTN, ProteinSeeds, TranslatedSearch
from genocat_desktop.engine.search.vectors import ExactVectors, RefinementVectors, remember

__all__ = ["HIT_COLUMNS", "Query", "SearchResult", "Searcher", "detect_molecule", "read_queries"]

#: Columns returned for each hit (the vector columns are never returned).
HIT_COLUMNS: Final = (
    "id", "accession", "name", "organism", "taxid", "gene", "length", "molecule",
    "description", "aliases", "db", "entry_name", "protein_existence", "sequence_version",
    "source_file", "seq_hash", "sequence",
)
DEFAULT_MEMORY_BUDGET: Final = 1 << 30
#: How often the searcher looks for a newer version (a request on object stores).
REFRESH_SECONDS: Final = 2.0
MAX_K: Final = 10_000
#: A searcher that has not been warmed loads the refinement copy of the vectors (for ANN candidates)
#: only for a batch of at least this many queries (loading 1M rows takes seconds; each query saves a few ms).
REFINE_LOAD_QUERIES: Final = 500


@dataclass(slots=True)
class SearchResult:
    """The hits for one query, best first.

    Attributes
    ----------
    hits
        Arrow table: ``rank``, ``score`` (cosine similarity, 1 = identical
        composition) and :data:`HIT_COLUMNS` plus any user fields.
    extra
        ``strategy`` (the path taken: ``"memory"``, ``"scan"``, ``"index"``,
        ``"exact-filtered"``, ``"translated"``) and, for ANN searches, ``refine``:
        who refined the candidates (``"memory"``: the half-precision copy,
        ``"lance"``); for a translated search (:mod:`.translated`),
        ``translated``: ``"translated (tblastn-style)"`` or ``"translated (blastx-style)"``.
    """

    query: Query
    hits: pa.Table
    version: int
    column: str
    filter: str | None
    exact: bool
    seconds: float
    candidates: int  # rows that passed the filter
    extra: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.hits.num_rows)


class _Counts:
    """Per-version counts: the rows passing a filter, the residues of the catalog (the E-value's space)."""

    def __init__(self) -> None:
        self.passing: dict[tuple[int, str], Any] = {}
        self.residues: tuple[int, int] | None = None

    def rows_passing(self, ds: Any, sql: str | None) -> int:
        key = (ds.version, sql or "")
        count = self.passing.get(key)
        if count is None:
            count = ds.count_rows(sql) if sql else ds.count_rows()
            remember(self.passing, key, count)
        return count

    def kind_size(self, ds: Any, sql: str | None, kind: str) -> tuple[int, int]:
        """Rows and residues of one molecule kind passing ``sql`` (cached per version and filter)."""
        key = (ds.version, f"size:{kind}:{sql}")
        size = self.passing.get(key)
        if size is None:
            import pyarrow.compute as pc

            where = f"({sql}) AND {STORE_SQL[kind]}" if sql else STORE_SQL[kind]
            lengths = ds.to_table(columns=["length"], filter=where).column("length")
            size = (len(lengths), int(pc.sum(lengths).as_py() or 0))
            remember(self.passing, key, size)
        return size

    def residues_of(self, ds: Any, held: pa.Table | None) -> int:
        if self.residues is not None and self.residues[0] == ds.version:
            return self.residues[1]
        import pyarrow.compute as pc

        table = held if held is not None else ds.to_table(columns=["length"])
        total = int(pc.sum(table.column("length")).as_py() or 0)
        self.residues = (ds.version, total)
        return total


@dataclass(slots=True)
class _Plan:
    """One search_many call's version, filter, hit columns and strategy."""

    ds: Any
    version: int
    sql: str | None
    columns: list[str]
    strategy: Strategy


class Searcher:
    """Searches one catalog; thread-safe, reusable, caches vectors per version.

    Parameters
    ----------
    catalog
        The catalog to search.
    memory_budget
        Largest vector matrix kept in RAM, in bytes; beyond it Lance searches
        through the ANN index. Its candidates are refined with a
        half-precision copy of the vectors once :meth:`warm` has loaded it
        (or for a batch of :data:`REFINE_LOAD_QUERIES` queries), if it fits
        the budget; else Lance refines them from the data files (a few ms
        more per query).
    use_index
        ``None`` (default): use the ANN vector index when there is one and the
        vectors do not fit ``memory_budget``; ``True``: whenever there is one;
        ``False``: never (always exact).
    effort
        ANN search effort (probes, exact refinement); see :class:`SearchEffort`.
    """

    def __init__(
        self,
        catalog: Catalog,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        *,
        use_index: bool | None = None,
        effort: SearchEffort = DEFAULT_EFFORT,
    ) -> None:
        self.catalog = catalog
        self.memory_budget = memory_budget
        self.use_index = use_index
        self.effort = effort
        self._lock = threading.Lock()
        self._checked = 0.0
        self._index_cache: tuple[int, str, VectorIndexRef | None] | None = None
        self._exact = ExactVectors()
        self._refine = RefinementVectors()
        self._counts = _Counts()
        self._translated = TranslatedSearch()
        self._sequences = SequenceStores()
        self._locator = Locator()  # nucleotide queries placed in long records (.locate)

    def current_version(self) -> int:
        """The catalog version to search: a newer one is looked for at most every :data:`REFRESH_SECONDS`."""
        now = time.monotonic()
        if now - self._checked > REFRESH_SECONDS:
            self._checked = now
            return self.catalog.refresh()
        return self.catalog.version

    def _vector_index(self, ds: Any, column: str) -> VectorIndexRef | None:
        """The ANN index to search with at this version, or ``None`` for exact search."""
        if self.use_index is False:
            return None
        cached = self._index_cache
        if cached is None or cached[:2] != (ds.version, column):
            cached = (ds.version, column, vector_index(ds, column))
            self._index_cache = cached
        ref = cached[2]
        if ref is None or self.use_index:
            return ref
        dim = int(self.catalog.vector_columns()[column]["dim"])
        return ref if ds.count_rows() * dim * 4 > self.memory_budget else None

    def warm(self, column: str | None = None, cancel: CancelToken | None = None) -> None:
        """Load the vectors now, so the first search is as fast as the others.

        The float32 matrix for exact search, or, for a catalog searched through
        its ANN index, the half-precision copy that refines the candidates
        (1M 320-d rows: 640 MB, several seconds; kept in files on this machine
        where it does not fit the budget or the default protein search is
        seeded, written once and then only for new fragments) and the index
        itself (into Lance's cache). ``cancel`` is checked between fragments.
        """
        column = column or self.catalog.default_vector
        with self._lock:
            version = self.current_version()
            ds = self.catalog.dataset(version)
            index = self._vector_index(ds, column)
            if index is not None:
                rows, residues = self._counts.kind_size(ds, None, "protein")
                # The default protein search (seeds) reads no vector and needs the RAM for its seed index:
                # a large catalog keeps its half-precision copy (1 GB at 1M 512-d rows) in files on this
                # machine, read per candidate (refine_files); a small one's copy (~1 KB a row, in RAM)
                # serves fast searches and the seeds' nearest rows. A copy beyond the budget: files too.
                in_ram = (choose_mode("auto", False, residues, rows).mode != "sensitive"
                          or rows <= EMBEDDING_NEIGHBOURS_MAX_ROWS) and \
                    self._refine.load(self.catalog, ds, column, self.memory_budget, cancel) is not None
                if not in_ram:
                    self._refine.load(self.catalog, ds, column, self.memory_budget, cancel,
                                      folder=self.catalog.work_folder("refine") / f"refine-{column}")
                self._prewarm(ds, index)
            else:
                self._exact.load(self.catalog, version, column, self.memory_budget, cancel)
            # The molecule counts the first search checks (_translated_kinds): a scan of one column
            # (10 ms at 100k rows) done here, on open, rather than inside the first search.
            for sql in KIND_SQL.values():
                self._counts.rows_passing(ds, sql)
        # The protein sequences and their seed index, when the default mode will use them: at 100k
        # proteins a few seconds, better spent on open than inside the first search.
        for kind in ("protein", "nucleotide"):  # the nucleotides' word index: ~0.4 s per Mbp
            rows, residues = self._counts.kind_size(ds, None, kind)
            if choose_mode("auto", kind == "nucleotide", residues, rows).mode == "sensitive":
                store = self._sequences.load(ds, kind, cancel)
                self._sequences.seeds(store, cancel=cancel)
        # The long records' minimap2 index (.locate), built here rather than by the first nucleotide
        # search (~0.1 s per Mbp; loaded from the cache folder for large sets).
        if self._counts.rows_passing(ds, KIND_SQL["nucleotide"]):
            self._locator.index(ds)

    def _prewarm(self, ds: Any, index: VectorIndexRef) -> None:
        """Load a local catalog's whole vector index into Lance's index cache.

        Otherwise each IVF partition is read and decoded by the first query that
        probes it: at 1M rows (500 partitions, 185 MB) the first 200 queries had
        a p50 of 6.6 ms against 3.9 ms after this (0.5 s). Not on object storage,
        where it would download the whole index at every open.
        """
        from genocat_desktop.engine.catalog.storage import is_remote

        if is_remote(self.catalog.uri):
            return
        # Only a speed-up: if it fails, queries load the partitions themselves.
        with contextlib.suppress(AttributeError, OSError, RuntimeError, ValueError):
            ds.prewarm_index(index.name)

    def search(
        self,
        query: Query | str,
        *,
        k: int = 10,
        conditions: Sequence[Condition] = (),
        column: str | None = None,
        align: bool = False,
        candidates: int | None = None,
        rank_by: str = "alignment",
        fields: Sequence[str] | None = None,
        mode: str | None = None,
    ) -> SearchResult:
        """Find the ``k`` rows most similar to ``query`` that satisfy all ``conditions``.

        Parameters
        ----------
        query
            A :class:`Query`, or a bare sequence.
        k
            Number of hits (at most 10,000).
        conditions
            Metadata filters, all of which must hold.
        column
            The vector column (embedder) to search; the catalog's default if ``None``.
        align
            Align the query to the best ``candidates`` rows by embedding
            (Smith-Waterman, see :mod:`.alignment`) and add ``aln_score``,
            ``bits``, ``evalue``, ``identity``, ``query_cov``, ``target_cov``
            (the ``align`` mode; ignored when ``mode`` is given).
        candidates
            How many rows to align (default ``max(10 * k, 100)``; in ``sensitive``
            mode the rows the seeds propose, default :data:`.modes.SEED_CANDIDATES`).
        rank_by
            With ``align``: ``"alignment"`` (by alignment score, the default)
            or ``"embedding"`` (by cosine score, alignments only reported).
        fields
            The metadata fields to return for each hit (default: all); fewer
            fields make a search through the ANN index faster.
        mode
            One of :data:`.modes.MODES` (``None``: ``align`` with ``align=True``, else ``fast``).
            Conditions on alignment columns (``evalue <= 1e-3``, ``identity >= 0.4``) need an
            aligned mode; they apply to the aligned hits.

        Returns
        -------
        SearchResult
            The hits, best first.

        Raises
        ------
        QueryError, FilterError, EmbedderMismatchError
        """
        return self.search_many(
            [query], k=k, conditions=conditions, column=column, align=align, candidates=candidates,
            rank_by=rank_by, fields=fields, mode=mode,
        )[0]

    @gc_paused()  # no full GC pass inside a query (see ann._nearest)
    def search_many(
        self,
        queries: Sequence[Query | str],
        *,
        k: int = 10,
        conditions: Sequence[Condition] = (),
        column: str | None = None,
        align: bool = False,
        candidates: int | None = None,
        rank_by: str = "alignment",
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
        vectors: np.ndarray | None = None,
        fields: Sequence[str] | None = None,
        mode: str | None = None,
    ) -> list[SearchResult]:
        """Search several queries against the same version; see :meth:`search`.

        ``vectors`` (one row per query, the column's dimension) are query
        embeddings computed beforehand; the embedder is then not run (the
        benchmarks search with vectors that no embedder makes). ``fields``
        limits the metadata returned per hit (default: every field); a
        catalog searched through its ANN index reads each returned field of
        each hit from the data files, ~0.3 ms per field at 1M rows.

        Returns
        -------
        list of SearchResult
            One per query, in order.
        """
        asked = check_mode(mode if mode is not None else ("align" if align else "fast"))
        conditions, cutoffs = split_conditions(conditions)
        if cutoffs and asked == "fast":
            raise QueryError("a filter on an alignment column (bits, evalue, identity, query_cov, ...) needs "
                             "an aligned search mode, not 'fast'")
        may_align = asked != "fast"
        fetch = _fetch_count(k, may_align, candidates if asked == "align" else None, rank_by)
        if self.catalog.vector_columns().get(column or self.catalog.default_vector, {}).get("name") == "sketch":
            # A MinHash sketch column: containment, ANI and distance (.sketches), not vectors or alignment
            # (alignment cut-offs do not apply: its hits have no alignment).
            from genocat_desktop.engine.search.sketches import search_sketches

            return search_sketches(self, queries, column or self.catalog.default_vector, k=k, conditions=conditions,
                                   fields=fields, progress=progress, cancel=cancel, result=SearchResult)
        qs = [q if isinstance(q, Query) else read_queries(q)[0] for q in queries]
        column = column or self.catalog.default_vector
        embedder = self.catalog.embedder(column) if vectors is None else None
        if vectors is not None:
            vectors = self._given_vectors(vectors, len(qs), column)
        cancel = cancel or CancelToken()
        plan = self._plan(column, conditions, fields, may_align, len(qs))
        translated = self._translated_kinds(plan, qs) if embedder is not None else set()
        if translated and fields is not None and not may_align:
            plan = self._plan(column, conditions, fields, True, len(qs))  # a translated search aligns
        if embedder is not None and len(qs) > 1 and not translated:
            vectors = embedder.embed([q.sequence for q in qs], [q.molecule for q in qs])
        if vectors is not None:
            plan.strategy.use_batch(vectors)
        out = []
        for n, q in enumerate(qs):
            cancel.raise_if_cancelled()
            started = time.perf_counter()
            if _kind(q.molecule) in translated:
                out.append(self._translated_search(plan, q, k, column, started, progress, cancel))
                progress(Progress(n + 1, len(qs), "queries", "searching", f"Searched {n + 1:,} of {len(qs):,}"))
                continue
            if vectors is not None:
                vec = vectors[n]
            else:
                assert embedder is not None
                vec = embedder.embed([q.sequence], [q.molecule])[0]
            choice = self._choose(plan, q, asked)
            if choice.mode in ("sensitive", "exhaustive"):
                result = self._homology_search(plan, q, vec, k, choice, candidates, cutoffs, column, cancel, n)
                result.seconds = time.perf_counter() - started
                out.append(result)
                progress(Progress(n + 1, len(qs), "queries", "searching", f"Searched {n + 1:,} of {len(qs):,}"))
                continue
            found = plan.strategy.find(n, vec, fetch)
            rows, scores = found.rows, found.scores
            located = self._located(plan, q, k, cutoffs)
            if located is not None:
                rows, scores = without_long(rows, scores)  # located instead: whole, they align in seconds
            if choice.aligned:
                rows, scores = self._align(plan, q, rows, scores, k, rank_by, cutoffs)
            if located is not None:
                cosines = self._cosines(plan, column, located.addresses, vec)
                rows, scores = merge_located(rows, scores, located, cosines, k, aligned=choice.aligned)
            extra: dict[str, object] = {"strategy": found.strategy, "mode": choice.mode, "mode_reason": choice.reason}
            if found.refine is not None:
                extra["refine"] = found.refine
            out.append(
                SearchResult(
                    q, _with_rank(rows, scores), plan.version, column, plan.sql, found.exact,
                    time.perf_counter() - started, plan.strategy.passing, extra,
                )
            )
            progress(Progress(n + 1, len(qs), "queries", "searching", f"Searched {n + 1:,} of {len(qs):,}"))
        return out

    def _choose(self, plan: _Plan, q: Query, asked: str) -> ModeChoice:
        """The mode this query runs in: ``asked``, or for ``auto`` the one its kind's rows allow."""
        if asked in ("fast", "align"):
            return choose_mode(asked, _kind(q.molecule) == "nucleotide", 0, 0)
        rows, residues = self._counts.kind_size(plan.ds, plan.sql, _kind(q.molecule))
        return choose_mode(asked, _kind(q.molecule) == "nucleotide", residues, rows)

    def _homology_search(
        self, plan: _Plan, q: Query, vec: np.ndarray, k: int, choice: ModeChoice, candidates: int | None,
        cutoffs: Sequence[Condition], column: str, cancel: CancelToken, n: int = 0,
    ) -> SearchResult:
        """A ``sensitive`` or ``exhaustive`` search: rows beyond the embedding's candidates aligned.

        ``n`` is the query's place in the batch (the strategy scores the batch's vectors in blocks).
        """
        kind = _kind(q.molecule)
        store = self._sequences.load(plan.ds, kind, cancel)
        allowed = None
        if plan.sql is not None:
            allowed = store.positions(self._refine.matching_ids(plan.ds, plan.sql))
        residues = self._counts.residues_of(plan.ds, plan.strategy.held_rows)
        strands: np.ndarray | None = None  # both strands of a nucleotide query's rows
        reason = choice.reason
        if choice.mode == "exhaustive":
            positions = allowed if allowed is not None else np.arange(store.ids.size)
        elif kind == "nucleotide":
            # Word seeds on both strands; only rows whose best diagonal is significant are aligned (.seeds).
            seeds = self._sequences.seeds(store, cancel=cancel)
            allowed_ids = store.ids[allowed] if allowed is not None else None
            found_ids, _, seeded = seeds.significant_strands(q.sequence, candidates or NUCLEOTIDE_SEED_CANDIDATES,
                                                             allowed_ids, residues, NUCLEOTIDE_SEED_EVALUE)
            positions = store.positions(np.asarray(found_ids, dtype=np.uint64))
            # each row aligned on the strands that seeded it (.alignment.align_to)
            strands = seeded if len(positions) == len(found_ids) else None
            if len(q.sequence) < seeds.params.span:  # shorter than a word, nothing seeds: align every row
                positions = allowed if allowed is not None else np.arange(store.ids.size)
                strands = None
        else:
            seeds = self._sequences.seeds(store, cancel=cancel)
            allowed_ids = store.ids[allowed] if allowed is not None else None
            from genocat_desktop.engine.search.seeds import CANDIDATE_CELLS

            # The settings follow the seed index's size (.modes.seeded_settings); at most CANDIDATE_CELLS of
            # Smith-Waterman beyond the best rows where they say so: a long query aligns fewer (.seeds).
            settings = seeded_settings(seeds.residues, store.ids.size)
            reason = f"{reason}; {settings.describe()}" if not candidates else reason
            found_ids, _ = seeds.candidates(q.sequence, candidates or settings.candidates, allowed_ids,
                                            cells=CANDIDATE_CELLS if settings.cells and not candidates else None,
                                            threshold=settings.threshold)
            positions = store.positions(np.asarray(found_ids, dtype=np.uint64))
            # The embedding's own nearest rows join the seeds' in a catalog whose vectors are in RAM and
            # that is not small enough for the small-catalog settings: at 5k rows +0.004 sens@50 for
            # ~2 CPU-ms a query; at 100k +0.0005 for ~18 ms, and through the disk index 40 ms
            # (BENCHMARKS.md): a seeded catalog's open leaves them on disk (warm).
            if settings.neighbours and not isinstance(plan.strategy, (LanceIndex, LanceScan)):
                near = plan.strategy.find(n, vec, 100)  # n: this query's row of the batch's scores
                if near.ids is not None:
                    positions = np.union1d(positions, store.positions(near.ids))
        aligned = align_rows(q.sequence, q.molecule, store, positions, residues, k, cutoffs, strands)
        rows, cosine = self._rows_and_cosines(plan, column, aligned.ids, vec)
        rows = _with_alignment(rows, aligned.stats)
        located = self._located(plan, q, k, cutoffs)  # the long records, kept out of the store (.homology)
        if located is not None:
            cosines = self._cosines(plan, column, located.addresses, vec)
            rows, cosine = merge_located(rows, cosine, located, cosines, k, aligned=True)
        extra: dict[str, object] = {"strategy": choice.mode, "mode": choice.mode, "mode_reason": reason,
                                    "aligned_rows": aligned.examined}
        return SearchResult(q, _with_rank(rows, cosine), plan.version, column, plan.sql, True, 0.0,
                            plan.strategy.passing, extra)

    def _located(self, plan: _Plan, q: Query, k: int, cutoffs: Sequence[Condition]) -> Located | None:
        """A nucleotide query's placements in the long records (:mod:`.locate`); ``None`` for a protein
        query or a catalog without long records. The alignment cut-offs apply to them as to every hit."""
        if _kind(q.molecule) != "nucleotide" or not self._locator.has_long_records(plan.ds):
            return None
        residues = self._counts.residues_of(plan.ds, plan.strategy.held_rows)
        located = self._locator.locate(plan.ds, plan.sql, plan.columns, q.sequence, k, residues)
        if not cutoffs:
            return located
        from genocat_desktop.engine.search.homology import ALIGNMENT_FIELDS, alignment_mask

        stats = {name: located.rows.column(name).to_numpy(zero_copy_only=False) for name in ALIGNMENT_FIELDS}
        keep = np.flatnonzero(alignment_mask(stats, cutoffs))
        return Located(located.rows.take(pa.array(keep)), located.bits[keep], located.addresses[keep])

    def _rows_of(self, plan: _Plan, ids: np.ndarray) -> pa.Table:
        """The hit columns of the rows ``ids`` (addresses), in that order: from RAM when held, else one take."""
        held = plan.strategy.held_rows
        strategy = plan.strategy
        if held is not None and isinstance(strategy, MemoryScan):
            addresses = strategy.matrix.addresses
            pos = np.searchsorted(addresses, ids)
            return held.take(pa.array(pos)).select(plan.columns)
        if ids.size == 0:
            return plan.ds.to_table(columns=plan.columns, limit=0)
        return plan.ds._take_rows(ids.tolist(), columns=plan.columns)

    def _cosines(self, plan: _Plan, column: str, ids: np.ndarray, vec: np.ndarray) -> np.ndarray:
        """The embedding similarity of the rows ``ids`` to the query (reported beside the alignment)."""
        strategy = plan.strategy
        if ids.size == 0:
            return np.empty(0, dtype=np.float32)
        if isinstance(strategy, MemoryScan):
            pos = np.searchsorted(strategy.matrix.addresses, ids)
            return strategy.matrix.vectors[pos] @ vec.astype(np.float32)
        return _similarity(plan.ds._take_rows(ids.tolist(), columns=[column]).column(column), vec)

    def _rows_and_cosines(self, plan: _Plan, column: str, ids: np.ndarray,
                          vec: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        """:meth:`_rows_of` and :meth:`_cosines` of the rows ``ids``: from RAM when held, else one take of both."""
        if isinstance(plan.strategy, MemoryScan) or ids.size == 0:
            return self._rows_of(plan, ids), self._cosines(plan, column, ids, vec)
        # Through the vector index or a scan the rows are read from storage: their fields and vectors at once.
        table = plan.ds._take_rows(ids.tolist(), columns=list(dict.fromkeys([*plan.columns, column])))
        return table.select(plan.columns), _similarity(table.column(column), vec)

    def _translated_kinds(self, plan: _Plan, qs: Sequence[Query]) -> set[str]:
        """The query kinds that no searched row shares: they are searched translated (:mod:`.translated`).

        Protein and nucleotide vectors live in separate spaces, so a protein query would rank DNA
        rows by chance (and the reverse); a protein query against more nucleotides than the
        translated search takes is refused here, before any query runs. The counts are cached per
        catalog version and filter.
        """
        searched = self._counts.rows_passing(plan.ds, plan.sql)  # cached: a count is ~0.1 ms a query
        kinds: set[str] = set()
        if searched == 0:
            return kinds
        for kind in sorted({_kind(q.molecule) for q in qs}):
            sql = KIND_SQL[kind]
            if self._counts.rows_passing(plan.ds, f"({plan.sql}) AND {sql}" if plan.sql else sql) == 0:
                self._translated.check(plan.ds, plan.sql, kind)
                kinds.add(kind)
        return kinds

    def _translated_search(
        self, plan: _Plan, q: Query, k: int, column: str, started: float, progress: ProgressCallback,
        cancel: CancelToken,
    ) -> SearchResult:
        """One query searched through six frames: scored by bits, with ``frame`` and coordinates."""
        if _kind(q.molecule) == "protein":
            rows, bits = self._translated.protein_to_nucleotides(plan.ds, plan.sql, plan.columns, q.sequence, k,
                                                                 progress, cancel)
            how = TBLASTN
        else:
            from genocat_desktop.engine.search.seeds import compiled

            seeds = self._protein_seeds(plan, progress, cancel) if compiled() else None
            rows, bits = self._translated.nucleotides_to_proteins(
                plan.ds, plan.sql, plan.columns, q.sequence, k, seeds)
            how = BLASTX
        return SearchResult(
            q, _with_rank(rows, bits), plan.version, column, plan.sql, True, time.perf_counter() - started,
            plan.strategy.passing, {"strategy": "translated", "translated": how},
        )

    def _protein_seeds(self, plan: _Plan, progress: ProgressCallback, cancel: CancelToken) -> ProteinSeeds:
        """The protein rows' seed index (the ``sensitive`` mode's) as a blastx-style search asks it.

        The store and its index are loaded on the first proposal: below the bound no frame is seeded.
        """
        loaded: dict[str, Any] = {}

        def ready() -> dict[str, Any]:
            if not loaded:
                store = self._sequences.load(plan.ds, "protein", cancel)
                allowed = None
                if plan.sql is not None:
                    found = store.positions(self._refine.matching_ids(plan.ds, plan.sql))
                    allowed = np.sort(store.ids[found].astype(np.int64))
                loaded.update(store=store, seeds=self._sequences.seeds(store, progress, cancel), allowed=allowed)
            return loaded

        def propose(frame: str, n: int) -> tuple[np.ndarray, np.ndarray]:
            held = ready()
            ids, scores = held["seeds"].candidates(frame, n, held["allowed"])
            return np.asarray(ids, dtype=np.int64), scores

        def sequences(ids: np.ndarray) -> list[str]:
            store = ready()["store"]
            return list(store.sequences.take(pa.array(store.positions(ids.astype(np.uint64)))).to_pylist())

        return ProteinSeeds(propose, sequences, lambda ids: self._rows_of(plan, ids.astype(np.uint64)))

    def _given_vectors(self, vectors: np.ndarray, count: int, column: str) -> np.ndarray:
        dim = int(self.catalog.vector_columns()[column]["dim"])
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (count, dim):
            raise QueryError(f"expected {count} query vectors of {dim} values, got shape {vectors.shape}")
        return vectors

    def _plan(
        self, column: str, conditions: Sequence[Condition], fields: Sequence[str] | None, align: bool, queries: int
    ) -> _Plan:
        """The version to search, its filter and hit columns, and the strategy that finds the hits."""
        with self._lock:
            version = self.current_version()
            ds = self.catalog.dataset(version)
            sql = to_sql(conditions, ds.schema) if conditions else None  # Lance builds the schema anew: ~50 µs
            columns = self._hit_columns(ds, fields, align)
            strategy = self._strategy(ds, version, column, sql, columns, fields is not None, queries)
        return _Plan(ds, version, sql, columns, strategy)

    def _strategy(
        self, ds: Any, version: int, column: str, sql: str | None, columns: list[str], select: bool, queries: int
    ) -> Strategy:
        """Pick how this version is searched (called under the lock)."""
        index = self._vector_index(ds, column)
        if index is None:
            matrix = self._exact.load(self.catalog, version, column, self.memory_budget)
            if matrix is not None:
                mask = self._exact.mask(ds, matrix, sql) if sql is not None else None
                return MemoryScan(ds, matrix, mask, columns, select)
            return LanceScan(ds, column, sql, columns, self._passing(ds, sql))
        copy = None
        if self._refine.fragments_column == column or queries >= REFINE_LOAD_QUERIES:
            # Kept up to date once loaded (after an import only new fragments are read); loading it
            # for a query or two (a one-shot CLI search) would cost seconds to save milliseconds.
            copy = self._refine.load(self.catalog, ds, column, self.memory_budget)
        if copy is None:
            return LanceIndex(ds, index, sql, columns, self._passing(ds, sql), self.effort)
        if sql is None:
            return RefinedIndex(LanceIndex(ds, index, sql, columns, ds.count_rows(), self.effort), copy, None)
        allowed = self._refine.matching_ids(ds, sql)
        subset = self._refine.filtered_subset(ds, copy, sql, allowed)
        if subset is not None:
            # Few enough rows pass the filter to search them all, exactly, from RAM.
            return SubsetScan(ds, subset, copy, columns)
        return RefinedIndex(LanceIndex(ds, index, sql, columns, int(allowed.size), self.effort), copy, allowed)

    def _passing(self, ds: Any, sql: str | None) -> int:
        return ds.count_rows() if sql is None else self._counts.rows_passing(ds, sql)

    def _hit_columns(self, ds: Any, fields: Sequence[str] | None, align: bool) -> list[str]:
        vector_columns = self.catalog.vector_columns()
        columns = [c for c in ds.schema.names if c not in vector_columns]
        if fields is None:
            return columns
        unknown = [f for f in fields if f not in columns]
        if unknown:
            raise QueryError(f"unknown field(s) to return: {', '.join(map(repr, unknown))}")
        needed = ("sequence", "molecule", "length") if align else ()
        return [c for c in columns if c in fields or c in needed]

    def _align(
        self, plan: _Plan, q: Query, rows: pa.Table, scores: np.ndarray, k: int, rank_by: str,
        cutoffs: Sequence[Condition] = (),
    ) -> tuple[pa.Table, np.ndarray]:
        from genocat_desktop.engine.search.homology import ranked_alignment

        residues = self._counts.residues_of(plan.ds, plan.strategy.held_rows)
        # Best bit score first (the raw score where a scheme has no statistics); the embedding score
        # breaks ties.
        order, stats = ranked_alignment(
            q.sequence, q.molecule, rows.column("sequence").to_pylist(), rows.column("molecule").to_pylist(),
            residues, k, cutoffs, tiebreak=-scores, by_alignment=rank_by == "alignment",
        )
        return _with_alignment(rows, stats).take(order), scores[order]



def _kind(molecule: str) -> str:
    return "nucleotide" if is_nucleotide(molecule) else "protein"


def _fetch_count(k: int, align: bool, candidates: int | None, rank_by: str) -> int:
    """How many rows to find per query: ``k``, or the candidates to align."""
    if not 1 <= k <= MAX_K:
        raise QueryError(f"the number of hits must be between 1 and {MAX_K:,}, not {k}")
    if rank_by not in ("alignment", "embedding"):
        raise QueryError(f"rank_by must be 'alignment' or 'embedding', not {rank_by!r}")
    if align:
        return min(MAX_K, max(candidates or max(10 * k, 100), k))
    return k


def _similarity(vectors: pa.ChunkedArray, vec: np.ndarray) -> np.ndarray:
    """Dot products of a fixed-size-list vector column with the (unit) query vector ``vec``."""
    matrix = vectors.combine_chunks().flatten().to_numpy().reshape(-1, vec.shape[0])
    return np.asarray(matrix, dtype=np.float32) @ vec.astype(np.float32)


def _with_alignment(rows: pa.Table, stats: dict[str, np.ndarray]) -> pa.Table:
    """``rows`` with the :data:`ALIGNMENT_COLUMNS` of ``stats`` appended (aligned with the rows)."""
    for name in ALIGNMENT_COLUMNS:
        values = stats[name]
        # E-values span hundreds of orders of magnitude: never round them.
        exact_values = name in ("aln_score", "evalue", "sstrand")
        rows = rows.append_column(name, pa.array(values if exact_values else np.round(values, 6)))
    return rows


def _with_rank(rows: pa.Table, scores: np.ndarray) -> pa.Table:
    n = rows.num_rows
    rank = pa.array(np.arange(1, n + 1, dtype=np.int32))
    score = pa.array(np.round(scores.astype(np.float64), 6))
    return rows.add_column(0, "score", score).add_column(0, "rank", rank)
