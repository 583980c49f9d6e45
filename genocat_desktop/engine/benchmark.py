"""The benchmark job: measure a catalog (or a synthetic one) against the design targets.

One engine job (``progress``, ``cancel``), used by the benchmark page and by
``genocat bench``. Four measurements, each against a target from the design:

========================  =============================================  ==============
measure                   how                                            target
========================  =============================================  ==============
import throughput         :func:`import_files` of a synthetic FASTA file  ≥ 10,000 seq/s
                          into a scratch catalog (the open catalog is
                          never written): wall time, parsing, embedding
                          and writing included
search latency            ``Searcher.search`` of N queries, one at a     p99 < 10 ms
                          time, embedding included, after ``warm()``
recall@k                  the search's hits against exact cosine top-k   ≥ 95%
                          (numpy over every vector, in chunks); a hit
                          tied with the k-th exact score counts
export                    CSV export of 10,000 hits (``export_hits``)   < 1 s
========================  =============================================  ==============

The queries are rows of the catalog with 10% of their residues mutated
(seeded), so they resemble the catalog without being copies of it. A
synthetic catalog is made of protein families (a random parent per 20
sequences, 15% mutations), with background amino-acid frequencies and a
log-normal length distribution (median ~ 300).

Results are a :class:`BenchmarkResult` (every raw latency kept, for the
histogram), saved as JSON in ``<catalog>/benchmarks/`` with one line per run
appended to ``runs.csv`` there, so runs can be compared over time
(:func:`load_results`, :func:`results_table`).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.storage import is_remote
from genocat_desktop.engine.catalog.table import Catalog
from genocat_desktop.engine.core.errors import Cancelled, CatalogError, InputError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.ingest.importer import import_files
from genocat_desktop.engine.search.export import export_fasta, export_hits
from genocat_desktop.engine.search.searcher import Query, Searcher

__all__ = [
    "TARGETS",
    "BenchmarkResult",
    "Check",
    "Targets",
    "format_measure",
    "load_results",
    "results_folder",
    "results_table",
    "run_benchmark",
    "save_result",
    "write_synthetic_fasta",
]


@dataclass(frozen=True, slots=True)
class Targets:
    """The design targets (see the project brief): what "pass" means."""

    ingest_seq_per_s: float = 10_000.0
    search_p99_ms: float = 10.0
    export_seconds: float = 1.0
    export_rows: int = 10_000
    recall: float = 0.95


TARGETS: Final = Targets()
RESULTS_DIR: Final = "benchmarks"
RUNS_CSV: Final = "runs.csv"
#: Queries used for recall (exact top-k of each is computed over every vector).
MAX_RECALL_QUERIES: Final = 200
#: Rows of vectors scored at a time by the exact reference (bounded memory at any size).
EXACT_CHUNK: Final = 65_536
#: Search effort settings tried when the vector column has an ANN index.
NPROBES: Final = (1, 2, 5, 10, 20, 50, 100)
REFINE: Final = 10
AMINO: Final = b"ARNDCQEGHILKMFPSTWYV"
# Background amino-acid frequencies (Robinson & Robinson; the BLOSUM62 background, near enough).
_FREQ: Final = np.array([7.8, 5.1, 4.5, 5.4, 1.9, 4.3, 6.3, 7.4, 2.2, 5.1, 9.0, 5.7, 2.2, 3.9, 5.2, 7.1, 5.9,
                         1.3, 3.2, 6.5])
_CSV_COLUMNS: Final = (
    "id", "started", "source", "rows", "queries", "k", "import_rows", "ingest_seq_per_s", "p50_ms", "p95_ms",
    "p99_ms", "recall", "export_rows", "export_seconds", "passed", "catalog", "version", "machine",
)


@dataclass(frozen=True, slots=True)
class Check:
    """One measure against its target."""

    name: str  # ingest, search_p99, recall, export
    label: str
    value: float | None
    target: float
    unit: str
    higher_is_better: bool

    @property
    def passed(self) -> bool | None:
        """Whether the target is met (``None`` when not measured)."""
        if self.value is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value < self.target

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {**asdict(self), "passed": self.passed}


@dataclass(slots=True)
class BenchmarkResult:
    """Everything one run measured.

    Attributes
    ----------
    source
        ``"catalog"`` (the open catalog) or ``"synthetic"``.
    throughput
        ``(seconds since the import started, seq/s)`` samples, for the throughput plot.
    latencies_ms
        One search latency per query, in query order (for the histogram).
    effort
        With an ANN index: ``{"nprobes", "recall", "p50_ms"}`` per setting tried.
    """

    id: str
    started: str
    source: str
    catalog: str
    version: int | None
    rows: int
    embedder: str
    queries: int
    k: int
    import_rows: int = 0
    import_seconds: float = 0.0
    throughput: list[tuple[float, float]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    search_method: str = ""
    recall: float | None = None
    recall_queries: int = 0
    index: str | None = None
    effort: list[dict[str, float]] = field(default_factory=list)
    export_rows: int = 0
    export_seconds: float | None = None
    export_fasta_seconds: float | None = None
    seconds: float = 0.0
    machine: dict[str, Any] = field(default_factory=dict)
    targets: Targets = TARGETS

    @property
    def ingest_rate(self) -> float | None:
        """Sequences imported per second (wall time)."""
        return self.import_rows / self.import_seconds if self.import_seconds > 0 else None

    def percentile(self, q: float) -> float | None:
        """Latency percentile ``q`` (0-100) in ms."""
        if not self.latencies_ms:
            return None
        return float(np.percentile(np.asarray(self.latencies_ms), q))

    @property
    def checks(self) -> list[Check]:
        """Each measure against its target."""
        t = self.targets
        return [
            Check("ingest", "import throughput", self.ingest_rate, t.ingest_seq_per_s, "seq/s", True),
            Check("search_p99", "search latency p99", self.percentile(99), t.search_p99_ms, "ms", False),
            Check("recall", f"recall@{self.k}", self.recall, t.recall, "", True),
            Check("export", f"export of {self.export_rows:,} hits (CSV)", self.export_seconds, t.export_seconds,
                  "s", False),
        ]

    @property
    def passed(self) -> bool:
        """True if every measured target is met."""
        return all(c.passed is not False for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (what is saved)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "targets"}
        out["targets"] = asdict(self.targets)
        out["throughput"] = [list(p) for p in self.throughput]
        out["summary"] = {
            "ingest_seq_per_s": self.ingest_rate,
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
            "mean_ms": float(np.mean(self.latencies_ms)) if self.latencies_ms else None,
            "recall": self.recall,
            "export_seconds": self.export_seconds,
            "passed": self.passed,
        }
        out["checks"] = [c.to_dict() for c in self.checks]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkResult:
        """Read a saved result (unknown keys are ignored, so older files still load)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "targets"}
        known["throughput"] = [tuple(p) for p in known.get("throughput", [])]
        result = cls(**known)
        if isinstance(data.get("targets"), dict):
            result.targets = Targets(**data["targets"])
        return result

    def row(self) -> dict[str, Any]:
        """One line for ``runs.csv`` and the comparison table."""

        def r(x: float | None, n: int) -> float | None:
            return None if x is None else round(x, n)

        return {
            "id": self.id, "started": self.started, "source": self.source, "rows": self.rows,
            "queries": self.queries, "k": self.k, "import_rows": self.import_rows,
            "ingest_seq_per_s": r(self.ingest_rate, 1), "p50_ms": r(self.percentile(50), 3),
            "p95_ms": r(self.percentile(95), 3), "p99_ms": r(self.percentile(99), 3), "recall": r(self.recall, 4),
            "export_rows": self.export_rows, "export_seconds": r(self.export_seconds, 4), "passed": self.passed,
            "catalog": self.catalog, "version": self.version,
            "machine": f"{self.machine.get('cpus', '?')} CPUs, {self.machine.get('platform', '')}",
        }


