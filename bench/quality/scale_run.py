"""The protein search benchmark at ~5k, 100k and 1M rows: GenoCat's modes against BLAST+, MMseqs2, DIAMOND.

The databases (:mod:`bench.quality.scale_data`) hold the 579 labelled queries of
``families_cap100.faa`` in a background of real proteins cleared of the labelled families and,
at 100k and 1M, mutated copies of them. Every system searches the same queries against the same
database; a hit is right when it shares the query's family (``FAMILY|N``), background rows
(``bg|..``, ``bgmut|..``) are always wrong. Every system is asked for ``k`` = 51 hits so that
50 remain besides the query itself, which is in the database. Figures per system:

* P@1, P@10: right hits among the first 1 / 10 (self excluded);
* sens@50: right hits in the top 50 over min(family size - 1, 50); *micro* pools every query's
  counts, the JSON also has the per-query mean (the figure of ``bench/quality/run.py``), the mean
  over families and each family's own;
* wrong-family share: queries with a hit outside their family at E < 1e-3 (systems that report
  E-values: the tools; GenoCat where its hits have an ``evalue`` column);
* CPU ms per query of the batch search (tools: their process tree, two threads; GenoCat: process
  CPU time around ``search_many`` in a child pinned to one core), single-query p50/p99 on a
  warm searcher (GenoCat only: each query alone, after one warm-up, on every core the child may
  use, as the tools' two threads), database build seconds
  (GenoCat: ``ingest`` + the automatic index policy, default workers), peak RSS.

Reference results are cached per database and query set in ``bench/out/quality-scale-cache/``,
so ``--only genocat`` re-measures the GenoCat modes alone. Catalogs are made under the system's
temporary folder and deleted.

Run: ``python -m bench.quality.scale_run --sizes 5k,100k [--queries N] [--modes fast,align,...]
[--only genocat|references]``. Writes ``bench/out/quality-scale-{size}.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.quality import scale_systems as systems
from bench.quality.scale_data import SIZES, build, queries
from bench.util import machine, provenance, run_child, table

OUT: Final = Path(__file__).resolve().parents[1] / "out"
CACHE: Final = OUT / "quality-scale-cache"
TOP: Final = 50
K: Final = TOP + 1
SIGNIFICANT: Final = 1e-3
DEFAULT_MODES: Final = "fast,align,sensitive,exhaustive,auto"
QUERY_SEED: Final = 17


def family(ident: str) -> str:
    return ident.split("|", 1)[0]


def stratified(ids: list[str], n: int | None) -> list[str]:
    """``n`` query ids spread over the families in proportion to their size (at least one each), seeded."""
    if n is None or n >= len(ids):
        return list(ids)
    groups: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        groups[family(i)].append(i)
    want = {f: max(1, round(n * len(m) / len(ids))) for f, m in groups.items()}
    while sum(want.values()) > n:  # trim the largest families first
        f = max(want, key=lambda x: (want[x], x))
        want[f] -= 1
    while sum(want.values()) < n:
        f = max(want, key=lambda x: (len(groups[x]) - want[x], x))
        want[f] += 1
    rng = np.random.default_rng(QUERY_SEED)
    chosen = {i for f, m in sorted(groups.items()) for i in rng.choice(m, min(want[f], len(m)), replace=False)}
    return [i for i in ids if i in chosen]


def evaluate(hits: systems.Hits, qids: list[str], sizes: dict[str, int]) -> dict[str, Any]:
    """P@1, P@10, sens@50 (micro, per-query mean, family mean, per family) and the wrong-family share."""
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    right_total = denom_total = 0
    wrong, with_evalues = 0, 0
    for q in qids:
        fam = family(q)
        hs = [(t, e) for t, e in hits.get(q, []) if t != q][:TOP]
        right = [family(t) == fam for t, _ in hs]
        denom = min(sizes[fam] - 1, TOP)
        per[fam]["p1"].append(float(right[0]) if right else 0.0)
        per[fam]["p10"].append(sum(right[:10]) / 10)
        per[fam]["right"].append(sum(right))
        per[fam]["denom"].append(denom)
        right_total += sum(right)
        denom_total += denom
        if any(e is not None for _, e in hs):
            with_evalues += 1
        wrong += any(e is not None and e < SIGNIFICANT and family(t) != fam for t, e in hs)
    families = {f: {"queries": len(v["p1"]), "p_at_1": float(np.mean(v["p1"])), "p_at_10": float(np.mean(v["p10"])),
                    "sens_at_50": sum(v["right"]) / max(1, sum(v["denom"]))} for f, v in sorted(per.items())}
    sens_q = [r / d for v in per.values() for r, d in zip(v["right"], v["denom"], strict=True) if d > 0]
    return {
        "p_at_1": float(np.mean([x for v in per.values() for x in v["p1"]])),
        "p_at_10": float(np.mean([x for v in per.values() for x in v["p10"]])),
        "sens_at_50": right_total / max(1, denom_total),
        "sens_at_50_query_mean": float(np.mean(sens_q)),
        "sens_at_50_family_mean": float(np.mean([f["sens_at_50"] for f in families.values()])),
        "wrong_family_share": wrong / len(qids) if with_evalues else None,
        "wrong_family_queries": wrong if with_evalues else None,
        "queries_without_hits": sum(1 for q in qids if not [t for t, _ in hits.get(q, []) if t != q]),
        "families": families,
    }


def sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def reference(key: str, size: str, db: Path, qfile: Path, qids: list[str], db_sha: str,
              rerun: bool | None) -> dict | None:
    """A reference tool's result: from the cache when it matches the database and queries, else run now.

    ``rerun``: True runs it even when cached; None never runs it (``--only genocat``).
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{size}-{key}-{len(qids)}q.json"
    if path.exists() and not rerun:
        cached = json.loads(path.read_text())
        if cached["db_sha1"] == db_sha and cached["queries"] == qids and cached["k"] == K:
            cached["cached"] = True
            return cached
    if rerun is None:  # --only genocat: never run a tool
        return None
    name, fn = systems.REFERENCES[key]
    if shutil.which(key if key != "blast" else "blastp") is None:
        return {"system": name, "missing": key}
    print(f"  {size}: {name} on {len(qids)} queries...", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"genocat-scale-{key}-") as tmp:
        out = fn(db, qfile, Path(tmp), K)
    # The query file lives in a temporary folder: name it as the report describes it.
    out["commands"] = [c.replace(str(qfile), "queries.faa") for c in out["commands"]]
    out.update(system=name, key=key, db_sha1=db_sha, queries=qids, k=K,
               measured=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), load_average=os.getloadavg())
    path.write_text(json.dumps(out))
    out["cached"] = False
    return out


