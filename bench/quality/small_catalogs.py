"""Where ``auto`` stops aligning every protein row: ``exhaustive`` against the seeded search on small catalogs.

Catalogs of the 579 labelled queries (``families_cap100.faa``) plus the first ``B`` background
proteins of the 5k database (:mod:`bench.quality.scale_data`, a seeded sample of real proteins
cleared of the families), for several ``B``; on each, in one process pinned to one core, all 579
queries with ``Searcher.search_many(k=51)`` in ``exhaustive`` and in ``sensitive`` (the seeded
search with the settings :func:`genocat_desktop.engine.search.modes.seeded_settings` gives that
size), and MMseqs2 (``easy-search -s 7.5``, two threads, its process tree's CPU) on the same
database in the same run. Metrics as :func:`bench.quality.scale_run.evaluate`; CPU per query.

Run: ``python -m bench.quality.small_catalogs [--background 0,500,1500,all] [--references mmseqs,blast]``.
Writes ``bench/out/small-catalogs.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.quality import scale_systems as systems
from bench.quality.scale_data import DATA, _read, build, queries
from bench.quality.scale_run import OUT, K, evaluate, family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--background", default="0,500,1500,all")
    parser.add_argument("--references", default="mmseqs")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    import lance  # noqa: F401  (loaded before any timing)

    from genocat_desktop.engine import Catalog, Query, Searcher, auto_index, configure_process, ingest

    configure_process()
    build("5k")
    allq = queries()
    sizes: dict[str, int] = defaultdict(int)
    for i, _ in allq:
        sizes[family(i)] += 1
    qids = [i for i, _ in allq]
    qs = [Query(i, s) for i, s in allq]
    background = [(i, s) for i, s in _read(DATA / "db-5k.faa") if i.startswith("bg|")]
    out: dict[str, Any] = {"load_start": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M UTC"),
                           "rows": []}
    tmp = Path(tempfile.mkdtemp(prefix="genocat-small-"))
    try:
        qfile = tmp / "queries.faa"
        qfile.write_text("".join(f">{i}\n{s}\n" for i, s in allq))
        for b in args.background.split(","):
            count = len(background) if b == "all" else int(b)
            rows = allq + background[:count]
            db = tmp / f"db-{count}.faa"
            db.write_text("".join(f">{i}\n{s}\n" for i, s in rows))
            residues = sum(len(s) for _, s in rows)
            catalog_dir = tmp / f"catalog-{count}"
            report = ingest(Catalog.open(str(catalog_dir)), [db])
            if report.error:
                raise SystemExit(f"small_catalogs: ingest failed: {report.error}")
            auto_index(Catalog.open(str(catalog_dir)))
            searcher = Searcher(Catalog.open(str(catalog_dir)))
            searcher.warm()
            os.sched_setaffinity(0, {cpus[-1]})
            for mode in ("exhaustive", "sensitive", "auto"):
                searcher.search_many(qs[:1], k=K, mode=mode)  # lazy imports, the seed index
                cpu0 = time.process_time()
                results = searcher.search_many(qs, k=K, mode=mode)
                cpu = time.process_time() - cpu0
                m = evaluate(systems.genocat_hits(results), qids, sizes)
                row = {"rows": len(rows), "residues": residues, "system": f"GenoCat {mode}",
                       "ran": str(results[0].extra.get("mode")), "reason": str(results[0].extra.get("mode_reason")),
                       "p_at_1": m["p_at_1"], "sens_at_50": m["sens_at_50"],
                       "wrong_family_queries": m["wrong_family_queries"], "cpu_ms": cpu / len(qs) * 1000,
                       "load": os.getloadavg()[0]}
                print(json.dumps(row), flush=True)
                out["rows"].append(row)
            os.sched_setaffinity(0, set(cpus))
            shutil.rmtree(catalog_dir, ignore_errors=True)
            for key in args.references.split(","):
                if not key:
                    continue
                name, run = systems.REFERENCES[key]
                work = tmp / f"{key}-{count}"
                work.mkdir()
                res = run(db, qfile, work, K)
                m = evaluate(res["hits"], qids, sizes)
                row = {"rows": len(rows), "residues": residues, "system": name, "p_at_1": m["p_at_1"],
                       "sens_at_50": m["sens_at_50"], "wrong_family_queries": m["wrong_family_queries"],
                       "cpu_ms": res["search_cpu_s"] / len(qs) * 1000, "load": os.getloadavg()[0]}
                print(json.dumps(row), flush=True)
                out["rows"].append(row)
                shutil.rmtree(work, ignore_errors=True)
        out["load_end"] = os.getloadavg()[0]
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "small-catalogs.json").write_text(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
