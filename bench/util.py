"""Measurement helpers: repeated timing, percentiles, child processes with peak RSS, Markdown."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data import ROOT


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def percentile(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q))


def summary(xs: Sequence[float]) -> dict[str, Any]:
    """Median, p99, min and max of raw samples (all kept in the JSON)."""
    return {
        "n": len(xs),
        "median": median(xs),
        "p99": percentile(xs, 99),
        "min": float(min(xs)),
        "max": float(max(xs)),
        "samples": [float(x) for x in xs],
    }


def repeat(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall seconds of ``runs`` calls of ``fn``."""
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def run_child(argv: Sequence[str], *, timeout: float = 3600, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command in a child process; its wall time and its own peak RSS (``wait4``'s ru_maxrss).

    If the child prints a JSON object as its last stdout line, it is merged in
    (the Python children time their own work, without interpreter start-up).
    """
    t = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT.parent, env=_child_env() | (env or {})
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        # Read the pipes, then reap with wait4 to get this child's own rusage
        # (RUSAGE_CHILDREN would give the maximum over every child so far).
        assert proc.stdout is not None and proc.stderr is not None
        out = proc.stdout.read()
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    result: dict[str, Any] = {
        "process_seconds": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: kilobytes
        "process_cpu_seconds": usage.ru_utime + usage.ru_stime,
        "returncode": proc.returncode,
    }
    lines = out.decode(errors="replace").strip().splitlines()
    if lines and lines[-1].startswith("{"):
        result.update(json.loads(lines[-1]))
    if "vmhwm_mb" in result:
        # wait4's figure includes this process's RSS at fork; the child's own high-water mark does not.
        result["peak_rss_mb"] = result["vmhwm_mb"]
    if result.get("exit_status"):
        result["returncode"] = result["exit_status"]
    if proc.returncode != 0:
        result["error"] = (err.decode(errors="replace").strip().splitlines() or ["?"])[-1][:500]
    return result


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT.parent) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def python_child(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.child", *args]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "pyarrow", "lance", "lancedb", "Bio", "faiss"):
        try:
            m = __import__(mod)
            versions[mod] = getattr(m, "__version__", "?")
        except Exception:
            versions[mod] = None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
        "versions": versions,
        "thread_env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
    }


def provenance() -> dict[str, Any]:
    """Which engine was measured: the git commit and a digest of the engine's source files.

    The digest is taken at the start and at the end of a run; if the sources
    changed in between (someone edited them), the summary says so.
    """
    import hashlib

    pkg = ROOT.parent / "genocat_desktop"
    digest = hashlib.sha1()
    for f in sorted(pkg.rglob("*.py")):
        digest.update(str(f.relative_to(pkg)).encode())
        digest.update(f.read_bytes())
    import genocat_desktop

    out: dict[str, Any] = {"source_digest": digest.hexdigest()[:12], "package": str(pkg),
                           "imported_from": str(Path(genocat_desktop.__file__).parent)}
    try:
        git = ["git", "-C", str(ROOT.parent)]
        out["commit"] = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                       timeout=30).stdout.strip() or None
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "genocat_desktop"], capture_output=True,
                               text=True, timeout=30).stdout.strip()
        out["uncommitted_engine_changes"] = bool(dirty)
    except (OSError, subprocess.SubprocessError):
        out["commit"] = None
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    def cell(x: object) -> str:
        return x if isinstance(x, str) else _fmt(x)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(x: object) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x == 0:
            return "0"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        if abs(x) >= 100:
            return f"{x:.0f}"
        if abs(x) >= 10:
            return f"{x:.1f}"
        if abs(x) >= 1:
            return f"{x:.2f}"
        return f"{x:.3g}"
    return str(x)


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as ``1.8×``."""
    if a is None or b is None or b == 0:
        return "–"
    r = a / b
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")