def genocat(size: str, db: Path, qfile: Path, qids: list[str], modes: list[str], latency_ids: list[str],
            keep: bool) -> list[dict[str, Any]]:
    """Build a fresh catalog in a child, then one child per mode (batch + single-query latency)."""
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix=f"genocat-scale-{size}-"))
    try:
        catalog = tmp / "catalog"
        print(f"  {size}: GenoCat ingest + auto index...", flush=True)
        built = run_child(systems_child("build", str(db), str(catalog)), timeout=3 * 3600)
        if built.get("returncode"):
            raise RuntimeError(f"GenoCat build failed: {built.get('error')}")
        (tmp / "latency.txt").write_text("\n".join(latency_ids))
        for mode in modes:
            print(f"  {size}: GenoCat {mode}...", flush=True)
            res = run_child(systems_child("search", str(catalog), str(qfile), mode, str(K), str(tmp / "latency.txt")),
                            timeout=4 * 3600)
            row: dict[str, Any] = {"system": f"GenoCat {mode}", "key": f"genocat-{mode}", "mode": mode,
                                   "build": {k: built.get(k) for k in ("ingest_s", "index_s", "build_s",
                                                                       "index_action", "rows", "ingest_workers",
                                                                       "peak_rss_mb")},
                                   "build_s": built.get("build_s"), "threads": 1,
                                   "engine_digest": provenance().get("source_digest"),
                                   "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
            if res.get("returncode"):
                row["error"] = res.get("error")
            elif not res.get("available"):
                row["unavailable"] = True
            else:
                row.update({k: res[k] for k in ("hits", "search_cpu_s", "search_wall_s", "warm_s", "first_search_s",
                                                "latency_ms", "latency_cpu_ms", "kwargs", "result_modes", "cpu",
                                                "latency_cpus")})
                row["peak_rss_mb"] = res["peak_rss_mb"]
            rows.append(row)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"  catalog kept: {tmp / 'catalog'}")
    return rows


