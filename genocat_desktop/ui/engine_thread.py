"""The one engine thread: every engine job of the desktop app runs here, one at a time.

This is the only module of the UI that owns a thread. A :class:`_Worker`
QObject lives on a single :class:`QThread`; :class:`EngineThread` (on the GUI
thread) keeps a queue of :class:`Job` objects and hands them to the worker one
after the other through a queued signal. A job is a plain function
``fn(progress, cancel) -> result`` (a :class:`genocat_desktop.app.jobs.Job`); it never
sees a widget, and the worker never touches one: results, progress and errors
come back as signals, which Qt delivers on the GUI thread.

Why one thread: a Lance catalog takes one writer at a time, and a queue of
jobs is easier to reason about (and to cancel on quit) than a pool. Searches,
alignments and page loads *supersede*: submitting one cancels the previous one
of the same kind, queued or running, so typing fast never piles up work.

Quitting: :meth:`EngineThread.shutdown` cancels the running job (the engine
checks its :class:`~genocat_desktop.engine.CancelToken` between batches and
rolls an import back), drops the queue, and waits for the thread to finish
(``quit()`` + ``wait()``); it never calls ``terminate()``, which could stop a
commit halfway.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections import deque
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QThread, Signal, Slot

from genocat_desktop.app.jobs import Job as AppJob

__all__ = ["EngineThread", "Job", "JobFunction"]

#: Any job of the application layer, ``fn(progress, cancel) -> result``, whatever its result.
JobFunction = AppJob[Any]

T = TypeVar("T")

#: Progress reports closer together than this are dropped (the last one of a job
#: always gets through): a fast job must not flood the GUI's event queue.
PROGRESS_INTERVAL_S = 0.05
#: Kinds of job whose result is delivered even when cancel came too late to stop them: their
#: result says what was written (an import's or ingest's report, a committed schema change, a saved
#: benchmark run, published indexes, a committed embedding column).
DELIVER_WHEN_CANCELLED = frozenset({"import", "ingest", "schema-change", "benchmark", "index", "embed"})


class _CancelLink:
    """Joins the GUI's cancel request to the engine's ``CancelToken``, which is made on the engine thread.

    Setting the shared event is enough for jobs that poll between batches. An
    ONNX Runtime call in flight can only be stopped by the token's
    ``on_cancel`` callbacks (``RunOptions.terminate``), so :meth:`cancel` also
    calls ``token.cancel()`` once the worker has attached the token: without it
    Cancel waited for the whole model batch to end (seconds with a large model).
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self._token: Any = None
        self._lock = threading.Lock()

    def attach(self, token: Any) -> None:
        """Called by the worker with the job's token (a cancel that came before is seen through the event)."""
        with self._lock:
            self._token = token

    def cancel(self) -> None:
        """Set the event and run the token's interrupt callbacks (on the calling thread; they only set flags)."""
        with self._lock:
            self.event.set()
            token = self._token
        if token is not None:
            token.cancel()


class Job(QObject):
    """One unit of engine work, as the GUI sees it.

    Signals
    -------
    started()
        The worker began running it.
    progress(object)
        An engine ``Progress`` (throttled).
    finished(object)
        The function's return value.
    failed(str, str)
        A message for the user and technical details (a traceback for unexpected errors, else "").
    cancelled()
        It was cancelled (before or while running).
    """

    started = Signal()
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()

    def __init__(self, kind: str, title: str, fn: JobFunction, job_id: int) -> None:
        super().__init__()
        self.kind = kind
        self.title = title
        self.fn = fn
        self.id = job_id
        self._link = _CancelLink()
        #: Set from the GUI thread, polled by the engine (a CancelToken wraps it).
        self.cancel_event = self._link.event
        self.state = "queued"  # queued, running, done, failed, cancelled
        self.result: Any = None
        self.error: str | None = None

    def cancel(self) -> None:
        """Ask the job to stop (it stops at its next check, or interrupts a model call; a queued job never starts)."""
        self._link.cancel()

    @property
    def is_cancelled(self) -> bool:
        """Whether cancel was requested."""
        return self.cancel_event.is_set()

    @property
    def done(self) -> bool:
        """Whether it has ended (finished, failed or cancelled)."""
        return self.state in ("done", "failed", "cancelled")


class _Worker(QObject):
    """Runs job functions on the engine thread. Emits only; never touches widgets."""

    progress = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, str, str)
    cancelled = Signal(int)

    @Slot(int, object, object)
    def run(self, job_id: int, fn: JobFunction, link: _CancelLink) -> None:
        # The engine is imported here, on the engine thread, the first time a
        # job runs: the window never waits for pyarrow/lance to load.
        from genocat_desktop.engine import Cancelled, CancelToken, GenoCatError
        from genocat_desktop.engine.core.progress import gc_paused

        token = CancelToken(link.event)
        link.attach(token)
        last = [0.0]

        def report(p: Any) -> None:
            now = time.monotonic()
            final = p.total is not None and p.done >= p.total
            if final or now - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = now
                self.progress.emit(job_id, p)

        try:
            token.raise_if_cancelled()
            # No full GC pass during a job: one walk over a big heap holds the GIL and freezes the window.
            with gc_paused():
                result = fn(report, token)
        except Cancelled:
            self.cancelled.emit(job_id)
        except GenoCatError as exc:
            self.failed.emit(job_id, str(exc), "")
        except MemoryError:
            self.failed.emit(job_id, "not enough memory for this job", traceback.format_exc())
        except Exception as exc:  # a bug, unless a read met a damaged catalog file: keep the thread alive
            from genocat_desktop.engine import explain_read_failure

            damage = explain_read_failure(exc)
            if damage is not None:
                self.failed.emit(job_id, str(damage), "")
            else:
                self.failed.emit(job_id, f"unexpected error: {exc}", traceback.format_exc())
        else:
            self.finished.emit(job_id, result)


