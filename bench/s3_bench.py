"""S3 catalog benchmark on a local moto_server: import throughput, cold open, first and warm queries.

Standalone: ``python -m bench.s3_bench [--sequences 20000]``.

The same FASTA file is imported into a catalog on ``moto_server`` (started
here on 127.0.0.1, in-memory, a Python server: latency is loopback plus
moto's own overhead, not a WAN) and into a local folder, in the same run, and
the same operations are timed on both. The local numbers are what a complete
local cache of the catalog would give. Results: Markdown on stdout, JSON in
``bench/out/s3_bench.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("LANCE_LOG", "error")
ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ms(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def write_fasta(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    aa = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", np.uint8)
    with path.open("w") as fh:
        for i in range(n):
            seq = aa[rng.integers(0, 20, int(rng.integers(100, 600)))].tobytes().decode()
            fh.write(f">tr|B{i:06d}|B{i}_ORG Putative kinase {i % 101} OS=Organism {i % 40} OX={i % 40 + 1}\n{seq}\n")


def measure(location: str, opts: dict[str, str] | None, fasta: Path, queries: list[str]) -> dict[str, Any]:
    import lancedb  # noqa: F401  (imported up front: its import alone takes seconds, S3 or not)

    from genocat_desktop.engine import Catalog, Searcher, build_indexes, import_files

    res: dict[str, Any] = {}
    t = time.perf_counter()
    cat = Catalog.open(location, storage_options=opts)
    res["create_s"] = time.perf_counter() - t
    t = time.perf_counter()
    report = import_files(cat, [fasta])
    sec = time.perf_counter() - t
    res["import_s"] = sec
    res["import_rows_per_s"] = report.imported / sec
    res["import_mb_per_s"] = fasta.stat().st_size / 1e6 / sec
    t = time.perf_counter()
    build_indexes(cat)
    res["index_build_s"] = time.perf_counter() - t
    opens = []
    for _ in range(5):
        t = time.perf_counter()
        Catalog.open(location, create=False, storage_options=opts).count()
        opens.append(time.perf_counter() - t)
    res["open_ms"] = {"first": opens[0] * 1000, "median": float(np.median(opens)) * 1000}
    # "index": a one-shot search (the CLI's), Lance re-ranking from the catalog's files; "warmed": the
    # app's path for a catalog beyond the memory budget, opened and warmed first, which keeps the
    # half-precision copy in this machine's cache folder (files), re-ranks from it and holds the fields
    # in RAM (a budget of half the copy: ~1 KB a row of vectors, ~0.2 KB of fields).
    half_copy = report.imported * int(cat.vector_columns()[cat.default_vector]["dim"])
    for mode, kw, warm in [("memory", {"use_index": False}, False), ("index", {"use_index": True}, False),
                           ("warmed", {"use_index": True, "memory_budget": half_copy}, True)]:
        cat2 = Catalog.open(location, create=False, storage_options=opts)
        searcher = Searcher(cat2, **kw)
        t = time.perf_counter()
        if warm:
            searcher.warm()
        warm_s = time.perf_counter() - t
        t = time.perf_counter()
        searcher.search(queries[0], k=10)
        first = time.perf_counter() - t
        lat = []
        for q in queries[1:]:
            t = time.perf_counter()
            r = searcher.search(q, k=10)
            lat.append(time.perf_counter() - t)
        res[mode] = {"first_ms": first * 1000, "warm_p50_ms": ms(lat, 50), "warm_p99_ms": ms(lat, 99),
                     "strategy": r.extra.get("strategy"), "refine": r.extra.get("refine"), "warm_up_s": warm_s}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args(argv)
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / "tmp_s3"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # an S3 catalog's working files, removed at the end
    fasta = tmp / "bench.fa"
    write_fasta(fasta, args.sequences)
    rng = np.random.default_rng(1)
    aa = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", np.uint8)
    queries = [aa[rng.integers(0, 20, 300)].tobytes().decode() for _ in range(args.queries + 1)]
    proc, endpoint = start_moto()
    try:
        import boto3

        from genocat_desktop.engine import Credentials, S3Settings, storage_options

        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s",
                     region_name="us-east-1").create_bucket(Bucket="bench")
        location = "s3://bench/catalog"
        opts = dict(storage_options(location, S3Settings(endpoint=endpoint, allow_http=True), Credentials("k", "s")))
        log(f"S3 (moto_server at {endpoint}), {args.sequences:,} sequences")
        s3 = measure(location, opts, fasta, queries)
        log(json.dumps(s3))
    finally:
        proc.terminate()
        proc.wait()
    log("local folder")
    local = measure(str(tmp / "local"), None, fasta, queries)
    log(json.dumps(local))
    results = {"sequences": args.sequences, "fasta_mb": fasta.stat().st_size / 1e6, "s3_moto": s3, "local": local,
               "cpus": os.cpu_count(), "load": os.getloadavg()}
    (OUT / "s3_bench.json").write_text(json.dumps(results, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        ("import, rows/s", "import_rows_per_s", "{:,.0f}"),
        ("import, MB/s of FASTA", "import_mb_per_s", "{:.1f}"),
        ("index build (all kinds), s", "index_build_s", "{:.1f}"),
    ]
    lines = ["| measure | S3 (moto) | local folder | S3 / local |", "|---|---|---|---|"]
    for label, key, fmt in rows:
        lines.append(f"| {label} | {fmt.format(s3[key])} | {fmt.format(local[key])} | {s3[key] / local[key]:.2f} |")
    for label, a, b in [("open (first), ms", s3["open_ms"]["first"], local["open_ms"]["first"]),
                        ("open (median of 5), ms", s3["open_ms"]["median"], local["open_ms"]["median"])]:
        lines.append(f"| {label} | {a:.1f} | {b:.1f} | {a / b:.1f} |")
    a, b = s3["warmed"]["warm_up_s"], local["warmed"]["warm_up_s"]
    lines.append(f"| warm-up (copy written to files), s | {a:.2f} | {b:.2f} | {a / b:.1f} |")
    for mode in ("memory", "index", "warmed"):
        for label, key in [("first query", "first_ms"), ("warm p50", "warm_p50_ms"), ("warm p99", "warm_p99_ms")]:
            a, b = s3[mode][key], local[mode][key]
            lines.append(f"| {mode} search: {label}, ms | {a:.1f} | {b:.1f} | {a / b:.1f} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
