"""``python -m bench.scale.run [--rows N] [--runs R] [--only ingest,stats,index]``: the numbers behind docs/SCALING.md.

* ingest throughput of ``N`` synthetic proteins (``bench.data``'s fixed-seed stream): the
  local one-process import (``import_files``), and the distributed ingest with the local
  engine and with Ray, each with 1 and 2 workers, interleaved, ``R`` runs each, every run a
  fresh process and a fresh catalog;
* bytes per row on disk, per column;
* the IVF_RQ vector index as the index branch builds it: build time and memory, size,
  query p50/p99 and recall@10 against exact search.

Raw results go to ``bench/scale/results-<N>.json`` (committed: docs/SCALING.md cites them).
The machine is shared: the load average is recorded before and after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data import DATA, synthetic, warm_page_cache
from bench.util import machine, run_child, summary

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / "out" / "scale"
SHARED_1M = Path("/work/main/bench/out/data/synthetic_1M.faa")


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def data_file(rows: int) -> Path:
    """The synthetic file: reuse a copy already generated (same seed, same stream), else generate it."""
    name = f"synthetic_{rows // 1_000_000}M.faa" if rows % 1_000_000 == 0 else f"synthetic_{rows // 1000}k.faa"
    for candidate in (DATA / name, SHARED_1M if rows == 1_000_000 else None):
        if candidate is not None and candidate.exists():
            return candidate
    return synthetic(rows, log=log)


def child(*args: str, timeout: float = 3600) -> dict[str, Any]:
    load = os.getloadavg()[0]
    out = run_child([sys.executable, "-m", "bench.scale.child", *args], timeout=timeout)
    out["load_before"] = load
    out["load_after"] = os.getloadavg()[0]
    if out.get("returncode"):
        log(f"  failed: {out.get('error')}")
    return out


CONFIGS = [
    ("import_files (1 process)", ["import"]),
    ("local engine, 1 worker", ["ingest", "local", "1"]),
    ("local engine, 2 workers", ["ingest", "local", "2"]),
    ("ray, 1 CPU", ["ingest", "ray", "1"]),
    ("ray, 2 CPUs", ["ingest", "ray", "2"]),
]


def bench_ingest(file: Path, runs: int, part_mb: int, keep: Path) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in CONFIGS}
    for r in range(runs):
        for label, cmd in CONFIGS:
            cat = WORK / f"cat-{cmd[0]}-{r}"
            shutil.rmtree(cat, ignore_errors=True)
            args = [*cmd, str(cat), str(file)] + ([str(part_mb)] if cmd[0] == "ingest" else [])
            log(f"run {r + 1}/{runs}: {label}")
            res = child(*args)
            res["mb_on_disk"] = sum(p.stat().st_size for p in cat.rglob("*") if p.is_file()) / 1e6
            results[label].append(res)
            log(f"  {res.get('seconds', float('nan')):.1f} s, {res.get('records', 0):,} records, "
                f"{res.get('records', 0) / max(res.get('seconds', 1), 1e-9):,.0f} rec/s, load {res['load_before']:.1f}")
            if label == CONFIGS[-1][0] and r == runs - 1:
                shutil.rmtree(keep, ignore_errors=True)
                cat.rename(keep)
            else:
                shutil.rmtree(cat, ignore_errors=True)
    out: dict[str, Any] = {}
    for label, rs in results.items():
        ok = [x for x in rs if not x.get("returncode") and not x.get("error")]
        secs = [x["seconds"] for x in ok]
        out[label] = {
            "runs": rs,
            "seconds": summary(secs) if secs else None,
            "records_per_s_median": (ok[0]["records"] / summary(secs)["median"]) if secs else None,
            "cpu_s_median": summary([x["cpu_s"] for x in ok])["median"] if ok else None,
            "peak_rss_mb_median": summary([x["peak_rss_mb"] for x in ok])["median"] if ok else None,
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--part-mb", type=int, default=32)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--only", default="ingest,stats,index")
    args = p.parse_args()
    only = set(args.only.split(","))
    WORK.mkdir(parents=True, exist_ok=True)
    result_path = HERE / f"results-{args.rows // 1000}k.json"
    results: dict[str, Any] = json.loads(result_path.read_text()) if result_path.exists() else {}
    results.update({"started": datetime.now(UTC).isoformat(timespec="seconds"), "rows": args.rows,
                    "machine": machine()})
    file = data_file(args.rows)
    warm_page_cache(file)
    results["file"] = {"path": str(file), "bytes": file.stat().st_size}
    keep = WORK / f"catalog-{args.rows // 1000}k"
    t = time.perf_counter()
    if "ingest" in only:
        results["ingest"] = bench_ingest(file, args.runs, args.part_mb, keep)
        results["part_mb"] = args.part_mb
    if "stats" in only:
        log("stats")
        results["stats"] = child("stats", str(keep))
    if "index" in only:
        log("index build and queries")
        results["index"] = child("index", str(keep), str(args.queries))
        log(f"  {json.dumps({k: v for k, v in results['index'].items() if not isinstance(v, dict)})}")
    results["wall_seconds"] = time.perf_counter() - t
    result_path.write_text(json.dumps(results, indent=1))
    log(f"wrote {result_path}")


if __name__ == "__main__":
    main()
