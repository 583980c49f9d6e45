"""The ``genocat`` argument parser: the global options, then each command group's sub-commands.

The global options (``--catalog``, ``--quiet``, the S3 ones) are taken before
the command and after it alike (``genocat import --catalog X f``): every
sub-parser, nested ones included, is a :class:`CommandParser`, which adds
them with ``default=SUPPRESS`` so that an option absent after the command
keeps the value given before it; given in both places, the later one wins.
"""

from __future__ import annotations

import argparse
from typing import Any

from genocat_desktop.cli import catalog as cli_catalog
from genocat_desktop.cli import models as cli_models
from genocat_desktop.cli import schema as cli_schema
from genocat_desktop.cli import search as cli_search
from genocat_desktop.cli import storage as cli_storage

__all__ = ["CommandParser", "add_global_options", "build_parser"]


class _VersionAction(argparse.Action):
    """``--version``: the versions are read only when asked for (every other command skips the lookups)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from genocat_desktop.app.about import version_text

        print(version_text())
        parser.exit()


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """Add ``--catalog``, ``--quiet`` and the S3 options to ``parser``.

    Parameters
    ----------
    parser
        The top-level parser or a command's.
    suppress
        Give the options no default (a command's parser): an option not given
        there leaves the value parsed before the command untouched.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--catalog", "-c", metavar="PATH_OR_URI", default=default(None),
                        help="catalog folder or s3://bucket/prefix")
    parser.add_argument("--quiet", "-q", action="store_true", default=default(False), help="no progress output")
    s3 = parser.add_argument_group("S3 catalogs (s3://bucket/prefix)")
    s3.add_argument("--endpoint", metavar="URL", default=default(None), help="S3-compatible endpoint, e.g. "
                    "http://nas:9000 (default $AWS_ENDPOINT_URL, else AWS)")
    s3.add_argument("--region", default=default(None),
                    help="bucket region (default $AWS_REGION, the profile's, or us-east-1)")
    s3.add_argument("--allow-http", action="store_true", default=default(None),
                    help="allow a plain-HTTP endpoint (credentials travel unencrypted)")
    s3.add_argument("--profile", default=default(None),
                    help="AWS profile in ~/.aws/credentials (default $AWS_PROFILE)")


class CommandParser(argparse.ArgumentParser):
    """A command's parser: it also takes the global options (see the module's docstring).

    ``add_subparsers`` makes sub-parsers of the parser's own class, so the
    actions of ``genocat schema add`` and the like take them too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_global_options(self, suppress=True)


def build_parser() -> argparse.ArgumentParser:
    """The full parser; every command group module adds its own sub-commands (``add_parsers``)."""
    p = argparse.ArgumentParser(
        prog="genocat",
        description="GenoCat: catalog and search your lab's protein and DNA sequences.",
        epilog="Without a command, the desktop app starts. The catalog is $GENOCAT_CATALOG or one in your "
        "user data folder unless --catalog is given.",
    )
    p.add_argument("--version", action=_VersionAction, nargs=0,
                   help="show the versions of GenoCat, Lance, Qt, ONNX Runtime, Python and the catalog format")
    p.add_argument("--selftest", action="store_true", help="check this installation end to end (an offscreen "
                   "window, a temporary catalog: import, search, export, ONNX) and exit; 0 if all worked")
    p.add_argument("--print-startup-time", action="store_true", help=argparse.SUPPRESS)
    add_global_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for group in (cli_catalog, cli_search, cli_storage, cli_schema, cli_models):
        group.add_parsers(sub)
    return p
