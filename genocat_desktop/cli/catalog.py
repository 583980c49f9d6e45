"""``genocat import|ingest|export|info|versions|restore``: what goes into the catalog and comes out.

Heavy libraries are imported inside the commands, so ``genocat --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genocat_desktop.cli.common import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    Command,
    Reporter,
    cancel_on_sigint,
    open_catalog,
    open_session,
    s3_settings,
    shown,
)

if TYPE_CHECKING:
    from genocat_desktop.app.catalog import Session
    from genocat_desktop.engine import CancelToken, ImportReport, IngestReport

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add import, ingest, export, info, versions and restore to the ``genocat`` sub-parsers."""
    imp = sub.add_parser("import", help="import FASTA files", description="Import FASTA files into the catalog. "
                         "Each file is one atomic change: a rejected or cancelled file changes nothing.")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--strip-gaps", action="store_true", help="remove alignment gaps ('-', '.') instead of "
                     "rejecting aligned files")
    imp.add_argument("--call-genes", action="store_true", help=CALL_GENES_HELP)
    imp.add_argument("--json", action="store_true", help="print the import report as JSON")
    imp.add_argument("--auto-index-rows", type=int, default=None, metavar="N",
                     help="build the indexes after the import once the catalog has N rows (default 100,000; "
                     "0: never); existing indexes are updated when many rows are new")
    _add_ingest_parser(sub)

    ex = sub.add_parser("export", help="export catalog rows to CSV or FASTA")
    ex.add_argument("out", type=Path, help="output file, .csv or .fasta")
    ex.add_argument("--where", "-w", action="append", default=[], metavar="'FIELD OP VALUE'")
    ex.add_argument("--limit", type=int, help="at most this many rows")

    info = sub.add_parser("info", help="what the catalog holds")
    info.add_argument("--json", action="store_true")

    sub.add_parser("versions", help="list the catalog's versions")
    rs = sub.add_parser("restore", help="make an old version the latest again (nothing is deleted)")
    rs.add_argument("version", type=int)


#: ``--call-genes`` of ``import`` and ``ingest`` (the same gene calling, engine/ingest/genes.py).
CALL_GENES_HELP = ("predict the proteins of DNA records (genomes, contigs) with Prodigal (pyrodigal) and import them "
                   "too, linked to their record by the fields cds_contig, cds_start, cds_end, cds_strand (added to "
                   "the catalog the first time)")


def _add_ingest_parser(sub: Any) -> None:
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
    ing.add_argument("--call-genes", action="store_true", help=CALL_GENES_HELP)
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


# ---------------------------------------------------------------------------------------- import
def _auto_index(session: Session, args: argparse.Namespace, token: CancelToken) -> str | None:
    """Build or update the indexes after an import (the app's ``auto_index_job``); ``"cancelled"`` if stopped."""
    from genocat_desktop.app.storage import auto_index_job
    from genocat_desktop.engine import AUTO_INDEX_ROWS, Cancelled

    try:
        with Reporter(args.quiet) as reporter:
            return auto_index_job(session, args.auto_index_rows or AUTO_INDEX_ROWS)(reporter, token).action
    except Cancelled:
        return "cancelled"


def _print_import(args: argparse.Namespace, session: Session, report: ImportReport) -> None:
    catalog = session.catalog
    if args.json:
        files = [
            {
                "path": f.path, "records": f.records, "imported": f.imported,
                "duplicates_in_file": f.duplicates_in_file, "already_in_catalog": f.already_in_catalog,
                "aliases_added": f.aliases_added, "skipped": f.skipped, "warnings": f.warnings,
                "error": f.error, "issues": [str(i) for i in f.issues], "seconds": round(f.seconds, 3),
                **({"proteins_predicted": f.proteins_predicted, "contigs_called": f.contigs_called,
                    "gene_modes": f.gene_modes} if getattr(args, "call_genes", False) else {}),
            }
            for f in report.files
        ]
        out = {"catalog": catalog.location, "version": catalog.version, "cancelled": report.cancelled,
               "files": files}
        print(json.dumps(out, indent=2))
        return
    for f in report.files:
        print(shown(f.summary()), file=sys.stderr if f.error else sys.stdout)
        if not args.quiet:
            for issue in f.issues[:10]:
                print(f"  warning: {shown(issue)}", file=sys.stderr)
            if len(f.issues) > 10 or f.skipped + f.warnings > len(f.issues):
                more = f.skipped + f.warnings - min(len(f.issues), 10)
                print(f"  ... and {more:,} more (use --json for the full list)", file=sys.stderr)
    print(f"catalog {shown(catalog.location)}: {catalog.count():,} sequences, version {catalog.version}")


