"""The ``genocat`` argument parser: the global options, then each command group's sub-commands."""

from __future__ import annotations

import argparse

from genocat_desktop.cli import catalog as cli_catalog
from genocat_desktop.cli import models as cli_models
from genocat_desktop.cli import schema as cli_schema
from genocat_desktop.cli import search as cli_search
from genocat_desktop.cli import storage as cli_storage

__all__ = ["build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The full parser; every command group module adds its own sub-commands (``add_parsers``)."""
    from genocat_desktop import __version__

    p = argparse.ArgumentParser(
        prog="genocat",
        description="GenoCat: catalog and search your lab's protein and DNA sequences.",
        epilog="Without a command, the desktop app starts. The catalog is $GENOCAT_CATALOG or one in your "
        "user data folder unless --catalog is given.",
    )
    p.add_argument("--version", action="version", version=f"GenoCat {__version__}")
    p.add_argument("--catalog", "-c", metavar="PATH_OR_URI", help="catalog folder or s3://bucket/prefix")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--selftest", action="store_true", help="check this installation end to end (an offscreen "
                   "window, a temporary catalog: import, search, export, ONNX) and exit; 0 if all worked")
    p.add_argument("--print-startup-time", action="store_true", help=argparse.SUPPRESS)
    s3 = p.add_argument_group("S3 catalogs (s3://bucket/prefix)")
    s3.add_argument("--endpoint", metavar="URL", help="S3-compatible endpoint, e.g. http://nas:9000 "
                    "(default $AWS_ENDPOINT_URL, else AWS)")
    s3.add_argument("--region", help="bucket region (default $AWS_REGION, the profile's, or us-east-1)")
    s3.add_argument("--allow-http", action="store_true", default=None,
                    help="allow a plain-HTTP endpoint (credentials travel unencrypted)")
    s3.add_argument("--profile", help="AWS profile in ~/.aws/credentials (default $AWS_PROFILE)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in (cli_catalog, cli_search, cli_storage, cli_schema, cli_models):
        group.add_parsers(sub)
    return p
