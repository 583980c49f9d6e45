"""ANN index benchmark: build time and size, latency and recall@10, against FAISS IVF-PQ and numpy exact.

Standalone: ``python -m bench.index_bench [--rows 100000 1000000] [--queries 200]``.

Two kinds of data:

* **synthetic** clustered 320-d vectors (1000 gaussian clusters sharing one
  48-d subspace: the "hard" kind, where neighbours are not separated by
  subspace), written directly as a GenoCat catalog (no FASTA import). Used for
  latency at 100k and 1M rows; recall on them is reported too.
* **real k-mer vectors** (512-d; ``--vectors new``: what a new catalog's column
  records, BLOSUM62-neighbourhood 3-mers; ``legacy``: the hashed 4-mers before
  them) of real proteins from ``../shared/data/proteins`` plus mutated copies
  (10–40 % substitutions) up to ``--real-rows``: the recall that users will see.
  Embedded once and cached in ``bench/out/data`` (``bench.fast_mode_bench.prepare``).

The vector index is the one the index policy picks (:mod:`genocat_desktop.engine.search.index_policy`):
IVF_RQ where a sample says IVF can prune, one partition where it cannot.

Every search goes through the engine's own path (``Searcher.search_many`` with
the query vectors given, so no embedder runs), at the default :class:`SearchEffort`
(the effort calibrated by the build): Lance probes the index for ``refine × k``
candidates, the searcher refines them exactly (a half-precision copy of the
vectors in RAM picks the ``k``, and scores them), and reads the hits' metadata
(from RAM beside the copy when it fits) — the ``id`` only for the headline
figures (as FAISS and numpy answer), every field in a second measurement. Also
measured: Lance refining the candidates itself (``ann_search``, the path
before the RAM copy), and filtered searches (10 % and 0.1 % of the rows pass),
all five query by query side by side in rotating order.
References in the same run, on the same vectors:
numpy exact search (one BLAS thread, as the in-memory searcher) and FAISS
``IndexIVFPQ`` with the same number of partitions, probes, and exact refinement
(``IndexRefineFlat`` with the same refine factor). Results: Markdown on stdout,
JSON in ``bench/out/index_bench.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

os.environ.setdefault("LANCE_LOG", "error")
os.environ.setdefault("LANCEDB_LOG", "error")

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
SHARED = ROOT.parent.parent / "shared" / "data" / "proteins"
K = 10
WARMUP_QUERIES = 20


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


# ----------------------------------------------------------------------------- data
def synthetic(n: int, dim: int, seed: int = 7, clusters: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clustered unit vectors and their cluster labels (generated in blocks to bound memory)."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(48, dim)).astype(np.float32)
    centres = rng.normal(size=(clusters, 48)).astype(np.float32) @ basis
    scale = 0.6 * float(np.linalg.norm(centres, axis=1).mean()) / np.sqrt(dim)
    out = np.empty((n, dim), np.float32)
    labels = rng.integers(0, clusters, n)
    for i in range(0, n, 100_000):
        j = min(n, i + 100_000)
        block = centres[labels[i:j]] + scale * rng.normal(size=(j - i, dim)).astype(np.float32)
        out[i:j] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out, labels


def synthetic_queries(m: int, dim: int) -> np.ndarray:
    """Fresh points from the same distribution (not copies of catalog rows)."""
    q, _ = synthetic(m, dim, seed=7)  # same centres...
    rng = np.random.default_rng(99)
    q = q + 0.02 * rng.normal(size=q.shape).astype(np.float32)  # ...but new points
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def write_catalog(where: Path, vectors: np.ndarray, column: str, embedder: dict[str, Any],
                  sequences: list[str] | None = None) -> Any:
    """Write vectors (+ filterable metadata, and the sequences if given) directly as a GenoCat catalog;
    return the opened Catalog."""
    import lance

    from genocat_desktop.engine import Catalog
    from genocat_desktop.engine.catalog.table import FORMAT, META_KEY

    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    n, dim = vectors.shape
    meta = {"format": FORMAT, "created": "bench", "embedders": {column: embedder}, "default_vector": column,
            "user_fields": {}}
    schema = pa.schema(
        [
            ("seq_hash", pa.string()), ("id", pa.string()), ("organism", pa.string()), ("taxid", pa.int64()),
            ("length", pa.int32()), ("description", pa.string()), ("molecule", pa.string()),
            (column, pa.list_(pa.float32(), dim)),
        ] + ([("sequence", pa.string())] if sequences is not None else []),
        metadata={META_KEY: json.dumps(meta).encode()},
    )
    rng = np.random.default_rng(1)
    taxid = rng.integers(0, 1000, n)  # taxid < 100: 10 % of rows; taxid = 7: 0.1 %

    def batches():
        for i in range(0, n, 50_000):
            j = min(n, i + 50_000)
            ids = np.arange(i, j)
            yield pa.record_batch(
                [
                    pa.array([f"{x:032X}" for x in ids]), pa.array([f"p{x}" for x in ids]),
                    pa.array([f"organism {t % 50}" for t in taxid[i:j]]), pa.array(taxid[i:j]),
                    pa.array(rng.integers(50, 1000, j - i).astype(np.int32)),
                    pa.array([f"protein {x % 997} kinase" for x in ids]), pa.array(["protein"] * (j - i)),
                    pa.FixedSizeListArray.from_arrays(pa.array(vectors[i:j].ravel()), dim),
                ] + ([pa.array(sequences[i:j], pa.string())] if sequences is not None else []),
                schema=schema,
            )

    lance.write_dataset(pa.RecordBatchReader.from_batches(schema, batches()), str(where / "sequences.lance"),
                        max_rows_per_file=250_000)
    return Catalog.open(where, create=False), taxid


def real_kmer(n: int, seed: int = 3) -> tuple[list[str], list[str]]:
    """Real proteins plus mutated copies, ``n`` sequences in all (and a disjoint set of query sequences)."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    seqs: list[str] = []
    for path in [SHARED / "labeled" / "families.faa", SHARED / "unlabeled" / "diamond_nr_10k.faa.gz",
                 SHARED / "unlabeled" / "mmseqs2_QUERY.fasta"]:
        if not path.exists():
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            seqs += [s.upper().replace("*", "") for _, s in SimpleFastaParser(fh) if len(s) >= 30]
    if not seqs:
        raise FileNotFoundError(SHARED)
    rng = np.random.default_rng(seed)
    aa = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", np.uint8)

    def mutate(s: str) -> str:
        a = np.frombuffer(s.encode(), np.uint8).copy()
        m = rng.random(a.size) < rng.uniform(0.1, 0.4)
        a[m] = aa[rng.integers(0, 20, int(m.sum()))]
        return a.tobytes().decode()

    base = list(seqs)
    out = base[:n]
    while len(out) < n:
        out.append(mutate(base[int(rng.integers(0, len(base)))]))
    queries = [mutate(base[int(rng.integers(0, len(base)))]) for _ in range(200)]
    return out, queries


