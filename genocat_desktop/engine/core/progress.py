"""Progress reporting and cooperative cancellation: the primitives every long engine task uses.

A long task (an import, an embedding run, an index build) is a plain function
that takes ``progress`` (a callable receiving :class:`Progress`) and ``cancel``
(a :class:`CancelToken`). It calls ``cancel.raise_if_cancelled()`` between
batches and reports progress as it goes; it knows nothing about threads. The
GUI's single engine thread and the CLI's progress bars are both just callers.
:func:`gc_paused` is re-exported from :mod:`.process`, where the process-wide
state lives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from genocat_desktop.engine.core.errors import Cancelled
from genocat_desktop.engine.core.process import gc_paused

__all__ = ["CancelToken", "Progress", "ProgressCallback", "RateMeter", "gc_paused", "no_progress"]


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress report.

    Attributes
    ----------
    done
        Units of work finished so far.
    total
        Units expected in all, or ``None`` when unknown.
    unit
        What is counted: ``"records"``, ``"bytes"``, ``"queries"``, ``"rows"``.
    phase
        A short name of the current step (``"checking"``, ``"importing"``...).
    message
        A line for a status bar, e.g. ``"flowers.fa: 12,000 records, 41,000 seq/s"``.
    rate
        Units per second over the recent past, when known.
    """

    done: int
    total: int | None = None
    unit: str = "records"
    phase: str = ""
    message: str = ""
    rate: float | None = None

    @property
    def fraction(self) -> float | None:
        """Share of the work done, in [0, 1], or ``None`` if the total is unknown."""
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))

    @property
    def eta_seconds(self) -> float | None:
        """Estimated seconds left, from the current rate."""
        if self.total is None or not self.rate or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)


ProgressCallback = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """A progress callback that ignores every report."""


@dataclass
class CancelToken:
    """A flag a front sets and a long task polls between batches.

    Thread-safe: the GUI thread calls :meth:`cancel` while the engine thread
    polls :meth:`raise_if_cancelled`.
    """

    _event: threading.Event = field(default_factory=threading.Event)
    _callbacks: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        """Ask the task to stop at its next check (and interrupt work registered with :meth:`on_cancel`)."""
        with self._lock:
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from the cancelling thread) when the token is cancelled.

        For work that cannot poll between batches, such as one long ONNX Runtime
        run, which is stopped through its ``RunOptions.terminate`` flag. Called at
        once if already cancelled. Returns a function that unregisters it.
        """
        with self._lock:
            already = self._event.is_set()
            if not already:
                self._callbacks.append(callback)
        if already:
            callback()

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` has been called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~genocat_desktop.engine.core.errors.Cancelled` if cancelled."""
        if self._event.is_set():
            raise Cancelled()


class RateMeter:
    """Turns a running count into a smoothed rate and throttles reports.

    Reporting every batch from a fast task would flood a GUI event queue, so
    :meth:`due` says when at least ``interval`` seconds have passed.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._t0 = time.perf_counter()
        self._last_report = float("-inf")
        self._last_t = self._t0
        self._last_done = 0
        self._rate: float | None = None

    def update(self, done: int) -> float | None:
        """Record ``done`` and return the smoothed rate (units per second)."""
        now = time.perf_counter()
        dt = now - self._last_t
        if dt >= 0.05:
            inst = (done - self._last_done) / dt
            # Exponential smoothing keeps the ETA from jumping with every batch.
            self._rate = inst if self._rate is None else 0.7 * self._rate + 0.3 * inst
            self._last_t, self._last_done = now, done
        elif self._rate is None and now > self._t0:
            self._rate = done / (now - self._t0)
        return self._rate

    def due(self) -> bool:
        """True when enough time has passed since the last report."""
        now = time.perf_counter()
        if now - self._last_report >= self.interval:
            self._last_report = now
            return True
        return False

    @property
    def elapsed(self) -> float:
        """Seconds since the meter was created."""
        return time.perf_counter() - self._t0
