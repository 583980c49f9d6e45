"""What every ``genocat`` command shares: exit codes, progress on the terminal, Ctrl-C, opening the catalog.

Commands run the application layer's jobs (:mod:`genocat_desktop.app`)
directly on this thread: :func:`run_cancellable` gives a job a progress
reporter and a cancel token that Ctrl-C sets.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from genocat_desktop.app.catalog import Session
    from genocat_desktop.app.jobs import Job
    from genocat_desktop.engine import CancelToken, Catalog, Progress, S3Settings, Searcher

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "Command",
    "Reporter",
    "cancel_on_sigint",
    "install_cancel",
    "open_catalog",
    "open_session",
    "run_cancellable",
    "s3_settings",
]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_CANCELLED = 0, 1, 2, 3, 130

#: A command's handler: the parsed arguments in, the exit code out.
Command = Callable[[argparse.Namespace], int]

T = TypeVar("T")


class Reporter:
    """Progress on stderr: a rich bar on a terminal, nothing when quiet or piped."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Reporter:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("", total=None)
        return self

    def __call__(self, p: Progress) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=p.message, completed=p.done, total=p.total)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)


def s3_settings(args: argparse.Namespace) -> S3Settings:
    """The S3 settings of the command line (``--endpoint``...), completed from the environment."""
    from genocat_desktop.engine import S3Settings

    return S3Settings.from_env(endpoint=args.endpoint, region=args.region, allow_http=args.allow_http,
                               profile=args.profile)


def open_catalog(args: argparse.Namespace, *, create: bool) -> Catalog:
    """The ``--catalog`` (or the default one), with the command line's S3 settings for an S3 location."""
    from genocat_desktop.app.storage import open_catalog as app_open_catalog

    return app_open_catalog(args.catalog, create=create, settings=s3_settings(args))


def open_session(args: argparse.Namespace, *, create: bool, searcher: Callable[[Catalog], Searcher] | None = None,
                 ) -> Session:
    """An application session on the ``--catalog``; ``searcher`` makes its searcher (default: the app's)."""
    from genocat_desktop.app.catalog import Session

    catalog = open_catalog(args, create=create)
    return Session(catalog, searcher(catalog) if searcher is not None else None)


def install_cancel(token: CancelToken) -> Any:
    """Map Ctrl-C to the cancel token; return the previous handler to restore."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if token.cancelled:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        token.cancel()
        print("\ncancelling... (Ctrl-C again to stop at once)", file=sys.stderr)

    return signal.signal(signal.SIGINT, handler)


@contextmanager
def cancel_on_sigint() -> Iterator[CancelToken]:
    """A cancel token that Ctrl-C sets while the block runs (the previous handler comes back after)."""
    from genocat_desktop.engine import CancelToken

    token = CancelToken()
    previous = install_cancel(token)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def run_cancellable(job: Job[T], *, quiet: bool = True) -> T:
    """Run an application job here, with Ctrl-C mapped to its cancel token and, unless ``quiet``, a progress bar."""
    with cancel_on_sigint() as token, Reporter(quiet) as reporter:
        return job(reporter, token)
