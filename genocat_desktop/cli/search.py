"""``genocat search``: similarity search (the app's search and export) and full-text search (``--text``).

Scripts read its output: the TSV on a pipe, the JSON of ``--format json``, and
the files of ``--out`` (CSV and TSV that start with their header, the
search's provenance in ``NAME.provenance.json`` next to them; JSON with the
provenance inside; FASTA). Every output calls a hit's query ``query_id``;
aligned hits lead with ``bits``, ``evalue``, ``identity``, ``query_cov`` (and
``sstrand`` for nucleotide queries, with ``hit_start``/``hit_end`` for hits located
in long records) and call the embedding similarity ``cosine``
(:func:`~genocat_desktop.engine.search.export.aligned_view`).
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
    shown_row,
)
from genocat_desktop.engine.core.molecules import is_nucleotide

if TYPE_CHECKING:
    from genocat_desktop.engine import Catalog, Condition, SearchResult

__all__ = ["COMMANDS", "add_parsers"]

#: Formats ``--format`` names: the screen's (table, tsv, json) and the files' (csv, tsv, json, fasta).
SCREEN_FORMATS = ("table", "tsv", "json")
FILE_FORMATS = ("csv", "tsv", "json", "fasta")


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
    modes = se.add_argument_group("search mode (default: auto, the most sensitive the catalog's size allows)")
    modes.add_argument("--mode", choices=["auto", "fast", "align", "sensitive", "exhaustive"], default=None,
                       help="auto (default): exhaustive alignment on small catalogs, sensitive (k-mer seeds, then "
                       "Smith-Waterman) on larger ones; fast: embedding similarity only; align: the best "
                       "candidates by embedding aligned; sensitive: candidates from seeds (protein k-mers; DNA "
                       "words on both strands) aligned; exhaustive: every row aligned. Aligned hits lead with "
                       "bits, evalue, identity, query_cov (and sstrand for nucleotide queries); the embedding "
                       "similarity is called cosine. "
                       "Proteins: BLOSUM62, gaps 11+L, composition-adjusted E-values; DNA/RNA: blastn's match 2, "
                       "mismatch -3, gaps 5+2L, both strands")
    modes.add_argument("--fast", action="store_true", help="embedding similarity only (same as --mode fast): "
                       "milliseconds on any catalog, no alignment columns")
    modes.add_argument("--align", action="store_true", help="the best candidates by embedding aligned (same as "
                       "--mode align)")
    modes.add_argument("--candidates", type=int, metavar="N", help="rows to align: with --mode align the best N by "
                       "embedding (default max(10 × k, 100)); with --mode sensitive the best N by seeds (default 1000)")
    modes.add_argument("--rank-by", choices=["alignment", "embedding"], default=None,
                       help="with --mode align: order of the hits (default: alignment)")
    modes.add_argument("--evalue", type=float, metavar="E", help="keep aligned hits with an E-value <= E "
                       "(e.g. 1e-3); other alignment columns filter with --where, e.g. 'identity >= 0.4'")
    se.add_argument("--out", "-o", type=Path, help="write the hits to a file instead of the screen: .csv, .tsv, "
                    ".json or .fasta; a CSV/TSV file starts with its header and the search's provenance goes to "
                    "NAME.provenance.json next to it (a JSON file holds it)")
    se.add_argument("--format", choices=sorted({*SCREEN_FORMATS, *FILE_FORMATS}), default=None,
                    help="output format: on the screen table, tsv or json (default: table on a terminal, tsv "
                    "otherwise); with --out csv, tsv, json or fasta (default: by the file's suffix)")


def _usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of options (one line), or ``None``."""
    from genocat_desktop.engine.search.export import format_of

    if args.text is None:
        chosen = [name for name, given in (("--mode", args.mode is not None), ("--fast", args.fast),
                                           ("--align", args.align)) if given]
        if len(chosen) > 1:
            return f"{' and '.join(chosen)} both choose the mode: give one"
        mode = _mode(args)
        if args.candidates is not None and mode not in ("align", "sensitive"):
            return "--candidates needs --mode align or --mode sensitive"
        if args.rank_by is not None and mode != "align":
            return "--rank-by needs --mode align"
        if args.evalue is not None and mode == "fast":
            return "--evalue needs an aligned mode (not --fast)"
        if args.evalue is not None and not args.evalue >= 0:
            return "--evalue needs a number >= 0"
    if args.out is None:
        if args.format in FILE_FORMATS and args.format not in SCREEN_FORMATS:
            return f"--format {args.format} writes a file: add --out FILE"
        return None
    named = format_of(args.out)
    if args.format is None:
        if named is None:
            return (f"cannot tell the format from {shown(args.out.name)!r}: name it .csv, .tsv, .json or .fasta, "
                    "or give --format")
        return None
    if args.format not in FILE_FORMATS:
        return f"--format {args.format} is for the screen; with --out use csv, tsv, json or fasta"
    if named is not None and named != args.format:
        return f"--format {args.format} contradicts --out {shown(args.out.name)} (a {named} file); change one"
    return None


