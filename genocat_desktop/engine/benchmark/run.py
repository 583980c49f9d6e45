"""Running the benchmark: import throughput, search latency, recall@k and export, in a scratch folder.

:func:`run_benchmark` never writes to the catalog it measures: the import is
timed into a scratch catalog, and every file it makes is deleted at the end.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.benchmark.results import TARGETS, BenchmarkResult, Targets
from genocat_desktop.engine.benchmark.synthetic import AMINO, write_synthetic_fasta
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import Cancelled, CatalogError, InputError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.ingest.importer import import_files
from genocat_desktop.engine.search.export import export_fasta, export_hits
from genocat_desktop.engine.search.searcher import Query, Searcher

__all__ = ["run_benchmark"]

#: Queries used for recall (exact top-k of each is computed over every vector).
MAX_RECALL_QUERIES: Final = 200
#: Rows of vectors scored at a time by the exact reference (bounded memory at any size).
EXACT_CHUNK: Final = 65_536
#: Search effort settings tried when the vector column has an ANN index.
NPROBES: Final = (1, 2, 5, 10, 20, 50, 100)
REFINE: Final = 10


@dataclass(frozen=True, slots=True)
class _Run:
    """The settings of one run, where its scratch files go, and how it reports and stops."""

    size: int | None
    queries: int
    k: int
    seed: int
    targets: Targets
    scratch: Path
    progress: ProgressCallback
    cancel: CancelToken


@dataclass(frozen=True, slots=True)
class _Imported:
    """The timed import of synthetic sequences into the scratch catalog."""

    catalog: Catalog
    rows: int
    seconds: float
    throughput: list[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class _Exact:
    """The exact reference: every row's cosine score per query, each query's k-th best, row positions by hash."""

    scores: list[np.ndarray]
    kth: np.ndarray
    position: dict[str, int]


def run_benchmark(
    catalog: Catalog | None = None,
    *,
    size: int | None = None,
    queries: int = 200,
    k: int = 10,
    import_size: int = 10_000,
    seed: int = 0,
    targets: Targets = TARGETS,
    work_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> BenchmarkResult:
    """Run the benchmark; nothing is written to ``catalog``.

    Parameters
    ----------
    catalog
        The catalog to measure (search, recall, export). ``None`` with ``size``:
        only a synthetic catalog.
    size
        Measure a synthetic catalog of this many sequences instead (made in a
        scratch folder, imported, measured, deleted). Its import is the
        throughput measurement.
    queries
        Search queries timed (latency percentiles are over these).
    k
        Hits per query for latency and recall.
    import_size
        Sequences imported to measure throughput when measuring the open
        catalog (into a scratch catalog with the same embedder).
    work_dir
        Where scratch catalogs and files go (the system's temporary folder if ``None``).

    Raises
    ------
    Cancelled
        If cancelled; scratch files are removed, the catalog is untouched.
    InputError
        Nothing to measure (no catalog and no size, an empty catalog, bad numbers).
    """
    _check_arguments(catalog, size, queries, k)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="genocat-bench-", dir=work_dir))
    run = _Run(size, queries, k, seed, targets, scratch, progress, cancel or CancelToken())
    try:
        imported = _measure_import(run, catalog, size if size else import_size)
        target = imported.catalog if size else catalog
        assert target is not None
        result = _new_result(run, target, imported, started)
        query_list = _queries(target, queries, seed)
        searcher = Searcher(target)
        hits = _measure_search(run, result, searcher, query_list)
        _measure_recall(run, result, target, query_list, hits)
        _measure_export(run, result, searcher, query_list[0])
        result.seconds = time.perf_counter() - t0
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _check_arguments(catalog: Catalog | None, size: int | None, queries: int, k: int) -> None:
    if catalog is None and not size:
        raise InputError("give a catalog to measure, or a size for a synthetic one")
    if size is not None and size < 1:
        raise InputError(f"the synthetic catalog needs at least one sequence, not {size}")
    if queries < 1 or not 1 <= k <= 10_000:
        raise InputError("the benchmark needs at least one query and k between 1 and 10,000")


def _measure_import(run: _Run, catalog: Catalog | None, n_import: int) -> _Imported:
    """Import ``n_import`` synthetic sequences into a scratch catalog with the catalog's embedder, timed."""
    embedder, params = "kmer", {}
    if catalog is not None:
        record = catalog.vector_columns()[catalog.default_vector]
        embedder, params = str(record["name"]), dict(record.get("params", {}))
    fasta = run.scratch / "synthetic.faa"
    run.progress(Progress(0, n_import, "sequences", "generating", f"Generating {n_import:,} synthetic sequences"))
    write_synthetic_fasta(fasta, n_import, seed=run.seed, progress=run.progress, cancel=run.cancel)
    run.cancel.raise_if_cancelled()
    scratch_catalog = Catalog.open(run.scratch / "catalog", embedder=embedder, embedder_params=params)
    samples: list[tuple[float, float]] = []
    t_import = time.perf_counter()

    def on_import(p: Progress) -> None:
        elapsed = time.perf_counter() - t_import
        if p.phase == "importing" and p.done and elapsed > 0:
            # Sequences written so far over the time so far, the table's measure: the write phase's
            # own rate (~5x higher: it leaves out the scan before it) read as the import's speed.
            samples.append((round(elapsed, 4), round(p.done / elapsed, 1)))
        run.progress(Progress(p.done, p.total, p.unit, "import", f"Import: {p.message}", p.rate))

    report = import_files(scratch_catalog, [fasta], progress=on_import, cancel=run.cancel)
    seconds = time.perf_counter() - t_import
    if report.cancelled:
        raise Cancelled()
    if report.failed:
        raise CatalogError(f"the synthetic import failed: {report.failed[0].error}")
    return _Imported(scratch_catalog, report.imported, seconds, samples)


def _new_result(run: _Run, target: Catalog, imported: _Imported, started: datetime) -> BenchmarkResult:
    """The result of a run measuring ``target``, with the import measured so far."""
    rows = target.dataset().count_rows()
    if rows == 0:
        raise InputError("the catalog is empty: import sequences first, or benchmark a synthetic catalog")
    return BenchmarkResult(
        id=started.strftime("%Y%m%dT%H%M%S"),
        started=started.isoformat(timespec="seconds"),
        source="synthetic" if run.size else "catalog",
        catalog=target.location if not run.size else f"synthetic ({run.size:,} sequences)",
        version=None if run.size else target.version,
        rows=rows,
        embedder=target.default_vector,
        queries=run.queries,
        k=run.k,
        import_rows=imported.rows,
        import_seconds=imported.seconds,
        throughput=imported.throughput,
        machine=_machine(),
        targets=run.targets,
    )


def _measure_search(run: _Run, result: BenchmarkResult, searcher: Searcher, query_list: list[Query]) -> list[list[str]]:
    """Time each query, one at a time, after a warm-up; return each query's hits (``seq_hash``)."""
    queries, k = run.queries, run.k
    run.progress(Progress(0, queries, "queries", "search", "Loading the vectors"))
    searcher.warm()
    searcher.search(query_list[0], k=k)  # first call pays one-time costs (BLAS, caches)
    hits: list[list[str]] = []
    exact_flags = []
    for i, q in enumerate(query_list):
        run.cancel.raise_if_cancelled()
        t = time.perf_counter()
        res = searcher.search(q, k=k)
        result.latencies_ms.append((time.perf_counter() - t) * 1000.0)
        hits.append(res.hits.column("seq_hash").to_pylist())
        exact_flags.append(res.exact)
        if i % 10 == 9 or i + 1 == queries:
            run.progress(Progress(i + 1, queries, "queries", "search", f"Search: {i + 1:,} of {queries:,} queries"))
    result.search_method = "exact" if all(exact_flags) else "index"
    return hits


def _measure_recall(
    run: _Run, result: BenchmarkResult, target: Catalog, query_list: list[Query], hits: list[list[str]]
) -> None:
    """Recall of the search's hits against the exact top-k and, with an ANN index, at each search effort."""
    n_recall = min(run.queries, MAX_RECALL_QUERIES)
    vectors_q = target.embedder().embed([q.sequence for q in query_list[:n_recall]],
                                        [q.molecule for q in query_list[:n_recall]])
    exact = _exact(target, vectors_q, run.k, run.progress, run.cancel)
    result.recall = _recall(hits[:n_recall], exact, run.k)
    result.recall_queries = n_recall
    result.index = _index_name(target)
    if result.index is not None:
        result.effort = _effort(target, vectors_q, exact, run.k, run.cancel)


def _measure_export(run: _Run, result: BenchmarkResult, searcher: Searcher, query: Query) -> None:
    """Time the CSV (the target) and FASTA exports of up to ``targets.export_rows`` hits of one query."""
    run.cancel.raise_if_cancelled()
    run.progress(Progress(0, 1, "files", "export", "Export"))
    many = searcher.search(query, k=min(run.targets.export_rows, result.rows))
    t = time.perf_counter()
    result.export_rows = export_hits([many], run.scratch / "hits.csv")
    result.export_seconds = time.perf_counter() - t
    t = time.perf_counter()
    export_fasta(many.hits, run.scratch / "hits.fasta")
    result.export_fasta_seconds = time.perf_counter() - t
    run.progress(Progress(1, 1, "files", "export", "Export done"))


def _mutate(sequence: str, rng: np.random.Generator, rate: float = 0.10) -> str:
    arr = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8).copy()
    hit = rng.random(arr.size) < rate
    alphabet = np.frombuffer(AMINO, dtype=np.uint8)
    arr[hit] = alphabet[rng.integers(0, alphabet.size, int(hit.sum()))]
    return arr.tobytes().decode()


