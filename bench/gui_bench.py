"""Desktop app responsiveness: event-loop stalls during import and search, and launch-to-window time.

Standalone (not part of ``python -m bench``)::

    .venv/bin/python bench/gui_bench.py [--runs 3] [--sequences 100000] [--launches 5]

* **Stall**: a ``QTimer`` ticks every 10 ms on the GUI thread while the real
  :class:`~genocat_desktop.ui.main_window.MainWindow` imports a synthetic
  100k-sequence FASTA file (``bench.data.synthetic``: real proteins, mutated)
  through its import queue, then runs searches (single queries, k=50 and
  k=1000, with and without a filter; each fills the table, the histogram and
  the alignment pane). The longest interval between two ticks is the longest
  time the window could not react. Target: < 50 ms.
* **Launch**: a fresh interpreter starts the app on an existing catalog; the
  time from ``Popen`` to the window's first paint. Target: < 1.5 s.

Prints a Markdown table of medians over the runs (and the spread). Uses the
Qt platform of the environment (``offscreen`` unless ``QT_QPA_PLATFORM`` says
otherwise; under Xvfb use ``QT_QPA_PLATFORM=xcb``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

STALL_TARGET_MS = 50.0
LAUNCH_TARGET_S = 1.5
TICK_MS = 10

_LAUNCH_CHILD = r"""
# The real start path (genocat --catalog PATH: cli.main -> ui.app.run -> MainWindow), with the
# window's __init__ wrapped to note its first paint and to quit once the catalog is open.
import sys, time, json
t_start = float(sys.argv[1])
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
    QSettings.setPath(fmt, QSettings.Scope.UserScope, sys.argv[3])
from genocat_desktop.cli import main as cli
from genocat_desktop.ui import main_window
times = {}
class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "window" not in times:
            times["window"] = time.time() - t_start
        return False
watcher = FirstPaint()
original_init = main_window.MainWindow.__init__
def init(self, *args, **kwargs):
    original_init(self, *args, **kwargs)
    self.installEventFilter(watcher)
    def opened(summary):
        times["catalog"] = time.time() - t_start
        QTimer.singleShot(0, finish)
    def finish():
        print(json.dumps(times), flush=True)
        self.close()
    self.catalog_opened.connect(opened)
main_window.MainWindow.__init__ = init
sys.exit(cli.main(["--catalog", sys.argv[2]]))
"""


def _input_file(n: int) -> Path:
    """The synthetic n-record FASTA of ``bench.data`` (generated once), or the main checkout's copy."""
    try:
        from bench.data import synthetic

        return synthetic(n, log=lambda *a: print(*a, file=sys.stderr))
    except SystemExit:
        fallback = Path("/work/main/bench/out/data") / f"synthetic_{n // 1000}k.faa"
        if fallback.is_file():
            return fallback
        raise


class Heartbeat:
    """Ticks every 10 ms on the GUI thread; records the longest interval between ticks."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[float] = []
        self.busy: list[float] = []
        self._last = 0.0
        self._last_cpu = 0.0

    def start(self) -> None:
        self.gaps = []
        self.busy = []
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self.timer.start()

    def stop(self) -> dict[str, float]:
        self.timer.stop()
        gaps = sorted(self.gaps) or [0.0]
        return {
            "max_ms": gaps[-1] * 1000,
            "p99_ms": gaps[int(0.99 * (len(gaps) - 1))] * 1000,
            "over_50ms": float(sum(g > 0.050 for g in gaps)),
            "ticks": float(len(gaps)),
            "busy_ms": max(self.busy or [0.0]) * 1000,
        }

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps.append(now - self._last)
        # CPU time of the GUI thread itself between two ticks: the part of a stall
        # that is the window's own work, not waiting for a CPU on a loaded machine.
        self.busy.append(cpu - self._last_cpu)
        self._last, self._last_cpu = now, cpu


def _wait(app: Any, signal: Any, timeout_s: float) -> list[Any]:
    """Run the event loop until ``signal`` fires; return its arguments."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    got: list[Any] = []

    def on(*args: Any) -> None:
        got.extend(args)
        loop.quit()

    signal.connect(on)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(on)
    if not got:
        raise SystemExit(f"gui_bench: timed out after {timeout_s:.0f} s")
    return got


