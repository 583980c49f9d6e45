"""Process-wide settings: the one place the engine changes state shared by the whole process.

Importing an engine module changes nothing outside it. Each front (the CLI's
``main``, the desktop app's start-up, the self-test, the benchmarks, the test
suite) calls :func:`configure_process` once at start-up, before the first Lance
call; later calls do nothing. Every environment variable is set only when the
user has not set it, so a value in the environment always wins.

Two other pieces of process-wide state live here because they act on the
whole process, not on one job: :func:`gc_paused` (the garbage collector's
thresholds while long jobs run) and :func:`single_thread_blas` (the BLAS
thread pools during a query scan, through one lazily made threadpoolctl
controller).
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Final

__all__ = [
    "LANCE_QUIET",
    "configure_process",
    "gc_paused",
    "is_configured",
    "lance_threads",
    "single_thread_blas",
]

#: Environment variables that keep Lance quiet and its index statistics small (see :func:`configure_process`).
LANCE_QUIET: Final[dict[str, str]] = {
    "LANCE_LOG": "error",
    "LANCEDB_LOG": "error",
    "LANCE_INCLUDE_VECTOR_CENTROIDS": "false",
}

_configure_lock = threading.Lock()
_configured = False


def lance_threads(cpus: int | None) -> str | None:
    """The ``LANCE_CPU_THREADS`` value for a machine with ``cpus`` CPUs, or ``None`` to keep Lance's own sizing.

    Lance sizes its encoding pool as the CPUs less two kept for I/O, at least
    one: on a 2- or 3-CPU workstation one thread would encode every write, and
    an import's last pass waits on it. Two threads, with two writes in flight
    (``importer.WRITES_IN_FLIGHT``), took a 1M-record import from 21.0 to
    18.6 s (``python -m bench --only import``, interleaved runs). With one CPU one thread is right; with four or more
    Lance's own sizing already gives two or more.

    Parameters
    ----------
    cpus
        The CPU count (``os.cpu_count()``; ``None`` when unknown, read as one).

    Returns
    -------
    str or None
        ``"2"`` on 2-3 CPUs, else ``None``.
    """
    return "2" if (cpus or 1) in (2, 3) else None


def configure_process() -> None:
    """Set the process-wide environment the engine expects; idempotent and thread-safe.

    Call it at start-up, before the first Lance call: Lance reads these
    variables when it first logs, encodes or writes index statistics. A
    variable the user has set keeps its value.

    * ``LANCE_CPU_THREADS``: ``2`` on 2-3 CPUs (:func:`lance_threads`).
    * ``LANCE_LOG`` and ``LANCEDB_LOG``: ``error``. Lance otherwise prints a
      deprecation warning per query to stderr, which floods the CLI's output
      and the app's log.
    * ``LANCE_INCLUDE_VECTOR_CENTROIDS``: ``false``. Index statistics would
      otherwise include every IVF centroid (megabytes of JSON at 1M rows),
      read each time the index status is shown.

    The ONNX Runtime options (:func:`~genocat_desktop.engine.embed.embedders.esm_onnx.set_runtime_options`)
    are not environment: the front sets them from its settings when it has read them.
    """
    global _configured
    with _configure_lock:
        if _configured:
            return
        threads = lance_threads(os.cpu_count())
        if threads is not None:
            os.environ.setdefault("LANCE_CPU_THREADS", threads)
        for key, value in LANCE_QUIET.items():
            os.environ.setdefault(key, value)
        _configured = True


def is_configured() -> bool:
    """Whether :func:`configure_process` has run in this process."""
    return _configured


# ---------------------------------------------------------------------------- garbage collector
_gc_lock = threading.Lock()
_gc_holders = 0
_gc_saved_threshold: tuple[int, int, int] | None = None
#: A third-generation threshold no job reaches: full collections wait until the last job ends.
_NO_FULL_COLLECTION: Final = 1 << 30


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off Python's full (oldest-generation) garbage collections while a long task runs.

    Nestable and thread-safe; the previous thresholds come back when the last
    paused task ends. The thresholds are the process's, so this lives here
    rather than with one task.

    Why: a full collection walks every container object in the process while
    holding the GIL. With Arrow, Lance, Qt and pyqtgraph loaded plus a batch of
    parsed records, one pass took 100-400 ms, and it runs in whichever thread
    happens to allocate: the desktop window froze that long during an import
    (longest GIL gap 388 ms with full collections, 35 ms without, same
    100k-record import). Young generations are still collected (they are
    small and quick), so a task that runs for hours and makes reference cycles
    does not pile them up; only the walk over long-lived objects is deferred.
    """
    global _gc_holders, _gc_saved_threshold
    with _gc_lock:
        if _gc_holders == 0:
            _gc_saved_threshold = gc.get_threshold()
            young, middle, _ = _gc_saved_threshold
            gc.set_threshold(young, middle, _NO_FULL_COLLECTION)
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_saved_threshold is not None:
                gc.set_threshold(*_gc_saved_threshold)
                _gc_saved_threshold = None


# ---------------------------------------------------------------------------- BLAS threads
_blas_lock = threading.Lock()
_blas_controller: Any = None


def single_thread_blas() -> AbstractContextManager[Any]:
    """A context that runs BLAS on one thread (in the whole process, while it is entered).

    One query is a matrix-vector product, bound by memory bandwidth: OpenBLAS's
    extra threads only add hand-off latency, and on a busy 2-core workstation
    (the GUI thread, an import) they made a 10k-row search 8 ms instead of
    0.8 ms (``python -m bench --only search``). The threadpoolctl controller that does it is made
    on first use, not at start-up: making it inspects every loaded library.
    """
    global _blas_controller
    with _blas_lock:
        if _blas_controller is None:
            from threadpoolctl import ThreadpoolController

            _blas_controller = ThreadpoolController()
        controller = _blas_controller
    limited: AbstractContextManager[Any] = controller.limit(limits=1, user_api="blas")
    return limited
