"""``genocat search``: similarity search (the app's search and export) and full-text search (``--text``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genocat_desktop.cli.common import EXIT_OK, Command, open_catalog, open_session

if TYPE_CHECKING:
    from genocat_desktop.engine import Catalog, Condition, SearchResult

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add ``search`` to the ``genocat`` sub-parsers."""
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


def _cmd_text_search(args: argparse.Namespace, catalog: Catalog, conditions: list[Condition]) -> int:
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
    from genocat_desktop.app.jobs import run_job
    from genocat_desktop.app.search import SearchRequest, search_request_job, write_hits
    from genocat_desktop.engine import InputError, SearchEffort, Searcher, parse_condition, read_queries

    if (args.query is None) == (args.text is None):
        raise InputError("give either a query sequence or --text WORDS")
    if args.text is not None:
        catalog = open_catalog(args, create=False)
        return _cmd_text_search(args, catalog, [parse_condition(w) for w in args.where])
    effort = SearchEffort(nprobes=args.nprobes, refine_factor=args.refine)
    session = open_session(args, create=False, searcher=lambda catalog: Searcher(
        catalog, use_index=False if args.exact else None, effort=effort))
    conditions = [parse_condition(w) for w in args.where]
    queries = read_queries(sys.stdin.read() if args.query == "-" else args.query)
    column = None
    if args.embedding:
        from genocat_desktop.engine import resolve_column

        column = resolve_column(session.catalog, args.embedding)
    request = SearchRequest(queries, args.hits, conditions, column=column, align=args.align,
                            candidates=args.candidates, rank_by=args.rank_by, source=args.query,
                            filter_text=" AND ".join(args.where))
    outcome = run_job(search_request_job(session, request))
    if args.out:
        n = write_hits(outcome, args.out)
        print(f"wrote {n:,} hit(s) to {args.out}", file=sys.stderr)
        return EXIT_OK
    _print_results(args, outcome.results)
    return EXIT_OK


def _print_results(args: argparse.Namespace, results: list[SearchResult]) -> None:
    """The hits on the screen, as a table (a terminal), TSV (a pipe) or JSON."""
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
        _print_table(results, cols)


def _print_table(results: list[SearchResult], cols: list[str]) -> None:
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


#: Handlers by command name (``cli.main`` merges them into its table).
COMMANDS: dict[str, Command] = {"search": _cmd_search}
