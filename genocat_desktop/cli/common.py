"""What every ``genocat`` command shares: exit codes, progress on the terminal, Ctrl-C, opening the catalog.

Commands run the application layer's jobs (:mod:`genocat_desktop.app`)
directly on this thread: :func:`run_cancellable` gives a job a progress
reporter and a cancel token that Ctrl-C sets.
"""

from __future__ import annotations

import argparse
import re
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
    "shown",
    "shown_row",
]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_CANCELLED = 0, 1, 2, 3, 130

#: A command's handler: the parsed arguments in, the exit code out.
Command = Callable[[argparse.Namespace], int]

T = TypeVar("T")

#: Characters a terminal acts on or hides: C0 and C1 controls (ESC starts colour, title and
#: clear-screen sequences), DEL, and the invisible format characters (bidirectional overrides,
#: zero-width marks, line and paragraph separators) that make text read differently than it is.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                     "\u2060-\u206f\ufeff\ufff9-\ufffb]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(value: object) -> str:
    r"""``value`` as text safe to print on a terminal or in a TSV cell: control characters escaped.

    ESC (``"\x1b"``) is shown as the four characters ``\x1b``; tab, newline and CR as ``\t``,
    ``\n``, ``\r``, so a value stays on its line and in its column. Identifiers, descriptions and
    file names come from the user's files, which may hold escape sequences (window title,
    colours, clear screen); files written with ``--out`` keep the data as stored.
    """
    text = value if isinstance(value, str) else str(value)
    return _HIDDEN.sub(_escape, text)


def shown_row(values: list[Any]) -> str:
    """One TSV line: each value :func:`shown` (``None`` as an empty cell), joined by tabs."""
    return "\t".join("" if v is None else shown(v) for v in values)


class Reporter:
    """Progress on stderr: a rich bar on a terminal, nothing when quiet or piped."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Reporter:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            # On stderr: rich's default console is stdout, which a script reads for the results.
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                transient=True, console=Console(stderr=True),
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
