"""``genocat schema|set|annotate|bench``: user fields, their values, and the benchmark.

Commands::

    genocat schema list [--json]                  fields, types, how many rows have a value
    genocat schema add NAME TYPE [--values a,b] [--default V] [--description TEXT]
    genocat schema rename OLD NEW
    genocat schema drop NAME [--yes]
    genocat schema describe NAME [--description TEXT] [--values a,b,c]
    genocat set FIELD VALUE --where 'length > 300'    (or --hash H..., or --all; --clear empties)
    genocat annotate FILE.csv --key accession [--dry-run]
    genocat bench [--size N] [--json out.json]

Kept apart from ``cli.py`` (which registers these commands) so the schema and
benchmark commands can change without touching the shared front. Like
``cli.py``, nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genocat_desktop.engine import Catalog

__all__ = ["COMMANDS", "add_parsers"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def add_parsers(sub: Any) -> None:
    """Add the schema, set, annotate and bench commands to the ``genocat`` sub-parsers."""
    sc = sub.add_parser("schema", help="list, add, rename or drop your own fields",
                        description="Your own fields (columns) next to the built-in ones. Adding, renaming and "
                        "dropping never rewrites the sequences or vectors; each change is a version.")
    ss = sc.add_subparsers(dest="schema_command", metavar="ACTION", required=True)
    ls = ss.add_parser("list", help="every field with its type and how many rows have a value")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--no-counts", action="store_true", help="do not count values (faster on huge catalogs)")
    add = ss.add_parser("add", help="add a field")
    add.add_argument("name")
    add.add_argument("type", help="text, integer, float, boolean, date or category")
    add.add_argument("--values", metavar="A,B,C", help="allowed values of a category, comma-separated")
    add.add_argument("--default", metavar="VALUE", help="value for the existing rows and later imports")
    add.add_argument("--description", "-d", default="", metavar="TEXT")
    rn = ss.add_parser("rename", help="rename a field")
    rn.add_argument("old")
    rn.add_argument("new")
    dr = ss.add_parser("drop", help="drop a field (its values stay in older versions)")
    dr.add_argument("name")
    dr.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    de = ss.add_parser("describe", help="change a field's description or a category's allowed values")
    de.add_argument("name")
    de.add_argument("--description", "-d", metavar="TEXT")
    de.add_argument("--values", metavar="A,B,C", help="the new allowed values of a category")

    st = sub.add_parser("set", help="give a field one value on the rows a filter matches",
                        description="Set FIELD to VALUE on the rows chosen by --where (all must hold), --hash, "
                        "or --all. Only that field's values are written.")
    st.add_argument("field")
    st.add_argument("value", nargs="?", help="the value (omit with --clear)")
    st.add_argument("--clear", action="store_true", help="empty the field instead")
    st.add_argument("--where", "-w", action="append", default=[], metavar="'FIELD OP VALUE'")
    st.add_argument("--hash", action="append", default=[], metavar="SEQ_HASH", help="a row by its seq_hash")
    st.add_argument("--all", action="store_true", help="every row")

    an = sub.add_parser("annotate", help="fill fields from a CSV/TSV spreadsheet keyed by accession or id",
                        description="Each column of the spreadsheet besides the key fills the field of the same "
                        "name (add it first with 'genocat schema add'). Empty cells change nothing.")
    an.add_argument("file", type=Path)
    an.add_argument("--key", default="accession", choices=["accession", "id", "seq_hash"],
                    help="catalog field the keys are matched against (default accession)")
    an.add_argument("--key-column", metavar="COLUMN", help="spreadsheet column holding the key (default: --key)")
    an.add_argument("--columns", metavar="A,B", help="only these spreadsheet columns")
    an.add_argument("--dry-run", "-n", action="store_true", help="show what would change; change nothing")
    an.add_argument("--json", action="store_true", help="print the preview and report as JSON")

    be = sub.add_parser("bench", help="measure import, search, recall and export against the targets",
                        description="Benchmark the catalog (nothing is written to it) or, with --size, a "
                        "synthetic catalog made and deleted for the run. Results are saved in the catalog's "
                        "benchmarks/ folder (when it is a local folder) to compare runs.")
    be.add_argument("--size", type=int, metavar="N", help="benchmark a synthetic catalog of N sequences")
    be.add_argument("--queries", type=int, default=200, help="search queries timed (default 200)")
    be.add_argument("-k", "--hits", type=int, default=10, help="hits per query (default 10)")
    be.add_argument("--import-size", type=int, default=10_000, metavar="N",
                    help="sequences imported to measure throughput on an open catalog (default 10,000)")
    be.add_argument("--seed", type=int, default=0)
    be.add_argument("--json", type=Path, metavar="OUT", help="also write the full result as JSON here")
    be.add_argument("--csv", type=Path, metavar="OUT", help="also write the result line as CSV here")
    be.add_argument("--no-save", action="store_true", help="do not save into the catalog's benchmarks/ folder")


def _catalog(args: argparse.Namespace, *, create: bool = False) -> Catalog:
    from genocat_desktop.engine import Catalog

    return Catalog.open(args.catalog, create=create)


def _values(text: str | None) -> list[str] | None:
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


def _run_with_cancel(job: Callable[[Any], Any]) -> Any:
    """Run ``job(token)`` with Ctrl-C mapped to its cancel token."""
    from genocat_desktop.engine import CancelToken

    token = CancelToken()

    def handler(signum: int, frame: object) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print("\ncancelling... (Ctrl-C again to stop at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        return job(token)
    finally:
        signal.signal(signal.SIGINT, previous)


def _cmd_schema(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import add_field, drop_field, list_fields, rename_field, update_field, user_fields

    catalog = _catalog(args)
    action = args.schema_command
    if action == "list":
        fields = list_fields(catalog, counts=not args.no_counts)
        if args.json:
            print(json.dumps([f.to_dict() for f in fields], indent=2))
            return EXIT_OK
        print(f"{'FIELD':<20} {'TYPE':<24} {'KIND':<8} {'FILLED':>14}  DESCRIPTION")
        for f in fields:
            kind = f.type
            if f.kind == "user" and f.type == "category":
                kind = f"category ({', '.join(f.allowed)})"
            elif f.kind == "vector":
                kind = "vector" + f.type[f.type.rfind("["):]
            filled = "" if f.filled is None else f"{f.filled:,}/{f.rows:,}"
            description = f.description + (f" [default {f.default}]" if f.default is not None else "")
            print(f"{f.name:<20} {kind[:24]:<24} {f.kind:<8} {filled:>14}  {description}")
        return EXIT_OK
    if action == "add":
        version = add_field(catalog, args.name, args.type, allowed=_values(args.values), default=args.default,
                            description=args.description)
        print(f"added field {args.name!r} ({user_fields(catalog)[args.name].describe()}): version {version}")
    elif action == "rename":
        version = rename_field(catalog, args.old, args.new)
        print(f"renamed {args.old!r} to {args.new!r}: version {version}")
    elif action == "drop":
        if not args.yes:
            if not sys.stdin.isatty():
                print("genocat: error: dropping a field needs confirmation; add --yes", file=sys.stderr)
                return EXIT_USAGE
            n_values = catalog.count(f"`{args.name}` IS NOT NULL") if args.name in catalog.schema.names else 0
            answer = input(f"Drop {args.name!r} ({n_values:,} value(s); they stay in older versions)? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing changed")
                return EXIT_OK
        version = drop_field(catalog, args.name)
        print(f"dropped {args.name!r}: version {version} (genocat restore {version - 1} brings it back)")
    else:
        version = update_field(catalog, args.name, description=args.description, allowed=_values(args.values))
        print(f"updated {args.name!r}: version {version}")
    return EXIT_OK


def _cmd_set(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import parse_condition, set_values

    if args.clear == (args.value is not None):
        print("genocat: error: give a VALUE, or --clear to empty the field", file=sys.stderr)
        return EXIT_USAGE
    catalog = _catalog(args)
    conditions = [parse_condition(w) for w in args.where]
    report = _run_with_cancel(lambda token: set_values(
        catalog, args.field, None if args.clear else args.value, hashes=args.hash or None,
        conditions=conditions, all_rows=args.all, cancel=token,
    ))
    if report.rows:
        print(f"{report.message}: version {report.version}")
    else:
        print("no row matched; nothing changed")
    return EXIT_OK


def _cmd_annotate(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import annotate, plan_annotations

    catalog = _catalog(args)
    plan = plan_annotations(catalog, args.file, key=args.key, key_column=args.key_column,
                            columns=_values(args.columns))
    report = None
    if not args.dry_run:
        report = _run_with_cancel(lambda token: annotate(catalog, plan, cancel=token))
    if args.json:
        print(json.dumps({
            "file": plan.path, "key": plan.key, "fields": plan.fields, "rows_in_file": plan.rows_in_file,
            "matched_keys": plan.matched_keys, "unmatched_keys": plan.unmatched_keys, "rows": plan.rows,
            "cells": plan.cells, "preview": plan.preview.to_pylist(), "dry_run": args.dry_run,
            "version": report.version if report else plan.version,
        }, indent=2))
        return EXIT_OK
    print(plan.summary())
    if plan.preview.num_rows:
        print(f"  {'KEY':<20} {'FIELD':<16} {'OLD':<16} NEW")
        for row in plan.preview.to_pylist()[:10]:
            print(f"  {row['key']:<20} {row['field']:<16} {row['old']:<16} {row['new']}")
        if plan.cells > 10:
            print(f"  ... (first {min(plan.preview.num_rows, 10)} changes shown)")
    if plan.unmatched_keys:
        shown = ", ".join(plan.unmatched_keys[:10])
        more = f" and {len(plan.unmatched_keys) - 10:,} more" if len(plan.unmatched_keys) > 10 else ""
        print(f"not in the catalog: {shown}{more}", file=sys.stderr)
    if args.dry_run:
        print("dry run: nothing changed")
    elif report is not None and report.rows:
        print(f"written: version {report.version}")
    else:
        print("no row matched; nothing changed")
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from genocat_desktop.engine import (
        CatalogNotFoundError,
        InputError,
        load_results,
        results_folder,
        run_benchmark,
        save_result,
    )

    catalog = None
    try:
        catalog = _catalog(args)
    except CatalogNotFoundError:
        if not args.size:
            raise InputError("no catalog to benchmark here; import sequences first, or use --size N") from None
    from genocat_desktop.cli.main import _Reporter

    with _Reporter(args.quiet) as reporter:
        result = _run_with_cancel(lambda token: run_benchmark(
            catalog, size=args.size, queries=args.queries,
            k=args.hits, import_size=args.import_size, seed=args.seed, progress=reporter, cancel=token,
        ))
    folder = results_folder(catalog) if catalog is not None and not args.no_save else None
    earlier = [r for r in load_results(folder) if r.source == result.source] if folder else []
    previous = earlier[-1] if earlier else None
    saved = save_result(result, folder) if folder else None
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=1))
    if args.csv:
        import csv

        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(result.row()))
            writer.writeheader()
            writer.writerow(result.row())
    print(f"GenoCat benchmark: {result.catalog}, {result.rows:,} rows, {result.queries} queries, k={result.k}, "
          f"search {result.search_method}")
    from genocat_desktop.engine.benchmark import format_measure

    before = {c.name: c.value for c in previous.checks} if previous else {}
    header = f"{'MEASURE':<30} {'VALUE':>12} {'TARGET':>12}  RESULT"
    print(header + (f"   PREVIOUS ({previous.started})" if previous else ""))
    for c in result.checks:
        value = "-" if c.value is None else format_measure(c.value, c.unit)
        target = ("≥ " if c.higher_is_better else "< ") + format_measure(c.target, c.unit)
        verdict = {True: "pass", False: "FAIL", None: "-"}[c.passed]
        old = before.get(c.name)
        previous_text = f"   {format_measure(old, c.unit)}" if old else ""
        print(f"{c.label:<30} {value:>12} {target:>12}  {verdict:<6}{previous_text}")
    p50, p95 = result.percentile(50), result.percentile(95)
    if p50 is not None and p95 is not None:
        print(f"search latency p50 {p50:.2f} ms, p95 {p95:.2f} ms; import {result.import_rows:,} sequences in "
              f"{result.import_seconds:.2f} s")
    for e in result.effort:
        refine = f", refine {e['refine_factor']}" if e.get("refine_factor") else ""
        print(f"  index {result.index}: nprobes {e['nprobes']:>4}{refine}: recall {e['recall']:.3f}, "
              f"p50 {e['p50_ms']:.2f} ms")
    if saved:
        print(f"saved {saved}")
    return EXIT_OK




def _cancellable(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Exit with 130 and the engine's message when the user cancels (Ctrl-C)."""

    def run(args: argparse.Namespace) -> int:
        from genocat_desktop.engine import Cancelled

        try:
            return command(args)
        except Cancelled as exc:
            print(f"genocat: {exc}", file=sys.stderr)
            return EXIT_CANCELLED

    return run


#: Command name -> handler, merged into ``cli._COMMANDS``.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "schema": _cmd_schema,
    "set": _cancellable(_cmd_set),
    "annotate": _cancellable(_cmd_annotate),
    "bench": _cancellable(_cmd_bench),
}
