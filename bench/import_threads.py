"""Where an import's wall time goes, thread by thread: ``python -m bench.import_threads FILE``.

One import of FILE into a new catalog in this process (Lance imported before, as in the import
benchmark), while a sampler thread reads every thread's CPU time from ``/proc/self/task/*/stat``
every ``--every`` seconds. It prints the CPU time per thread group (the parser on the main
thread, the importer's ``genocat-embed`` worker that parses headers and computes k-mer vectors,
the ``genocat-writer`` thread and Lance's own threads), the end of the scan, the share of a core
the worker got during the scan, and with ``--timeline`` the cores each group used per interval.

A group at ~1.0 is running all the time; two groups whose sum stays near 1.0 on a 2-CPU machine
share one core, e.g. because one waits for the GIL the other holds. Linux only. Run it with
``nice -n -15`` (as root) on a shared machine, or the other processes' load dominates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
GROUPS = ("MainThread", "genocat-embed", "genocat-writer", "lance")


def thread_cpu() -> dict[int, tuple[str, float]]:
    """Thread id -> (kernel thread name, CPU seconds: user + system) for this process."""
    out: dict[int, tuple[str, float]] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        close = stat.rindex(")")
        fields = stat[close + 2 :].split()
        out[int(tid)] = (stat[stat.index("(") + 1 : close], (int(fields[11]) + int(fields[12])) / _TICK)
    return out


class Sampler:
    """Samples :func:`thread_cpu` in a daemon thread, with Python's names for Python's threads."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.samples: list[tuple[float, dict[int, tuple[str, float]]]] = []
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for t in threading.enumerate():
                if t.native_id is not None:
                    self.names[t.native_id] = t.name
            self.samples.append((time.perf_counter(), thread_cpu()))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), thread_cpu()))

    def group(self, tid: int, comm: str) -> str:
        name = self.names.get(tid, comm)
        for g in GROUPS[:3]:
            if name.startswith(g):
                return g
        return "sampler" if name == "sampler" else "lance"  # Lance's (Rust) threads and the rest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_threads", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--every", type=float, default=0.05, help="sampling interval in seconds (default 0.05)")
    parser.add_argument("--timeline", action="store_true", help="print the cores used by each group per interval")
    args = parser.parse_args(argv)

    import lance  # noqa: F401  # imported before the clock starts, as in the import benchmark
    import lancedb  # noqa: F401

    from genocat_desktop.engine import Catalog, import_files
    from genocat_desktop.engine.ingest import importer

    # The end of pass 1, timed exactly: the importer's scan function, wrapped.
    scan_ends: list[float] = []
    scan = importer.scan_file

    def timed_scan(*a: object, **k: object) -> object:
        try:
            return scan(*a, **k)  # type: ignore[arg-type]
        finally:
            scan_ends.append(time.perf_counter())

    importer.scan_file = timed_scan  # type: ignore[assignment]
    tmp = Path(tempfile.mkdtemp(prefix="genocat-threads-"))
    try:
        with Sampler(args.every) as sampler:
            t0 = time.perf_counter()
            cpu0 = time.process_time()
            report = import_files(Catalog.open(tmp / "catalog"), [args.file])
            wall = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if report.failed:
        print(f"import failed: {report.failed[0].error}", file=sys.stderr)
        return 1

    keys = [*GROUPS, "sampler"]
    rows: list[tuple[float, float, dict[str, float]]] = []
    for (ta, a), (tb, b) in zip(sampler.samples, sampler.samples[1:], strict=False):
        if tb <= t0 or ta >= t0 + wall:
            continue
        used = dict.fromkeys(keys, 0.0)
        for tid, (comm, c) in b.items():
            used[sampler.group(tid, comm)] += c - a.get(tid, (comm, 0.0))[1]
        rows.append((ta - t0, tb - ta, used))
    totals = {k: sum(r[2][k] for r in rows) for k in keys}
    scan_end = (scan_ends[0] - t0) if scan_ends else wall
    # The worker's CPU in the intervals that began during the scan.
    worker = sum(used["genocat-embed"] for start, _span, used in rows if start < scan_end)
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"{report.records:,} records, {report.imported:,} new: {wall:.2f} s wall, {cpu:.2f} CPU-s "
          f"({report.records / wall:,.0f} seq/s), load {load}")
    print("CPU-s by thread group: " + ", ".join(f"{k} {totals[k]:.2f}" for k in GROUPS))
    print(f"scan (pass 1) ended at {scan_end:.2f} s; the worker thread used {worker:.2f} CPU-s in it "
          f"({worker / max(scan_end, 1e-9):.0%} of a core)")
    if args.timeline:
        print("   t s  " + " ".join(f"{k[:14]:>14s}" for k in GROUPS))
        for start, span, used in rows:
            print(f"{start:6.2f}  " + " ".join(f"{used[k] / span:14.2f}" for k in GROUPS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