def _cmd_import(args: argparse.Namespace) -> int:
    from genocat_desktop.app.catalog import import_job

    session = open_session(args, create=True)
    _print_leftovers(args, session.catalog)
    auto = None
    with cancel_on_sigint() as token:
        with Reporter(args.quiet) as reporter:
            job = import_job(session, args.files, strip_gaps=args.strip_gaps, call_genes=args.call_genes)
            report = job(reporter, token).report
        # Also with no new row: a catalog that should have indexes and has none (an earlier build was
        # killed) gets them now.
        if not report.cancelled and args.auto_index_rows != 0:
            auto = _auto_index(session, args, token)
    if auto and not args.json:
        print({"built": "indexes built", "optimized": "new rows added to the indexes",
               "deferred": "indexes not built now: another program was changing the catalog; the next "
                           "import builds them",
               "cancelled": "index build cancelled; the import is kept"}[auto], file=sys.stderr)
    _print_import(args, session, report)
    return _exit_code(cancelled=report.cancelled, failed=len(report.failed), files=len(report.files))


def _exit_code(*, cancelled: bool, failed: int, files: int, error: bool = False) -> int:
    """The exit code of an import or a bulk ingest.

    Cancelled; else an error that stopped the whole run, or every file failed; else some files
    failed (the others were imported); else all went in.
    """
    if cancelled:
        return EXIT_CANCELLED
    if error or (failed and failed >= files):
        return EXIT_ERROR
    return EXIT_PARTIAL if failed else EXIT_OK


def _print_leftovers(args: argparse.Namespace, catalog: Any) -> None:
    """Remove what interrupted writers left and say so in one line (stderr under --json)."""
    from genocat_desktop.app.catalog import collect_leftovers_line

    line = collect_leftovers_line(catalog)
    if line:
        print(line, file=sys.stderr if getattr(args, "json", False) else sys.stdout)


