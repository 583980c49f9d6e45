"""One measurement in a fresh process (own peak RSS, no state shared between runs).

``python -m bench.scale.child import CATALOG FILE``          import_files, one process (the baseline)
``python -m bench.scale.child ingest ENGINE WORKERS CATALOG FILE PART_MB``   distributed ingest
``python -m bench.scale.child stats CATALOG``                bytes on disk per column and per row
``python -m bench.scale.child index CATALOG QUERIES``        IVF_RQ build, exact ground truth, then ``query``
``python -m bench.scale.child query CATALOG NPZ NPROBES``    ANN latency, recall@10 and peak RSS of a query process

Each prints one JSON line last.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any


def vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    """User + system CPU of this process and of the children it reaped (pool workers; Ray's daemons)."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def do_import(catalog: str, file: str) -> dict[str, Any]:
    from genocat_desktop.engine import Catalog, import_files

    cat = Catalog.open(catalog)
    t = time.perf_counter()
    report = import_files(cat, [file])
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "records": report.records, "imported": report.imported, "rows": cat.count(),
            "errors": [f.error for f in report.files if f.error], "cpu_s": cpu_seconds()}


def do_ingest(engine: str, workers: int, catalog: str, file: str, part_mb: int) -> dict[str, Any]:
    from genocat_desktop.engine import Catalog
    from genocat_desktop.engine.ingest.distributed import ingest

    cat = Catalog.open(catalog)
    init_s = 0.0
    if engine == "ray":
        import ray

        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        t = time.perf_counter()
        ray.init(num_cpus=workers, object_store_memory=1 << 30, include_dashboard=False, logging_level="error",
                 log_to_driver=False)
        init_s = time.perf_counter() - t
    t = time.perf_counter()
    report = ingest(cat, [file], engine=engine, workers=workers, part_bytes=part_mb << 20)
    seconds = time.perf_counter() - t
    if engine == "ray":
        import ray

        ray.shutdown()
    return {"seconds": seconds, "init_s": init_s, "records": report.records, "imported": report.imported,
            "rows": cat.count(), "parts": report.parts, "phases": report.phase_seconds, "error": report.error,
            "workers": report.workers, "cpu_s": cpu_seconds()}


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def do_stats(catalog: str) -> dict[str, Any]:
    from genocat_desktop.engine import Catalog

    cat = Catalog.open(catalog, create=False)
    ds = cat.dataset()
    rows = ds.count_rows()
    names: dict[int, str] = {}

    def walk(field: Any, top: str) -> None:  # child fields (list items) count for their top-level column
        names[field.id()] = top
        for child in field.children():
            walk(child, top)

    for f in ds.lance_schema.fields():
        walk(f, f.name())
    per_field: dict[str, int] = {}
    for fs in ds.stats.data_stats().fields:
        key = names.get(fs.id, str(fs.id))
        per_field[key] = per_field.get(key, 0) + int(fs.bytes_on_disk)
    table = Path(cat.uri)
    data = _du(table / "data")
    return {"rows": rows, "fragments": len(ds.get_fragments()), "data_bytes": data, "table_bytes": _du(table),
            "per_field_bytes": per_field, "bytes_per_row": data / rows if rows else None,
            "mean_length": float(ds.to_table(columns=["length"]).column("length").to_numpy().mean())}