def stall_run(fasta: Path, workdir: Path) -> dict[str, Any]:
    """One run: a fresh catalog, import ``fasta`` through the window, then searches."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from genocat_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(workdir / "settings"))
    window = MainWindow(str(workdir / "catalog"))
    window.confirm = lambda title, text: True
    window.show()
    _wait(app, window.catalog_opened, 300)
    beat = Heartbeat()

    beat.start()
    started = time.perf_counter()
    window.import_paths([str(fasta)])
    results = _wait(app, window.imports_done, 3600)[0]
    import_s = time.perf_counter() - started
    import_stall = beat.stop()
    if window._last_report is not None:
        window._last_report.close()
    report = results[0][1]
    assert report is not None and report.ok, results
    # Imports of 100k rows start the automatic index build (a background engine job); searches would
    # queue behind it. The search phase measures searching, so it starts once the engine is idle.
    from PySide6.QtCore import QEventLoop, QTimer

    while window.engine.is_busy():
        loop = QEventLoop()
        QTimer.singleShot(100, loop.quit)
        loop.exec()

    from genocat_desktop.engine import read_queries

    with open(fasta) as fh:  # the first records of the file (imported, so each query finds itself too)
        head = fh.read(200_000)
    queries = [q.sequence for q in read_queries(head[: head.rindex("\n>")])[:20]]
    beat.start()
    started = time.perf_counter()
    searches = 0
    for i, seq in enumerate(queries):
        window.search_page.search_filters.clear()
        if i % 4 == 1:
            window.search_page.search_filters.add_row("length", ">", "200")
        window.search_page.k_spin.setValue(1000 if i % 5 == 4 else 50)
        window.search_page.query_edit.setPlainText(seq)
        window.run_search()
        _wait(app, window.results_shown, 300)
        searches += 1
    search_s = time.perf_counter() - started
    search_stall = beat.stop()
    window.close()
    return {
        "records": report.records,
        "import_s": import_s,
        "import": import_stall,
        "searches": searches,
        "search_s": search_s,
        "search": search_stall,
    }


def launch_run(catalog: Path, workdir: Path) -> dict[str, float]:
    """Time a fresh process from Popen to the first paint of the window (and to the open catalog)."""
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCH_CHILD, repr(t0), str(catalog), str(workdir / "settings")],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"gui_bench: the launch child failed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _med(values: list[float]) -> str:
    m = statistics.median(values)
    spread = f" ({min(values):.3g}–{max(values):.3g})" if len(values) > 1 else ""
    return f"{m:.3g}{spread}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="import+search runs (default 3)")
    parser.add_argument("--sequences", type=int, default=100_000, help="records in the imported file")
    parser.add_argument("--launches", type=int, default=5, help="launch measurements (default 5)")
    args = parser.parse_args()
    fasta = _input_file(args.sequences)
    runs = []
    with tempfile.TemporaryDirectory(prefix="genocat-gui-bench-") as tmp:
        for i in range(args.runs):
            work = Path(tmp) / f"run{i}"
            work.mkdir()
            runs.append(stall_run(fasta, work))
            print(f"run {i + 1}: {json.dumps(runs[-1])}", file=sys.stderr)
        catalog = Path(tmp) / "run0" / "catalog"
        launches = [launch_run(catalog, Path(tmp)) for _ in range(args.launches)]
    imp = [r["import"]["max_ms"] for r in runs]
    srch = [r["search"]["max_ms"] for r in runs]
    win = [x["window"] for x in launches]
    cat = [x["catalog"] for x in launches]
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nGUI responsiveness: {runs[0]['records']:,}-record file, {runs[0]['searches']} searches per run, "
          f"{args.runs} runs, {args.launches} launches; Qt platform {platform}; {os.cpu_count()} CPUs, "
          f"load average {load:.1f} at the end. "
          "Medians (min–max).\n")
    print("| measure | result | target | verdict |")
    print("|---|---|---|---|")
    print(f"| longest event-loop stall while importing (ms) | {_med(imp)} | < {STALL_TARGET_MS:.0f} | "
          f"{'met' if statistics.median(imp) < STALL_TARGET_MS else 'missed'} |")
    print(f"| longest GUI-thread CPU time between two ticks while importing (ms) | "
          f"{_med([r['import']['busy_ms'] for r in runs])} | | |")
    print(f"| ticks over 50 ms while importing | {_med([r['import']['over_50ms'] for r in runs])} | 0 | |")
    print(f"| 99th percentile tick interval while importing (ms) | "
          f"{_med([r['import']['p99_ms'] for r in runs])} | | |")
    print(f"| import time through the window (s) | {_med([r['import_s'] for r in runs])} | | |")
    print(f"| longest event-loop stall while searching (ms) | {_med(srch)} | < {STALL_TARGET_MS:.0f} | "
          f"{'met' if statistics.median(srch) < STALL_TARGET_MS else 'missed'} |")
    print(f"| longest GUI-thread CPU time between two ticks while searching (ms) | "
          f"{_med([r['search']['busy_ms'] for r in runs])} | | |")
    print(f"| 99th percentile tick interval while searching (ms) | "
          f"{_med([r['search']['p99_ms'] for r in runs])} | | |")
    print(f"| search to results on screen, mean per search (ms) | "
          f"{_med([r['search_s'] / r['searches'] * 1000 for r in runs])} | | |")
    print(f"| launch to first paint of the window (s) | {_med(win)} | < {LAUNCH_TARGET_S} | "
          f"{'met' if statistics.median(win) < LAUNCH_TARGET_S else 'missed'} |")
    print(f"| launch to catalog open ({runs[0]['records']:,} rows) (s) | {_med(cat)} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
