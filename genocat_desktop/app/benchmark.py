"""The benchmark: run it, keep its results next to the catalog, save one run to a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genocat_desktop.app.catalog import Session

if TYPE_CHECKING:
    from genocat_desktop.app.jobs import Job, ProgressCallback
    from genocat_desktop.engine import BenchmarkResult, CancelToken

__all__ = [
    "BenchmarkOutcome",
    "BenchmarkRun",
    "benchmark_job",
    "benchmark_run_job",
    "benchmark_runs_job",
    "save_benchmark_job",
]


@dataclass(frozen=True, slots=True)
class BenchmarkOutcome:
    """A benchmark run, where it was saved, and the earlier runs saved next to it."""

    result: BenchmarkResult
    saved: str | None
    earlier: list[BenchmarkResult]


@dataclass(frozen=True, slots=True)
class BenchmarkRun:
    """What to measure.

    Attributes
    ----------
    size
        ``None``: the open catalog; else a synthetic catalog of this many rows, made and deleted for the run.
    queries
        Search queries timed.
    k
        Hits per query.
    import_size
        Sequences imported to measure throughput on an open catalog.
    seed
        Seed of the synthetic data and of the query sample.
    save
        Save the result in the catalog's ``benchmarks`` folder (when it is a local folder).
    """

    size: int | None
    queries: int
    k: int
    import_size: int = 10_000
    seed: int = 0
    save: bool = True


def benchmark_job(session: Session | None, *, size: int | None, queries: int, k: int,
                  import_size: int = 10_000, seed: int = 0, save: bool = True) -> Job[BenchmarkOutcome]:
    """Run the benchmark on the open catalog (``size`` None) or a synthetic one of ``size`` rows.

    The result is saved in the open catalog's ``benchmarks`` folder (when it is
    a local folder, and ``save``) and returned with the runs saved there before.
    """
    return benchmark_run_job(session, BenchmarkRun(size, queries, k, import_size, seed, save))


def benchmark_run_job(session: Session | None, run_spec: BenchmarkRun) -> Job[BenchmarkOutcome]:
    """As :func:`benchmark_job`, with the run described by a :class:`BenchmarkRun`."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> BenchmarkOutcome:
        from genocat_desktop.engine import load_results, results_folder, run_benchmark, save_result

        catalog = session.catalog if session is not None else None
        result = run_benchmark(catalog, size=run_spec.size, queries=run_spec.queries, k=run_spec.k,
                               import_size=run_spec.import_size, seed=run_spec.seed, progress=progress,
                               cancel=cancel)
        folder = results_folder(catalog) if catalog is not None and run_spec.save else None
        if folder is None:
            return BenchmarkOutcome(result, None, [])
        earlier = load_results(folder)
        saved = save_result(result, folder)
        return BenchmarkOutcome(result, str(saved), earlier)

    return run


def benchmark_runs_job(session: Session) -> Job[list[BenchmarkResult]]:
    """The benchmark runs saved in the open catalog's folder, oldest first."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> list[BenchmarkResult]:
        from genocat_desktop.engine import load_results, results_folder

        folder = results_folder(session.catalog)
        return load_results(folder) if folder is not None and folder.is_dir() else []

    return run


def save_benchmark_job(result: BenchmarkResult, path: str) -> Job[str]:
    """Save one run as JSON (everything) or CSV (its summary line), by the file's suffix."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> str:
        import json

        from genocat_desktop.engine import InputError, export_csv, results_table

        suffix = Path(path).suffix.lower()
        if suffix == ".json":
            Path(path).write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
        elif suffix in (".csv", ".tsv", ".txt"):
            export_csv(results_table([result]), path)
        else:
            raise InputError(f"cannot tell the format from {Path(path).name!r}; name it .json or .csv")
        return path

    return run
