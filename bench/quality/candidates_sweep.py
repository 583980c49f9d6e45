"""How many seed candidates ``sensitive`` needs at 5k rows: sens@50, P@1 and CPU per query for each count.

Builds the 5k database's catalog once (:mod:`bench.quality.scale_data`), pins the process to one core
and searches all 579 labelled queries with ``Searcher.search_many(k=51, mode="sensitive",
candidates=N)`` on one warm searcher, with and without the embedding's 100 nearest rows (which join
the seeds' where the vectors are in RAM); ``exhaustive`` before and after as the reference of the
same run. Metrics as :func:`bench.quality.scale_run.evaluate`; CPU is ``time.process_time`` around
the batch. Then the seed prefilter alone (``SeedIndex.candidates``) per count, and pyopal's
score-only pass over every row with ``overflow="buckets"`` and ``"simple"`` (scores compared).
Compare with MMseqs2 in the same session: ``python -m bench.quality.scale_run --sizes 5k --only
references --rerun --references mmseqs``.

Run: ``python -m bench.quality.candidates_sweep [--counts 50,100,...] [--thresholds 17,19]`` (the
thresholds: the similar seeds' least score, tried besides the default with each count). Writes
``bench/out/candidates-sweep-5k.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.quality import scale_systems as systems
from bench.quality.scale_data import DATA, build, queries
from bench.quality.scale_run import OUT, K, evaluate, family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--counts", default="50,100,150,200,300,500,1000")
    parser.add_argument("--thresholds", default="",
                        help="similar-seed thresholds to try besides the default (e.g. 17,19), each with --counts")
    args = parser.parse_args()
    counts = [int(x) for x in args.counts.split(",")]
    thresholds = [float(x) for x in args.thresholds.split(",") if x]
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    import lance  # noqa: F401  (loaded before any timing)

    from genocat_desktop.engine import Catalog, Query, Searcher, auto_index, configure_process, ingest
    from genocat_desktop.engine.search import searcher as searcher_module

    configure_process()
    build("5k")
    allq = queries()
    sizes: dict[str, int] = defaultdict(int)
    for i, _ in allq:
        sizes[family(i)] += 1
    qids = [i for i, _ in allq]
    qs = [Query(i, s) for i, s in allq]
    out: dict[str, Any] = {"load_start": os.getloadavg()[0], "cpu": cpus[-1], "rows": []}
    tmp = Path(tempfile.mkdtemp(prefix="genocat-sweep-5k-"))
    try:
        catalog = Catalog.open(str(tmp / "catalog"))
        report = ingest(catalog, [DATA / "db-5k.faa"])
        if report.error:
            raise SystemExit(f"candidates_sweep: ingest failed: {report.error}")
        auto_index(catalog)
        searcher = Searcher(Catalog.open(str(tmp / "catalog")))
        searcher.warm()
        for mode in ("exhaustive", "sensitive"):  # lazy imports, the seed index, the encoded rows
            searcher.search_many(qs[:1], k=K, mode=mode)

        def run(mode: str, n: int | None, near: bool) -> dict[str, Any]:
            saved = searcher_module.LanceIndex
            if not near:  # the nearest rows join only where the strategy is not a Lance one
                searcher_module.LanceIndex = object  # type: ignore[misc,assignment]
            try:
                cpu0 = time.process_time()
                results = searcher.search_many(qs, k=K, mode=mode, candidates=n)
                cpu = time.process_time() - cpu0
            finally:
                searcher_module.LanceIndex = saved  # type: ignore[misc]
            m = evaluate(systems.genocat_hits(results), qids, sizes)
            row = {"mode": mode, "candidates": n, "embedding_nearest": near,
                   "threshold": searcher._sequences.stores["protein"].seeds.params.threshold, "p_at_1": m["p_at_1"],
                   "p_at_10": m["p_at_10"], "sens_at_50": m["sens_at_50"], "cpu_ms": cpu / len(qs) * 1000,
                   "aligned_rows_mean": float(np.mean([r.extra.get("aligned_rows", 0) for r in results])),
                   "load": os.getloadavg()[0]}
            print(json.dumps(row), flush=True)
            return row

        out["rows"].append(run("exhaustive", None, True))
        for n in counts:
            for near in (True, False):
                out["rows"].append(run("sensitive", n, near))
        out["rows"].append(run("exhaustive", None, True))

        store = searcher._sequences.stores["protein"]
        # Lower thresholds: more similar seeds per window (and their enumeration), fewer homologues missed.
        default = store.seeds.params
        for threshold in thresholds:
            store.seeds.params = dataclasses.replace(default, threshold=threshold)
            for n in counts:
                out["rows"].append(run("sensitive", n, True))
        store.seeds.params = default
        seed_ms = {}
        for n in counts:
            cpu0 = time.process_time()
            for q in qs:
                store.seeds.candidates(q.sequence, n)
            seed_ms[n] = (time.process_time() - cpu0) / len(qs) * 1000
        print("seed prefilter alone, CPU ms a query:", seed_ms, flush=True)
        out["seed_prefilter_ms"] = seed_ms

        from genocat_desktop.engine.search.alignment import _batch_aligner
        from genocat_desktop.engine.search.scoring import PROTEIN

        database = store.encoded(np.arange(store.ids.size))
        aligner = _batch_aligner(PROTEIN)
        encoded = [q.sequence.encode("ascii").translate(PROTEIN.translate) for q in qs]
        opal: dict[str, list[float]] = defaultdict(list)
        reference = None
        for overflow in ("buckets", "simple", "buckets", "simple"):
            cpu0 = time.process_time()
            scores = [np.array([h.score for h in aligner.align(e, database, mode="score", overflow=overflow)])
                      for e in encoded]
            opal[overflow].append((time.process_time() - cpu0) / len(qs) * 1000)
            reference = reference or scores
            same = all(bool((a == b).all()) for a, b in zip(reference, scores, strict=True))
            print(f"score-only pass over every row, overflow={overflow}: {opal[overflow][-1]:.1f} ms a query, "
                  f"same scores: {same}", flush=True)
            out.setdefault("opal_same_scores", True)
            out["opal_same_scores"] &= same
        out["opal_score_pass_ms"] = dict(opal)
        out["load_end"] = os.getloadavg()[0]
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "candidates-sweep-5k.json").write_text(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