# ---------------------------------------------------------------------------------------- ingest
def _cleanup(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from genocat_desktop.engine import cleanup_orphans

    catalog = open_catalog(args, create=True)
    done = cleanup_orphans(catalog, min_age=timedelta(hours=args.min_age_hours), dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {len(done.orphans)} orphaned data file(s), {done.bytes:,} bytes; "
          f"{done.kept_recent} recent unreferenced file(s) kept")
    return EXIT_OK


def _print_ingest(args: argparse.Namespace, session: Session, report: IngestReport) -> None:
    catalog = session.catalog
    if args.json:
        print(json.dumps({"catalog": catalog.location, **report.to_dict()}, indent=2))
        return
    for f in report.files:
        if f.error:
            print(shown(f"{Path(f.path).name}: not ingested: {f.error}"), file=sys.stderr)
    if report.error:
        print(f"genocat: ingest failed, the catalog is unchanged: {shown(report.error)}", file=sys.stderr)
        for part in report.failed_parts[1:]:
            print(f"  also failed: {shown(part)}", file=sys.stderr)
        return
    genes = (f" ({report.proteins_predicted:,} protein(s) predicted on {report.contigs_called:,} DNA record(s))"
             if report.contigs_called else "")
    print(f"{report.records:,} records from {len(report.files) - len(report.failed)} file(s){genes}: "
          f"{report.imported:,} new, {report.aliases_added:,} aliases added, in {report.seconds:.1f} s "
          f"({report.rate:,.0f} records/s; {report.engine}, {report.workers} workers, {report.parts} parts)")
    print(f"catalog {shown(catalog.location)}: {catalog.count():,} sequences, version {catalog.version}")


def _cmd_ingest(args: argparse.Namespace) -> int:
    from genocat_desktop.app.catalog import IngestTuning, ingest_job
    from genocat_desktop.app.storage import input_storage_options

    if args.cleanup:
        return _cleanup(args)
    session = open_session(args, create=True)
    if not args.inputs:
        print("genocat ingest: error: give FASTA files or folders (or --cleanup)", file=sys.stderr)
        return EXIT_USAGE
    _print_leftovers(args, session.catalog)
    tuning = IngestTuning(retries=args.retries, part_bytes=args.part_mb << 20, strip_gaps=args.strip_gaps,
                          dedup=args.dedup, partitions=args.partitions, call_genes=args.call_genes)
    job = ingest_job(session, args.inputs, engine=args.engine, workers=args.workers, address=args.address,
                     input_options=input_storage_options(args.inputs, session.catalog.location, s3_settings(args)),
                     tuning=tuning)
    with cancel_on_sigint() as token, Reporter(args.quiet) as reporter:
        report = job(reporter, token).report
    _print_ingest(args, session, report)
    return _exit_code(cancelled=report.cancelled, failed=len(report.failed), files=len(report.files),
                      error=bool(report.error))


# ---------------------------------------------------------------------------------------- export, info
def _cmd_export(args: argparse.Namespace) -> int:
    from genocat_desktop.app.catalog import write_table
    from genocat_desktop.engine import parse_condition, to_sql

    catalog = open_catalog(args, create=False)
    ds = catalog.dataset()
    sql = to_sql([parse_condition(w) for w in args.where], ds.schema)
    columns = [c for c in ds.schema.names if c not in catalog.vector_columns()]
    table = ds.to_table(columns=columns, filter=sql, limit=args.limit)
    n = write_table(table, args.out, {"catalog": catalog.location, "version": catalog.version,
                                      "filter": " AND ".join(args.where) or "none"})
    print(f"wrote {n:,} row(s) to {shown(args.out)}", file=sys.stderr)
    return EXIT_OK


def _print_info(catalog: Any) -> None:
    from genocat_desktop.engine import pending_embeddings

    info = catalog.info()
    print(f"Catalog   {shown(info.location)}")
    size = f"{info.size_bytes / 1e6:,.1f} MB" if info.size_bytes is not None else "size unknown"
    print(f"Sequences {info.rows:,}   {size}   version {info.version} ({info.versions} stored)   "
          f"created {info.created}")
    for column, emb in info.embedders.items():
        default = " (default)" if column == info.default_vector else ""
        shape = (f"k={emb['params'].get('ksize')}, scaled {emb['params'].get('scaled')} (MinHash sketches)"
                 if emb["name"] == "sketch" else f"{emb['dim']} dimensions")
        print(shown(f"Embedding {column}: {emb['name']} v{emb['version']}, {shape}") + default)
    for pending in pending_embeddings(catalog):
        print(f"Unfinished {pending.column}: {pending.done:,} sequence(s) embedded so far; "
              "run the same `genocat embed` again to finish, or `genocat embed --discard` it")
    user = [f.name for f in info.fields if f.kind == "user"]
    print("Fields    " + ", ".join(f.name for f in info.fields if f.kind == "builtin"))
    if user:
        print("Your fields " + shown(", ".join(user)))


def _cmd_info(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import CatalogNotFoundError

    try:
        catalog = open_catalog(args, create=False)
    except CatalogNotFoundError:
        from genocat_desktop.engine import default_location

        where = args.catalog or default_location()
        if getattr(args, "json", False):
            print(json.dumps({"location": where, "exists": False}))
        else:
            print(f"No catalog yet at {shown(where)}. Import FASTA files with: genocat import FILE...")
        return EXIT_OK
    _print_leftovers(args, catalog)
    if getattr(args, "json", False):
        print(json.dumps(catalog.info().to_dict(), indent=2))
        return EXIT_OK
    _print_info(catalog)
    return EXIT_OK


# ---------------------------------------------------------------------------------------- versions
def _cmd_versions(args: argparse.Namespace) -> int:
    catalog = open_catalog(args, create=False)
    for v in catalog.versions():
        rows = f"{v.rows:,}" if v.rows is not None else "?"
        print(f"{v.version:>6}  {v.timestamp:%Y-%m-%d %H:%M:%S}  {rows:>12} rows  {shown(v.message)}")
    return EXIT_OK


def _cmd_restore(args: argparse.Namespace) -> int:
    from genocat_desktop.app.jobs import run_job
    from genocat_desktop.app.schema import restore_job

    session = open_session(args, create=False)
    change = run_job(restore_job(session, args.version))
    print(f"restored version {args.version} as version {change.version} ({session.catalog.count():,} sequences)")
    return EXIT_OK


#: Handlers by command name (``cli.main`` merges them into its table).
COMMANDS: dict[str, Command] = {
    "import": _cmd_import,
    "ingest": _cmd_ingest,
    "export": _cmd_export,
    "info": _cmd_info,
    "versions": _cmd_versions,
    "restore": _cmd_restore,
}
