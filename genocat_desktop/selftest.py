"""``genocat --selftest``: check this installation end to end, then exit (0 = every step worked).

It is what CI runs on the frozen bundle (``dist/genocat/genocat --selftest``)
and what a user or an admin can run on a new workstation. In one process it

1. starts Qt on the ``offscreen`` platform (no window appears, no display needed),
2. opens the real main window on a new catalog in a temporary folder,
3. imports the bundled sample FASTA through the window's import queue,
4. searches with one of the sample's proteins (it must be its own top hit),
   then again with "Re-rank by alignment" (pyopal Smith-Waterman: 100 % identity),
5. aligns the query to a hit in the window's aligner child process (Biopython, BLOSUM62),
6. exports the hits to CSV and to FASTA and reads both files back,
7. runs a tiny ONNX model through onnxruntime and compares it with numpy,
8. closes the window (the engine thread and the aligner process must stop).

Each step prints one line with its time; the first failing step prints its
message and the exit code is 1. Nothing outside the temporary folder is
touched: Qt settings go to a temporary ``XDG_CONFIG_HOME`` as well.

:func:`print_startup_time` is the other probe here: ``genocat-desktop
--print-startup-time`` starts the app normally, prints how long after the
process started the main window was first painted, and quits (after importing
the files given on the command line, if any).
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

__all__ = ["STEPS", "SelfTestFailure", "print_startup_time", "run", "seconds_since_process_start"]

#: The steps, in order, as printed.
STEPS = ("qt", "window", "import", "search", "re-rank", "align", "export csv", "export fasta", "onnx", "close")
#: How long one step may wait for the engine thread before it counts as failed.
STEP_TIMEOUT_S = 120.0
#: The weights of ``resources/selftest/tiny.onnx`` (written by packaging/make_selftest_model.py).
TINY_W = ((1.0, -2.0, 0.5), (0.0, 1.0, -1.0), (2.0, 0.0, 0.25), (-1.0, 0.5, 1.0))
TINY_B = (0.1, -0.2, 0.3)
#: Set to a step name to make that step fail on purpose (tests check the failure path).
FAIL_ENV = "GENOCAT_SELFTEST_FAIL"


class SelfTestFailure(Exception):
    """A step did not do what it should; the message says what happened."""


def tiny_model_path() -> Path:
    """The self-test's ONNX model, shipped with the package data."""
    return Path(__file__).resolve().parent / "resources" / "selftest" / "tiny.onnx"


