"""``genocat``: the command-line front over the engine, for scripts and terminals.

Commands::

    genocat [FILE...]            start the desktop app (importing FILEs, if given)
    genocat import FILE...       import FASTA files (plain, gzip, bzip2, xz)
    genocat ingest FILE|DIR...   bulk ingest with parallel workers (--engine local|ray), one commit
    genocat search QUERY         QUERY is a FASTA file, FASTA text or a bare sequence
    genocat export OUT           export catalog rows (optionally filtered) to CSV or FASTA
    genocat info [--json]        what the catalog holds
    genocat versions             the catalog's versions; ``genocat restore N`` goes back
    genocat schema list|add|rename|drop|describe    your own fields
    genocat set FIELD VALUE --where ...             give a field a value on matching rows
    genocat annotate FILE.csv --key accession       fill fields from a spreadsheet
    genocat bench [--size N] [--json OUT]           measure against the design targets
    genocat index build|status|drop|optimize   ANN vector, scalar and full-text indexes
    genocat search --text WORDS  full-text search of descriptions
    genocat s3-login             keep S3 credentials for a catalog in the system keyring
    genocat model export|add|list|remove   ESM-2 models as ONNX
    genocat embed --model NAME   add an embedding column to the catalog (resumable)

S3 catalogs: ``--catalog s3://bucket/prefix`` with ``--endpoint``, ``--region``,
``--allow-http`` (or ``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``GENOCAT_S3_ALLOW_HTTP``);
credentials from the keyring (``s3-login``), ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
or an AWS profile (``--profile``, ``AWS_PROFILE``).

Exit codes: 0 success, 1 error, 2 wrong usage, 3 partly done (some files
rejected), 130 cancelled (Ctrl-C). Errors are one line on stderr, with control
characters shown escaped.

One module per command group (:mod:`~genocat_desktop.cli.catalog`,
:mod:`~genocat_desktop.cli.search`, :mod:`~genocat_desktop.cli.storage`,
:mod:`~genocat_desktop.cli.schema`, :mod:`~genocat_desktop.cli.models`), each
adding its sub-commands to the parser (:mod:`~genocat_desktop.cli.parser`) and
its handlers to :data:`COMMANDS`; they share :mod:`~genocat_desktop.cli.common`
and run the application layer's jobs (:mod:`genocat_desktop.app`). Heavy
libraries are imported inside the commands, so ``genocat --help`` answers at once.

Start-up and Ctrl-C: this module imports nothing at load time beyond ``sys``, so
that :func:`main` can install its start-up SIGINT handler (a clean exit 130) before
anything heavy is imported; the command groups, ``COMMANDS`` and the exit codes
are loaded on first use.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ~10 ms before the Ctrl-C handler is in place
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

    from genocat_desktop.cli.common import (
        EXIT_CANCELLED,
        EXIT_ERROR,
        EXIT_OK,
        EXIT_PARTIAL,
        EXIT_USAGE,
        Command,
    )

    COMMANDS: dict[str, Command]

__all__ = ["COMMANDS", "EXIT_CANCELLED", "EXIT_ERROR", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "main", "main_gui"]

_EXIT_NAMES = frozenset({"EXIT_CANCELLED", "EXIT_ERROR", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE"})
_CANCELLED = 130  # EXIT_CANCELLED, written here so that the start-up handler needs no import


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that importing this module stays cheap (see the module's docstring).
    if name == "COMMANDS":
        return _commands()
    if name in _EXIT_NAMES:
        from genocat_desktop.cli import common

        return getattr(common, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _commands() -> dict[str, Command]:
    """Every command's handler, by name."""
    from genocat_desktop.cli import catalog as cli_catalog
    from genocat_desktop.cli import models as cli_models
    from genocat_desktop.cli import schema as cli_schema
    from genocat_desktop.cli import search as cli_search
    from genocat_desktop.cli import storage as cli_storage

    return {
        **cli_catalog.COMMANDS,
        **cli_search.COMMANDS,
        **cli_storage.COMMANDS,
        **cli_schema.COMMANDS,
        **cli_models.COMMANDS,
    }


def _stop_at_start(signum: int, frame: object) -> None:
    """Ctrl-C before a command runs: nothing to undo yet, so leave at once, without a traceback."""
    import os

    # os.write, not print: the handler may run inside a write to stderr, and nothing is buffered yet.
    os.write(2, b"genocat: stopped\n")
    os._exit(_CANCELLED)


def _startup_guard() -> Callable[[], None]:
    """Install :func:`_stop_at_start` for SIGINT; return the function that puts the previous handler back.

    Only the main thread can set signal handlers; elsewhere (a test calling
    :func:`main` from a thread) nothing changes.
    """
    # _signal (built into the interpreter) rather than signal, whose import (enum) takes milliseconds
    # during which Ctrl-C would still end in a traceback.
    import _signal

    try:
        previous = _signal.signal(_signal.SIGINT, _stop_at_start)
    except ValueError:  # not the main thread
        return lambda: None

    def restore() -> None:
        _signal.signal(_signal.SIGINT, previous)

    return restore


