"""End-to-end synthetic ingest at a scale the 1M run does not reach (``docs/SCALING.md``).

``python -m bench.scale.e2e gen ROWS SHARDS``
    ``bench.data``'s fixed-seed stream (the same records as ``synthetic_1M.faa`` for the first
    million) written straight into ``SHARDS`` gzip files (never a plain copy: disk is the limit).
``python -m bench.scale.e2e ingest ROWS SHARDS WORKERS DEDUP [PARTITIONS]``
    One ``genocat ingest`` (local engine) of the shards into a fresh catalog, with a log line per
    finished part (so a stopped run says where it stopped) and a disk guard: the ingest is cancelled
    if the work folder would exceed ``--max-gb`` (25). Then bytes on disk per row and per column.
    Results: ``bench/scale/results-e2e-<ROWS/1000>k.json``; ``--delete`` removes shards and catalog after.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data import WIDTH, header, records
from bench.scale.child import _du, cpu_seconds, do_stats, vmhwm_mb

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / "out" / "e2e"


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def shard_paths(rows: int, shards: int) -> list[Path]:
    return [WORK / f"in-{rows // 1000}k" / f"synthetic_{rows // 1000}k_{k:03d}.faa.gz" for k in range(shards)]


def generate(rows: int, shards: int, level: int) -> dict[str, Any]:
    """Write the stream into ``shards`` gzip files of ``rows / shards`` records each (same order)."""
    paths = shard_paths(rows, shards)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    per = -(-rows // shards)
    t = time.perf_counter()
    stream = records(rows)
    for k, path in enumerate(paths):
        with gzip.open(path, "wb", compresslevel=level) as out:
            chunk: list[str] = []
            for number, seq in itertools.islice(stream, per):
                s = seq.decode()
                chunk.append(header(number))
                chunk.extend(s[i : i + WIDTH] for i in range(0, len(s), WIDTH))
                if len(chunk) > 100_000:
                    out.write(("\n".join(chunk) + "\n").encode())
                    chunk = []
            out.write(("\n".join(chunk) + "\n").encode())
        log(f"  shard {k + 1}/{shards} written")
    return {"rows": rows, "shards": shards, "gzip_level": level, "seconds": time.perf_counter() - t,
            "bytes": sum(p.stat().st_size for p in paths)}


def ingest(rows: int, shards: int, workers: int, dedup: str, partitions: int | None, max_gb: float) -> dict[str, Any]:
    from genocat_desktop.engine import CancelToken, Catalog, Progress
    from genocat_desktop.engine.ingest.distributed import ingest as run_ingest

    paths = shard_paths(rows, shards)
    catalog_dir = WORK / f"catalog-{rows // 1000}k"
    shutil.rmtree(catalog_dir, ignore_errors=True)
    cat = Catalog.open(catalog_dir)
    token = CancelToken()
    inputs_bytes = sum(p.stat().st_size for p in paths)
    state: dict[str, Any] = {"last": "", "peak_gb": 0.0, "stopped_by_disk": False}

    def progress(p: Progress) -> None:
        if p.message != state["last"] and p.phase in ("checking", "writing", "committing", "deduplicating"):
            state["last"] = p.message
            used = (inputs_bytes + _du(catalog_dir)) / 1e9
            state["peak_gb"] = max(state["peak_gb"], used)
            log(f"  {p.message}  [disk {used:.1f} GB, load {os.getloadavg()[0]:.1f}]")
            if used > max_gb:
                state["stopped_by_disk"] = True
                log(f"  disk guard: {used:.1f} GB > {max_gb} GB, cancelling")
                token.cancel()

    load = os.getloadavg()[0]
    t = time.perf_counter()
    report = run_ingest(cat, [str(p) for p in paths], engine="local", workers=workers, dedup=dedup,
                        partitions=partitions, progress=progress, cancel=token)
    seconds = time.perf_counter() - t
    out: dict[str, Any] = {
        "engine": "local", "workers": workers, "dedup": dedup, "partitions": partitions,
        "committed": report.committed, "error": report.error, "seconds": seconds,
        "records": report.records, "imported": report.imported, "parts": report.parts,
        "records_per_s": report.records / seconds if seconds else None,
        "phases": report.phase_seconds, "cpu_s": cpu_seconds(), "driver_peak_rss_mb": vmhwm_mb(),
        "inputs_bytes": inputs_bytes, "disk_peak_gb": state["peak_gb"], "stopped_by_disk": state["stopped_by_disk"],
        "load_before": load, "load_after": os.getloadavg()[0], "last_progress": state["last"],
    }
    if report.committed:
        out["stats"] = do_stats(str(catalog_dir))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("step", choices=["gen", "ingest"])
    p.add_argument("rows", type=int)
    p.add_argument("shards", type=int)
    p.add_argument("workers", type=int, nargs="?", default=2)
    p.add_argument("dedup", nargs="?", default="driver")
    p.add_argument("partitions", type=int, nargs="?", default=None)
    p.add_argument("--gzip-level", type=int, default=1)
    p.add_argument("--max-gb", type=float, default=25.0)
    p.add_argument("--delete", action="store_true", help="delete the shards and the catalog afterwards")
    args = p.parse_args()
    result_path = HERE / f"results-e2e-{args.rows // 1000}k.json"
    results: dict[str, Any] = json.loads(result_path.read_text()) if result_path.exists() else {}
    if args.step == "gen":
        log(f"generating {args.rows:,} records into {args.shards} gzip shards")
        results["generate"] = generate(args.rows, args.shards, args.gzip_level)
    else:
        log(f"ingest of {args.rows:,} records: local engine, {args.workers} workers, dedup {args.dedup}")
        results["ingest"] = ingest(args.rows, args.shards, args.workers, args.dedup, args.partitions, args.max_gb)
        results.setdefault("runs", []).append(results["ingest"])
        if args.delete:
            shutil.rmtree(WORK / f"catalog-{args.rows // 1000}k", ignore_errors=True)
            shutil.rmtree(shard_paths(args.rows, args.shards)[0].parent, ignore_errors=True)
    results["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
    result_path.write_text(json.dumps(results, indent=1))
    last = results.get("generate" if args.step == "gen" else "ingest", {})
    log(f"wrote {result_path}: {json.dumps({k: v for k, v in last.items() if not isinstance(v, dict)})}")


if __name__ == "__main__":
    main()
