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
rejected), 130 cancelled (Ctrl-C). Errors are one line on stderr.

One module per command group (:mod:`~genocat_desktop.cli.catalog`,
:mod:`~genocat_desktop.cli.search`, :mod:`~genocat_desktop.cli.storage`,
:mod:`~genocat_desktop.cli.schema`, :mod:`~genocat_desktop.cli.models`), each
adding its sub-commands to the parser (:mod:`~genocat_desktop.cli.parser`) and
its handlers to :data:`COMMANDS`; they share :mod:`~genocat_desktop.cli.common`
and run the application layer's jobs (:mod:`genocat_desktop.app`). Heavy
libraries are imported inside the commands, so ``genocat --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from genocat_desktop.cli import catalog as cli_catalog
from genocat_desktop.cli import models as cli_models
from genocat_desktop.cli import schema as cli_schema
from genocat_desktop.cli import search as cli_search
from genocat_desktop.cli import storage as cli_storage
from genocat_desktop.cli.common import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, Command
from genocat_desktop.cli.parser import build_parser
from genocat_desktop.engine.core.process import configure_process

__all__ = ["COMMANDS", "EXIT_CANCELLED", "EXIT_ERROR", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "main", "main_gui"]

#: Every command's handler, by name.
COMMANDS: dict[str, Command] = {
    **cli_catalog.COMMANDS,
    **cli_search.COMMANDS,
    **cli_storage.COMMANDS,
    **cli_schema.COMMANDS,
    **cli_models.COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    _freeze_support()
    configure_process()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or _gui_files(argv) is not None:
        return main_gui(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.selftest:
        from genocat_desktop.selftest import run as selftest

        return selftest()
    if args.command is None:
        return main_gui(argv)
    from genocat_desktop.engine import GenoCatError

    try:
        return COMMANDS[args.command](args)
    except GenoCatError as exc:
        print(f"genocat: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if exc.__class__.__name__ == "FilterError" else EXIT_ERROR
    except KeyboardInterrupt:
        print("genocat: stopped", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        # `genocat search ... | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        return EXIT_OK


def _freeze_support() -> None:
    if getattr(sys, "frozen", False):
        import multiprocessing

        # The GUI's alignment child is started with "spawn": in a frozen (PyInstaller) app the
        # child is this executable with multiprocessing's arguments, which must run the child
        # (and exit) before any argument parsing.
        multiprocessing.freeze_support()


def _gui_files(argv: Sequence[str]) -> list[str] | None:
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
        elif arg in COMMANDS:
            return None
        else:
            files.append(arg)
    return files if files else None


def main_gui(argv: Sequence[str] | None = None) -> int:
    """Start the desktop app: ``genocat [--catalog PATH] [FILE...]``; FILEs (or folders) are imported."""
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
    files = [str(Path(f).expanduser().resolve()) for f in args.files]
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