def seconds_since_process_start() -> float | None:
    """Seconds since the kernel started this process (Linux ``/proc``; 10 ms resolution), or ``None``.

    Counts everything before Python too: for the frozen app, the bootloader
    loading the bundle's libraries.
    """
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22, "starttime", in clock ticks since boot
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@contextmanager
def _environment(changes: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Run:
    """The state shared by the steps of one self-test."""

    def __init__(self, folder: Path, sample: Path, timeout: float) -> None:
        self.folder = folder
        self.sample = sample
        self.timeout = timeout
        self.app: Any = None
        self.window: Any = None
        self.hits: Any = None
        self.query: Any = None
        self.loop: Any = None
        #: Exceptions raised in Qt slots during the run (they would otherwise only be printed).
        self.errors: list[str] = []

    def excepthook(self, exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        """Record an exception raised in a slot and stop the step waiting for the window."""
        import traceback

        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        self.errors.append(f"unexpected {exc_type.__name__} in the app: {exc}")
        if self.loop is not None:
            self.loop.quit()

    def _check_errors(self) -> None:
        if self.errors:
            raise SelfTestFailure(self.errors[0])

    # ------------------------------------------------------------------ waiting on the window
    def wait(self, signal: Any, what: str) -> tuple[Any, ...]:
        """Run the event loop until ``signal`` fires (its arguments), a job fails, or the step times out."""
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        got: dict[str, Any] = {}

        def done(*args: Any) -> None:
            got["args"] = args
            loop.quit()

        def failed(message: str, *rest: Any) -> None:
            got["error"] = message
            loop.quit()

        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        signal.connect(done)
        self.window.job_failed.connect(failed)
        timer.start(int(self.timeout * 1000))
        self.loop = loop
        try:
            loop.exec()
        finally:
            self.loop = None
            timer.stop()
            signal.disconnect(done)
            self.window.job_failed.disconnect(failed)
        self._check_errors()
        if "error" in got:
            raise SelfTestFailure(got["error"])
        if "args" not in got:
            raise SelfTestFailure(f"no {what} after {self.timeout:.0f} s")
        return tuple(got["args"])

    # ------------------------------------------------------------------ steps
    def step_qt(self) -> str:
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion
        from PySide6.QtGui import QFontDatabase, QFontInfo, QFontMetrics
        from PySide6.QtWidgets import QApplication

        from genocat_desktop.ui.settings import APP, ORG

        existing = QApplication.instance()
        self.app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
        self.app.setOrganizationName(ORG)
        self.app.setApplicationName(APP)
        families = QFontDatabase.families()
        font = QFontInfo(self.app.font()).family()
        if not font or not QFontMetrics(self.app.font()).inFontUcs4(ord("A")):
            # Without font files fontconfig still lists its aliases (Sans Serif...), but Qt draws boxes.
            raise SelfTestFailure("no usable font: letters would be drawn as boxes; install fontconfig-config "
                                  "and a font package (Debian: fonts-dejavu-core)")
        return (f"Qt {qVersion()}, PySide6 {pyside_version}, platform {self.app.platformName()}, "
                f"{len(families)} font families (default {font})")

    def step_window(self) -> str:
        from genocat_desktop.ui.main_window import MainWindow

        self.window = MainWindow(str(self.folder / "catalog"))
        self.window.show()
        (summary,) = self.wait(self.window.catalog_opened, "open catalog")
        image = self.window.grab()
        if image.isNull() or image.width() < 100:
            raise SelfTestFailure("the main window did not render")
        if summary.rows != 0:
            raise SelfTestFailure(f"a new catalog should be empty, it has {summary.rows} rows")
        return f"main window {image.width()}x{image.height()}, new catalog {summary.location}"

    def step_import(self) -> str:
        if not self.window.import_paths([str(self.sample)]):
            raise SelfTestFailure(f"no FASTA file to import at {self.sample}")
        (results,) = self.wait(self.window.imports_done, "end of import")
        for path, report, message in results:
            if report is None or report.error:
                raise SelfTestFailure(f"{Path(path).name} was not imported: {message or report.error}")
        imported = sum(report.imported for _, report, _ in results)
        rows = self.window.summary.rows if self.window.summary is not None else 0
        if imported == 0 or rows != imported:
            raise SelfTestFailure(f"imported {imported} sequences but the catalog has {rows}")
        from genocat_desktop.engine.embed.embedders import kmer

        if getattr(sys, "frozen", False) and not kmer.NATIVE_COUNTING:
            # The bundle still works on the numpy path, but then PyInstaller left out the compiled loop.
            raise SelfTestFailure("the compiled k-mer counting loop (_kmer_count) is missing from the bundle")
        counting = "compiled" if kmer.NATIVE_COUNTING else "numpy"
        return f"{imported} sequences from {self.sample.name} (k-mer counting: {counting})"

    def step_search(self) -> str:
        from genocat_desktop.engine import read_queries

        self.query = read_queries(self.sample, limit=10_000)[0]
        self.window.search_page.query_edit.setPlainText(f">{self.query.id}\n{self.query.sequence}")
        if self.window.run_search() is None:
            raise SelfTestFailure("the window did not start a search")
        (outcome,) = self.wait(self.window.results_shown, "search results")
        result = outcome.results[0]
        self.hits = result.hits
        if len(result) < 2:
            raise SelfTestFailure(f"expected several hits, got {len(result)}")
        top = self.hits.slice(0, 1).to_pylist()[0]
        if top["sequence"] != self.query.sequence or top["score"] < 0.999:
            raise SelfTestFailure(f"the query {self.query.id} is not its own top hit (top: {top['id']})")
        return f"{len(result)} hits of {result.candidates} for {self.query.id}, top score {top['score']:.3f}"

    def step_rerank(self) -> str:
        previous = self.window.search_page.mode()
        self.window.search_page.set_mode("align")
        try:
            if self.window.run_search() is None:
                raise SelfTestFailure("the window did not start a search")
            (outcome,) = self.wait(self.window.results_shown, "re-ranked results")
        finally:
            self.window.search_page.set_mode(previous)
        hits = self.hits = outcome.results[0].hits  # what the window shows now, and exports next
        if "identity" not in hits.column_names:
            raise SelfTestFailure(f"re-ranked hits have no alignment columns: {hits.column_names}")
        top = hits.slice(0, 1).to_pylist()[0]
        if top["sequence"] != self.query.sequence or top["identity"] < 0.999:
            raise SelfTestFailure(f"re-ranked: the query is not its own top hit at 100 % identity (top: {top['id']})")
        return f"{len(hits)} hits re-ranked by Smith-Waterman, top {top['id']}: identity {top['identity']:.0%}, " \
               f"{top['bits']:.0f} bits"

    def step_align(self) -> str:
        from genocat_desktop.app.search import align_job

        target = self.hits.slice(1, 1).to_pylist()[0]
        # The window's aligner: a spawned child process (in the bundle, the frozen executable started again).
        fn = align_job(self.window.session, self.query.sequence, target["sequence"])
        job = self.window.engine.submit("align", "Aligning", fn)
        finished = self._job_result(job, "alignment")
        if finished.length <= 0 or not 0 < finished.identity <= 1:
            raise SelfTestFailure(f"an empty alignment of {self.query.id} and {target['id']}")
        return f"{self.query.id} vs {target['id']}: identity {finished.identity:.0%}, {finished.scoring}"

    def _job_result(self, job: Any, what: str) -> Any:
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        got: dict[str, Any] = {}

        def finished(value: Any) -> None:
            got["value"] = value
            loop.quit()

        def failed(message: str, details: str) -> None:
            got["error"] = message
            loop.quit()

        job.finished.connect(finished)
        job.failed.connect(failed)
        QTimer.singleShot(int(self.timeout * 1000), loop.quit)
        if not job.done:
            self.loop = loop
            try:
                loop.exec()
            finally:
                self.loop = None
        self._check_errors()
        if "error" in got:
            raise SelfTestFailure(got["error"])
        if "value" not in got:
            raise SelfTestFailure(f"no {what} after {self.timeout:.0f} s")
        return got["value"]

    def step_export_csv(self) -> str:
        path = self.folder / "hits.csv"
        self.window.export_to(str(path))
        (count,) = self.wait(self.window.export_done, "CSV export")
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
        if count != len(self.hits) or len(rows) != count:
            raise SelfTestFailure(f"{len(self.hits)} hits, export said {count}, the file has {len(rows)} rows")
        if rows[0].get("id") != self.hits.column("id")[0].as_py():
            raise SelfTestFailure(f"the CSV's first row is {rows[0].get('id')!r}, not the top hit")
        return f"{count} rows, {path.stat().st_size:,} bytes"

    def step_export_fasta(self) -> str:
        from genocat_desktop.engine import read_queries

        path = self.folder / "hits.fasta"
        self.window.export_to(str(path))
        (count,) = self.wait(self.window.export_done, "FASTA export")
        records = read_queries(path, limit=100_000)
        if count != len(self.hits) or len(records) != count:
            raise SelfTestFailure(f"{len(self.hits)} hits, export said {count}, the file has {len(records)} records")
        if records[0].sequence != self.query.sequence:
            raise SelfTestFailure("the FASTA's first record is not the top hit's sequence")
        return f"{count} records, {path.stat().st_size:,} bytes"

    def step_onnx(self) -> str:
        import numpy as np
        import onnxruntime as ort

        model = tiny_model_path()
        if not model.is_file():
            raise SelfTestFailure(f"the self-test model is missing: {model}")
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        x = np.arange(8, dtype=np.float32).reshape(2, 4) / 4 - 1
        (y,) = session.run(None, {"x": x})
        expected = np.maximum(x @ np.array(TINY_W, dtype=np.float32) + np.array(TINY_B, dtype=np.float32), 0)
        if y.shape != expected.shape or not np.allclose(y, expected, atol=1e-5):
            raise SelfTestFailure(f"onnxruntime gave {y.tolist()}, numpy {expected.tolist()}")
        return f"onnxruntime {ort.__version__}, {', '.join(session.get_providers())}"

    def step_close(self) -> str:
        from PySide6.QtWidgets import QApplication

        window, self.window = self.window, None
        if not window.close():
            raise SelfTestFailure("the main window refused to close")
        # closeEvent has shut the engine thread down (it waits for the thread), then the aligner.
        if window.engine.running:
            raise SelfTestFailure("the engine thread did not stop")
        import multiprocessing

        children = multiprocessing.active_children()
        if children:
            raise SelfTestFailure(f"child process(es) still running: {', '.join(c.name for c in children)}")
        window.deleteLater()
        QApplication.processEvents()
        return "window closed, engine thread and aligner process stopped"

    def cleanup(self) -> None:
        """Close the window after a failure (so the process can exit)."""
        if self.window is not None:
            window, self.window = self.window, None
            window.confirm = lambda title, text: True
            window.close()
            window.engine.shutdown(int(self.timeout * 1000))


def run(out: TextIO | None = None, *, sample: str | Path | None = None, timeout: float = STEP_TIMEOUT_S) -> int:
    """Run every step; print one line each to ``out`` (stdout); return 0 if all passed, else 1."""
    from genocat_desktop.engine.core.process import configure_process
    from genocat_desktop.resources import sample_fasta

    configure_process()

    out = out or sys.stdout
    sample_path = Path(sample) if sample is not None else sample_fasta()
    fail_on = os.environ.get(FAIL_ENV, "")
    started = time.perf_counter()

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    from genocat_desktop import __version__

    say(f"GenoCat {__version__} self-test ({'frozen bundle' if getattr(sys, 'frozen', False) else 'from source'}, "
        f"{sys.executable})")
    with tempfile.TemporaryDirectory(prefix="genocat-selftest-") as tmp:
        folder = Path(tmp)
        # Settings and the search history go to the temporary folder: a check leaves the user's files alone.
        env = {"XDG_CONFIG_HOME": str(folder / "config"), "GENOCAT_HISTORY": str(folder / "search_history.json"),
               "LANCEDB_LOG": "error", "LANCE_LOG": "error"}
        from PySide6.QtWidgets import QApplication

        if QApplication.instance() is None:
            env["QT_QPA_PLATFORM"] = "offscreen"  # a check, not a session: never show a window
        with _environment(env):
            state = _Run(folder, sample_path, timeout)
            steps: dict[str, Callable[[], str]] = {
                "qt": state.step_qt, "window": state.step_window, "import": state.step_import,
                "search": state.step_search, "re-rank": state.step_rerank, "align": state.step_align,
                "export csv": state.step_export_csv, "export fasta": state.step_export_fasta,
                "onnx": state.step_onnx, "close": state.step_close,
            }
            previous_hook, sys.excepthook = sys.excepthook, state.excepthook
            try:
                for name in STEPS:
                    t0 = time.perf_counter()
                    try:
                        if name == fail_on:
                            raise SelfTestFailure(f"failed on purpose ({FAIL_ENV}={fail_on})")
                        detail = steps[name]()
                    except Exception as exc:
                        message = str(exc) if isinstance(exc, SelfTestFailure) else f"{type(exc).__name__}: {exc}"
                        say(f"FAIL {name:<13} {time.perf_counter() - t0:6.2f} s  {message}")
                        say(f"self-test FAILED at step '{name}': {message}")
                        return 1
                    say(f"ok   {name:<13} {time.perf_counter() - t0:6.2f} s  {detail}")
            finally:
                state.cleanup()
                sys.excepthook = previous_hook
    say(f"self-test passed: {len(STEPS)} steps in {time.perf_counter() - started:.2f} s")
    return 0


def print_startup_time(location: str | None, files: Sequence[str], out: TextIO | None = None,
                       timeout: float = STEP_TIMEOUT_S) -> int:
    """Start the app as usual, print when its main window was first painted, then quit.

    Prints ``startup: window shown after S s (CPU C s)`` (S from the process's start, see
    :func:`seconds_since_process_start`; C the process's CPU time until then, all
    threads). With ``files``, the app then waits for their import (as when a file
    manager opens a FASTA file with GenoCat), prints one ``imported:`` line per
    file and quits; the exit code is 1 if a file was not imported, or if nothing
    was shown within ``timeout`` seconds.
    """
    from PySide6.QtCore import QEvent, QObject, Qt, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

    from genocat_desktop.ui.app import run as run_app

    out = out or sys.stdout
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    status = {"code": 0, "shown": False}

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    class Probe(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if (not status["shown"] and event.type() == QEvent.Type.Paint and isinstance(obj, QWidget)
                    and isinstance(obj.window(), QMainWindow)):
                status["shown"] = True
                # The next turn of the event loop comes after this paint has been flushed to the screen.
                window = obj.window()
                QTimer.singleShot(0, lambda: shown(window))
            return False

    def shown(window: Any) -> None:
        elapsed = seconds_since_process_start()
        # CPU time of all threads so far: what the start costs, whatever else the machine is doing.
        cpu = time.process_time()
        say(f"startup: window shown after {elapsed:.3f} s (CPU {cpu:.3f} s)" if elapsed is not None
            else f"startup: window shown (process start time unknown on this system; CPU {cpu:.3f} s)")
        if files:
            window.imports_done.connect(lambda results: imported(window, results))
        else:
            window.close()

    def imported(window: Any, results: list[tuple[str, Any, str]]) -> None:
        for path, report, message in results:
            if report is None or report.error:
                status["code"] = 1
                say(f"imported: {path}: FAILED: {message or report.error}")
            else:
                say(f"imported: {path}: {report.imported} new sequence(s) from {report.records} record(s)")
        window.close()

    def give_up() -> None:
        say(f"startup: nothing shown or imported after {timeout:.0f} s")
        status["code"] = 1
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QMainWindow) and hasattr(widget, "confirm"):
                widget.confirm = lambda title, text: True  # type: ignore[attr-defined]
        QApplication.closeAllWindows()

    probe = Probe()
    app.installEventFilter(probe)
    QTimer.singleShot(int(timeout * 1000), give_up)
    code = run_app(location, files, single_instance=False)  # measures a start: never hands over
    app.removeEventFilter(probe)
    return code or status["code"]