# ---------------------------------------------------------------------- synthetic data
def write_synthetic_fasta(
    path: str | os.PathLike[str],
    n: int,
    *,
    seed: int = 0,
    family_size: int = 20,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Path:
    """Write ``n`` synthetic protein records (families of related sequences) to ``path``.

    Deterministic for a given ``seed``. Headers are canonical UniProt headers
    (``>tr|GC0000001|GC0000001_SYNTH ... OS= OX= GN= PE= SV=``). ``cancel`` is
    checked and ``progress`` told after every 8,192 records (generating 200,000
    takes about a minute on a busy 2-core machine); a cancelled file is left
    half-written for the caller to delete.
    """
    if n < 1:
        raise InputError("a synthetic catalog needs at least one sequence")
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(AMINO, dtype=np.uint8)
    probs = _FREQ / _FREQ.sum()
    families = max(1, n // family_size)
    parent_len = np.clip(rng.lognormal(np.log(300), 0.5, families), 30, 2000).astype(np.int64)
    parent_off = np.zeros(families + 1, dtype=np.int64)
    np.cumsum(parent_len, out=parent_off[1:])
    parents = alphabet[rng.choice(alphabet.size, int(parent_off[-1]), p=probs)]
    out = Path(path)
    with open(out, "w", encoding="ascii", newline="\n") as fh:
        for start in range(0, n, 8192):
            m = min(8192, n - start)
            fam = rng.integers(0, families, m)
            lines = []
            for j in range(m):
                f = int(fam[j])
                seq = parents[parent_off[f] : parent_off[f + 1]].copy()
                mutate = rng.random(seq.size) < 0.15
                seq[mutate] = alphabet[rng.choice(alphabet.size, int(mutate.sum()), p=probs)]
                number = start + j + 1
                acc = f"GC{number:07d}"
                lines.append(f">tr|{acc}|{acc}_SYNTH Synthetic protein {f} OS=Synthetica benchmarkii OX=32644 "
                             f"GN=syn{f} PE=4 SV=1\n{seq.tobytes().decode()}\n")
            fh.write("".join(lines))
            progress(Progress(start + m, n, "sequences", "generating", f"Generating: {start + m:,} of {n:,}"))
            if cancel is not None:
                cancel.raise_if_cancelled()
    return out


def _mutate(sequence: str, rng: np.random.Generator, rate: float = 0.10) -> str:
    arr = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8).copy()
    hit = rng.random(arr.size) < rate
    alphabet = np.frombuffer(AMINO, dtype=np.uint8)
    arr[hit] = alphabet[rng.integers(0, alphabet.size, int(hit.sum()))]
    return arr.tobytes().decode()


# ---------------------------------------------------------------------- the job
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
    cancel = cancel or CancelToken()
    if catalog is None and not size:
        raise InputError("give a catalog to measure, or a size for a synthetic one")
    if size is not None and size < 1:
        raise InputError(f"the synthetic catalog needs at least one sequence, not {size}")
    if queries < 1 or not 1 <= k <= 10_000:
        raise InputError("the benchmark needs at least one query and k between 1 and 10,000")
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="genocat-bench-", dir=work_dir))
    try:
        embedder, params = "kmer", {}
        if catalog is not None:
            record = catalog.vector_columns()[catalog.default_vector]
            embedder, params = str(record["name"]), dict(record.get("params", {}))
        n_import = size if size else import_size
        # 1. Import throughput, into a scratch catalog.
        fasta = scratch / "synthetic.faa"
        progress(Progress(0, n_import, "sequences", "generating", f"Generating {n_import:,} synthetic sequences"))
        write_synthetic_fasta(fasta, n_import, seed=seed, progress=progress, cancel=cancel)
        cancel.raise_if_cancelled()
        scratch_catalog = Catalog.open(scratch / "catalog", embedder=embedder, embedder_params=params)
        samples: list[tuple[float, float]] = []
        t_import = time.perf_counter()

        def on_import(p: Progress) -> None:
            if p.phase == "importing" and p.rate:
                samples.append((round(time.perf_counter() - t_import, 4), round(p.rate, 1)))
            progress(Progress(p.done, p.total, p.unit, "import", f"Import: {p.message}", p.rate))

        report = import_files(scratch_catalog, [fasta], progress=on_import, cancel=cancel)
        import_seconds = time.perf_counter() - t_import
        if report.cancelled:
            raise Cancelled()
        if report.failed:
            raise CatalogError(f"the synthetic import failed: {report.failed[0].error}")
        target = scratch_catalog if size else catalog
        assert target is not None
        ds = target.dataset()
        rows = ds.count_rows()
        if rows == 0:
            raise InputError("the catalog is empty: import sequences first, or benchmark a synthetic catalog")
        result = BenchmarkResult(
            id=started.strftime("%Y%m%dT%H%M%S"),
            started=started.isoformat(timespec="seconds"),
            source="synthetic" if size else "catalog",
            catalog=target.location if not size else f"synthetic ({size:,} sequences)",
            version=None if size else target.version,
            rows=rows,
            embedder=target.default_vector,
            queries=queries,
            k=k,
            import_rows=report.imported,
            import_seconds=import_seconds,
            throughput=samples,
            machine=_machine(),
            targets=targets,
        )
        # 2. Search latency.
        query_list = _queries(target, queries, seed)
        searcher = Searcher(target)
        progress(Progress(0, queries, "queries", "search", "Loading the vectors"))
        searcher.warm()
        searcher.search(query_list[0], k=k)  # first call pays one-time costs (BLAS, caches)
        hits: list[list[str]] = []
        exact_flags = []
        for i, q in enumerate(query_list):
            cancel.raise_if_cancelled()
            t = time.perf_counter()
            res = searcher.search(q, k=k)
            result.latencies_ms.append((time.perf_counter() - t) * 1000.0)
            hits.append(res.hits.column("seq_hash").to_pylist())
            exact_flags.append(res.exact)
            if i % 10 == 9 or i + 1 == queries:
                progress(Progress(i + 1, queries, "queries", "search", f"Search: {i + 1:,} of {queries:,} queries"))
        result.search_method = "exact" if all(exact_flags) else "index"
        # 3. Recall against exact top-k.
        n_recall = min(queries, MAX_RECALL_QUERIES)
        vectors_q = target.embedder().embed([q.sequence for q in query_list[:n_recall]],
                                            [q.molecule for q in query_list[:n_recall]])
        exact_scores, kth, position = _exact(target, vectors_q, k, progress, cancel)
        result.recall = _recall(hits[:n_recall], exact_scores, kth, position, k)
        result.recall_queries = n_recall
        result.index = _index_name(target)
        if result.index is not None:
            result.effort = _effort(target, vectors_q, exact_scores, kth, position, k, cancel)
        # 4. Export of (up to) 10,000 hits.
        cancel.raise_if_cancelled()
        progress(Progress(0, 1, "files", "export", "Export"))
        many = searcher.search(query_list[0], k=min(targets.export_rows, rows))
        out = scratch / "hits.csv"
        t = time.perf_counter()
        result.export_rows = export_hits([many], out)
        result.export_seconds = time.perf_counter() - t
        t = time.perf_counter()
        export_fasta(many.hits, scratch / "hits.fasta")
        result.export_fasta_seconds = time.perf_counter() - t
        progress(Progress(1, 1, "files", "export", "Export done"))
        result.seconds = time.perf_counter() - t0
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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