def do_index(catalog: str, queries: int) -> dict[str, Any]:
    """IVF_RQ as the index branch builds it (cosine, √N ≤ 256 partitions, 4 bits); then queries in a fresh process.

    The build's peak RSS is taken before the exact ground truth (which loads every vector) is computed; the
    query process opens the catalog cold and only searches, so its peak RSS is what a query node needs.
    """
    import subprocess

    import numpy as np

    from genocat_desktop.engine import Catalog

    cat = Catalog.open(catalog, create=False)
    col = cat.default_vector
    ds = cat.dataset()
    rows = ds.count_rows()
    # The index branch's choice: √rows partitions, at most 256 (above 256 Lance trains with hierarchical
    # k-means, which hung at 1M rows × 1000 partitions on this machine in 3 of 5 tries).
    parts = max(1, min(round(math.sqrt(rows)), 256, rows // 100))
    import signal

    signal.alarm(1200)  # a hung build ends this process instead of the whole benchmark
    t = time.perf_counter()
    ds = ds.create_index(col, index_type="IVF_RQ", metric="cosine", num_partitions=parts, num_bits=4, replace=True)
    build_s = time.perf_counter() - t
    signal.alarm(0)
    build_rss = vmhwm_mb()
    index_bytes = _du(Path(cat.uri) / "_indices")
    # Queries: stored rows (real proteins as queries); exact top 10 by numpy over every vector (row ids).
    rng = np.random.default_rng(7)
    picks = np.sort(rng.choice(rows, size=queries, replace=False))
    q = np.stack(ds.take(picks.tolist(), columns=[col]).column(col).to_numpy(zero_copy_only=False))
    vt = ds.to_table(columns=[col], with_row_id=True)
    dim = vt.schema.field(col).type.list_size
    vecs = vt.column(col).combine_chunks().values.to_numpy().reshape(-1, dim)
    rowids = vt.column("_rowid").to_numpy()
    truth = []
    for i in range(0, queries, 50):
        sims = q[i : i + 50].astype(np.float32) @ vecs.T  # L2-normalised vectors: inner product = cosine
        truth.append(rowids[np.argsort(-sims, axis=1)[:, :10]])
    del vecs, vt
    npz = Path(catalog).with_suffix(".queries.npz")
    np.savez(npz, q=q.astype(np.float32), truth=np.concatenate(truth))
    nprobes = max(20, math.ceil(parts * 0.2))
    proc = subprocess.run([sys.executable, "-m", "bench.scale.child", "query", catalog, str(npz), str(nprobes)],
                          capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    query = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {"error": proc.stderr[-500:]}
    return {"rows": rows, "dim": dim, "partitions": parts, "num_bits": 4, "build_s": build_s,
            "build_vmhwm_mb": build_rss, "index_bytes": index_bytes, "query": query}


def do_query(catalog: str, npz: str, nprobes: int) -> dict[str, Any]:
    """ANN queries on a cold catalog (20 % of partitions probed, refine 10): latency, recall@10, peak RSS."""
    import numpy as np

    from genocat_desktop.engine import Catalog

    data = np.load(npz)
    q, truth = data["q"], data["truth"]
    base = vmhwm_mb()
    cat = Catalog.open(catalog, create=False)
    ds = cat.dataset()
    col = cat.default_vector
    lat, recall = [], []
    for rounds in range(2):  # the first round warms the index cache; the second is reported
        lat, recall = [], []
        for i in range(len(q)):
            t = time.perf_counter()
            res = ds.to_table(nearest={"column": col, "q": q[i], "k": 10, "nprobes": nprobes, "refine_factor": 10,
                                       "metric": "cosine"}, columns=["seq_hash"], with_row_id=True)
            lat.append((time.perf_counter() - t) * 1000)
            recall.append(len(set(res.column("_rowid").to_numpy().tolist()) & set(truth[i].tolist())) / 10)
        if rounds == 0:
            cold = {"cold_p50_ms": float(np.percentile(lat, 50)), "cold_p99_ms": float(np.percentile(lat, 99))}
    return {"queries": len(q), "nprobes": nprobes, "refine_factor": 10, **cold,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "recall10": float(np.mean(recall)), "vmhwm_mb": vmhwm_mb(), "vmhwm_before_open_mb": base}


def main(argv: list[str]) -> None:
    os.environ.setdefault("LANCE_LOG", "error")
    os.environ.setdefault("LANCEDB_LOG", "error")
    cmd, *args = argv
    if cmd == "import":
        out = do_import(args[0], args[1])
    elif cmd == "ingest":
        out = do_ingest(args[0], int(args[1]), args[2], args[3], int(args[4]))
    elif cmd == "stats":
        out = do_stats(args[0])
    elif cmd == "index":
        out = do_index(args[0], int(args[1]))
    elif cmd == "query":
        out = do_query(args[0], args[1], int(args[2]))
    else:
        raise SystemExit(f"unknown command {cmd}")
    out["vmhwm_mb"] = out.get("vmhwm_mb", vmhwm_mb())
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
