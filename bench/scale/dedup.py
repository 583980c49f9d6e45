"""``python -m bench.scale.dedup N [N...]``: the driver's serial step of a distributed ingest, alone.

The driver deduplicates every record's ``seq_hash`` at once (:func:`_deduplicate`)
between the parallel scan and write passes. This measures its time and the
driver's peak memory for N records without reading FASTA: N MD5 hashes of which
5 % repeat an earlier record (as aliases), identifiers like UniProt accessions,
parts of 75,000 records, against a catalog holding 1 % of them. Each N runs in
its own process (peak RSS is the process's own).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


class _FakeCatalog:
    def __init__(self, existing: np.ndarray) -> None:
        self._existing = existing

    def existing_hashes(self) -> np.ndarray:
        return self._existing


def _status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(n: int) -> dict[str, Any]:
    from genocat_desktop.engine.ingest.distributed.dedup_modes import FileScan as _FileScan
    from genocat_desktop.engine.ingest.distributed.dedup_modes import deduplicate as _deduplicate
    from genocat_desktop.engine.ingest.distributed.report import IngestReport
    from genocat_desktop.engine.ingest.reports import FileReport

    rng = np.random.default_rng(1)
    distinct = int(n * 0.95)
    base = np.array([hashlib.md5(i.to_bytes(8, "little")).hexdigest().upper().encode() for i in range(distinct)],
                    dtype="S32")
    pick = np.concatenate([np.arange(distinct), rng.integers(0, distinct, n - distinct)])
    rng.shuffle(pick[distinct // 2 :])
    hashes = base[pick]
    import pyarrow as pa

    ids = pa.array([f"A{i:09d}.1" for i in range(n)], pa.string())
    existing = np.sort(base[rng.choice(distinct, distinct // 100, replace=False)])
    del base, pick
    part = 75_000
    parts = list(range((n + part - 1) // part))
    scan = _FileScan(0, parts, hashes, ids, [p * part for p in parts], {p: {} for p in parts}, 0)
    report = IngestReport("bench", 1, [FileReport("synthetic.faa", records=n)])
    import gc

    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM: the peak below is the dedup's (inputs included)
        f.write("5")
    before = _status("VmRSS")
    reset = _status("VmHWM")
    t, cpu = time.perf_counter(), time.process_time()
    out = _deduplicate(_FakeCatalog(existing), [scan], report)  # type: ignore[arg-type]
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    rss = _status("VmHWM")
    return {"records": n, "seconds": seconds, "cpu_s": cpu, "vmhwm_mb": rss, "rss_before_mb": before,
            "vmhwm_after_reset_mb": reset, "bytes_per_record": rss * 2**20 / n,
            "to_write": int(sum(v.size for v in out.write.values())), "catalog_aliases": len(out.catalog_aliases)}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--one":
        print(json.dumps(one(int(argv[1]))))
        return
    results = []
    for n in (int(a) for a in argv or ["1000000", "10000000"]):
        proc = subprocess.run([sys.executable, "-m", "bench.scale.dedup", "--one", str(n)], capture_output=True,
                              text=True, check=False)
        line = (proc.stdout.strip().splitlines() or ["{}"])[-1]
        res = json.loads(line) if line.startswith("{") else {"records": n, "error": proc.stderr[-500:]}
        print(json.dumps(res), flush=True)
        results.append(res)
    out = Path(__file__).with_name("results-dedup.json")
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
