"""The fast (embedding-only) mode at 1M rows: which index meets p99 ≤ 10 ms at recall@10 ≥ 0.95 on real vectors.

Standalone: ``python -m bench.fast_mode_bench [--rows 1000000] [--only lance-flat faiss-hnsw ...]``.

The vectors are the default k-mer embedder's, of real proteins from ``../shared/data/proteins`` plus
mutated copies (:func:`bench.index_bench.real_kmer`), cached in ``bench/out/data/real_kmer_<rows>.npy``
with 200 query vectors (fresh mutated copies) and their exact top 10 (numpy, cosine). Each
configuration runs in its own child process, one after the other, with a time limit: its build time,
index size, peak RSS (the child's), and per search setting p50/p99 latency (one query at a time, one
thread, after 20 warm-up queries) and recall@10 against exact search. Recall counts a hit whose exact
score ties the 10th best as found: the real proteins hold identical vectors (the same sequence in two
source files), and which of a tie an index returns is arbitrary (without ties, IVF probing every
partition got 0.989, not 1.0).

``engine-policy`` also times whole one-query fast searches through a warmed ``Searcher`` (the hits' ids,
and every field), as the app makes them. Configurations (``--only`` picks some): Lance IVF_RQ with the
policy's partitions and a probe sweep
(4 bits per dimension, and 1),
Lance IVF_RQ with one partition (the policy's choice for vectors IVF cannot prune), Lance
IVF_HNSW_SQ (one partition, and several), FAISS IVF-Flat (probe sweep) and HNSW (efSearch sweep) as the
references, numpy exact. Results: ``bench/out/fast_mode/results.jsonl`` (one line per configuration)
and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("LANCE_LOG", "error")

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out" / "fast_mode"
DATA = ROOT / "out" / "data"
K = 10
WARMUP = 20


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data
#: The embedder's parameters: what a new catalog's column records (BLOSUM62-neighbourhood 3-mers), or
#: the hashed reduced-alphabet 4-mers of catalogs made before them.
VARIANTS = {"new": None, "legacy": {"k": 4, "dim": 512, "nucleotide_k": 6}}


def embedder(variant: str) -> Any:
    from genocat_desktop.engine.embed.embedders import base as embedders

    params = VARIANTS[variant]
    return embedders.create("kmer", **(params if params is not None else embedders.new_column_params("kmer", {})))


def paths(rows: int, variant: str) -> dict[str, Path]:
    tag = f"{rows // 1000}k" if rows < 1_000_000 else f"{rows // 1_000_000}M"
    stem = {"legacy": "real_kmer", "new": "real_kmer3n"}[variant] + f"_{tag}"
    return {"x": DATA / f"{stem}.npy", "q": DATA / f"{stem}_queries.npy", "truth": DATA / f"{stem}_truth.npy",
            "catalog": ROOT / "out" / "tmp_fast" / stem}


def prepare(rows: int, variant: str) -> dict[str, Path]:
    """Embed (once) the real proteins and their copies, the queries, and the exact top 10 of each query."""
    from bench.index_bench import real_kmer

    p = paths(rows, variant)
    DATA.mkdir(parents=True, exist_ok=True)
    if not p["x"].exists():
        seqs, qseqs = real_kmer(rows)
        emb = embedder(variant)
        x = np.lib.format.open_memmap(p["x"], mode="w+", dtype=np.float32, shape=(len(seqs), emb.dim))
        for i in range(0, len(seqs), 20_000):
            x[i : i + 20_000] = emb.embed(seqs[i : i + 20_000], ["protein"] * len(seqs[i : i + 20_000]))
        x.flush()
        np.save(p["q"], emb.embed(qseqs, ["protein"] * len(qseqs)).astype(np.float32))
        (DATA / f"{p['x'].stem}.embedder.json").write_text(json.dumps(emb.params()))
    if not p["truth"].exists():
        x = np.load(p["x"], mmap_mode="r")
        q = np.load(p["q"])
        truth = np.empty((q.shape[0], K), np.int64)
        for i in range(0, q.shape[0], 50):
            s = q[i : i + 50] @ np.asarray(x).T
            top = np.argpartition(-s, K - 1, axis=1)[:, :K]
            order = np.argsort(-np.take_along_axis(s, top, 1), axis=1)
            truth[i : i + 50] = np.take_along_axis(top, order, 1)
        np.save(p["truth"], truth)
    return p


def write_lance(p: dict[str, Path], variant: str) -> None:
    """The vectors and their sequences as a GenoCat catalog (bench.index_bench.write_catalog), once.

    The sequences let the index calibration embed near copies of rows, as in a catalog imported from FASTA.
    """
    import lance

    from bench.index_bench import real_kmer, write_catalog

    where = p["catalog"] / "sequences.lance"
    if where.exists() and "sequence" in lance.dataset(str(where)).schema.names:
        return
    seqs, _ = real_kmer(np.load(p["x"], mmap_mode="r").shape[0])  # seeded: the rows x was embedded from
    # The parameters the cached vectors were embedded with (a later default may differ).
    from genocat_desktop.engine.embed.embedders import base as embedders

    emb = embedders.create("kmer", **json.loads((DATA / f"{p['x'].stem}.embedder.json").read_text()))
    record = {"name": emb.name, "version": emb.version, "dim": emb.dim, "params": emb.params()}
    write_catalog(p["catalog"], np.load(p["x"], mmap_mode="r"), "vec_kmer", record, sequences=seqs)


# ----------------------------------------------------------------------------- measuring (in the child)
class Scorer:
    """Tie-aware recall@10 of found row numbers against the exact top 10."""

    def __init__(self, p: dict[str, Path]) -> None:
        self.x = np.load(p["x"], mmap_mode="r")
        self.q = np.load(p["q"])
        truth = np.load(p["truth"])
        self.kth = np.array([float(np.asarray(self.x[truth[i, K - 1]]) @ self.q[i]) for i in range(len(self.q))])

    def recall(self, i: int, rows: np.ndarray) -> float:
        rows = np.sort(np.asarray(rows, np.int64)[:K])
        scores = np.asarray(self.x[rows]) @ self.q[i] if rows.size else np.zeros(0)
        return min(K, int(np.sum(scores >= self.kth[i] - 1e-6))) / K


def sweep(scorer: Scorer, search: Any, settings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """p50/p99 and recall@10 of ``search(i, setting) -> row numbers`` for each setting."""
    out = []
    m = scorer.q.shape[0]
    for s in settings:
        for i in range(WARMUP):
            search(i, s)
        lat, rec = [], []
        for i in range(m):
            t = time.perf_counter()
            found = search(i, s)
            lat.append(time.perf_counter() - t)
            rec.append(scorer.recall(i, found))
        row = {"setting": s, "p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 2),
               "p99_ms": round(float(np.percentile(lat, 99)) * 1e3, 2), "recall10": round(float(np.mean(rec)), 4)}
        log(f"    {row}")
        out.append(row)
    return out


def run_lance(p: dict[str, Path], cfg: dict[str, Any]) -> dict[str, Any]:
    import lance

    scorer = Scorer(p)
    uri = str(p["catalog"] / "sequences.lance")
    ds = lance.dataset(uri)
    per_file = ds.get_fragments()[0].count_rows()
    t = time.perf_counter()
    ds.create_index("vec_kmer", cfg["type"], name="fast_mode", metric="cosine", replace=True, **cfg["build"])
    build = time.perf_counter() - t
    ds = lance.dataset(uri)
    size = sum(f.stat().st_size for f in Path(uri, "_indices").rglob("*") if f.is_file())

    def search(i: int, s: dict[str, Any]) -> np.ndarray:
        r = ds.to_table(columns=["_distance"], with_row_id=True,
                        nearest={"column": "vec_kmer", "k": K, "metric": "cosine", "q": scorer.q[i], **s})
        ids = r.column("_rowid").to_numpy()
        return (ids >> 32) * per_file + (ids & 0xFFFFFFFF)  # row addresses -> row numbers

    searches = sweep(scorer, search, cfg["search"])
    return {"build_s": round(build, 1), "index_mb": round(size / 1e6, 1), "searches": searches}


def run_faiss(p: dict[str, Path], cfg: dict[str, Any]) -> dict[str, Any]:
    import faiss

    scorer = Scorer(p)
    x = np.ascontiguousarray(np.load(p["x"]))
    faiss.omp_set_num_threads(cfg.get("threads", 2))
    t = time.perf_counter()
    index = faiss.index_factory(x.shape[1], cfg["factory"], faiss.METRIC_INNER_PRODUCT)
    if cfg["factory"].startswith("HNSW"):
        faiss.downcast_index(index).hnsw.efConstruction = cfg.get("ef_construction", 40)  # type: ignore[attr-defined]
    if not index.is_trained:
        index.train(x[np.random.default_rng(0).choice(x.shape[0], min(x.shape[0], 100_000), replace=False)])
    index.add(x)
    build = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    params = faiss.ParameterSpace()

    def search(i: int, s: dict[str, Any]) -> np.ndarray:
        for name, value in s.items():
            params.set_index_parameter(index, name, value)
        return index.search(scorer.q[i : i + 1], K)[1][0]

    return {"build_s": round(build, 1), "searches": sweep(scorer, search, cfg["search"])}


def run_numpy(p: dict[str, Path], cfg: dict[str, Any]) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    scorer = Scorer(p)
    x = np.ascontiguousarray(np.load(p["x"]).astype(cfg.get("dtype", "float32")))

    def search(i: int, s: dict[str, Any]) -> np.ndarray:
        with threadpool_limits(1, "blas"):
            scores = x @ scorer.q[i].astype(x.dtype)
        top = np.argpartition(-scores, K - 1)[:K]
        return top[np.argsort(-scores[top])]

    return {"build_s": 0.0, "searches": sweep(scorer, search, cfg["search"])}


def run_engine(p: dict[str, Path], cfg: dict[str, Any]) -> dict[str, Any]:
    """The engine's index path: ``build_indexes`` (the policy's index, or the one given), then per query
    ``ann.ann_candidates`` (Lance's probes, ``refine × k`` candidates) re-scored from a half-precision copy
    of the vectors in RAM, as the searcher's ``RefinedIndex`` strategy does (without reading hit fields)."""
    from genocat_desktop.engine import Catalog, VectorIndexParams, build_indexes, drop_indexes
    from genocat_desktop.engine.search.ann import SearchEffort, ann_candidates, vector_index

    scorer = Scorer(p)
    cat = Catalog.open(p["catalog"], create=False)
    if "molecule" not in cat.dataset().schema.names:  # (a catalog written before write_catalog had it)
        cat.dataset().add_columns({"molecule": "'protein'"})
        cat.refresh()
    drop_indexes(cat)
    params = VectorIndexParams(**cfg["params"]) if cfg.get("params") else None
    phases: dict[str, float] = {}
    t = time.perf_counter()

    def progress(pr: Any) -> None:
        phases.setdefault(pr.phase, round(time.perf_counter() - t, 1))  # when each phase began

    status = build_indexes(cat, scalar=False, text=False, params=params, calibration=cfg.get("calibration", True),
                           progress=progress)
    build = time.perf_counter() - t
    ds = cat.dataset()
    vec, ref = status.vector(), vector_index(ds, cat.default_vector)
    assert vec is not None and ref is not None
    rowids = ds.to_table(columns=[], with_row_id=True).column("_rowid").to_numpy()
    order = np.argsort(rowids)
    ids, copy = rowids[order], np.load(p["x"], mmap_mode="r")
    copy = np.asarray(copy, dtype=np.float16)[order]  # the refinement copy: 1 GB at 1M × 512
    rows = ds.count_rows()

    def search(i: int, s: dict[str, Any]) -> np.ndarray:
        q = scorer.q[i]
        found = ann_candidates(ds, ref, q, K, sql=None, candidates=rows, effort=SearchEffort(**s))
        assert found is not None
        pos = np.searchsorted(ids, found)
        scores = copy[pos].astype(np.float32) @ q
        top = np.argsort(-scores)[:K]
        return order[pos[top]]  # row ids -> row numbers

    searches = sweep(scorer, search, cfg["search"])
    copy = np.empty((0, copy.shape[1]), np.float16)  # 1 GB less before the whole searches' warm-up
    whole = whole_queries(cat, scorer) if cfg.get("whole") else {}
    decision = status.decision.to_dict() if status.decision else None
    return {"build_s": round(build, 1), "phases_started_s": phases, "index": f"{vec.index_type}/{vec.num_partitions}",
            "index_mb": round(vec.size_bytes / 1e6, 1), "decision": decision,
            "calibration": ref.calibration.to_dict() if ref.calibration else None,
            "searches": searches + whole.pop("searches", []), **whole}


def whole_queries(cat: Any, scorer: Scorer) -> dict[str, Any]:
    """Whole one-query fast searches as the app makes them: a warmed ``Searcher``, ``search_many`` of one
    query (its vector given), the hits' ids or every field; the warm-up's time and the RSS after it."""
    from genocat_desktop.engine import Query, Searcher

    searcher = Searcher(cat)
    t = time.perf_counter()
    searcher.warm()
    warm = time.perf_counter() - t
    status = Path("/proc/self/status").read_text().splitlines()
    rss = next((int(x.split()[1]) // 1024 for x in status if x.startswith("VmRSS")), None)  # now, not the peak
    ids = cat.dataset().to_table(columns=["id"]).column("id").to_pylist()
    row_of = {ident: i for i, ident in enumerate(ids)}  # the dataset's order is the vectors' order

    def search(i: int, s: dict[str, Any]) -> np.ndarray:
        fields = ["id"] if s["whole"] == "ids" else None
        r = searcher.search_many([Query(f"q{i}", "A")], k=K, vectors=scorer.q[i : i + 1], fields=fields,
                                 mode="fast")[0]
        return np.array([row_of[x] for x in r.hits.column("id").to_pylist()], np.int64)

    r = searcher.search_many([Query("q", "A")], k=K, vectors=scorer.q[:1], mode="fast")[0]
    return {"whole_warm_s": round(warm, 1), "whole_rss_after_warm_mb": rss,
            "whole_refine": r.extra.get("refine"),
            "searches": sweep(scorer, search, [{"whole": "ids"}, {"whole": "every field"}])}


def child(rows: int, variant: str, cfg: dict[str, Any]) -> None:
    p = paths(rows, variant)
    runner = {"lance": run_lance, "faiss": run_faiss, "numpy": run_numpy, "engine": run_engine}[cfg["engine"]]
    res = runner(p, cfg)
    res["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)
    print("RESULT " + json.dumps(res), flush=True)


# ----------------------------------------------------------------------------- configurations
def configs(rows: int) -> dict[str, dict[str, Any]]:
    from genocat_desktop.engine.search.vector_build import choose_vector_params

    parts = choose_vector_params(rows, 512).num_partitions
    probes = sorted({max(1, round(parts * f)) for f in (0.05, 0.1, 0.2, 0.35, 0.5, 1.0)})
    return {
        "numpy": {"engine": "numpy", "search": [{}]},
        "lance-ivf": {"engine": "lance", "type": "IVF_RQ", "build": {"num_partitions": parts, "num_bits": 4},
                      "search": [{"nprobes": n, "refine_factor": 10} for n in probes]},
        "lance-ivf-1bit": {"engine": "lance", "type": "IVF_RQ", "build": {"num_partitions": parts, "num_bits": 1},
                           "search": [{"nprobes": n, "refine_factor": r} for n in probes[2:5] for r in (10, 30)]},
        "lance-flat": {"engine": "lance", "type": "IVF_RQ", "build": {"num_partitions": 1, "num_bits": 4},
                       "search": [{"nprobes": 1, "refine_factor": r} for r in (5, 10, 20)]},
        "lance-hnsw": {"engine": "lance", "type": "IVF_HNSW_SQ",
                       "build": {"num_partitions": 1, "m": 16, "ef_construction": 100},
                       "search": [{"nprobes": 1, "ef": e} for e in (32, 64, 128, 256, 512)]},
        "lance-hnsw16": {"engine": "lance", "type": "IVF_HNSW_SQ",
                         "build": {"num_partitions": 16, "m": 16, "ef_construction": 64},
                         "search": [{"nprobes": n, "ef": e} for n in (4, 8, 16) for e in (64, 128)]},
        "engine-policy": {"engine": "engine", "search": [{}], "whole": True},
        "engine-ivf": {"engine": "engine", "params": {"index_type": "IVF_RQ", "num_partitions": parts, "num_bits": 4},
                       "calibration": False,
                       "search": [{"nprobes": n, "refine_factor": r} for n in probes[2:-1] for r in (5, 10)]},
        "faiss-ivf": {"engine": "faiss", "factory": f"IVF{parts},Flat",
                      "search": [{"nprobe": n} for n in probes]},
        "faiss-hnsw": {"engine": "faiss", "factory": "HNSW16", "ef_construction": 40,
                       "search": [{"efSearch": e} for e in (16, 32, 64, 128, 256)]},
        "faiss-hnsw-sq8": {"engine": "faiss", "factory": "HNSW16_SQ8", "ef_construction": 40,
                           "search": [{"efSearch": e} for e in (32, 64, 128, 256)]},
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| configuration | build s | index MB | peak RSS MB | search setting | p50 ms | p99 ms | recall@10 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['error']} | | | | | | |")
            continue
        for s in r["searches"]:
            setting = ", ".join(f"{k} {v}" for k, v in s["setting"].items()) or "–"
            lines.append(f"| {r['name']} | {r['build_s']} | {r.get('index_mb', '–')} | {r['max_rss_mb']} | {setting} "
                         f"| {s['p50_ms']} | {s['p99_ms']} | {s['recall10']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--only", nargs="*", help="configurations to run (default: all)")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per configuration")
    ap.add_argument("--vectors", choices=list(VARIANTS), default="new",
                    help="the embedder: what new catalogs record (default), or the hashed 4-mers before it")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.rows, args.vectors, json.loads(args.child))
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    p = prepare(args.rows, args.vectors)
    write_lance(p, args.vectors)
    table = configs(args.rows)
    results = []
    for name in args.only or list(table):
        cfg = table[name]
        log(f"{name}: {cfg}")
        started = time.perf_counter()
        try:
            command = [sys.executable, "-m", "bench.fast_mode_bench", "--rows", str(args.rows),
                       "--vectors", args.vectors, "--child", json.dumps(cfg)]
            proc = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT.parent)
            found = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            res = json.loads(found[-1][7:]) if found else {"error": f"failed: {proc.stderr.strip()[-300:]}"}
        except subprocess.TimeoutExpired:
            res = {"error": f"did not finish in {args.timeout} s"}
        res.update(name=name, config=cfg, rows=args.rows, vectors=args.vectors,
                   wall_s=round(time.perf_counter() - started, 1), load_after=os.getloadavg())
        log(f"  -> {json.dumps({k: v for k, v in res.items() if k != 'config'})}")
        results.append(res)
        with (OUT / "results.jsonl").open("a") as fh:
            fh.write(json.dumps(res) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
