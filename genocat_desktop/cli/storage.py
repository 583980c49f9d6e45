"""``genocat index ...`` and ``genocat s3-login``: the catalog's indexes and S3 credentials in the keyring."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from genocat_desktop.cli.common import EXIT_OK, Command, Reporter, cancel_on_sigint, open_catalog, s3_settings

if TYPE_CHECKING:
    from genocat_desktop.engine import CancelToken, Catalog, IndexStatus

__all__ = ["COMMANDS", "add_parsers"]

INDEX_KINDS = ("vector", "scalar", "text")


def add_parsers(sub: Any) -> None:
    """Add ``index`` and ``s3-login`` to the ``genocat`` sub-parsers."""
    ix = sub.add_parser("index", help="build, show or drop the catalog's indexes",
                        description="ANN vector index (search above ~100k rows), scalar indexes on filter fields, "
                        "full-text index on descriptions. A build is one job: cancelled (Ctrl-C), it changes nothing.")
    ixs = ix.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    ib = ixs.add_parser("build", help="build (or rebuild) the indexes")
    ib.add_argument("--only", choices=list(INDEX_KINDS), action="append",
                    help="build only these kinds (repeatable)")
    ib.add_argument("--type", dest="index_type", choices=["IVF_RQ", "IVF_SQ", "IVF_PQ", "IVF_HNSW_SQ", "IVF_FLAT"],
                    help="vector index type (default IVF_RQ)")
    ib.add_argument("--partitions", type=int, help="IVF partitions (default about √rows)")
    ib.add_argument("--rebuild", action="store_true", help="also rebuild scalar and text indexes that exist")
    ist = ixs.add_parser("status", help="the indexes and how many rows each covers")
    ist.add_argument("--json", action="store_true")
    idr = ixs.add_parser("drop", help="drop indexes (the data is untouched)")
    idr.add_argument("--only", choices=list(INDEX_KINDS), action="append")
    io = ixs.add_parser("optimize", help="add rows imported since the build to the indexes")
    io.add_argument("--compact", action="store_true", help="also merge small data fragments")

    lg = sub.add_parser("s3-login", help="keep S3 credentials for the --catalog bucket in the system keyring",
                        description="Prompts for the access key id and secret (or reads $AWS_ACCESS_KEY_ID and "
                        "$AWS_SECRET_ACCESS_KEY) and stores them in the operating system's keyring, never in a file.")
    lg.add_argument("--forget", action="store_true", help="remove the stored credentials instead")


def _print_status(catalog: Catalog, status: IndexStatus, as_json: bool) -> None:
    if as_json:
        print(json.dumps(status.to_dict(), indent=2))
        return
    print(f"catalog {catalog.location}: {status.rows:,} rows, version {status.version}")
    if not status.indexes:
        print("no indexes" + (" (recommended: genocat index build)" if status.recommended else ""))
    if status.decision is not None:
        print(f"vector index policy ({status.decision.rows:,} rows): {status.decision.reason}")
    effort = status.effort_line()
    if effort is not None:
        print(f"search effort (measured after the build): {effort}")
    for i in status.indexes:
        extra = f", {i.num_partitions} partitions" if i.num_partitions else ""
        stale = f", {i.rows_unindexed:,} new rows not indexed yet" if i.rows_unindexed else ""
        print(f"{i.kind:<7} {i.column:<18} {i.index_type:<9} {i.size_bytes / 1e6:8.1f} MB "
              f"{i.rows_indexed:>12,} rows{extra}{stale}")


def _build(args: argparse.Namespace, catalog: Catalog, reporter: Reporter, token: CancelToken) -> IndexStatus:
    """``index build``: the kinds asked for, with the vector index's type and partitions if given."""
    from genocat_desktop.engine import VectorIndexParams, build_indexes, choose_vector_params

    kinds = set(args.only or INDEX_KINDS)
    params = None
    if args.index_type or args.partitions:
        column = catalog.default_vector
        auto = choose_vector_params(catalog.count(), int(catalog.vector_columns()[column]["dim"]))
        params = VectorIndexParams(args.index_type or auto.index_type, args.partitions or auto.num_partitions,
                                   auto.num_bits if (args.index_type or "IVF_RQ") == "IVF_RQ" else 8)
    return build_indexes(catalog, vector="vector" in kinds, scalar="scalar" in kinds, text="text" in kinds,
                         params=params, rebuild=args.rebuild, progress=reporter, cancel=token)


def _cmd_index(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import drop_indexes, index_status, optimize_indexes

    catalog = open_catalog(args, create=False)
    if args.index_command == "status":
        _print_status(catalog, index_status(catalog), args.json)
        return EXIT_OK
    if args.index_command == "drop":
        left = drop_indexes(catalog, kinds=tuple(args.only or INDEX_KINDS))
        print(f"dropped; {len(left.indexes)} index(es) left")
        return EXIT_OK
    with cancel_on_sigint() as token, Reporter(args.quiet) as reporter:
        if args.index_command == "optimize":
            status = optimize_indexes(catalog, compact=args.compact, progress=reporter, cancel=token)
        else:
            status = _build(args, catalog, reporter, token)
    vec = status.vector()
    what = f"vector index {vec.index_type} ({vec.num_partitions} partitions), " if vec else ""
    print(f"{what}{len(status.indexes)} index(es); catalog version {status.version}")
    if vec and status.decision is not None and status.decision.action != "ivf":
        print(f"note: {status.decision.reason}")  # the measurement says this index will not help
    return EXIT_OK


def _cmd_s3_login(args: argparse.Namespace) -> int:
    import getpass

    from genocat_desktop.app.storage import is_remote
    from genocat_desktop.engine import (
        Credentials,
        InputError,
        check_access,
        delete_credentials,
        save_credentials,
        storage_options,
    )
    from genocat_desktop.engine.catalog.storage import parse_location

    if not is_remote(args.catalog):
        raise InputError("give the S3 catalog: genocat --catalog s3://bucket/prefix s3-login")
    settings = s3_settings(args)
    bucket, _ = parse_location(args.catalog)
    if args.forget:
        found = delete_credentials(settings.endpoint, bucket)
        print("credentials removed" if found else "no stored credentials")
        return EXIT_OK
    key = os.environ.get("AWS_ACCESS_KEY_ID") or input("Access key id: ").strip()
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY") or getpass.getpass("Secret access key: ")
    creds = Credentials(key, secret)
    check_access(args.catalog, storage_options(args.catalog, settings, creds))  # refuse wrong keys now
    save_credentials(settings.endpoint, bucket, creds)
    print(f"credentials for {bucket} stored in the system keyring")
    return EXIT_OK


#: Handlers by command name (``cli.main`` merges them into its table).
COMMANDS: dict[str, Command] = {"index": _cmd_index, "s3-login": _cmd_s3_login}
