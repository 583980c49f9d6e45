"""``genocat``: the command-line front over the engine, for scripts and terminals.

Commands::

    genocat [FILE...]            start the desktop app (importing FILEs, if given)
    genocat import FILE...       import FASTA files (plain, gzip, bzip2, xz)
    genocat ingest FILE|DIR...   bulk ingest with parallel workers (--engine local|ray), one commit
    genocat search QUERY         QUERY is a FASTA file, FASTA text or a bare sequence
    genocat export OUT           export catalog rows (optionally filtered) to CSV or FASTA
    genocat info [--json]        what the catalog holds
    genocat versions             the catalog's versions; ``genocat restore N`` goes back
    genocat schema list|add|rename|drop|describe    your own fields (cli_schema.py)
    genocat set FIELD VALUE --where ...             give a field a value on matching rows
    genocat annotate FILE.csv --key accession       fill fields from a spreadsheet
    genocat bench [--size N] [--json OUT]           measure against the design targets
    genocat index build|status|drop|optimize   ANN vector, scalar and full-text indexes
    genocat search --text WORDS  full-text search of descriptions
    genocat s3-login             keep S3 credentials for a catalog in the system keyring
    genocat model export|add|list|remove   ESM-2 models as ONNX (see cli_models)
    genocat embed --model NAME   add an embedding column to the catalog (resumable)

S3 catalogs: ``--catalog s3://bucket/prefix`` with ``--endpoint``, ``--region``,
``--allow-http`` (or ``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``GENOCAT_S3_ALLOW_HTTP``);
credentials from the keyring (``s3-login``), ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
or an AWS profile (``--profile``, ``AWS_PROFILE``).

Exit codes: 0 success, 1 error, 2 wrong usage, 3 partly done (some files
rejected), 130 cancelled (Ctrl-C). Errors are one line on stderr.

Heavy libraries are imported inside the commands, so ``genocat --help``
answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from genocat_desktop.cli import models as cli_models
from genocat_desktop.cli import schema as cli_schema
from genocat_desktop.engine.catalog.storage import is_remote

if TYPE_CHECKING:
    from genocat_desktop.engine import CancelToken, Catalog, Progress

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_CANCELLED = 0, 1, 2, 3, 130


def _parser() -> argparse.ArgumentParser:
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

    imp = sub.add_parser("import", help="import FASTA files", description="Import FASTA files into the catalog. "
                         "Each file is one atomic change: a rejected or cancelled file changes nothing.")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--strip-gaps", action="store_true", help="remove alignment gaps ('-', '.') instead of "
                     "rejecting aligned files")
    imp.add_argument("--json", action="store_true", help="print the import report as JSON")
    imp.add_argument("--auto-index-rows", type=int, default=None, metavar="N",
                     help="build the indexes after the import once the catalog has N rows (default 100,000; "
                     "0: never); existing indexes are updated when many rows are new")

    ing = sub.add_parser(
        "ingest", help="bulk-ingest FASTA files with parallel workers (this machine or a Ray cluster)",
        description="Ingest FASTA files (or folders of them) with parallel tasks that write straight to the "
        "catalog's storage; one commit publishes everything, or nothing if anything fails. Same rows as "
        "'genocat import'. With --cleanup: delete data files left by crashed writers.")
    ing.add_argument("inputs", nargs="*", metavar="FILE_OR_FOLDER", help="FASTA files, folders of them, or "
                     "s3://bucket/prefix/ (every FASTA object under it, plain or gzip; --endpoint etc. apply)")
    ing.add_argument("--engine", choices=["local", "ray"], default="local",
                     help="local: processes on this machine (default); ray: Ray tasks (needs genocat[ray])")
    ing.add_argument("--workers", type=int, help="local processes, or CPUs of a Ray started here "
                     "(default: one per core; 0 runs in this process)")
    ing.add_argument("--address", help="Ray cluster to use: 'auto', or ray://HOST:PORT (default: start one here)")
    ing.add_argument("--retries", type=int, default=2, help="Ray retries of a task whose worker died (default 2)")
    ing.add_argument("--part-mb", type=int, default=32, help="cut uncompressed files into parts of about this "
                     "many MiB (default 32)")
    ing.add_argument("--strip-gaps", action="store_true", help="remove alignment gaps instead of rejecting")
    ing.add_argument("--dedup", choices=["driver", "partitioned"], default="driver",
                     help="driver: every hash in this process's memory (~310 bytes per record; default); "
                     "partitioned: hash partitions spilled to the catalog's storage and decided by tasks "
                     "(memory independent of the number of records)")
    ing.add_argument("--partitions", type=int, default=None, help="hash partitions for --dedup partitioned "
                     "(default 16)")
    ing.add_argument("--json", action="store_true", help="print the ingest report as JSON")
    ing.add_argument("--cleanup", action="store_true", help="delete unreferenced data files older than "
                     "--min-age-hours instead of ingesting (refused while an ingest runs)")
    ing.add_argument("--min-age-hours", type=float, default=6.0, help="with --cleanup (default 6)")
    ing.add_argument("--dry-run", action="store_true", help="with --cleanup: only list what would be deleted")

    se = sub.add_parser("search", help="search by sequence similarity (or --text)")
    se.add_argument("query", nargs="?", help="a FASTA file, FASTA text, or a bare sequence")
    se.add_argument("--text", "-t", metavar="WORDS", help="full-text search of descriptions instead "
                    "(\"quoted words\" for a phrase)")
    se.add_argument("--exact", action="store_true", help="never use the ANN index (exact, slower on big catalogs)")
    se.add_argument("--nprobes", type=int, help="ANN: partitions to probe (default: the number measured "
                    "when the index was built, else all)")
    se.add_argument("--refine", type=int, help="ANN: re-rank REFINE × k candidates exactly (default: as "
                    "measured when the index was built, else 10)")
    se.add_argument("-k", "--hits", type=int, default=10, help="hits per query (default 10)")
    se.add_argument("--where", "-w", action="append", default=[], metavar="'FIELD OP VALUE'",
                    help="filter, e.g. 'length > 300', 'organism contains coli' (repeatable; all must hold)")
    se.add_argument("--embedding", metavar="COLUMN", help="embedding to search: a vector column or a model name "
                    "(default: the catalog's; see `genocat info`)")
    se.add_argument("--align", action="store_true",
                    help="align the query to the best candidates (Smith-Waterman, BLOSUM62) and rank by alignment; "
                    "adds identity, coverage, bit score and E-value")
    se.add_argument("--candidates", type=int, metavar="N", help="with --align: candidates to align (default 10 x k)")
    se.add_argument("--rank-by", choices=["alignment", "embedding"], default="alignment",
                    help="with --align: order of the hits (default: alignment score)")
    se.add_argument("--out", "-o", type=Path, help="write hits to .csv or .fasta instead of the screen")
    se.add_argument("--format", choices=["table", "tsv", "json"], default=None,
                    help="screen output format (default: table on a terminal, tsv otherwise)")

    ex = sub.add_parser("export", help="export catalog rows to CSV or FASTA")
    ex.add_argument("out", type=Path, help="output file, .csv or .fasta")
    ex.add_argument("--where", "-w", action="append", default=[], metavar="'FIELD OP VALUE'")
    ex.add_argument("--limit", type=int, help="at most this many rows")

    info = sub.add_parser("info", help="what the catalog holds")
    info.add_argument("--json", action="store_true")

    ix = sub.add_parser("index", help="build, show or drop the catalog's indexes",
                        description="ANN vector index (search above ~100k rows), scalar indexes on filter fields, "
                        "full-text index on descriptions. A build is one job: cancelled (Ctrl-C), it changes nothing.")
    ixs = ix.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    ib = ixs.add_parser("build", help="build (or rebuild) the indexes")
    ib.add_argument("--only", choices=["vector", "scalar", "text"], action="append",
                    help="build only these kinds (repeatable)")
    ib.add_argument("--type", dest="index_type", choices=["IVF_RQ", "IVF_SQ", "IVF_PQ", "IVF_HNSW_SQ", "IVF_FLAT"],
                    help="vector index type (default IVF_RQ)")
    ib.add_argument("--partitions", type=int, help="IVF partitions (default about √rows)")
    ib.add_argument("--rebuild", action="store_true", help="also rebuild scalar and text indexes that exist")
    ist = ixs.add_parser("status", help="the indexes and how many rows each covers")
    ist.add_argument("--json", action="store_true")
    idr = ixs.add_parser("drop", help="drop indexes (the data is untouched)")
    idr.add_argument("--only", choices=["vector", "scalar", "text"], action="append")
    io = ixs.add_parser("optimize", help="add rows imported since the build to the indexes")
    io.add_argument("--compact", action="store_true", help="also merge small data fragments")

    lg = sub.add_parser("s3-login", help="keep S3 credentials for the --catalog bucket in the system keyring",
                        description="Prompts for the access key id and secret (or reads $AWS_ACCESS_KEY_ID and "
                        "$AWS_SECRET_ACCESS_KEY) and stores them in the operating system's keyring, never in a file.")
    lg.add_argument("--forget", action="store_true", help="remove the stored credentials instead")

    sub.add_parser("versions", help="list the catalog's versions")
    rs = sub.add_parser("restore", help="make an old version the latest again (nothing is deleted)")
    rs.add_argument("version", type=int)
    cli_schema.add_parsers(sub)
    cli_models.add_parsers(sub)
    return p


class _Reporter:
    """Progress on stderr: a rich bar on a terminal, nothing when quiet or piped."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Reporter:
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