def _exact(
    catalog: Catalog, queries: np.ndarray, k: int, progress: ProgressCallback, cancel: CancelToken
) -> tuple[list[np.ndarray], np.ndarray, dict[str, int]]:
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
    return full, kth, {h: i for i, h in enumerate(hashes)}


def _recall(
    hits: Sequence[Sequence[str]], scores: list[np.ndarray], kth: np.ndarray, position: dict[str, int], k: int
) -> float:
    """Mean share of the exact top-k found; a hit whose exact score ties the k-th best counts."""
    values = []
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
    catalog: Catalog,
    queries: np.ndarray,
    scores: list[np.ndarray],
    kth: np.ndarray,
    position: dict[str, int],
    k: int,
    cancel: CancelToken,
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
                        "recall": _recall(found, scores, kth, position, k), "p50_ms": float(np.median(times))})
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


# ---------------------------------------------------------------------- results on disk
def results_folder(catalog: Catalog) -> Path | None:
    """``<catalog>/benchmarks`` for a catalog in a local folder; ``None`` for object stores."""
    if is_remote(catalog.location):
        return None
    return Path(catalog.location) / RESULTS_DIR


def save_result(result: BenchmarkResult, folder: str | os.PathLike[str]) -> Path:
    """Save ``result`` as ``<folder>/bench-<id>.json`` and add its line to ``runs.csv``; return the JSON path."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"bench-{result.id}.json"
    n = 1
    while path.exists():  # two runs in the same second
        path = target / f"bench-{result.id}-{n}.json"
        n += 1
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(result.to_dict(), indent=1))
    os.replace(tmp, path)
    runs = target / RUNS_CSV
    new = not runs.exists()
    with open(runs, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(_CSV_COLUMNS))
        if new:
            writer.writeheader()
        writer.writerow(result.row())
    return path


def load_results(folder: str | os.PathLike[str]) -> list[BenchmarkResult]:
    """Earlier runs saved in ``folder``, oldest first (unreadable files are skipped)."""
    found = []
    for path in sorted(Path(folder).glob("bench-*.json")):
        try:
            found.append(BenchmarkResult.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(found, key=lambda r: r.started)


def results_table(results: Sequence[BenchmarkResult]) -> pa.Table:
    """One row per run (the columns of ``runs.csv``), for the comparison table."""
    rows = [r.row() for r in results]
    return pa.table({c: [row[c] for row in rows] for c in _CSV_COLUMNS})


def format_measure(value: float | None, unit: str) -> str:
    """A measured value with its unit, as the CLI and the benchmark page show it."""
    if value is None:
        return "not measured"
    if unit == "seq/s":
        return f"{value:,.0f} seq/s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:.3f}"
