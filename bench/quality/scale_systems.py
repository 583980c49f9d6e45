"""The systems of the scale benchmark: BLAST+, MMseqs2, DIAMOND, and GenoCat in child processes.

Every system returns :data:`Hits` (query id -> ``(target id, E-value or None)``, best first, at most
``k`` per query, the self hit included when the system reports it) and its costs: database build
seconds, search wall and CPU seconds (the tool's process tree, ``wait4``), peak RSS (the largest
process of the tree). The tools run on two threads; GenoCat's searches run in a child process
pinned to one CPU, so its CPU time and RSS are its own.

The GenoCat child (``python -m bench.quality.scale_systems build|search ...``) prints one JSON
object as its last line.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[2]
THREADS: Final = "2"
Hits = dict[str, list[tuple[str, float | None]]]


def run_tree(cmd: list[str], cwd: Path, timeout: float = 6 * 3600) -> dict[str, Any]:
    """Run ``cmd`` to the end; wall and CPU seconds and peak RSS MB of its process tree (``wait4``).

    Raises
    ------
    RuntimeError
        If the command fails; the message holds the last line of its stderr.
    """
    started = time.perf_counter()
    with open(cwd / "stdout.txt", "wb") as out, open(cwd / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=_env())
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
            time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = {"wall_s": time.perf_counter() - started, "cpu_s": usage.ru_utime + usage.ru_stime,
              "peak_rss_mb": usage.ru_maxrss / 1024, "command": " ".join(cmd)}
    if proc.returncode != 0:
        lines = (cwd / "stderr.txt").read_text(errors="replace").strip().splitlines() or ["?"]
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {lines[-1][:300]}")
    return result


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def genocat_hits(results: Any) -> Hits:
    """GenoCat's ``SearchResult`` list -> best-first ``(id, E-value or None)`` per query."""
    hits: Hits = {}
    for r in results:
        ids = r.hits.column("id").to_pylist()
        evalues = r.hits.column("evalue").to_pylist() if "evalue" in r.hits.column_names else [None] * len(ids)
        hits[r.query.id] = list(zip(ids, evalues, strict=True))
    return hits


def tabular(path: Path, k: int) -> Hits:
    """``qseqid sseqid evalue bitscore`` lines -> best-first targets per query (one per target, by bits)."""
    best: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        q, t, e, b = line.split("\t")[:4]
        score = (float(b), -float(e))
        if score > best[q].get(t, (-1e300, 0.0)):
            best[q][t] = score
    out: Hits = {}
    for q, ts in best.items():
        ranked: list[tuple[str, float | None]] = [(t, -ts[t][1]) for t in sorted(ts, key=lambda t: ts[t],
                                                                                  reverse=True)]
        out[q] = ranked[:k]
    return out


def blast(db: Path, queries: Path, work: Path, k: int) -> dict[str, Any]:
    """makeblastdb, then ``blastp -evalue 10 -max_target_seqs k`` (default composition-based statistics)."""
    build = run_tree(["makeblastdb", "-in", str(db), "-dbtype", "prot", "-out", "bdb"], work)
    search = run_tree(["blastp", "-query", str(queries), "-db", "bdb", "-evalue", "10", "-max_target_seqs", str(k),
                       "-outfmt", "6 qseqid sseqid evalue bitscore", "-num_threads", THREADS, "-out", "out.tsv"],
                      work)
    return _result(build, search, tabular(work / "out.tsv", k))


def mmseqs(db: Path, queries: Path, work: Path, k: int) -> dict[str, Any]:
    """createdb of the target, then ``easy-search -s 7.5 -e 10 --max-seqs 300`` against it."""
    build = run_tree(["mmseqs", "createdb", str(db), "tdb"], work)
    search = run_tree(["mmseqs", "easy-search", str(queries), "tdb", "out.tsv", "tmp", "-s", "7.5", "-e", "10",
                       "--max-seqs", "300", "--threads", THREADS, "--format-output", "query,target,evalue,bits"],
                      work)
    return _result(build, search, tabular(work / "out.tsv", k))


def diamond(db: Path, queries: Path, work: Path, k: int) -> dict[str, Any]:
    """diamond makedb, then ``blastp --ultra-sensitive -e 10 -k k``."""
    build = run_tree(["diamond", "makedb", "--in", str(db), "-d", "ddb", "--threads", THREADS], work)
    search = run_tree(["diamond", "blastp", "-q", str(queries), "-d", "ddb", "-o", "out.tsv", "--ultra-sensitive",
                       "-e", "10", "-k", str(k), "--threads", THREADS, "--outfmt", "6", "qseqid", "sseqid",
                       "evalue", "bitscore"], work)
    return _result(build, search, tabular(work / "out.tsv", k))


def _result(build: dict[str, Any], search: dict[str, Any], hits: Hits) -> dict[str, Any]:
    return {"hits": hits, "build_s": build["wall_s"], "search_wall_s": search["wall_s"],
            "search_cpu_s": search["cpu_s"], "peak_rss_mb": max(build["peak_rss_mb"], search["peak_rss_mb"]),
            "commands": [build["command"], search["command"]], "threads": int(THREADS)}


REFERENCES: Final = {"blast": ("BLAST+ blastp", blast), "mmseqs": ("MMseqs2 -s 7.5", mmseqs),
                     "diamond": ("DIAMOND --ultra-sensitive", diamond)}