# ----------------------------------------------------------------------------- measuring
def exact_topk(x: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    out = np.empty((q.shape[0], k), np.int64)
    for i in range(0, q.shape[0], 50):
        s = q[i : i + 50] @ x.T
        if mask is not None:
            s[:, ~mask] = -np.inf
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        out[i : i + 50] = np.take_along_axis(top, np.argsort(-np.take_along_axis(s, top, 1), 1), 1)
    return out


def recall(found: list[np.ndarray], truth: np.ndarray, matching: int | None = None) -> float:
    """Mean recall@k; with a filter matching fewer than k rows, out of those rows."""
    k = min(truth.shape[1], matching if matching is not None else truth.shape[1])
    return float(np.mean([len(set(f.tolist()) & set(t[:k].tolist())) / k for f, t in zip(found, truth, strict=True)]))


def timed(fn: Callable[[int], np.ndarray], m: int) -> tuple[list[float], list[np.ndarray]]:
    # Steady state: the first queries load index partitions and file metadata into Lance's caches
    # (the first variant measured paid for them alone before). Cold start is the S3 benchmark's subject.
    for i in range(min(m, WARMUP_QUERIES)):
        fn(i)
    lat, res = [], []
    for i in range(m):
        t = time.perf_counter()
        r = fn(i)
        lat.append(time.perf_counter() - t)
        res.append(r)
    return lat, res


def timed_side_by_side(fns: dict[str, Callable[[int], np.ndarray]],
                       m: int) -> dict[str, tuple[list[float], list[np.ndarray]]]:
    """Like :func:`timed` for several variants, query by query in rotating order.

    Run one after the other, the variants' p99s differed by 2× between runs of the same code (the
    machine's background work comes in bursts); side by side, a burst hits them all alike.
    """
    names = list(fns)
    for i in range(min(m, WARMUP_QUERIES)):
        for name in names:
            fns[name](i)
    out: dict[str, tuple[list[float], list[np.ndarray]]] = {name: ([], []) for name in names}
    for i in range(m):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            t = time.perf_counter()
            r = fns[name](i)
            out[name][0].append(time.perf_counter() - t)
            out[name][1].append(r)
    return out


def engine_search(searcher: Any, q: np.ndarray, where: str | None,
                  fields: list[str] | None = None) -> Callable[[int], np.ndarray]:
    """The engine's search path (``Searcher.search_many``) with precomputed query vectors."""
    from genocat_desktop.engine.catalog.query import parse_condition
    from genocat_desktop.engine.search.searcher import Query

    conditions = [parse_condition(where)] if where else []

    def run(i: int) -> np.ndarray:
        r = searcher.search_many([Query(f"q{i}", "A")], k=K, conditions=conditions, vectors=q[i : i + 1],
                                 fields=fields)[0]
        return np.array([int(x[1:]) for x in r.hits.column("id").to_pylist()])

    return run


def lance_refine_search(cat: Any, q: np.ndarray) -> Callable[[int], np.ndarray]:
    """Lance refining the candidates itself (``ann_search``): what the engine did before its RAM copy."""
    from genocat_desktop.engine.search import ann as ix

    ds = cat.dataset()
    ref = ix.vector_index(ds, cat.default_vector)
    assert ref is not None

    def run(i: int) -> np.ndarray:
        t, _ = ix.ann_search(ds, ref, q[i], K, sql=None, columns=["id"], candidates=0)
        return np.array([int(x[1:]) for x in t.column("id").to_pylist()])

    return run


def numpy_search(x: np.ndarray, q: np.ndarray) -> Callable[[int], np.ndarray]:
    from threadpoolctl import threadpool_limits

    def run(i: int) -> np.ndarray:
        with threadpool_limits(1, "blas"):
            s = x @ q[i]
        top = np.argpartition(-s, K - 1)[:K]
        return top[np.argsort(-s[top])]

    return run


def faiss_index(x: np.ndarray, nlist: int, nprobe: int, refine: int) -> tuple[Any, float, int]:
    import faiss

    dim = x.shape[1]
    t = time.perf_counter()
    quant = faiss.IndexFlatIP(dim)
    ivfpq = faiss.IndexIVFPQ(quant, dim, nlist, dim // 8, 8, faiss.METRIC_INNER_PRODUCT)
    ivfpq.cp.min_points_per_centroid = 1  # (silences FAISS's "please provide more points" on small runs)
    ivfpq.pq.cp.min_points_per_centroid = 1
    index = faiss.IndexRefineFlat(ivfpq)
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # train with every core, like Lance does
    sample = min(x.shape[0], 65_536)  # FAISS's PQ training is slow on 2 cores; 64k points is plenty
    index.train(x[np.random.default_rng(0).choice(x.shape[0], sample, replace=False)])
    index.add(x)
    ivfpq.nprobe = nprobe
    index.k_factor = refine
    build = time.perf_counter() - t
    faiss.omp_set_num_threads(1)  # one query at a time, like the engine
    size = ivfpq.code_size * x.shape[0] + nlist * dim * 4
    return index, build, size


def _faiss_child(folder: str, nlist: int, nprobe: int, refine: int) -> dict[str, Any]:
    x = np.load(f"{folder}/x.npy", mmap_mode="r")
    q = np.load(f"{folder}/q.npy")
    truth = np.load(f"{folder}/truth.npy")
    index, build, size = faiss_index(np.ascontiguousarray(x), nlist, nprobe, refine)

    def fs(i: int) -> np.ndarray:
        _, ids = index.search(q[i : i + 1], K)
        return ids[0]

    lat, found = timed(fs, q.shape[0])
    return {"build_s": build, "size_mb": size / 1e6, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
            "recall10": recall(found, truth)}


def faiss_in_child(x: np.ndarray, q: np.ndarray, truth: np.ndarray, nlist: int, nprobe: int,
                   refine: int) -> dict[str, Any]:
    """FAISS in a spawned process: with FAISS's OpenMP runtime loaded, a later Lance index build in the
    same process hung (all threads waiting, once, at 1M rows)."""
    import multiprocessing

    folder = OUT / "tmp_index" / "faiss"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "x.npy", x)
    np.save(folder / "q.npy", q)
    np.save(folder / "truth.npy", truth)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(_faiss_child, (str(folder), nlist, nprobe, refine))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


BUILD_TIMEOUT_S = 480


def bench_size(label: str, cat: Any, x: np.ndarray, q: np.ndarray, taxid: np.ndarray, *, numpy_queries: int,
               faiss_too: bool) -> dict[str, Any]:
    from genocat_desktop.engine import Cancelled, CancelToken
    from genocat_desktop.engine.search import ann
    from genocat_desktop.engine.search import indexes as ix

    n = x.shape[0]
    res: dict[str, Any] = {"label": label, "rows": n, "dim": x.shape[1], "queries": q.shape[0]}
    res["build_attempts"] = []
    for _attempt in range(2):
        # A watchdog: one Lance build of 1M rows hung on this machine (no CPU used, every thread
        # waiting); the engine builds in a child process, so cancelling kills it and we retry.
        token = CancelToken()
        timer = threading.Timer(BUILD_TIMEOUT_S, token.cancel)
        timer.start()
        t = time.perf_counter()
        phases: dict[str, float] = {}

        def phase(p: Any, phases: dict[str, float] = phases, t: float = t) -> None:
            phases.setdefault(p.phase, time.perf_counter() - t)  # when each phase began

        try:
            ix.build_indexes(cat, scalar=False, text=False, cancel=token, progress=phase)
            res["build_attempts"].append(time.perf_counter() - t)
            res["build_phases_started_s"] = phases
            break
        except Cancelled:
            res["build_attempts"].append(None)
            log(f"  vector index build did not finish in {BUILD_TIMEOUT_S} s; retrying")
        finally:
            timer.cancel()
    else:
        raise RuntimeError("the vector index build did not finish twice")
    res["build_vector_s"] = res["build_attempts"][-1]
    t = time.perf_counter()
    ix.build_indexes(cat, vector=False, text=False)  # BTree/Bitmap on the filter fields
    res["build_scalar_s"] = time.perf_counter() - t
    status = ix.index_status(cat)
    vec = status.vector()
    assert vec is not None
    ref = ann.vector_index(cat.dataset(), cat.default_vector)
    assert ref is not None
    nprobes, refine = ann.DEFAULT_EFFORT.resolve(ref)  # what the Searcher uses by default
    res["index"] = {"type": vec.index_type, "partitions": vec.num_partitions, "size_mb": vec.size_bytes / 1e6,
                    "nprobes": nprobes, "refine_factor": refine, "vectors_mb": x.nbytes / 1e6,
                    "calibration": ref.calibration.to_dict() if ref.calibration else None}
    cal_s = ref.calibration.seconds if ref.calibration else 0.0
    log(f"  {label}: vector index {res['build_vector_s']:.1f} s (calibration {cal_s:.1f} s of it), "
        f"{vec.size_bytes / 1e6:.0f} MB, default effort nprobes {nprobes} refine {refine}; "
        f"scalar {res['build_scalar_s']:.1f} s; load {os.getloadavg()[0]:.1f}")
    from genocat_desktop.engine.search.searcher import Searcher

    truth = exact_topk(x, q, K)
    m = q.shape[0]
    # The catalog (1.3 GB at 1M) and its index were just written: flush them now, or the kernel writes
    # them back during the queries (minutes later, with the disk and a core busy), which measured the
    # writeback rather than the search (p50 6-7 ms here against 3-5 ms on an old catalog).
    t = time.perf_counter()
    os.sync()
    res["sync_s"] = time.perf_counter() - t
    searcher = Searcher(cat, use_index=True)  # at 100k the vectors fit RAM: exact search would be chosen
    t = time.perf_counter()
    searcher.warm()  # the half-precision copy used to refine candidates (when it fits the memory budget)
    res["refine_copy_load_s"] = time.perf_counter() - t
    res["refine_copy_mb"] = searcher._refine.copy.vectors.nbytes / 1e6 if searcher._refine.copy is not None else 0.0
    res["load_before_queries"] = os.getloadavg()
    # Hits as ids (as FAISS and numpy answer), then with every metadata field (what the window shows);
    # the filtered searches too, all side by side so that a burst of background work hits each alike.
    filters = [("filter_10pct", "taxid < 100", taxid < 100), ("filter_0.1pct", "taxid = 7", taxid == 7)]
    side = timed_side_by_side({"lance": engine_search(searcher, q, None, ["id"]),
                               "engine_all_fields": engine_search(searcher, q, None),
                               "lance_refine": lance_refine_search(cat, q),
                               **{name: engine_search(searcher, q, sql, ["id"]) for name, sql, _ in filters}}, m)
    for key in ("lance", "engine_all_fields", "lance_refine"):
        lat, found = side[key]
        res[key] = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "recall10": recall(found, truth)}
        log(f"  {key}: p50 {res[key]['p50_ms']:.1f} ms p99 {res[key]['p99_ms']:.1f} recall "
            f"{res[key]['recall10']:.3f}")
    for name, _sql, mask in filters:
        ftruth = exact_topk(x, q, K, mask)
        lat, found = side[name]
        full = float(np.mean([len(f) == min(K, int(mask.sum())) for f in found]))
        res[name] = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
                     "recall10": recall(found, ftruth, int(mask.sum())), "full_k": full,
                     "matching_rows": int(mask.sum())}
        log(f"  {name} ({int(mask.sum()):,} rows): p50 {res[name]['p50_ms']:.1f} ms p99 "
            f"{res[name]['p99_ms']:.1f} recall {res[name]['recall10']:.3f} full k {full:.2f}")
    nq = min(numpy_queries, m)
    lat, found = timed(numpy_search(x, q), nq)
    res["numpy_exact"] = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "queries": nq}
    log(f"  numpy exact: p50 {res['numpy_exact']['p50_ms']:.1f} ms p99 {res['numpy_exact']['p99_ms']:.1f}")
    if faiss_too:
        res["faiss_ivfpq_refine"] = faiss_in_child(x, q, truth, vec.num_partitions or 1, res["index"]["nprobes"],
                                                   res["index"]["refine_factor"])
        fa = res["faiss_ivfpq_refine"]
        log(f"  faiss IVF-PQ+refine: build {fa['build_s']:.1f} s p50 {fa['p50_ms']:.2f} ms p99 "
            f"{fa['p99_ms']:.2f} recall {fa['recall10']:.3f}")
        res["ratio_lance_over_faiss_p50"] = res["lance"]["p50_ms"] / fa["p50_ms"]
    res["ratio_numpy_over_lance_p50"] = res["numpy_exact"]["p50_ms"] / res["lance"]["p50_ms"]
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=320)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--real-rows", type=int, default=100_000, help="0 to skip the real k-mer run")
    ap.add_argument("--vectors", choices=["new", "legacy"], default="new",
                    help="real run: the embedder new catalogs record (default), or the hashed 4-mers before it")
    ap.add_argument("--no-faiss", action="store_true")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / "tmp_index"
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "runs": [],
    }
    try:
        import lance
        import lancedb

        results["machine"]["versions"] = {"pylance": lance.__version__, "lancedb": lancedb.__version__}
    except ImportError:
        pass
    started = time.perf_counter()
    for n in args.rows:
        log(f"synthetic {n:,} × {args.dim}")
        t = time.perf_counter()
        x, _ = synthetic(n, args.dim)
        q = synthetic_queries(args.queries, args.dim)
        emb = {"name": "synthetic", "version": "0", "dim": args.dim, "params": {}}
        cat, taxid = write_catalog(tmp / f"syn_{n}", x, "vec_synthetic", emb)
        log(f"  wrote the catalog in {time.perf_counter() - t:.1f} s")
        results["runs"].append(bench_size(f"synthetic {n:,}", cat, x, q, taxid,
                                          numpy_queries=50 if n > 200_000 else args.queries,
                                          faiss_too=not args.no_faiss))
        shutil.rmtree(tmp / f"syn_{n}", ignore_errors=True)
        del x
    if args.real_rows:
        try:
            from bench.fast_mode_bench import embedder, prepare

            cached = prepare(args.real_rows, args.vectors)  # embedded once, kept in bench/out/data
        except FileNotFoundError:
            log("real k-mer run skipped: ../shared/data/proteins is absent")
        else:
            emb = embedder(args.vectors)
            x = np.load(cached["x"])
            q = np.load(cached["q"])
            log(f"real k-mer {x.shape[0]:,} × {emb.dim} ({args.vectors} embedder: {emb.params()})")
            record = {"name": emb.name, "version": emb.version, "dim": emb.dim, "params": emb.params()}
            cat, taxid = write_catalog(tmp / "real", x, "vec_kmer", record)
            results["runs"].append(bench_size(f"real k-mer {x.shape[0]:,} ({args.vectors})", cat, x, q, taxid,
                                              numpy_queries=args.queries, faiss_too=not args.no_faiss))
    shutil.rmtree(tmp, ignore_errors=True)
    results["total_s"] = time.perf_counter() - started
    (OUT / "index_bench.json").write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| data | rows | index (partitions, nprobes, refine) | build s | size MB | p50 ms | p99 ms | recall@10 | "
        "10 % filter p50/p99, recall | 0.1 % filter p50/p99, recall | numpy exact p50/p99 | "
        "FAISS IVF-PQ+refine build s, p50/p99, recall | Lance/FAISS p50 | all fields p50/p99 | "
        "Lance refining p50/p99, recall | RAM copy MB, load s |",
        "|" + "---|" * 16,
    ]
    for r in results["runs"]:
        ix, la, f1, f2, npx = r["index"], r["lance"], r["filter_10pct"], r["filter_0.1pct"], r["numpy_exact"]
        fa = r.get("faiss_ivfpq_refine")
        fs = f"{fa['build_s']:.1f}, {fa['p50_ms']:.2f}/{fa['p99_ms']:.2f}, {fa['recall10']:.3f}" if fa else "–"
        ratio = f"{r['ratio_lance_over_faiss_p50']:.1f}×" if fa else "–"
        lines.append(
            f"| {r['label']} | {r['rows']:,} | {ix['type']} ({ix['partitions']}, {ix['nprobes']}, "
            f"{ix['refine_factor']}) | {r['build_vector_s']:.1f} | {ix['size_mb']:.0f} | {la['p50_ms']:.1f} | "
            f"{la['p99_ms']:.1f} | {la['recall10']:.3f} | {f1['p50_ms']:.1f}/{f1['p99_ms']:.1f}, "
            f"{f1['recall10']:.3f} | {f2['p50_ms']:.1f}/{f2['p99_ms']:.1f}, {f2['recall10']:.3f} | "
            f"{npx['p50_ms']:.1f}/{npx['p99_ms']:.1f} | {fs} | {ratio} | "
            f"{r['engine_all_fields']['p50_ms']:.1f}/{r['engine_all_fields']['p99_ms']:.1f} | "
            f"{r['lance_refine']['p50_ms']:.1f}/{r['lance_refine']['p99_ms']:.1f}, "
            f"{r['lance_refine']['recall10']:.3f} | {r['refine_copy_mb']:.0f}, {r['refine_copy_load_s']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
