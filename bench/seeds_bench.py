"""The seed prefilter (``engine/search/seeds.py``) against MMseqs2 on family-spiked databases.

Queries: the shared labelled families (``families_cap100.faa``, ids ``FAMILY|N``); a hit is right
when it shares the query's family, self excluded. Databases: the official quality-scale ones
(``bench/out/data/quality-scale/db-<size>.faa``, made by ``bench/quality/scale_data.py``) when
``--db`` names one; otherwise made here: the queries plus real proteins (the shared nr / UniProt /
MMseqs2 sets) with no MMseqs2 hit at E < 1e-3 to any family member (checked here), and mutated
copies of them (25-50 % substitutions drawn from background frequencies, 0-3 indels of 1-10
residues, fixed seed) up to the database size.

Per database: SeedIndex build time and bytes; per query, the candidate generation time (one
core, single query, warm), then Smith-Waterman (``alignment.best_scores``, pyopal) over the
top N candidates ranked by score; P@1, P@10, sens@50 (pooled over queries, as
``bench/quality/scale_run.py`` counts it, the per-query mean, and per family), the fraction of each
family found among the candidates (before alignment), and MMseqs2 ``easy-search -s 7.5`` on the same
database: run here (``--threads 1``) unless ``bench/out/quality-scale-cache`` holds its hits for
this very file (same SHA-1). Times are CPU time of the searching thread (the benchmark machine is
shared, so wall times mislead).

Run: ``python -m bench.seeds_bench --db bench/out/data/quality-scale/db-100k.faa [--candidates 1000]
[--queries 150] [--try max_hits=300000 --try cells=1e8,hits_length=none]``
or ``--rows 100000`` (a database made here). ``--queries N``: the stratified subset
``bench/quality/scale_run.py`` searches (same seed); ``--try``: query-time settings compared on the one
index built (``--set`` changes the index's own; ``cells=N`` is :meth:`SeedIndex.candidates`' budget of
Smith-Waterman cells, ``hits_length=none`` a fixed hit budget). The index starts from
:data:`.seeds.PROTEIN_SEEDS`, as a catalog's. Writes ``bench/out/seeds/results-<name>.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.data import AMINO, FREQ, OUT, diamond_10k, families_cap100, mmseqs_queries, read_fasta, shared_data

SEEDS_OUT = OUT / "seeds"
SEED = 1707
TOP = 50


def family(ident: str) -> str:
    return ident.split("|", 1)[0]


def clean_parents(work: Path) -> list[str]:
    """Real background proteins with no MMseqs2 hit (E < 1e-3, -s 7.5) to any labelled family member."""
    cache = SEEDS_OUT / "parents.faa"
    if cache.exists():
        return [s for _, s in read_fasta(cache)]
    ok = set(AMINO.decode())
    parents: list[tuple[str, str]] = []
    paths = [diamond_10k(), mmseqs_queries(), shared_data() / "proteins" / "unlabeled" / "diamond_nr_300.faa"]
    for path in paths:
        for _title, seq in read_fasta(path):
            s = seq.upper().rstrip("*")
            if len(s) >= 30 and set(s) <= ok:
                parents.append((f"bg{len(parents)}", s))
    (work / "bg.faa").write_text("".join(f">{i}\n{s}\n" for i, s in parents))
    subprocess.run(["mmseqs", "easy-search", str(families_cap100()), "bg.faa", "hits.m8", "tmp", "-s", "7.5",
                    "-e", "1e-3", "--threads", "2"], cwd=work, check=True, stdout=subprocess.DEVNULL)
    bad = {line.split("\t")[1] for line in (work / "hits.m8").read_text().splitlines() if line}
    kept = [(i, s) for i, s in parents if i not in bad]
    print(f"background parents: {len(parents)} real proteins, {len(bad)} with a family hit dropped")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("".join(f">{i}\n{s}\n" for i, s in kept))
    return [s for _, s in kept]


def mutate(rng: np.random.Generator, seq: bytes, probs: np.ndarray, alphabet: np.ndarray) -> bytes:
    """25-50 % substitutions (background frequencies), then 0-3 indels of 1-10 residues."""
    a = np.frombuffer(seq, dtype=np.uint8).copy()
    mask = rng.random(a.size) < rng.uniform(0.25, 0.5)
    a[mask] = alphabet[rng.choice(alphabet.size, int(mask.sum()), p=probs)]
    out = a.tobytes()
    for _ in range(int(rng.integers(0, 4))):
        at, size = int(rng.integers(0, len(out))), int(rng.integers(1, 11))
        if rng.random() < 0.5:
            out = out[:at] + alphabet[rng.choice(alphabet.size, size, p=probs)].tobytes() + out[at:]
        elif len(out) > size + 30:
            out = out[:at] + out[at + size:]
    return out


def database(rows: int, work: Path) -> tuple[list[str], list[str], int]:
    """(ids, sequences, number of queries): the queries first, then background up to ``rows``."""
    queries = read_fasta(families_cap100())
    ids = [t.split()[0] for t, _ in queries]
    seqs = [s.upper() for _, s in queries]
    parents = clean_parents(work)
    rng = np.random.default_rng(SEED)
    probs = FREQ / FREQ.sum()
    alphabet = np.frombuffer(AMINO, dtype=np.uint8)
    n_real = min(len(parents), rows - len(seqs))
    for i in range(n_real):
        ids.append(f"bg|{i}")
        seqs.append(parents[i])
    encoded = [p.encode() for p in parents]
    while len(seqs) < rows:
        j = int(rng.integers(0, len(encoded)))
        ids.append(f"bgmut|{len(seqs)}")
        seqs.append(mutate(rng, encoded[j], probs, alphabet).decode())
    return ids, seqs, len(queries)


def mmseqs_ranking(ids: list[str], seqs: list[str], nq: int, work: Path) -> tuple[dict[str, list[str]], float]:
    (work / "db.faa").write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, seqs, strict=True)))
    (work / "q.faa").write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids[:nq], seqs[:nq], strict=True)))
    started = time.perf_counter()
    subprocess.run(["mmseqs", "easy-search", "q.faa", "db.faa", "res.m8", "tmp", "-s", "7.5", "-e", "10",
                    "--max-seqs", "300", "--threads", "1"], cwd=work, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    best: dict[str, dict[str, float]] = defaultdict(dict)
    for line in (work / "res.m8").read_text().splitlines():
        f = line.split("\t")
        best[f[0]][f[1]] = max(best[f[0]].get(f[1], -1.0), float(f[11]))
    return {q: sorted(t, key=lambda x: -t[x]) for q, t in best.items()}, seconds


def metrics(ids: list[str], nq: int, ranking: dict[str, list[str]], queries: list[str] | None = None,
            ) -> dict[str, object]:
    sizes: dict[str, int] = defaultdict(int)
    for i in ids[:nq]:
        sizes[family(i)] += 1
    p1, p10, sens = [], [], []
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for q in queries if queries is not None else ids[:nq]:
        hits = [h for h in ranking.get(q, []) if h != q][:TOP]
        right = [family(h) == family(q) for h in hits]
        p1.append(float(right[0]) if right else 0.0)
        p10.append(sum(right[:10]) / 10)
        denom = min(sizes[family(q)] - 1, TOP)
        if denom > 0:
            sens.append(sum(right) / denom)
            per[family(q)][0] += sum(right)
            per[family(q)][1] += denom
    pooled = sum(r for r, _ in per.values()) / max(1, sum(d for _, d in per.values()))
    return {"p_at_1": round(float(np.mean(p1)), 4), "p_at_10": round(float(np.mean(p10)), 4),
            "sens_at_50": round(pooled, 4), "sens_at_50_query_mean": round(float(np.mean(sens)), 4),
            "per_family_sens_at_50": {f: round(r / d, 3) for f, (r, d) in sorted(per.items())}}


def read_db(path: Path) -> tuple[list[str], list[str], int]:
    """An official database: (ids, sequences, queries); the labelled queries come first."""
    records = read_fasta(path)
    ids = [t.split()[0] for t, _ in records]
    seqs = [s.upper() for _, s in records]
    nq = sum(1 for i in ids if not i.startswith("bg"))
    if any(i.startswith("bg") for i in ids[:nq]):
        raise SystemExit(f"{path}: the labelled queries are not the first rows")
    return ids, seqs, nq


def cached_mmseqs(path: Path) -> dict[str, list[str]] | None:
    """MMseqs2's hits on this very file from ``bench/quality/scale_run.py``'s cache, if there."""
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    for cache in sorted((OUT / "quality-scale-cache").glob("*-mmseqs-*.json")):
        data = json.loads(cache.read_text())
        if data.get("db_sha1") == digest:
            return {q: [t for t, _ in hits] for q, hits in data["hits"].items()}
    return None


def seeds_run(ids: list[str], seqs: list[str], nq: int, ns: list[int], params: object | None,
              variants: list[dict[str, object]], qsel: list[int]) -> dict[str, dict[str, object]]:
    """One index build, then each query-time variant of ``params`` at each candidate count ``ns``."""
    import dataclasses

    from genocat_desktop.engine.search.alignment import best_scores
    from genocat_desktop.engine.search.seeds import SeedIndex

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.thread_time()
    index = SeedIndex.build(np.arange(len(seqs), dtype=np.int64), seqs, params=params)  # type: ignore[arg-type]
    build, build_cpu = time.perf_counter() - started, time.thread_time() - cpu
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base = index.params
    sizes: dict[str, int] = defaultdict(int)
    for i in ids[:nq]:
        sizes[family(i)] += 1
    results: dict[str, dict[str, object]] = {}
    for variant in variants:
        cells = variant.get("cells")
        fields = {k: v for k, v in variant.items() if k != "cells"}
        index.params = dataclasses.replace(base, **fields)  # type: ignore[arg-type]  # query-time fields only
        index._skip = None
        index.candidates(seqs[0], max(ns))  # warm
        for n in ns:
            cand_ms, sw_ms, found, lengths = [], [], [], []
            ranking: dict[str, list[str]] = {}
            for qi in qsel:
                t0 = time.thread_time()
                rows, _ = index.candidates(seqs[qi], n, cells=cells)  # type: ignore[arg-type]
                t1 = time.thread_time()
                targets = [seqs[r] for r in rows]
                scores, _ = best_scores(seqs[qi], "protein", targets, ["protein"] * len(targets))
                t2 = time.thread_time()
                cand_ms.append(1000 * (t1 - t0))
                sw_ms.append(1000 * (t2 - t1))
                lengths.append(len(seqs[qi]))
                order = np.lexsort((rows, -scores))
                ranking[ids[qi]] = [ids[rows[j]] for j in order[: TOP + 1]]
                fam = family(ids[qi])
                members = sum(1 for r in rows if r < nq and r != qi and family(ids[r]) == fam)
                found.append(members / max(sizes[fam] - 1, 1))
            out = metrics(ids, nq, ranking, [ids[q] for q in qsel])
            total = np.add(cand_ms, sw_ms)
            slow = np.argsort(-total)[:3]
            out.update({
                "variant": variant, "candidates": n, "build_s": round(build, 2), "build_cpu_s": round(build_cpu, 2),
                "index_mb": round(index.nbytes / 2**20, 1),
                "rss_growth_mb": round((rss1 - rss0) / 1024, 1), "segments": index.segments,
                "family_in_candidates": round(float(np.mean(found)), 4),
                "candidates_ms_p50": round(float(np.percentile(cand_ms, 50)), 2),
                "candidates_ms_p99": round(float(np.percentile(cand_ms, 99)), 2),
                "sw_ms_p50": round(float(np.percentile(sw_ms, 50)), 2),
                "sw_ms_p99": round(float(np.percentile(sw_ms, 99)), 2),
                "total_ms_p50": round(float(np.percentile(total, 50)), 2),
                "total_ms_p99": round(float(np.percentile(total, 99)), 2),
                "slowest": [(lengths[j], round(cand_ms[j], 1), round(sw_ms[j], 1)) for j in slow],
            })
            results[f"{variant}|{n}"] = out
            print(json.dumps({k: v for k, v in out.items() if k != "per_family_sens_at_50"}), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, action="append", default=[], help="an official quality-scale database")
    parser.add_argument("--rows", type=int, action="append", default=[], help="make a database of this size here")
    parser.add_argument("--candidates", type=int, action="append", help="top N handed to Smith-Waterman")
    parser.add_argument("--no-mmseqs", action="store_true", help="skip the MMseqs2 reference")
    parser.add_argument("--set", action="append", default=[], help="a SeedParams field, e.g. threshold=19")
    parser.add_argument("--try", dest="variants", action="append", default=[],
                        help="query-time fields to compare on the same index, e.g. max_hits=300000,xdrop=20")
    parser.add_argument("--queries", type=int, help="a stratified subset of the queries (as scale_run picks them)")
    args = parser.parse_args()
    import dataclasses

    from bench.quality.scale_run import stratified
    from genocat_desktop.engine.search.seeds import PROTEIN_SEEDS

    def value(key: str, text: str) -> object:
        if key in ("cells", "hits_length"):
            return None if text == "none" else int(float(text))
        return type(getattr(PROTEIN_SEEDS, key))(text)

    def fields(text: str) -> dict[str, object]:
        pairs = [s.split("=", 1) for s in text.split(",") if s]
        return {k: value(k, v) for k, v in pairs}

    params = dataclasses.replace(PROTEIN_SEEDS, **fields(",".join(args.set)))  # type: ignore[arg-type]
    variants = [fields(v) for v in args.variants] or [{}]
    SEEDS_OUT.mkdir(parents=True, exist_ok=True)
    jobs: list[Path | int] = [*args.db, *args.rows] or [5000, 100_000]
    for job in jobs:
        with tempfile.TemporaryDirectory(dir=SEEDS_OUT) as tmp:
            work = Path(tmp)
            ids, seqs, nq = read_db(job) if isinstance(job, Path) else database(job, work)
            name = job.stem if isinstance(job, Path) else str(job)
            chosen = set(stratified(ids[:nq], args.queries))
            qsel = [i for i in range(nq) if ids[i] in chosen]
            result: dict[str, object] = {"database": str(job), "rows": len(ids), "queries": len(qsel),
                                         "residues": sum(map(len, seqs)), "params": repr(params)}
            result["seeds"] = seeds_run(ids, seqs, nq, args.candidates or [1000], params, variants, qsel)
            if not args.no_mmseqs:
                names = [ids[q] for q in qsel]
                cached = cached_mmseqs(job) if isinstance(job, Path) else None
                if cached is not None:
                    result["mmseqs_s7.5"] = m = metrics(ids, nq, cached, names) | {"source": "quality-scale cache"}
                else:
                    ranking, seconds = mmseqs_ranking(ids, seqs, nq, work)
                    result["mmseqs_s7.5"] = m = metrics(ids, nq, ranking, names) | {"ms_per_query": 1000 * seconds / nq}
                print(name, "mmseqs", json.dumps({k: v for k, v in m.items() if k != "per_family_sens_at_50"}))
        (SEEDS_OUT / f"results-{name}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