def _genocat_cache(size: str, mode: str, queries: int) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE / f"{size}-genocat-{mode}-{queries}q.json"


def cached_genocat(size: str, qids: list[str], db_sha: str, skip: set[str]) -> list[dict[str, Any]]:
    """GenoCat rows of earlier runs on this database and queries, for the modes not measured now.

    They are marked ``cached`` with their date: the engine may have changed since (the JSON keeps
    the source digest of the run that measured them).
    """
    out = []
    for mode in DEFAULT_MODES.split(","):
        path = _genocat_cache(size, mode, len(qids))
        if mode in skip or not path.exists():
            continue
        row = json.loads(path.read_text())
        if row.get("db_sha1") == db_sha and row.get("queries") == qids:
            row["cached"] = True
            out.append(row)
    return out


def systems_child(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "bench.quality.scale_systems", *args]


def finish(row: dict[str, Any], qids: list[str], sizes: dict[str, int]) -> dict[str, Any]:
    """Add the metrics and per-query costs to a system's row; drop its hit lists."""
    hits = row.pop("hits", None)
    if hits is None:
        return row
    row.update(evaluate(hits, qids, sizes))
    row["cpu_ms_per_query"] = row["search_cpu_s"] / len(qids) * 1000
    row["wall_ms_per_query"] = row["search_wall_s"] / len(qids) * 1000
    lat = row.get("latency_ms")
    if lat:
        row["latency_p50_ms"] = float(np.percentile(lat, 50))
        row["latency_p99_ms"] = float(np.percentile(lat, 99))
    if row.get("latency_cpu_ms"):
        row["latency_cpu_p99_ms"] = float(np.percentile(row["latency_cpu_ms"], 99))
    return row