def _queries(catalog: Catalog, n: int, seed: int) -> list[Query]:
    """``n`` rows of the catalog (with replacement if it is smaller), 10% of residues mutated."""
    ds = catalog.dataset()
    rows = ds.count_rows()
    rng = np.random.default_rng(seed + 1)
    picks = rng.choice(rows, size=n, replace=rows < n)
    table = ds.take(np.sort(picks).tolist(), columns=["id", "sequence", "molecule"])
    order = rng.permutation(table.num_rows)
    out = []
    for i in order.tolist():
        seq = table.column("sequence")[i].as_py()
        molecule = table.column("molecule")[i].as_py() or "protein"
        out.append(Query(f"bench{i}", _mutate(seq, rng) if molecule == "protein" else seq, molecule))
    return out


def _exact(catalog: Catalog, queries: np.ndarray, k: int, progress: ProgressCallback, cancel: CancelToken) -> _Exact:
    """Exact cosine scores of every row for each query, the k-th best score, and row positions by hash.

    Reads the vectors in chunks, so memory stays bounded at any catalog size;
    keeps only each query's scores (one float per row per query).
    """
    ds = catalog.dataset()
    column = catalog.default_vector
    scores: list[list[np.ndarray]] = [[] for _ in range(len(queries))]
    hashes: list[str] = []
    done = 0
    total = ds.count_rows()
    for batch in ds.to_batches(columns=["seq_hash", column], batch_size=EXACT_CHUNK):
        cancel.raise_if_cancelled()
        dim = queries.shape[1]
        vectors = batch.column(column).flatten().to_numpy().reshape(-1, dim)
        block = queries @ vectors.T
        for i in range(len(queries)):
            scores[i].append(block[i])
        hashes.extend(batch.column("seq_hash").to_pylist())
        done += batch.num_rows
        progress(Progress(done, total, "rows", "recall", "Recall: exact reference"))
    full = [np.concatenate(s) if s else np.empty(0, np.float32) for s in scores]
    kk = min(k, total)
    kth = np.array([np.partition(-s, kk - 1)[kk - 1] * -1.0 for s in full], dtype=np.float64)
    return _Exact(full, kth, {h: i for i, h in enumerate(hashes)})


