"""Measure the frozen bundle: size by package, cold and warm start to the first painted window, self-test time.

    make bundle-bench           (= .venv/bin/python packaging/measure.py dist/genocat)

"Cold" start evicts every file of the bundle from the page cache first
(``posix_fadvise(DONTNEED)``, no root needed, other files untouched), as after a
reboot; "warm" starts follow it. Start time is what ``genocat-desktop
--print-startup-time`` prints: from the kernel starting the process to the main
window's first paint, on the offscreen platform unless QT_QPA_PLATFORM says
otherwise (e.g. xcb under xvfb-run). Prints Markdown tables for BENCHMARKS.md: what each
package costs (the bundle's ``_internal`` by top folder; the system libraries PyInstaller
copied beside them as one row), then the times. ``bench/start_bench.py`` compares the warm
start with the source tree's.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def evict(folder: Path) -> int:
    """Drop the page-cache pages of every file under ``folder``; return the number of files."""
    n = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            n += 1
    return n


def size_by_package(bundle: Path) -> Counter[str]:
    """Bytes of the bundle per package: ``_internal``'s top folders (a ``.libs`` or ``.dist-info`` folder
    counts with its package), the loose shared libraries as one entry, the executables as another."""
    sizes: Counter[str] = Counter()
    for path in bundle.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        parts = path.relative_to(bundle).parts
        if parts[0] != "_internal":
            key = "(executables, install scripts, icons)"
        elif len(parts) == 2:
            key = "(shared libraries: libpython, Qt's and Arrow's system dependencies)" if ".so" in parts[1] \
                else parts[1]
        else:
            key = parts[1].split("-")[0] if parts[1].endswith(".dist-info") else parts[1].removesuffix(".libs")
        sizes[key] += path.stat().st_size
    return sizes


def start_time(bundle: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds from process start to first paint, CPU seconds used until then)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [str(bundle / "genocat-desktop"), "--print-startup-time", "--catalog", f"{tmp}/catalog"],
            env={**env, "XDG_CONFIG_HOME": f"{tmp}/config"}, capture_output=True, text=True, timeout=300,
        )
    for line in proc.stdout.splitlines():
        if line.startswith("startup: window shown after "):
            return float(line.split("after ")[1].split(" s")[0]), float(line.split("(CPU ")[1].split(" s")[0])
    raise SystemExit(f"no start time (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")


def main() -> int:
    bundle = Path(sys.argv[1] if len(sys.argv) > 1 else "dist/genocat").resolve()
    if not (bundle / "genocat-desktop").is_file():
        raise SystemExit(f"no bundle at {bundle}; run make bundle")
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    size = sum(p.stat().st_size for p in files)
    evict(bundle)
    cold, cold_cpu = start_time(bundle, env)
    runs = [start_time(bundle, env) for _ in range(5)]
    warm, warm_cpu = [r[0] for r in runs], [r[1] for r in runs]
    t0 = time.monotonic()
    st = subprocess.run([str(bundle / "genocat"), "--selftest"], env=env, capture_output=True, text=True, timeout=600)
    selftest_s = time.monotonic() - t0
    load = os.getloadavg()[0]
    print("| package | MB |")
    print("|---|---|")
    for name, nbytes in size_by_package(bundle).most_common(15):
        print(f"| {name} | {nbytes / 1e6:.1f} |")
    print()
    print(f"| bundle | {bundle} |")
    print("|---|---|")
    print(f"| size | {size / 1e6:.0f} MB in {len(files):,} files |")
    print(f"| start to first paint, cold ({env['QT_QPA_PLATFORM']}) | {cold:.2f} s (CPU {cold_cpu:.2f} s) |")
    print(f"| start to first paint, warm, median of 5 | {statistics.median(warm):.2f} s "
          f"(min {min(warm):.2f}, max {max(warm):.2f}; CPU {statistics.median(warm_cpu):.2f} s) |")
    print(f"| genocat --selftest | {selftest_s:.1f} s, exit {st.returncode} |")
    print(f"| machine | {os.cpu_count()} CPUs, load average {load:.1f} |")
    return st.returncode


if __name__ == "__main__":
    sys.exit(main())
