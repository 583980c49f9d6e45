"""``python -m bench [--quick] [--only NAME[,NAME...]]``: run the engine benchmarks.

Raw results go to ``bench/out/results-<time>.json`` (and ``bench/out/latest.json``),
the Markdown summary to stdout and ``bench/out/summary.md``; progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from types import ModuleType

from . import catalogs, data, embed_bench, export_bench, import_bench, quality_bench, search_bench
from .util import machine, provenance

BENCHMARKS: dict[str, tuple[str, ModuleType]] = {
    "import": ("1. Import throughput", import_bench),
    "search": ("2. Search latency", search_bench),
    "export": ("3. Export of 10,000 hits", export_bench),
    "embed": ("4. Embedding throughput", embed_bench),
    "quality": ("5. Retrieval quality (labelled families)", quality_bench),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke check (under 2 minutes)")
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(BENCHMARKS))
    parser.add_argument("--import-inputs", default="", metavar="LABEL[:RUNS],...",
                        help="import benchmark: only the input labelled LABEL (or whose label contains it), with "
                             "RUNS repeats instead of the default; e.g. 'synthetic 100k:3,synthetic 1M:1'")
    args = parser.parse_args(argv)
    import_bench.SELECTED = import_bench.parse_selection(args.import_inputs)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    data.OUT.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    results: dict[str, object] = {
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "engine": provenance(),
        "benchmarks": {},
    }
    sections = []
    failed = []
    t_all = time.perf_counter()
    try:
        for name in chosen:
            title, module = BENCHMARKS[name]
            log(f"== {title}{' (quick)' if args.quick else ''}")
            t = time.perf_counter()
            load_before = os.getloadavg()
            try:
                res = module.run(args.quick, log)
            except Exception as exc:  # one failing benchmark must not hide the others
                traceback.print_exc()
                failed.append(name)
                results["benchmarks"][name] = {"error": f"{type(exc).__name__}: {exc}"}  # type: ignore[index]
                sections.append(f"## {title}\n\nFAILED: {type(exc).__name__}: {exc}")
                continue
            res["wall_seconds"] = time.perf_counter() - t
            res["load_average"] = {"before": load_before, "after": os.getloadavg()}
            results["benchmarks"][name] = res  # type: ignore[index]
            loads = f"load average (1 min) {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
            sections.append(f"## {title}\n\n{module.report(res)}\n\n_{res['wall_seconds']:.0f} s, {loads}._")
            log(f"   done in {res['wall_seconds']:.0f} s")
    finally:
        catalogs.cleanup()
    results["wall_seconds"] = time.perf_counter() - t_all
    results["engine_at_end"] = provenance()
    eng = results["engine"]
    changed = eng["source_digest"] != results["engine_at_end"]["source_digest"]  # type: ignore[index]
    m = results["machine"]
    head = (f"# GenoCat engine benchmarks{' (quick)' if args.quick else ''}\n\n"
            f"{started:%Y-%m-%d %H:%M} UTC, {m['cpus']} CPU(s) {m['cpu_model']}, {m['memory']} RAM, "  # type: ignore[index]
            f"Python {m['python']}, load average at start {', '.join(f'{x:.2f}' for x in m['load_average'])}; "  # type: ignore[index]
            f"total {results['wall_seconds']:.0f} s. Medians of repeated runs; ratios against references "
            "measured side by side in the same run.\n\n"
            f"Engine: commit {eng['commit']}"  # type: ignore[index]
            f"{' with uncommitted engine changes' if eng.get('uncommitted_engine_changes') else ''}, "  # type: ignore[union-attr]
            f"sources {eng['source_digest']}."  # type: ignore[index]
            + ("\n\n**Warning: the engine's source files changed during this run; the sections may have measured "
               "different code.**" if changed else ""))
    text = "\n\n".join([head, *sections]) + "\n"
    stamp = started.strftime("%Y%m%dT%H%M%S")
    raw = json.dumps(results, indent=1, default=str)
    (data.OUT / f"results-{stamp}{'-quick' if args.quick else ''}.json").write_text(raw)
    (data.OUT / "latest.json").write_text(raw)
    (data.OUT / "summary.md").write_text(text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
