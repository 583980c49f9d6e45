"""The benchmark job: sane numbers, nothing written to the catalog, results saved and comparable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from genocat_desktop.engine import Cancelled, CancelToken, Catalog, InputError, Progress, import_files
from genocat_desktop.engine.benchmark import (
    BenchmarkResult,
    load_results,
    results_folder,
    results_table,
    run_benchmark,
    save_result,
    write_synthetic_fasta,
)
from genocat_desktop.engine.ingest.fasta import FastaReader

DATA = Path(__file__).parent / "data"


def _sane(result: BenchmarkResult, queries: int) -> None:
    p50, p95, p99 = (result.percentile(q) for q in (50, 95, 99))
    assert p50 is not None and p95 is not None and p99 is not None
    assert len(result.latencies_ms) == queries and min(result.latencies_ms) > 0
    assert 0 < p50 <= p95 <= p99 <= max(result.latencies_ms)
    assert result.ingest_rate is not None and result.ingest_rate > 0
    assert result.export_seconds is not None and result.export_seconds > 0
    assert [c.name for c in result.checks] == ["ingest", "search_p99", "recall", "export"]
    assert all(c.passed is not None for c in result.checks)


def test_synthetic_run_is_sane_and_exact_search_has_recall_one(tmp_path: Path) -> None:
    reports: list[Progress] = []
    result = run_benchmark(size=400, queries=25, k=5, work_dir=tmp_path, progress=reports.append)
    _sane(result, 25)
    assert result.source == "synthetic" and result.rows == 400 and result.import_rows == 400
    assert result.search_method == "exact" and result.recall == 1.0 and result.index is None
    assert result.export_rows == 400  # fewer rows than the 10,000 hits of the target
    phases = list(dict.fromkeys(p.phase for p in reports))
    assert phases == ["generating", "import", "search", "recall", "export"]
    assert list(tmp_path.iterdir()) == []  # the scratch catalog is gone
    # JSON round trip.
    data = json.loads(json.dumps(result.to_dict()))
    assert data["summary"]["recall"] == 1.0 and data["summary"]["p50_ms"] <= data["summary"]["p99_ms"]
    assert BenchmarkResult.from_dict(data).row() == result.row()


def test_open_catalog_is_not_written_and_runs_are_saved(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path / "catalog")
    import_files(catalog, [DATA / "mmseqs2_QUERY.fasta", DATA / "families_small.faa"])
    data = Path(catalog.uri) / "data"
    files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in data.iterdir()}
    version = catalog.version

    result = run_benchmark(catalog, queries=30, k=10, import_size=300, work_dir=tmp_path)
    _sane(result, 30)
    assert result.source == "catalog" and result.rows == catalog.count() and result.version == version
    assert result.import_rows == 300 and result.recall == 1.0
    assert catalog.refresh() == version
    assert {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in data.iterdir()} == files

    folder = results_folder(catalog)
    assert folder == tmp_path / "catalog" / "benchmarks"
    first = save_result(result, folder)
    second = save_result(result, folder)  # same second: a second file, not an overwrite
    assert first != second and first.exists() and second.exists()
    runs = load_results(folder)
    assert [r.id for r in runs] == [result.id, result.id]
    table = results_table(runs)
    assert table.num_rows == 2 and table.column("recall").to_pylist() == [1.0, 1.0]
    assert (folder / "runs.csv").read_text().count("\n") == 3  # header + two runs


def test_recall_against_search_effort_with_an_index(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path / "catalog")
    import_files(catalog, [DATA / "mmseqs2_QUERY.fasta", DATA / "families_small.faa"])
    catalog.dataset().create_index("vec_kmer", index_type="IVF_FLAT", num_partitions=4, metric="cosine")
    catalog.refresh()
    result = run_benchmark(catalog, queries=20, k=10, import_size=100, work_dir=tmp_path)
    assert result.index is not None and "IVF_FLAT" in result.index
    by_probes = {e["nprobes"]: e for e in result.effort}
    assert set(by_probes) >= {1, 5, 100}
    assert all(0.0 <= e["recall"] <= 1.0 and e["p50_ms"] > 0 for e in result.effort)
    # Probing every partition of a flat IVF index is an exhaustive search.
    assert by_probes[5]["recall"] == pytest.approx(1.0)
    assert by_probes[1]["recall"] <= by_probes[5]["recall"]


def test_cancel_and_bad_requests(tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_benchmark(size=100, queries=5, work_dir=tmp_path, cancel=token)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="a size for a synthetic one"):
        run_benchmark()
    with pytest.raises(InputError, match="at least one query"):
        run_benchmark(size=10, queries=0)
    empty = Catalog.open(tmp_path / "empty")
    with pytest.raises(InputError, match="catalog is empty"):
        run_benchmark(empty, queries=5, import_size=20, work_dir=tmp_path / "empty")


def test_synthetic_fasta_is_deterministic_and_valid(tmp_path: Path) -> None:
    a = write_synthetic_fasta(tmp_path / "a.faa", 300, seed=3)
    b = write_synthetic_fasta(tmp_path / "b.faa", 300, seed=3)
    assert a.read_bytes() == b.read_bytes()
    records = sum(len(batch) for batch in FastaReader(a))
    assert records == 300


def test_generating_a_large_synthetic_file_can_be_cancelled(tmp_path: Path) -> None:
    token = CancelToken()
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        token.cancel()  # after the first block of 8,192 records

    with pytest.raises(Cancelled):
        write_synthetic_fasta(tmp_path / "big.faa", 1_000_000, progress=progress, cancel=token)
    assert len(seen) == 1 and seen[0].done == 8192 and seen[0].total == 1_000_000


def test_quantised_index_is_also_tried_with_refinement(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path / "catalog")
    import_files(catalog, [DATA / "mmseqs2_QUERY.fasta", DATA / "families_small.faa"])
    catalog.dataset().create_index("vec_kmer", index_type="IVF_PQ", num_partitions=2, num_sub_vectors=16,
                                   metric="cosine")
    catalog.refresh()
    result = run_benchmark(catalog, queries=10, k=10, import_size=50, work_dir=tmp_path)
    assert result.index is not None and "PQ" in result.index
    refined = {e["nprobes"]: e["recall"] for e in result.effort if e["refine_factor"] == 10}
    plain = {e["nprobes"]: e["recall"] for e in result.effort if e["refine_factor"] == 0}
    assert set(refined) == set(plain)
    # Re-scoring 10·k candidates with the full vectors keeps every true neighbour the plain
    # search found and can only add more (877 rows, 16 sub-vectors: 0.88 against 0.47).
    assert all(plain[n] <= refined[n] + 1e-9 for n in plain)
    assert all(0.0 < r <= 1.0 for r in [*plain.values(), *refined.values()])
