"""The job type of the application layer: ``job(progress, cancel) -> result``.

Every operation of :mod:`genocat_desktop.app` is offered as a function that
returns a :class:`Job`: a closure the desktop app hands to its engine thread
(:meth:`genocat_desktop.ui.engine_thread.EngineThread.submit`) and the CLI
calls directly with :func:`run_job`. Composing an operation once, as a job,
is what keeps the two fronts doing the same thing.

Nothing heavy is imported here: the window imports this module at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from genocat_desktop.engine import CancelToken, Progress

__all__ = ["Job", "ProgressCallback", "run_job"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: Receives the engine's :class:`~genocat_desktop.engine.Progress` reports (from any thread).
ProgressCallback = Callable[["Progress"], None]


class Job(Protocol[T_co]):
    """An operation ready to run: call it with a progress callback and a cancel token.

    ``Job[SearchOutcome]`` is a job whose result is a ``SearchOutcome``. The
    engine checks the token between batches and raises
    :class:`~genocat_desktop.engine.Cancelled` when it is set.
    """

    def __call__(self, progress: ProgressCallback, cancel: CancelToken, /) -> T_co:
        """Run the operation on the calling thread and return its result."""
        ...


def run_job(job: Job[T], progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> T:
    """Run ``job`` on the calling thread (the CLI's way; the window uses its engine thread).

    Parameters
    ----------
    job
        The job to run.
    progress
        Receives progress reports; none are shown if ``None``.
    cancel
        Stops the job at its next check; a fresh token (never cancelled) if ``None``.

    Returns
    -------
    T
        The job's result.
    """
    from genocat_desktop.engine import CancelToken, no_progress

    return job(progress or no_progress, cancel if cancel is not None else CancelToken())