def _recall(hits: Sequence[Sequence[str]], exact: _Exact, k: int) -> float:
    """Mean share of the exact top-k found; a hit whose exact score ties the k-th best counts."""
    values = []
    scores, kth, position = exact.scores, exact.kth, exact.position
    for i, found in enumerate(hits):
        expected = min(k, scores[i].size)
        good = sum(1 for h in dict.fromkeys(found) if h in position and scores[i][position[h]] >= kth[i] - 1e-5)
        values.append(min(good, expected) / expected if expected else 1.0)
    return float(np.mean(values)) if values else 1.0


def _index_name(catalog: Catalog) -> str | None:
    ds = catalog.dataset()
    try:
        for index in ds.describe_indices():
            if catalog.default_vector in list(index.field_names):
                return f"{index.index_type} {index.name}".strip()
    except (OSError, ValueError, AttributeError):
        return None
    return None


def _effort(
    catalog: Catalog, queries: np.ndarray, exact: _Exact, k: int, cancel: CancelToken
) -> list[dict[str, float]]:
    """Recall and median latency of Lance's ANN search at increasing ``nprobes``.

    For quantised indexes (PQ, SQ, RQ) each setting is also tried with
    ``refine_factor`` 10 (re-scoring 10·k candidates with the full vectors);
    a flat IVF index stores full vectors, so refining would change nothing.
    """
    ds = catalog.dataset()
    column = catalog.default_vector
    index = (_index_name(catalog) or "").upper()
    refines = (0, REFINE) if any(t in index for t in ("PQ", "SQ", "RQ")) else (0,)
    out = []
    for refine in refines:
        for nprobes in NPROBES:
            found, times = [], []
            for q in queries:
                cancel.raise_if_cancelled()
                nearest: dict[str, Any] = {"column": column, "q": q, "k": k, "nprobes": nprobes, "metric": "cosine"}
                if refine:
                    nearest["refine_factor"] = refine
                t = time.perf_counter()
                table = ds.to_table(columns=["seq_hash"], nearest=nearest)
                times.append((time.perf_counter() - t) * 1000.0)
                found.append(table.column("seq_hash").to_pylist())
            out.append({"nprobes": nprobes, "refine_factor": refine,
                        "recall": _recall(found, exact, k), "p50_ms": float(np.median(times))})
    return out


def _machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    info: dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform(terse=True),
                            "python": platform.python_version()}
    for package in ("genocat-desktop", "pylance", "numpy"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = None
    return info
