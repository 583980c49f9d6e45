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

The changes run the application layer's jobs (:mod:`genocat_desktop.app.schema`,
:mod:`genocat_desktop.app.benchmark`), as the window does. Nothing heavy is
imported until a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genocat_desktop.cli.common import (
    EXIT_CANCELLED,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    open_catalog,
    open_session,
    run_cancellable,
    shown,
)

if TYPE_CHECKING:
    from genocat_desktop.app.benchmark import BenchmarkOutcome
    from genocat_desktop.engine import Catalog, FieldSummary

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add the schema, set, annotate and bench commands to the ``genocat`` sub-parsers."""
    _add_schema_parser(sub)
    _add_edit_parsers(sub)
    _add_bench_parser(sub)


def _add_schema_parser(sub: Any) -> None:
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


def _add_edit_parsers(sub: Any) -> None:
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


def _add_bench_parser(sub: Any) -> None:
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


def _values(text: str | None) -> list[str] | None:
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


def _print_fields(fields: list[FieldSummary]) -> None:
    print(f"{'FIELD':<20} {'TYPE':<24} {'KIND':<8} {'FILLED':>14}  DESCRIPTION")
    for f in fields:
        kind = f.type
        if f.kind == "user" and f.type == "category":
            kind = f"category ({', '.join(f.allowed)})"
        elif f.kind == "vector":
            kind = "vector" + f.type[f.type.rfind("["):]
        filled = "" if f.filled is None else f"{f.filled:,}/{f.rows:,}"
        description = f.description + (f" [default {f.default}]" if f.default is not None else "")
        print(f"{shown(f.name):<20} {shown(kind[:24]):<24} {f.kind:<8} {filled:>14}  {shown(description)}")


def _confirm_drop(args: argparse.Namespace, catalog: Catalog) -> int | None:
    """Ask before dropping a field; an exit code when the drop must not happen, else ``None``."""
    if args.yes:
        return None
    if not sys.stdin.isatty():
        print("genocat: error: dropping a field needs confirmation; add --yes", file=sys.stderr)
        return EXIT_USAGE
    n_values = catalog.count(f"`{args.name}` IS NOT NULL") if args.name in catalog.schema.names else 0
    answer = input(f"Drop {args.name!r} ({n_values:,} value(s); they stay in older versions)? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        print("nothing changed")
        return EXIT_OK
    return None


def _cmd_schema(args: argparse.Namespace) -> int:
    from genocat_desktop.app import schema as schema_ops
    from genocat_desktop.engine import add_field, list_fields, user_fields

    action = args.schema_command
    if action == "list":
        fields = list_fields(open_catalog(args, create=False), counts=not args.no_counts)
        if args.json:
            print(json.dumps([f.to_dict() for f in fields], indent=2))
        else:
            _print_fields(fields)
        return EXIT_OK
    session = open_session(args, create=False)
    if action == "drop":
        refused = _confirm_drop(args, session.catalog)
        if refused is not None:
            return refused
    if action == "add":
        # Straight to the engine: an empty --default is passed on as given (the window's empty box means none).
        version = add_field(session.catalog, args.name, args.type, allowed=_values(args.values),
                            default=args.default, description=args.description)
        print(f"added field {args.name!r} ({user_fields(session.catalog)[args.name].describe()}): version {version}")
    elif action == "rename":
        version = run_cancellable(schema_ops.rename_field_job(session, args.old, args.new)).version
        print(f"renamed {args.old!r} to {args.new!r}: version {version}")
    elif action == "drop":
        version = run_cancellable(schema_ops.drop_field_job(session, args.name)).version
        print(f"dropped {args.name!r}: version {version} (genocat restore {version - 1} brings it back)")
    else:
        job = schema_ops.update_field_job(session, args.name, description=args.description,
                                          allowed=_values(args.values))
        print(f"updated {args.name!r}: version {run_cancellable(job).version}")
    return EXIT_OK


def _cmd_set(args: argparse.Namespace) -> int:
    from genocat_desktop.app.schema import ValueEdit, set_values_job
    from genocat_desktop.engine import parse_condition

    if args.clear == (args.value is not None):
        print("genocat: error: give a VALUE, or --clear to empty the field", file=sys.stderr)
        return EXIT_USAGE
    session = open_session(args, create=False)
    edit = ValueEdit(hashes=args.hash or None, conditions=[parse_condition(w) for w in args.where],
                     all_rows=args.all)
    report = run_cancellable(set_values_job(session, args.field, None if args.clear else args.value, edit)).report
    if report is not None and report.rows:
        print(f"{report.message}: version {report.version}")
    else:
        print("no row matched; nothing changed")
    return EXIT_OK


def _cmd_annotate(args: argparse.Namespace) -> int:
    from genocat_desktop.app.schema import annotate_job
    from genocat_desktop.engine import plan_annotations

    session = open_session(args, create=False)
    plan = plan_annotations(session.catalog, args.file, key=args.key, key_column=args.key_column,
                            columns=_values(args.columns))
    report = None if args.dry_run else run_cancellable(annotate_job(session, plan)).report
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
            print(f"  {shown(row['key']):<20} {shown(row['field']):<16} {shown(row['old']):<16} {shown(row['new'])}")
        if plan.cells > 10:
            print(f"  ... (first {min(plan.preview.num_rows, 10)} changes shown)")
    if plan.unmatched_keys:
        keys = ", ".join(plan.unmatched_keys[:10])
        more = f" and {len(plan.unmatched_keys) - 10:,} more" if len(plan.unmatched_keys) > 10 else ""
        print(f"not in the catalog: {shown(keys)}{more}", file=sys.stderr)
    if args.dry_run:
        print("dry run: nothing changed")
    elif report is not None and report.rows:
        print(f"written: version {report.version}")
    else:
        print("no row matched; nothing changed")
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from genocat_desktop.app.benchmark import benchmark_job
    from genocat_desktop.engine import CatalogNotFoundError, InputError

    session = None
    try:
        session = open_session(args, create=False)
    except CatalogNotFoundError:
        if not args.size:
            raise InputError("no catalog to benchmark here; import sequences first, or use --size N") from None
    job = benchmark_job(session, size=args.size, queries=args.queries, k=args.hits, import_size=args.import_size,
                        seed=args.seed, save=not args.no_save)
    outcome = run_cancellable(job, quiet=args.quiet)
    result = outcome.result
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=1))
    if args.csv:
        import csv

        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(result.row()))
            writer.writeheader()
            writer.writerow(result.row())
    _print_bench(outcome)
    return EXIT_OK


def _print_bench(outcome: BenchmarkOutcome) -> None:
    """The run's measures against the targets, next to the previous run of the same source."""
    from genocat_desktop.engine.benchmark import format_measure

    result = outcome.result
    earlier = [r for r in outcome.earlier if r.source == result.source]
    previous = earlier[-1] if earlier else None
    print(f"GenoCat benchmark: {result.catalog}, {result.rows:,} rows, {result.queries} queries, k={result.k}, "
          f"search {result.search_method}")
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
    if outcome.saved:
        print(f"saved {outcome.saved}")


def _cancellable(command: Command) -> Command:
    """Exit with 130 and the engine's message when the user cancels (Ctrl-C)."""

    def run(args: argparse.Namespace) -> int:
        from genocat_desktop.engine import Cancelled

        try:
            return command(args)
        except Cancelled as exc:
            print(f"genocat: {exc}", file=sys.stderr)
            return EXIT_CANCELLED

    return run


#: Handlers by command name (``cli.main`` merges them into its table).
COMMANDS: dict[str, Command] = {
    "schema": _cmd_schema,
    "set": _cancellable(_cmd_set),
    "annotate": _cancellable(_cmd_annotate),
    "bench": _cancellable(_cmd_bench),
}