def _s3_settings(args: argparse.Namespace) -> Any:
    from genocat_desktop.engine import S3Settings

    return S3Settings.from_env(endpoint=args.endpoint, region=args.region, allow_http=args.allow_http,
                               profile=args.profile)


def _open_catalog(args: argparse.Namespace, *, create: bool) -> Catalog:
    from genocat_desktop.engine import Catalog, default_location, storage_options

    location = args.catalog or default_location()
    options = None
    if is_remote(location):
        options = storage_options(location, _s3_settings(args))
    return Catalog.open(location, create=create, storage_options=options)


def _install_cancel(token: CancelToken) -> Any:
    """Map Ctrl-C to the cancel token; return the previous handler to restore."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if token.cancelled:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        token.cancel()
        print("\ncancelling... (Ctrl-C again to stop at once)", file=sys.stderr)

    return signal.signal(signal.SIGINT, handler)


def _cmd_import(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import CancelToken, import_files

    catalog = _open_catalog(args, create=True)
    token = CancelToken()
    previous = _install_cancel(token)
    try:
        with _Reporter(args.quiet) as reporter:
            report = import_files(
                catalog, args.files, strip_gaps=args.strip_gaps, progress=reporter, cancel=token
            )
        auto = None
        threshold = args.auto_index_rows
        if not report.cancelled and report.imported and threshold != 0:
            from genocat_desktop.engine import AUTO_INDEX_ROWS, Cancelled, auto_index

            try:
                with _Reporter(args.quiet) as reporter:
                    auto = auto_index(catalog, threshold=threshold or AUTO_INDEX_ROWS, progress=reporter,
                                      cancel=token)
            except Cancelled:
                auto = "cancelled"
    finally:
        signal.signal(signal.SIGINT, previous)
    if auto and not args.json:
        print({"built": "indexes built", "optimized": "new rows added to the indexes",
               "cancelled": "index build cancelled; the import is kept"}[auto], file=sys.stderr)
    if args.json:
        out = {
            "catalog": catalog.location,
            "version": catalog.version,
            "cancelled": report.cancelled,
            "files": [
                {
                    "path": f.path, "records": f.records, "imported": f.imported,
                    "duplicates_in_file": f.duplicates_in_file, "already_in_catalog": f.already_in_catalog,
                    "aliases_added": f.aliases_added, "skipped": f.skipped, "warnings": f.warnings,
                    "error": f.error, "issues": [str(i) for i in f.issues], "seconds": round(f.seconds, 3),
                }
                for f in report.files
            ],
        }
        print(json.dumps(out, indent=2))
    else:
        for f in report.files:
            print(f.summary(), file=sys.stderr if f.error else sys.stdout)
            if not args.quiet:
                for issue in f.issues[:10]:
                    print(f"  warning: {issue}", file=sys.stderr)
                if len(f.issues) > 10 or f.skipped + f.warnings > len(f.issues):
                    more = f.skipped + f.warnings - min(len(f.issues), 10)
                    print(f"  ... and {more:,} more (use --json for the full list)", file=sys.stderr)
        print(f"catalog {catalog.location}: {catalog.count():,} sequences, version {catalog.version}")
    if report.cancelled:
        return EXIT_CANCELLED
    if report.failed:
        return EXIT_PARTIAL if len(report.failed) < len(report.files) else EXIT_ERROR
    return EXIT_OK


def _cmd_ingest(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from genocat_desktop.engine import CancelToken, cleanup_orphans, ingest, storage_options
    from genocat_desktop.engine.catalog.storage import is_remote

    catalog = _open_catalog(args, create=True)
    if args.cleanup:
        done = cleanup_orphans(catalog, min_age=timedelta(hours=args.min_age_hours), dry_run=args.dry_run)
        verb = "would delete" if args.dry_run else "deleted"
        print(f"{verb} {len(done.orphans)} orphaned data file(s), {done.bytes:,} bytes; "
              f"{done.kept_recent} recent unreferenced file(s) kept")
        return EXIT_OK
    if not args.inputs:
        print("genocat ingest: error: give FASTA files or folders (or --cleanup)", file=sys.stderr)
        return EXIT_USAGE
    # s3:// inputs are read with the S3 settings given here (--endpoint, --region...) and the credentials
    # the keyring, environment or profile hold for their bucket; an S3 catalog lends its own.
    remote = [i for i in args.inputs if is_remote(i)]
    input_options = (storage_options(remote[0], _s3_settings(args))
                     if remote and not is_remote(catalog.location) else None)
    token = CancelToken()
    previous = _install_cancel(token)
    try:
        with _Reporter(args.quiet) as reporter:
            report = ingest(catalog, args.inputs, engine=args.engine, workers=args.workers, address=args.address,
                            retries=args.retries, part_bytes=args.part_mb << 20, strip_gaps=args.strip_gaps,
                            progress=reporter, cancel=token, input_options=input_options, dedup=args.dedup,
                            partitions=args.partitions)
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print(json.dumps({"catalog": catalog.location, **report.to_dict()}, indent=2))
    else:
        for f in report.files:
            if f.error:
                print(f"{Path(f.path).name}: not ingested: {f.error}", file=sys.stderr)
        if report.error:
            print(f"genocat: ingest failed, the catalog is unchanged: {report.error}", file=sys.stderr)
            for part in report.failed_parts[1:]:
                print(f"  also failed: {part}", file=sys.stderr)
        else:
            print(f"{report.records:,} records from {len(report.files) - len(report.failed)} file(s): "
                  f"{report.imported:,} new, {report.aliases_added:,} aliases added, in {report.seconds:.1f} s "
                  f"({report.rate:,.0f} records/s; {report.engine}, {report.workers} workers, {report.parts} parts)")
            print(f"catalog {catalog.location}: {catalog.count():,} sequences, version {catalog.version}")
    if report.cancelled:
        return EXIT_CANCELLED
    if report.error:
        return EXIT_ERROR
    if report.failed:
        return EXIT_PARTIAL if len(report.failed) < len(report.files) else EXIT_ERROR
    return EXIT_OK


def _cmd_text_search(args: argparse.Namespace, catalog: Catalog, conditions: list[Any]) -> int:
    from genocat_desktop.engine import export_csv, text_search

    hits = text_search(catalog, args.text, k=args.hits, conditions=conditions)
    if args.out:
        n = export_csv(hits, args.out, comments={"text": args.text, "catalog": catalog.location,
                                                 "version": catalog.version})
        print(f"wrote {n:,} hit(s) to {args.out}", file=sys.stderr)
        return EXIT_OK
    cols = ["rank", "score", "id", "name", "organism", "description"]
    fmt = args.format or ("table" if sys.stdout.isatty() else "tsv")
    if fmt == "json":
        print(json.dumps(hits.drop_columns(["sequence"]).to_pylist(), indent=2, default=str))
        return EXIT_OK
    print("\t".join(cols))
    for row in hits.select(cols).to_pylist():
        print("\t".join("" if row[c] is None else str(row[c]) for c in cols))
    return EXIT_OK


def _cmd_search(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import InputError, SearchEffort, Searcher, export_hits, parse_condition, read_queries

    if (args.query is None) == (args.text is None):
        raise InputError("give either a query sequence or --text WORDS")
    catalog = _open_catalog(args, create=False)
    conditions = [parse_condition(w) for w in args.where]
    if args.text is not None:
        return _cmd_text_search(args, catalog, conditions)
    query_source: str | Path = args.query
    if args.query == "-":
        query_source = sys.stdin.read()
    queries = read_queries(query_source)
    effort = SearchEffort(nprobes=args.nprobes, refine_factor=args.refine)
    searcher = Searcher(catalog, use_index=False if args.exact else None, effort=effort)
    column = None
    if args.embedding:
        from genocat_desktop.engine.embed.columns import resolve_column

        column = resolve_column(catalog, args.embedding)
    results = searcher.search_many(
        queries, k=args.hits, conditions=conditions, column=column,
        align=args.align, candidates=args.candidates, rank_by=args.rank_by,
    )
    if args.out:
        comments = {
            "query": args.query if len(queries) > 1 else queries[0].id,
            "catalog": catalog.location,
            "version": results[0].version,
            "embedding": results[0].column,
            "filter": " AND ".join(args.where) or "none",
            "hits per query": args.hits,
            "alignment": f"Smith-Waterman BLOSUM62 11/1, {args.rank_by} order" if args.align else "none",
        }
        n = export_hits(results, args.out, comments=comments)
        print(f"wrote {n:,} hit(s) to {args.out}", file=sys.stderr)
        return EXIT_OK
    fmt = args.format or ("table" if sys.stdout.isatty() else "tsv")
    cols = ["rank", "score", "id", "name", "organism", "length"]
    if args.align:
        cols[2:2] = ["identity", "query_cov", "bits", "evalue"]
    if fmt == "json":
        out = [
            {"query": r.query.id, "version": r.version, "exact": r.exact,
             "hits": r.hits.drop_columns(["sequence"]).to_pylist()}
            for r in results
        ]
        print(json.dumps(out, indent=2, default=str))
    elif fmt == "tsv":
        print("\t".join(["query", *cols]))
        for r in results:
            for row in r.hits.select(cols).to_pylist():
                print("\t".join([r.query.id, *("" if row[c] is None else str(row[c]) for c in cols)]))
    else:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        for r in results:
            t = Table(title=f"{r.query.id} ({len(r.query.sequence)} {r.query.molecule} residues): "
                      f"{len(r)} hit(s) of {r.candidates:,} in {r.seconds * 1000:.1f} ms, "
                      f"{'exact' if r.exact else 'approximate (vector index)'}")
            for c in cols:
                t.add_column(c, justify="right" if c in ("rank", "score", "length") else "left")
            for row in r.hits.select(cols).to_pylist():
                t.add_row(*(_cell(c, row[c]) for c in cols))
            console.print(t)
    return EXIT_OK


def _cell(column: str, value: Any) -> str:
    """Format one value for the terminal table."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if column == "score":
        return f"{value:.3f}"
    if column in ("identity", "query_cov", "target_cov"):
        return f"{value * 100:.0f}%"
    if column == "bits":
        return f"{value:.1f}"
    if column == "evalue":
        return f"{value:.1e}"
    return str(value)