def versions() -> dict[str, str]:
    """The reference tools' versions."""
    out = {}
    for name, cmd in (("blast", ["blastp", "-version"]), ("mmseqs", ["mmseqs", "version"]),
                      ("diamond", ["diamond", "version"])):
        try:
            out[name] = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            out[name] = "?"
    return out


# ---------------------------------------------------------------------------- GenoCat (child side)


def mode_arguments(mode: str) -> dict[str, Any] | None:
    """``search_many`` keywords for ``mode``, or ``None`` when this engine has no such mode.

    Until ``search_many`` takes ``mode=``, ``fast`` is ``align=False`` and ``align`` is
    ``align=True``; the other modes are not available. ``seeded`` is the engine's ``sensitive``
    (the seeded prefilter) where the engine has no mode of that name.
    """
    from genocat_desktop.engine.search.searcher import Searcher

    if "mode" not in inspect.signature(Searcher.search_many).parameters:
        return {"fast": {"align": False}, "align": {"align": True}}.get(mode)
    try:
        from genocat_desktop.engine.search.modes import MODES
    except ImportError:
        return {"mode": mode}  # let the engine say whether it knows the mode
    if mode == "seeded" and mode not in MODES:
        mode = "sensitive"
    return {"mode": mode} if mode in MODES else None


def _vmhwm_mb() -> float | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def child_build(db: Path, catalog_dir: Path) -> dict[str, Any]:
    """Ingest ``db`` into a fresh catalog with the engine's ``ingest``, then its automatic index policy."""
    import lance  # noqa: F401  (loaded before timing: the build time is the import, not Python start-up)

    from genocat_desktop.engine import Catalog, auto_index, configure_process, index_status, ingest

    configure_process()
    started = time.perf_counter()
    catalog = Catalog.open(str(catalog_dir))
    report = ingest(catalog, [db])
    if report.error:
        raise RuntimeError(f"ingest failed: {report.error}")
    ingested = time.perf_counter() - started
    action = auto_index(catalog)
    total = time.perf_counter() - started
    status = index_status(catalog)
    return {"ingest_s": ingested, "index_s": total - ingested, "build_s": total, "index_action": action,
            "rows": status.rows, "ingest_workers": report.workers, "ingest_engine": report.engine}


def child_search(catalog_dir: Path, queries: Path, mode: str, k: int, latency_ids: list[str]) -> dict[str, Any]:
    """Batch search (process CPU time), then each of ``latency_ids`` alone on the warm searcher."""
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})  # one core, whatever threads the engine starts
    import lance  # noqa: F401

    from genocat_desktop.engine import Catalog, Query, Searcher, configure_process

    configure_process()
    kwargs = mode_arguments(mode)
    if kwargs is None:
        return {"available": False}
    from bench.quality.scale_data import _read

    records = _read(queries)
    qs = [Query(i, s) for i, s in records]
    searcher = Searcher(Catalog.open(str(catalog_dir)))
    opened = time.perf_counter()
    searcher.warm()
    warm_s = time.perf_counter() - opened
    first = time.perf_counter()
    searcher.search_many(qs[:1], k=k, **kwargs)  # the first search pays for lazy imports and loads
    first_s = time.perf_counter() - first
    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = searcher.search_many(qs, k=k, **kwargs)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    hits = genocat_hits(results)
    chosen: dict[str, int] = defaultdict(int)
    for r in results:
        # What the engine says it did (for "auto": the mode it chose), where it says it.
        chosen[str(getattr(r, "mode", None) or r.extra.get("mode") or r.extra.get("strategy") or "")] += 1
    by_id = {q.id: q for q in qs}
    # A single query, what a user waits for, may use every core the tools were given (the engine
    # splits its alignments over them, engine.core.parallel); the batch above ran on one.
    os.sched_setaffinity(0, set(cpus))
    latencies, latency_cpu = [], []
    for n, ident in enumerate(latency_ids):
        t, c = time.perf_counter(), time.process_time()
        searcher.search_many([by_id[ident]], k=k, **kwargs)
        if n:  # the first is the warm-up
            latencies.append((time.perf_counter() - t) * 1000)
            latency_cpu.append((time.process_time() - c) * 1000)
    return {"available": True, "hits": hits, "search_cpu_s": cpu, "search_wall_s": wall, "warm_s": warm_s,
            "first_search_s": first_s, "latency_ms": latencies, "latency_cpu_ms": latency_cpu, "kwargs": kwargs,
            "result_modes": dict(chosen), "cpu": cpus[-1], "latency_cpus": len(cpus)}


def main() -> None:
    parser = argparse.ArgumentParser(description="GenoCat child of the scale benchmark")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("db", type=Path)
    b.add_argument("catalog", type=Path)
    s = sub.add_parser("search")
    s.add_argument("catalog", type=Path)
    s.add_argument("queries", type=Path)
    s.add_argument("mode")
    s.add_argument("k", type=int)
    s.add_argument("latency_ids", type=Path, help="a file of query ids, one a line (the first is the warm-up)")
    args = parser.parse_args()
    if args.command == "build":
        out = child_build(args.db, args.catalog)
    else:
        ids = [x for x in args.latency_ids.read_text().split() if x]
        out = child_search(args.catalog, args.queries, args.mode, args.k, ids)
    # The search child's own high-water mark; the build's peak stays wait4's, the largest process of
    # its tree (ingest's workers included).
    out["vmhwm_mb" if args.command == "search" else "driver_vmhwm_mb"] = _vmhwm_mb()
    sys.stdout.write("\n" + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
