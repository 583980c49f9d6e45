"""Side-by-side retrieval quality: GenoCat vs MMseqs2, BLAST+, DIAMOND and phmmer.

Every protein of the labelled family set is used in turn as a query against
all the others (self hits excluded). A hit is right when it shares the query's
family. Figures per system:

* P@1, P@10: fraction of the first 1 / 10 hits that are right;
* sensitivity@50: right hits in the top 50 over min(family size - 1, 50);
* time per query (search wall time / queries) and database build time, both
  measured in this run on this machine.

Run: ``python -m bench.quality.run [--data FAMILIES.faa] [--esm MODEL.onnx ...]``
(each ``--esm`` file, an ESM-2 model exported with ``genocat model export``,
adds two systems: its embedding alone and with alignment re-ranking).
(the Debian packages ``mmseqs2 ncbi-blast+ diamond-aligner hmmer`` must be
installed; a missing tool is reported, not fatal). Writes
``bench/out/quality.json``, ``bench/out/quality.md`` and ``bench/out/quality.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "proteins" / "labeled" / "families_cap100.faa"
OUT = ROOT / "bench" / "out"
TOP = 50
THREADS = str(os.cpu_count() or 2)

Ranking = dict[str, list[str]]  # query id -> target ids, best first (self excluded)


def read_fasta(path: Path) -> list[tuple[str, str]]:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    with open(path) as fh:
        return [(t.split()[0], s) for t, s in SimpleFastaParser(fh)]


def family(ident: str) -> str:
    return ident.split("|", 1)[0]


def metrics(records: list[tuple[str, str]], ranking: Ranking) -> dict[str, float]:
    sizes: dict[str, int] = defaultdict(int)
    for ident, _ in records:
        sizes[family(ident)] += 1
    p1, p10, sens = [], [], []
    for ident, _ in records:
        fam = family(ident)
        hits = [h for h in ranking.get(ident, []) if h != ident][:TOP]
        right = [family(h) == fam for h in hits]
        p1.append(float(right[0]) if right else 0.0)
        p10.append(sum(right[:10]) / 10)
        denom = min(sizes[fam] - 1, TOP)
        if denom > 0:
            sens.append(sum(right) / denom)
    return {"p_at_1": float(np.mean(p1)), "p_at_10": float(np.mean(p10)), "sensitivity_at_50": float(np.mean(sens))}


def run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def tabular_ranking(path: Path, query_col: int = 0, target_col: int = 1, score_col: int = 11) -> Ranking:
    """Best-first targets per query from a BLAST-like tabular file (highest bit score first)."""
    best: dict[str, dict[str, float]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split()
        q, t, s = f[query_col], f[target_col], float(f[score_col])
        if s > best[q].get(t, -1e300):
            best[q][t] = s
    return {q: sorted(ts, key=lambda t: -ts[t]) for q, ts in best.items()}


def genocat(
    records: list[tuple[str, str]], fasta: Path, work: Path, align: bool, esm: Path | None = None
) -> tuple[Ranking, float, float]:
    import lance  # noqa: F401  (imported before timing: the build time is the import, not Python start-up)

    from genocat_desktop.engine import Catalog, Query, Searcher, import_files

    started = time.perf_counter()
    catalog = Catalog.open(work / f"catalog-{'align' if align else 'plain'}")
    import_files(catalog, [fasta])
    column = None
    if esm is not None:
        from genocat_desktop.engine import add_embedding
        from genocat_desktop.engine.embed.models import add_model

        # A private model folder: the user's installed models are left alone.
        os.environ["GENOCAT_MODELS"] = str(work / "models")
        model = add_model(esm, replace=True)
        column = add_embedding(catalog, "esm", {"model": model.name}).column
    build = time.perf_counter() - started
    searcher = Searcher(catalog)
    searcher.warm()
    queries = [Query(i, s.upper()) for i, s in records]
    started = time.perf_counter()
    results = searcher.search_many(queries, k=TOP + 1, align=align, candidates=200, column=column)
    seconds = time.perf_counter() - started
    ranking = {r.query.id: r.hits.column("id").to_pylist() for r in results}
    return ranking, build, seconds


def mmseqs(fasta: Path, work: Path) -> tuple[Ranking, float, float]:
    started = time.perf_counter()
    run(["mmseqs", "createdb", str(fasta), "db"], work)
    build = time.perf_counter() - started
    started = time.perf_counter()
    run(["mmseqs", "search", "db", "db", "res", "tmp", "-s", "7.5", "-e", "10", "--max-seqs", "300",
         "--threads", THREADS], work)
    run(["mmseqs", "convertalis", "db", "db", "res", "res.m8"], work)
    return tabular_ranking(work / "res.m8"), build, time.perf_counter() - started


def blast(fasta: Path, work: Path) -> tuple[Ranking, float, float]:
    started = time.perf_counter()
    run(["makeblastdb", "-in", str(fasta), "-dbtype", "prot", "-out", "bdb"], work)
    build = time.perf_counter() - started
    started = time.perf_counter()
    run(["blastp", "-query", str(fasta), "-db", "bdb", "-evalue", "10", "-outfmt", "6", "-max_target_seqs", "100",
         "-num_threads", THREADS, "-out", "blast.tsv"], work)
    return tabular_ranking(work / "blast.tsv"), build, time.perf_counter() - started


def diamond(fasta: Path, work: Path) -> tuple[Ranking, float, float]:
    started = time.perf_counter()
    run(["diamond", "makedb", "--in", str(fasta), "-d", "ddb", "--quiet"], work)
    build = time.perf_counter() - started
    started = time.perf_counter()
    run(["diamond", "blastp", "-q", str(fasta), "-d", "ddb", "-o", "diamond.tsv", "--sensitive", "-e", "10",
         "-k", "100", "--threads", THREADS, "--quiet"], work)
    return tabular_ranking(work / "diamond.tsv"), build, time.perf_counter() - started


def phmmer(fasta: Path, work: Path) -> tuple[Ranking, float, float]:
    started = time.perf_counter()
    run(["phmmer", "--tblout", "phmmer.tbl", "-E", "10", "--cpu", THREADS, "-o", "/dev/null", str(fasta), str(fasta)],
        work)
    # tblout: target name, accession, query name, accession, E-value, score...
    ranking = tabular_ranking(work / "phmmer.tbl", query_col=2, target_col=0, score_col=5)
    return ranking, 0.0, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--esm", type=Path, action="append", default=[], metavar="MODEL.onnx",
                        help="an ESM-2 ONNX model to compare too (repeatable)")
    args = parser.parse_args()
    records = read_fasta(args.data)
    fasta_clean = None
    systems: list[tuple[str, str | None, Callable[[Path, Path], tuple[Ranking, float, float]]]] = [
        ("GenoCat k-mer", None, lambda f, w: genocat(records, f, w, False)),
        ("GenoCat k-mer + alignment re-rank", None, lambda f, w: genocat(records, f, w, True)),
        *[
            system
            for model in args.esm
            for system in (
                (f"GenoCat ESM {model.stem}", None, lambda f, w, m=model: genocat(records, f, w, False, m)),
                (f"GenoCat ESM {model.stem} + re-rank", None, lambda f, w, m=model: genocat(records, f, w, True, m)),
            )
        ],
        ("MMseqs2 (-s 7.5)", "mmseqs", mmseqs),
        ("BLAST+ blastp", "blastp", blast),
        ("DIAMOND --sensitive", "diamond", diamond),
        ("HMMER phmmer", "phmmer", phmmer),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work_root = Path(tmp)
        fasta_clean = work_root / "families.faa"
        fasta_clean.write_text("".join(f">{i}\n{s.upper()}\n" for i, s in records))
        for name, tool, fn in systems:
            if tool and shutil.which(tool) is None:
                rows.append({"system": name, "missing": tool})
                continue
            work = work_root / "".join(c if c.isalnum() else "-" for c in name.lower())
            work.mkdir(exist_ok=True)
            ranking, build, seconds = fn(fasta_clean, work)
            m = metrics(records, ranking)
            rows.append({"system": name, **m, "build_s": build, "search_s": seconds,
                         "ms_per_query": seconds / len(records) * 1000})
            print(f"{name}: {m} build {build:.2f} s, search {seconds:.2f} s", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "queries": len(records),
            "families": len({family(i) for i, _ in records}), "data": str(args.data), "threads": THREADS,
            "load_average": os.getloadavg()}
    (OUT / "quality.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"{len(records)} queries, {meta['families']} families, {meta['date']}, {THREADS} threads, "
             f"load average at end {meta['load_average'][0]:.1f}", "",
             "| system | P@1 | P@10 | sensitivity@50 | ms per query | database build s |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "missing" in r:
            lines.append(f"| {r['system']} | – | – | – | not installed ({r['missing']}) | – |")
        else:
            lines.append(f"| {r['system']} | {r['p_at_1']:.3f} | {r['p_at_10']:.3f} | {r['sensitivity_at_50']:.3f} | "
                         f"{r['ms_per_query']:.2f} | {r['build_s']:.2f} |")
    (OUT / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        done = [r for r in rows if "missing" not in r]
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
        for n, r in enumerate(done):
            ax.scatter(r["ms_per_query"], r["sensitivity_at_50"], s=60)
            # Alternate labels above and below: systems with similar figures would overlap.
            ax.annotate(r["system"], (r["ms_per_query"], r["sensitivity_at_50"]), textcoords="offset points",
                        xytext=(6, 6 if n % 2 == 0 else -12), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("wall time per query, ms (log scale)")
        ax.set_ylabel("family sensitivity @50")
        ax.set_title("Retrieval quality vs speed (same data, same machine)")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(OUT / "quality.png")
    except ImportError:
        print("matplotlib not installed: no plot")


if __name__ == "__main__":
    main()