class EngineThread(QObject):
    """The engine thread and its job queue; create one per window, call :meth:`shutdown` on close.

    Signals
    -------
    busy_changed(bool)
        True when a job starts after an idle period, False when the queue empties.
    job_started(object)
        A :class:`Job` starts running.
    """

    busy_changed = Signal(bool)
    job_started = Signal(object)
    _run = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._queue: deque[Job] = deque()
        self._current: Job | None = None
        self._jobs: dict[int, Job] = {}
        self._busy = False
        self._thread = QThread()
        self._thread.setObjectName("genocat-engine")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._run.connect(self._worker.run)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._thread.start()
        self._closed = False

    # ------------------------------------------------------------------ submit
    def submit(self, kind: str, title: str, fn: AppJob[T], *, supersede: bool = False) -> Job:
        """Queue ``fn`` to run on the engine thread; return its :class:`Job`.

        Parameters
        ----------
        kind
            What it is ("import", "search", "browse", "export", "align", "open"...).
        title
            A short description for the status bar ("Importing proteins.fa").
        fn
            ``fn(progress, cancel) -> result``; runs on the engine thread.
        supersede
            Cancel every queued or running job of the same ``kind`` first (a new
            search makes the previous one pointless).
        """
        if self._closed:
            raise RuntimeError("the engine thread has been shut down")
        if supersede:
            self.cancel_kind(kind)
        job = Job(kind, title, fn, next(self._ids))
        self._jobs[job.id] = job
        self._queue.append(job)
        self._pump()
        return job

    def cancel_kind(self, kind: str) -> None:
        """Cancel every queued or running job of ``kind``."""
        for job in [*self._queue, *([self._current] if self._current else [])]:
            if job.kind == kind:
                self.cancel(job)

    def cancel(self, job: Job) -> None:
        """Cancel one job: a queued one is dropped at once, a running one stops at its next check."""
        job.cancel()
        if job in self._queue:
            self._queue.remove(job)
            self._end(job, "cancelled")
            job.cancelled.emit()

    def cancel_all(self) -> None:
        """Cancel the running job and everything queued."""
        for job in list(self._queue):
            self.cancel(job)
        if self._current is not None:
            self._current.cancel()

    # ------------------------------------------------------------------ state
    @property
    def current(self) -> Job | None:
        """The running job, if any."""
        return self._current

    @property
    def pending(self) -> list[Job]:
        """Queued jobs, in order."""
        return list(self._queue)

    def is_busy(self, kinds: tuple[str, ...] | None = None) -> bool:
        """Whether a job (of one of ``kinds``, if given) is running or queued."""
        jobs = [*self._queue, *([self._current] if self._current else [])]
        return any(kinds is None or j.kind in kinds for j in jobs)

    # ------------------------------------------------------------------ internals
    def _pump(self) -> None:
        if self._current is not None or not self._queue:
            return
        job = self._queue.popleft()
        self._current = job
        job.state = "running"
        if not self._busy:
            self._busy = True
            self.busy_changed.emit(True)
        job.started.emit()
        self.job_started.emit(job)
        self._run.emit(job.id, job.fn, job._link)

    def _end(self, job: Job, state: str) -> None:
        job.state = state
        self._jobs.pop(job.id, None)
        if job is self._current:
            self._current = None
            self._pump()
        if self._busy and self._current is None and not self._queue:
            self._busy = False
            self.busy_changed.emit(False)

    @Slot(int, object)
    def _on_progress(self, job_id: int, p: object) -> None:
        job = self._jobs.get(job_id)
        if job is not None and not job.is_cancelled:
            job.progress.emit(p)

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        job.result = result
        if job.is_cancelled and job.kind not in DELIVER_WHEN_CANCELLED:
            # The answer to a superseded search (or page, or alignment) arrived
            # anyway; showing it would overwrite the newer one. An import's
            # report is always wanted: it says what was rolled back; so is a
            # change that was committed before the cancel could stop it.
            self._end(job, "cancelled")
            job.cancelled.emit()
            return
        self._end(job, "done")
        job.finished.emit(result)

    @Slot(int, str, str)
    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        job.error = message
        self._end(job, "failed")
        job.failed.emit(message, details)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        self._end(job, "cancelled")
        job.cancelled.emit()

    # ------------------------------------------------------------------ quitting
    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel everything, stop the thread and wait for it; return True if it stopped.

        The running job gets ``timeout_ms`` to reach its next cancellation check
        and roll back. The thread is never terminated: an import stopped in the
        middle of a commit could leave the catalog in a state only Lance's own
        recovery understands.
        """
        if self._closed:
            return not self._thread.isRunning()
        self._closed = True
        self.cancel_all()
        self._thread.quit()  # runs after the current job returns
        stopped = bool(self._thread.wait(timeout_ms))
        if stopped:
            # Deliver nothing more to the GUI: the window may be going away.
            for signal in (self._worker.progress, self._worker.finished, self._worker.failed, self._worker.cancelled):
                signal.disconnect()
            self._worker.deleteLater()
        return stopped

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` was called: no job is accepted any more."""
        return self._closed

    @property
    def running(self) -> bool:
        """Whether the engine thread is alive."""
        return bool(self._thread.isRunning())