def _mode(args: argparse.Namespace) -> str:
    """The search mode the options ask for (``auto`` when none does)."""
    if args.mode is not None:
        return str(args.mode)
    return "fast" if args.fast else "align" if args.align else "auto"


def _out_format(args: argparse.Namespace) -> str:
    """The ``--out`` file's format: ``--format`` when given, else the suffix's (see :func:`_usage_problem`)."""
    from genocat_desktop.engine.search.export import format_of

    fmt = args.format or format_of(args.out)
    assert fmt is not None
    return fmt


def _cmd_text_search(args: argparse.Namespace, catalog: Catalog, conditions: list[Condition]) -> int:
    from genocat_desktop.engine import export_csv, export_fasta, text_search
    from genocat_desktop.engine.search.export import export_json

    hits = text_search(catalog, args.text, k=args.hits, conditions=conditions)
    if args.out:
        provenance = {"text": args.text, "catalog": catalog.location, "version": catalog.version,
                      "filter": " AND ".join(args.where) or "none", "hits": args.hits}
        fmt = _out_format(args)
        if fmt == "fasta":
            n = export_fasta(hits, args.out)
        elif fmt == "json":
            n = export_json(hits, args.out, provenance=provenance)
        else:
            n = export_csv(hits, args.out, provenance=provenance, delimiter="\t" if fmt == "tsv" else ",")
        print(f"wrote {n:,} hit(s) to {shown(args.out)}", file=sys.stderr)
        return EXIT_OK
    cols = ["rank", "score", "id", "name", "organism", "description"]
    fmt = args.format or ("table" if sys.stdout.isatty() else "tsv")
    if fmt == "json":
        print(json.dumps(hits.drop_columns(["sequence"]).to_pylist(), indent=2, default=str))
        return EXIT_OK
    # Table and TSV alike: one line per hit, control characters from the FASTA headers escaped.
    print("\t".join(cols))
    for row in hits.select(cols).to_pylist():
        print(shown_row([row[c] for c in cols]))
    return EXIT_OK