def _cmd_export(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import InputError, export_csv, export_fasta, parse_condition, to_sql

    catalog = _open_catalog(args, create=False)
    ds = catalog.dataset()
    sql = to_sql([parse_condition(w) for w in args.where], ds.schema)
    columns = [c for c in ds.schema.names if c not in catalog.vector_columns()]
    table = ds.to_table(columns=columns, filter=sql, limit=args.limit)
    suffix = args.out.suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv", "txt"):
        n = export_csv(table, args.out, comments={"catalog": catalog.location, "version": catalog.version,
                                                  "filter": " AND ".join(args.where) or "none"})
    elif suffix in ("fasta", "fa", "faa", "fna", "fas"):
        n = export_fasta(table, args.out)
    else:
        raise InputError(f"cannot tell the format from {args.out.name!r}; name it .csv or .fasta")
    print(f"wrote {n:,} row(s) to {args.out}", file=sys.stderr)
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import CatalogNotFoundError

    try:
        catalog = _open_catalog(args, create=False)
    except CatalogNotFoundError:
        from genocat_desktop.engine import default_location

        where = args.catalog or default_location()
        if getattr(args, "json", False):
            print(json.dumps({"location": where, "exists": False}))
        else:
            print(f"No catalog yet at {where}. Import FASTA files with: genocat import FILE...")
        return EXIT_OK
    info = catalog.info()
    if getattr(args, "json", False):
        print(json.dumps(info.to_dict(), indent=2))
        return EXIT_OK
    print(f"Catalog   {info.location}")
    size = f"{info.size_bytes / 1e6:,.1f} MB" if info.size_bytes is not None else "size unknown"
    print(f"Sequences {info.rows:,}   {size}   version {info.version} ({info.versions} stored)   "
          f"created {info.created}")
    for column, emb in info.embedders.items():
        default = " (default)" if column == info.default_vector else ""
        print(f"Embedding {column}: {emb['name']} v{emb['version']}, {emb['dim']} dimensions{default}")
    from genocat_desktop.engine.embed.columns import pending_embeddings

    for pending in pending_embeddings(catalog):
        print(f"Unfinished {pending.column}: {pending.done:,} sequence(s) embedded so far; "
              "run the same `genocat embed` again to finish, or `genocat embed --discard` it")
    user = [f.name for f in info.fields if f.kind == "user"]
    print("Fields    " + ", ".join(f.name for f in info.fields if f.kind == "builtin"))
    if user:
        print("Your fields " + ", ".join(user))
    return EXIT_OK


def _cmd_versions(args: argparse.Namespace) -> int:
    catalog = _open_catalog(args, create=False)
    for v in catalog.versions():
        rows = f"{v.rows:,}" if v.rows is not None else "?"
        print(f"{v.version:>6}  {v.timestamp:%Y-%m-%d %H:%M:%S}  {rows:>12} rows  {v.message}")
    return EXIT_OK


def _cmd_restore(args: argparse.Namespace) -> int:
    catalog = _open_catalog(args, create=False)
    new = catalog.restore(args.version)
    print(f"restored version {args.version} as version {new} ({catalog.count():,} sequences)")
    return EXIT_OK


def _cmd_index(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import (
        CancelToken,
        VectorIndexParams,
        build_indexes,
        choose_vector_params,
        drop_indexes,
        index_status,
        optimize_indexes,
    )

    catalog = _open_catalog(args, create=False)
    if args.index_command == "status":
        status = index_status(catalog)
        if args.json:
            print(json.dumps(status.to_dict(), indent=2))
            return EXIT_OK
        print(f"catalog {catalog.location}: {status.rows:,} rows, version {status.version}")
        if not status.indexes:
            print("no indexes" + (" (recommended: genocat index build)" if status.recommended else ""))
        for i in status.indexes:
            extra = f", {i.num_partitions} partitions" if i.num_partitions else ""
            stale = f", {i.rows_unindexed:,} new rows not indexed yet" if i.rows_unindexed else ""
            print(f"{i.kind:<7} {i.column:<18} {i.index_type:<9} {i.size_bytes / 1e6:8.1f} MB "
                  f"{i.rows_indexed:>12,} rows{extra}{stale}")
        return EXIT_OK
    if args.index_command == "drop":
        left = drop_indexes(catalog, kinds=tuple(args.only or ("vector", "scalar", "text")))
        print(f"dropped; {len(left.indexes)} index(es) left")
        return EXIT_OK
    token = CancelToken()
    previous = _install_cancel(token)
    try:
        with _Reporter(args.quiet) as reporter:
            if args.index_command == "optimize":
                status = optimize_indexes(catalog, compact=args.compact, progress=reporter, cancel=token)
            else:
                kinds = set(args.only or ("vector", "scalar", "text"))
                params = None
                if args.index_type or args.partitions:
                    column = catalog.default_vector
                    auto = choose_vector_params(catalog.count(), int(catalog.vector_columns()[column]["dim"]))
                    params = VectorIndexParams(args.index_type or auto.index_type,
                                               args.partitions or auto.num_partitions,
                                               auto.num_bits if (args.index_type or "IVF_RQ") == "IVF_RQ" else 8)
                status = build_indexes(catalog, vector="vector" in kinds, scalar="scalar" in kinds,
                                       text="text" in kinds, params=params, rebuild=args.rebuild,
                                       progress=reporter, cancel=token)
    finally:
        signal.signal(signal.SIGINT, previous)
    vec = status.vector()
    what = f"vector index {vec.index_type} ({vec.num_partitions} partitions), " if vec else ""
    print(f"{what}{len(status.indexes)} index(es); catalog version {status.version}")
    return EXIT_OK


def _cmd_s3_login(args: argparse.Namespace) -> int:
    import getpass

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
    settings = _s3_settings(args)
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


_COMMANDS = {
    "import": _cmd_import,
    "search": _cmd_search,
    "export": _cmd_export,
    "ingest": _cmd_ingest,
    "info": _cmd_info,
    "versions": _cmd_versions,
    "restore": _cmd_restore,
    **cli_schema.COMMANDS,
    "index": _cmd_index,
    "s3-login": _cmd_s3_login,
    **cli_models.COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    _freeze_support()
    os.environ.setdefault("LANCEDB_LOG", "error")  # Lance prints deprecation chatter to stderr otherwise
    os.environ.setdefault("LANCE_LOG", "error")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or _gui_files(argv) is not None:
        return main_gui(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.selftest:
        from genocat_desktop.selftest import run as selftest

        return selftest()
    if args.command is None:
        return main_gui(argv)
    from genocat_desktop.engine import GenoCatError

    try:
        return _COMMANDS[args.command](args)
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
        elif arg in _COMMANDS:
            return None
        else:
            files.append(arg)
    return files if files else None


def main_gui(argv: Sequence[str] | None = None) -> int:
    """Start the desktop app: ``genocat [--catalog PATH] [FILE...]``; FILEs (or folders) are imported."""
    _freeze_support()
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