def report(size: str, rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The Markdown page of one size."""
    body = []
    for r in rows:
        if "missing" in r:
            body.append([r["system"], *["–"] * 8, f"not installed ({r['missing']})"])
            continue
        if r.get("unavailable") or r.get("error"):
            why = "not available in this engine" if r.get("unavailable") else f"failed: {r['error']}"
            body.append([r["system"], *["–"] * 8, why])
            continue
        wrong = r.get("wrong_family_share")
        lat = (f"{r['latency_p50_ms']:.1f} / {r['latency_p99_ms']:.1f}" if "latency_p50_ms" in r else "–")
        if "latency_cpu_p99_ms" in r:
            lat += f" (CPU p99 {r['latency_cpu_p99_ms']:.0f}, {r.get('latency_cpus', 1)} cores)"
        note = ", ".join(x for x in (f"{r['threads']} thread{'s' * (r['threads'] > 1)}",
                                     "cached" if r.get("cached") else "", r.get("measured", "")) if x)
        body.append([r["system"], f"{r['p_at_1']:.3f}", f"{r['p_at_10']:.3f}", f"{r['sens_at_50']:.3f}",
                     "–" if wrong is None else f"{wrong:.3f}", f"{r['cpu_ms_per_query']:.1f}", lat,
                     f"{r['build_s']:.1f}" if r.get("build_s") is not None else "–",
                     f"{r['peak_rss_mb']:,.0f}" if r.get("peak_rss_mb") else "–", note])
    lines = [f"# Protein search at {size} rows ({meta['database']['rows']:,} rows)", "",
             f"{meta['queries']} queries ({meta['query_note']}), database `{meta['database']['path']}`: "
             f"{meta['database']['queries']} labelled, {meta['database']['real_background']:,} real background, "
             f"{meta['database']['mutated_copies']:,} mutated copies. {meta['date']}, {meta['machine']['cpus']} CPUs "
             f"({meta['machine']['cpu_model']}), load average at start {meta['load_start']:.1f}, at end "
             f"{meta['load_end']:.1f} (the machine is shared).", "",
             table(["system", "P@1", "P@10", "sens@50", "wrong-family E<1e-3", "CPU ms/query (batch)",
                    "single query p50 / p99 ms", "build s", "peak RSS MB", "notes"], body), "",
             "sens@50 is micro (pooled over queries); wrong-family: share of queries with a hit outside their "
             "family at E < 1e-3 (– where the system gives no E-value). Tools: two threads, CPU of their process "
             "tree; GenoCat: one core (child pinned), process CPU time; build = ingest + automatic index.", ""]
    fams = sorted({f for r in rows for f in r.get("families", {})})
    done = [r for r in rows if "families" in r]
    if done:
        lines += ["## sens@50 per family", "",
                  table(["family", "queries", *[r["system"] for r in done]],
                        [[f, str(done[0]["families"][f]["queries"]),
                          *[f"{r['families'][f]['sens_at_50']:.3f}" for r in done]] for f in fams]), ""]
    lines += ["## Commands", "", *[f"- {r['system']}: `{' ; '.join(r['commands'])}`" for r in rows if "commands" in r],
              f"- GenoCat: `{meta['command']}` (ingest, auto_index, Searcher.search_many(k={K}, mode=...))", ""]
    return "\n".join(lines)


def run_size(size: str, args: argparse.Namespace) -> None:
    """Everything for one database size: references (or their cache), GenoCat modes, the report."""
    load_start = os.getloadavg()[0]
    db = build(size)
    db_meta = json.loads((db.parent / f"db-{size}.json").read_text())
    all_q = queries()
    sizes: dict[str, int] = defaultdict(int)
    for i, _ in all_q:
        sizes[family(i)] += 1
    qids = stratified([i for i, _ in all_q], args.queries)
    seqs = dict(all_q)
    latency_ids = stratified(qids, args.latency_queries)
    latency_ids = [latency_ids[0], *latency_ids]  # one warm-up first
    db_sha = sha1(db)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="genocat-scale-q-") as tmp:
        qfile = Path(tmp) / "queries.faa"
        qfile.write_text("".join(f">{i}\n{seqs[i]}\n" for i in qids))
        rerun: bool | None = None if args.only == "genocat" else args.rerun
        for key in args.references.split(","):
            if key:
                res = reference(key, size, db, qfile, qids, db_sha, rerun)
                if res is not None:
                    rows.append(res)
        modes = args.modes.split(",")
        if args.only != "references":
            fresh = genocat(size, db, qfile, qids, modes, latency_ids, args.keep_catalog)
            for row in fresh:
                _genocat_cache(size, row["mode"], len(qids)).write_text(
                    json.dumps({**row, "db_sha1": db_sha, "queries": qids}))
            rows += fresh
        rows += cached_genocat(size, qids, db_sha, skip=set(modes) if args.only != "references" else set())
    rows = [finish(r, qids, sizes) for r in rows]
    for r in rows:
        r.pop("queries", None)
    note = "all" if len(qids) == len(all_q) else f"stratified subset, seed {QUERY_SEED}"
    meta = {"size": size, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "queries": len(qids),
            "query_ids": qids, "query_note": note, "k": K, "top": TOP, "database": {**db_meta, "path": str(db),
            "sha1": db_sha}, "machine": machine(), "provenance": provenance(), "tools": systems.versions(),
            "load_start": load_start, "load_end": os.getloadavg()[0], "latency_queries": len(latency_ids) - 1,
            "command": "python -m bench.quality.scale_run " + " ".join(args.argv)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"quality-scale-{size}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    text = report(size, rows, meta)
    (OUT / f"quality-scale-{size}.md").write_text(text)
    print(text, flush=True)


def main() -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="5k,100k", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--queries", type=int, default=None, help="a stratified subset of N queries (all by default)")
    parser.add_argument("--latency-queries", type=int, default=100,
                        help="single-query latency on a stratified subset of this many queries (default 100)")
    parser.add_argument("--modes", default=DEFAULT_MODES, help=f"GenoCat modes (default {DEFAULT_MODES})")
    parser.add_argument("--references", default="blast,mmseqs,diamond")
    parser.add_argument("--only", choices=("all", "genocat", "references"), default="all",
                        help="genocat: reference results from the cache only (never run)")
    parser.add_argument("--rerun", action="store_true", help="run the references even when cached")
    parser.add_argument("--keep-catalog", action="store_true")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    for size in args.sizes.split(","):
        if size not in SIZES:
            raise SystemExit(f"scale_run: unknown size {size!r}; use {', '.join(SIZES)}")
        run_size(size, args)


if __name__ == "__main__":
    main()