def _cmd_search(args: argparse.Namespace) -> int:
    from genocat_desktop.app.search import SearchRequest, search_request_job, write_hits
    from genocat_desktop.engine import (
        Cancelled,
        Condition,
        InputError,
        SearchEffort,
        Searcher,
        parse_condition,
        read_queries,
    )

    if (args.query is None) == (args.text is None):
        raise InputError("give either a query sequence or --text WORDS")
    problem = _usage_problem(args)
    if problem is not None:
        print(f"genocat search: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.text is not None:
        catalog = open_catalog(args, create=False)
        return _cmd_text_search(args, catalog, [parse_condition(w) for w in args.where])
    effort = SearchEffort(nprobes=args.nprobes, refine_factor=args.refine)
    session = open_session(args, create=False, searcher=lambda catalog: Searcher(
        catalog, use_index=False if args.exact else None, effort=effort))
    conditions = [parse_condition(w) for w in args.where]
    if args.evalue is not None:
        conditions.append(Condition("evalue", "<=", args.evalue))
    queries = read_queries(sys.stdin.read() if args.query == "-" else args.query)
    column = None
    if args.embedding:
        from genocat_desktop.engine import resolve_column

        column = resolve_column(session.catalog, args.embedding)
    filter_text = " AND ".join([*args.where, *([f"evalue <= {args.evalue:g}"] if args.evalue is not None else [])])
    request = SearchRequest(queries, args.hits, conditions, column=column, candidates=args.candidates,
                            rank_by=args.rank_by or "alignment", source=args.query, filter_text=filter_text,
                            mode=_mode(args))
    try:
        # A progress line on stderr (a terminal only, not with --quiet): many queries or a big
        # alignment take minutes.
        outcome = run_cancellable(search_request_job(session, request), quiet=args.quiet)
    except Cancelled:
        print("genocat: stopped", file=sys.stderr)
        return EXIT_CANCELLED
    if args.out:
        n = write_hits(outcome, args.out, fmt=_out_format(args))
        print(f"wrote {n:,} hit(s) to {shown(args.out)}", file=sys.stderr)
        return EXIT_OK
    _print_results(args, outcome.results)
    return EXIT_OK


def _shown_hits(results: list[SearchResult]) -> list[Any]:
    """Each result's hits as every output names them (aligned ones with ``cosine``, see the module)."""
    from genocat_desktop.engine.search.export import aligned_view

    nucleotide = any(is_nucleotide(r.query.molecule) for r in results)
    return [aligned_view(r.hits, nucleotide=nucleotide) for r in results]


def _print_results(args: argparse.Namespace, results: list[SearchResult]) -> None:
    """The hits on the screen, as a table (a terminal), TSV (a pipe) or JSON."""
    fmt = args.format or ("table" if sys.stdout.isatty() else "tsv")
    hits = _shown_hits(results)
    cols = _screen_columns(results, hits)
    if fmt == "json":
        out = [
            {"query_id": r.query.id, "version": r.version, "exact": r.exact,
             "hits": h.drop_columns([c for c in ("sequence",) if c in h.column_names]).to_pylist()}
            for r, h in zip(results, hits, strict=True)
        ]
        print(json.dumps(out, indent=2, default=str))
        return
    hits = [_with_columns(h, cols) for h in hits]  # a batch may mix kinds of hits: the others' cells empty
    if fmt == "tsv":
        print("\t".join(["query_id", *cols]))
        for r, h in zip(results, hits, strict=True):
            for row in h.select(cols).to_pylist():
                print(shown_row([r.query.id, *(row[c] for c in cols)]))
    else:
        _print_table(results, hits, cols)


#: The columns of a translated search's hits (:mod:`genocat_desktop.engine.search.translated`).
TRANSLATED_COLUMNS = ("frame", "hit_start", "hit_end", "query_start", "query_end")
#: The screen's score and alignment columns, in this order, when some result has them.
_SCORE_ORDER = ("score", "bits", "evalue", "identity", "query_cov", "sstrand", *TRANSLATED_COLUMNS, "cosine")
#: The record's columns, after the scores.
_RECORD_COLUMNS = ("id", "name", "organism", "length")


def _screen_columns(results: list[SearchResult], hits: list[Any]) -> list[str]:
    """The columns the screen shows for a batch of results (their union, in one order).

    Aligned hits lead with the alignment's columns and ``cosine``; nucleotide ones add ``sstrand``,
    and those located in long records (:mod:`~genocat_desktop.engine.search.locate`) ``hit_start`` and
    ``hit_end`` on the record; translated hits their frame and coordinates (no cosine: their score is
    the bit score); a sketch search its containment, ANI and distances.
    """
    if any(r.extra.get("strategy") == "sketch" for r in results):
        from genocat_desktop.engine.search.sketches import SKETCH_COLUMNS

        return ["rank", *SKETCH_COLUMNS, *_RECORD_COLUMNS]
    wanted: set[str] = set()
    for r, h in zip(results, hits, strict=True):
        names = h.column_names
        if "frame" in names:  # translated
            wanted.update(("bits", "evalue", "identity", "query_cov"))
            wanted.update(c for c in TRANSLATED_COLUMNS if c in names)
        elif "bits" in names:
            wanted.update(("bits", "evalue", "identity", "query_cov", "cosine"))
            if is_nucleotide(r.query.molecule):
                wanted.add("sstrand")
                wanted.update(c for c in ("hit_start", "hit_end") if c in names)  # located in long records
        else:
            wanted.add("score")
    return ["rank", *(c for c in _SCORE_ORDER if c in wanted), *_RECORD_COLUMNS]


def _with_columns(hits: Any, cols: list[str]) -> Any:
    """``hits`` with empty columns added for those of ``cols`` it lacks (a batch mixes search kinds)."""
    import pyarrow as pa

    for c in cols:
        if c not in hits.column_names:
            hits = hits.append_column(c, pa.nulls(hits.num_rows))
    return hits


def _print_table(results: list[SearchResult], hits: list[Any], cols: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from genocat_desktop.app.search import mode_summary

    console = Console()
    for r, h in zip(results, hits, strict=True):
        # Text, not str: rich would read "[...]" in a header as markup; shown() escapes control characters.
        t = Table(title=Text(f"{shown(r.query.id)} ({len(r.query.sequence)} {r.query.molecule} residues): "
                             f"{len(r)} hit(s) of {r.candidates:,} in {r.seconds * 1000:.1f} ms, "
                             f"{'exact' if r.exact else 'approximate (vector index)'}, "
                             f"mode {mode_summary(r)}"))
        cells = [[shown(_cell(c, row[c])) for c in cols] for row in h.select(cols).to_pylist()]
        needed = 1
        for i, c in enumerate(cols):
            width = max([len(c), *(len(row[i]) for row in cells)])
            if c in _FREE_TEXT:  # names and organisms give way on a narrow terminal (ellipsis)
                t.add_column(c, overflow="ellipsis", no_wrap=True, min_width=min(width, 10))
                needed += min(width, 10) + 3
            else:  # numbers, strands and coordinates are never cut: a cut E-value reads as another number
                t.add_column(c, justify="right" if c in _RIGHT_ALIGNED else "left", no_wrap=True, min_width=width)
                needed += width + 3
        for row in cells:
            t.add_row(*(Text(v) for v in row))
        # Narrower than the columns need, rich would squeeze numbers to nothing: the lines wrap instead.
        (console if console.width >= needed else Console(width=needed)).print(t)


#: Columns of free text in the terminal table (the others are short and never cut).
_FREE_TEXT = frozenset({"id", "name", "organism"})
#: Numbers, right-aligned in the terminal table.
_RIGHT_ALIGNED = frozenset({"rank", "score", "cosine", "bits", "length", "hit_start", "hit_end", "query_start",
                            "query_end", "shared_hashes"})


def _cell(column: str, value: Any) -> str:
    """Format one value for the terminal table."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if column in ("score", "cosine"):
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