def _empty_catalog(args: argparse.Namespace) -> bool:
    """Say so (one line) when ``--catalog`` was given empty, which must not mean "the default catalog"."""
    if args.catalog is not None and not args.catalog.strip():
        print("genocat: error: --catalog is empty; give a catalog folder or s3:// URI", file=sys.stderr)
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    restore = _startup_guard()
    try:
        _freeze_support()
        from genocat_desktop.cli.common import EXIT_USAGE
        from genocat_desktop.cli.parser import build_parser
        from genocat_desktop.engine.core.process import configure_process

        configure_process()
        argv = list(sys.argv[1:] if argv is None else argv)
        commands = _commands()
        if not argv or _gui_files(argv, commands) is not None:
            restore()
            return main_gui(argv)
        args = build_parser().parse_args(argv)
        if _empty_catalog(args):
            return EXIT_USAGE
    finally:
        restore()
    if args.selftest:
        from genocat_desktop.selftest import run as selftest

        return selftest()
    if args.command is None:
        return main_gui(argv)
    return _run_command(commands[args.command], args)


def _run_command(command: Command, args: argparse.Namespace) -> int:
    """Run one command; every error a user can cause becomes one line and an exit code."""
    from genocat_desktop.cli.common import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, shown

    try:
        from genocat_desktop.engine import GenoCatError

        try:
            return command(args)
        except GenoCatError as exc:
            print(f"genocat: error: {shown(str(exc))}", file=sys.stderr)
            return EXIT_USAGE if exc.__class__.__name__ == "FilterError" else EXIT_ERROR
    except KeyboardInterrupt:
        print("genocat: stopped", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        # `genocat search ... | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # Lance's or Arrow's own error from a read that met a damaged catalog file
        from genocat_desktop.engine import explain_read_failure

        damage = explain_read_failure(exc)
        if damage is None:
            raise
        print(f"genocat: error: {shown(str(damage))}", file=sys.stderr)
        return EXIT_ERROR


def _freeze_support() -> None:
    if getattr(sys, "frozen", False):
        import multiprocessing

        # The GUI's alignment child is started with "spawn": in a frozen (PyInstaller) app the
        # child is this executable with multiprocessing's arguments, which must run the child
        # (and exit) before any argument parsing.
        multiprocessing.freeze_support()


def _gui_files(argv: Sequence[str], commands: dict[str, Command]) -> list[str] | None:
    """The files of ``genocat [--catalog X] FILE...`` (a GUI start), or ``None`` for a CLI command."""
    files: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--catalog", "-c"):
            skip = True
        elif arg.startswith("-"):
            if arg.startswith("--catalog=") or arg in ("--quiet", "-q", "--print-startup-time"):
                continue
            return None  # --help, --version...: the CLI answers
        elif arg in commands:
            return None
        else:
            files.append(arg)
    return files if files else None


def main_gui(argv: Sequence[str] | None = None) -> int:
    """Start the desktop app: ``genocat [--catalog PATH] [FILE...]``; FILEs (or folders) are imported."""
    restore = _startup_guard()
    try:
        import argparse
        from pathlib import Path

        from genocat_desktop.cli.common import EXIT_USAGE
        from genocat_desktop.engine.core.process import configure_process

        _freeze_support()
        configure_process()
        p = argparse.ArgumentParser(prog="genocat", description="Start the GenoCat desktop app.")
        p.add_argument("--catalog", "-c", metavar="PATH_OR_URI", help="catalog folder (default: your default catalog)")
        p.add_argument("--quiet", "-q", action="store_true", help=argparse.SUPPRESS)
        p.add_argument("--selftest", action="store_true", help="check this installation end to end and exit "
                       "(as genocat --selftest)")
        p.add_argument("--print-startup-time", action="store_true", help="print when the window was first shown "
                       "(seconds from process start) and quit, after importing the FILEs if any")
        p.add_argument("files", nargs="*", metavar="FILE", help="FASTA files or folders to import")
        args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
        if _empty_catalog(args):
            return EXIT_USAGE
        files = [str(Path(f).expanduser().resolve()) for f in args.files]
    finally:
        restore()
    if args.selftest:
        from genocat_desktop.selftest import run as selftest

        return selftest()
    if args.print_startup_time:
        from genocat_desktop.selftest import print_startup_time

        return print_startup_time(args.catalog, files)
    from genocat_desktop.ui.app import run

    return run(args.catalog, files)


if __name__ == "__main__":
    sys.exit(main())
