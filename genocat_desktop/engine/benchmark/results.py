"""Benchmark results: the targets, what one run measured, and the runs saved next to a catalog.

A run is saved as JSON in ``<catalog>/benchmarks/`` with one line appended to
``runs.csv`` there, so runs can be compared over time.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.catalog.storage import is_remote

if TYPE_CHECKING:
    from genocat_desktop.engine.catalog.table import Catalog

__all__ = [
    "RESULTS_DIR",
    "RUNS_CSV",
    "TARGETS",
    "BenchmarkResult",
    "Check",
    "Targets",
    "format_measure",
    "load_results",
    "results_folder",
    "results_table",
    "save_result",
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
        ``(seconds since the import started, sequences written so far / those seconds)`` samples, for
        the throughput plot.
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
