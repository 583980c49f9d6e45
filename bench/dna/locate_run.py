"""Fragments located inside long records: GenoCat's minimap2 seeds against minimap2 and blastn.

The catalog: the 504 real genes of ``bench/dna/run.py`` (short records) and three long records:
the complete 2.46 Mbp chromosome of *Corynebacterium diphtheriae* NCTC11397 (NZ_LN831026.1, shipped
in pyrodigal's test data, a runtime dependency), the 0.39 Mbp *B. amyloliquefaciens* contig and the
0.8 Mbp *E. coli* contig MIIJ01000039 (``../shared/data/dna/``). Queries are cut from the long
records (where, in proportion to their non-N length): 150 bp, 500 bp, 1 kb and 5 kb, with 0, 5 or
15 % substitutions (15 %: also two short indels), half of them reverse-complemented.

A query is *located* when the best hit is the record it was cut from, on the right strand, with
start and end within 10 bp of the true ones; *placed* also accepts a hit on the right strand over
at least half the true region (at 15 % divergence a local alignment may stop more than 10 bp
before a mutated end) and another place where the query aligns at least as well as at the true one
(the chromosome has rRNA operons and IS copies, on both strands: no tool can tell those apart).

GenoCat is measured twice: through the ``Searcher`` (what the window and ``genocat search`` run:
vectors for the short records, the long ones located, hits merged) and the ``Locator`` alone. Also
measured: the import of the catalog and of a 5 Mbp record (the chromosome, a 5 %-divergent
reverse-complemented copy of it and the 0.39 Mbp contig), the first search's index build, and the
detail pane's alignment
(:func:`~genocat_desktop.engine.search.pairwise.align_pair`) of located hits against the whole record.

Run: ``python -m bench.dna.locate_run [--per-cell 20] [--seed 1]``. Writes ``bench/out/dna_locate.json``
and ``bench/out/dna_locate.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.dna.run import COMPLEMENT, DNA, OUT, mutate, read_genes, write_fasta

LENGTHS = (150, 500, 1000, 5000)
DIVERGENCES = (0, 5, 15)
TOLERANCE = 10


@dataclass(frozen=True)
class Fragment:
    """One query and where it came from (0-based, end exclusive, on the record as stored)."""

    qid: str
    record: str
    start: int
    end: int
    strand: str
    length: int
    divergence: int
    sequence: str


def genome_path() -> Path:
    """The 2.46 Mbp chromosome in pyrodigal's test data."""
    import pyrodigal

    return Path(pyrodigal.__file__).parent / "tests" / "data" / "GCF_001457455.1_NCTC11397_genomic.fna.gz"


def read_long() -> list[tuple[str, str]]:
    """(id, sequence) of the three long records."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    out = []
    for path in (genome_path(), DNA / "1390.SAMEA104415756.OFHT01000022.fna", DNA / "MIIJ01000039.fna.gz"):
        opener: Any = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt") as handle:
            out += [(title.split()[0], seq.upper()) for title, seq in SimpleFastaParser(handle)]
    return out


def make_fragments(records: list[tuple[str, str]], per_cell: int, seed: int) -> list[Fragment]:
    """``per_cell`` fragments per length and divergence, half on the minus strand, none overlapping an N."""
    rng = np.random.default_rng(seed)
    weights = np.array([len(s) - s.count("N") for _, s in records], dtype=float)
    out: list[Fragment] = []
    for length in LENGTHS:
        for div in DIVERGENCES:
            for n in range(per_cell):
                while True:
                    r = int(rng.choice(len(records), p=weights / weights.sum()))
                    name, seq = records[r]
                    start = int(rng.integers(0, len(seq) - length))
                    piece = seq[start : start + length]
                    if "N" not in piece:
                        break
                query = mutate(rng, piece, div)
                strand = "minus" if n % 2 else "plus"
                if strand == "minus":
                    query = query.translate(COMPLEMENT)[::-1]
                out.append(Fragment(f"f{len(out)}", name, start, start + length, strand, length, div, query))
    return out


def judged(f: Fragment, hit: tuple[str, int, int, str] | None, records: dict[str, str]) -> tuple[bool, bool]:
    """(located, placed) for a hit (record, start, end 0-based exclusive, strand).

    *Located*: the right record and strand, start and end within :data:`TOLERANCE`. *Placed*: the
    right record and strand overlapping at least half the true region (a 15 %-divergent end may be
    clipped by any local aligner), or another place that aligns at least as well as the true one
    (a repeat copy, on either strand: no tool can prefer the true one).
    """
    if hit is None:
        return False, False
    name, start, end, strand = hit
    if name == f.record and strand == f.strand:
        if abs(start - f.start) <= TOLERANCE and abs(end - f.end) <= TOLERANCE:
            return True, True
        if min(end, f.end) - max(start, f.start) >= (f.end - f.start) / 2:
            return False, True
    return False, _region_score(f.sequence, records[name], start, end) >= _region_score(
        f.sequence, records[f.record], f.start, f.end)


def _region_score(query: str, record: str, start: int, end: int) -> int:
    """The query's best local score (both strands, the project's nucleotide scheme) in a region, widened."""
    from genocat_desktop.engine.search.alignment import align_to

    margin = 20 + abs(len(query) - (end - start))
    region = record[max(0, start - margin) : end + margin]
    return int(align_to(query, "dna", [region], ["dna"], 1)["aln_score"][0])


def genocat(catalog_fasta: Path, fragments: list[Fragment], work: Path) -> dict[str, Any]:
    """Import, first-search index build, then every query located (warm) and a few aligned for the pane."""
    from genocat_desktop.engine import Catalog, configure_process, import_files
    from genocat_desktop.engine.search.locate import Locator
    from genocat_desktop.engine.search.pairwise import align_pair

    configure_process()
    catalog = Catalog.open(str(work / "catalog"), create=True)
    started = time.perf_counter()
    import_files(catalog, [catalog_fasta])
    import_s = time.perf_counter() - started
    ds = catalog.dataset()
    locator = Locator(cache_dir=work / "cache", disk_min_residues=0)
    started = time.perf_counter()
    locator.index(ds)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    Locator(cache_dir=work / "cache", disk_min_residues=0).index(ds)
    load_s = time.perf_counter() - started
    columns = ["id", "length", "sequence"]
    best: dict[str, Any] = {}
    seconds = []
    rows_of: dict[str, dict[str, Any]] = {}
    for f in fragments:
        t0 = time.perf_counter()
        rows, _ = locator.hits(ds, None, columns, f.sequence, 5)
        seconds.append(time.perf_counter() - t0)
        if rows.num_rows:
            row = rows.slice(0, 1).to_pylist()[0]
            rows_of[f.qid] = row
            lo, hi = sorted((row["hit_start"], row["hit_end"]))
            best[f.qid] = (row["id"], lo - 1, hi, row["sstrand"])
    searched, search_seconds = _through_the_searcher(catalog, fragments, "fast")
    searched_auto, auto_seconds = _through_the_searcher(catalog, fragments, "auto")
    pane = []
    for f in fragments[:: max(1, len(fragments) // 24)]:
        row = rows_of.get(f.qid)
        if row is None:
            continue
        t0 = time.perf_counter()
        a = align_pair(f.sequence, row["sequence"], "dna")
        lo, hi = sorted((row["hit_start"], row["hit_end"]))
        pane.append({"seconds": time.perf_counter() - t0, "same_score": a.score == row["aln_score"],
                     "same_region": (a.target_start, a.target_end) == (lo - 1, hi), "strand": a.strand})
    return {"best": best, "seconds": seconds, "import_s": import_s, "index_build_s": build_s,
            "index_load_s": load_s, "pane": pane, "searched": searched, "search_seconds": search_seconds,
            "searched_auto": searched_auto, "auto_seconds": auto_seconds}


def _through_the_searcher(catalog: Any, fragments: list[Fragment], mode: str) -> tuple[dict[str, Any], list[float]]:
    """Each fragment searched as the window and the CLI search it (``Searcher``, k = 5, warm): the first
    hit with coordinates (in ``auto`` a gene that holds the fragment may rank first, aligned as well)."""
    from genocat_desktop.engine import Searcher

    searcher = Searcher(catalog)
    searcher.warm()
    searcher.search_many([fragments[0].sequence], k=5, mode=mode)  # warm() built the index
    best: dict[str, Any] = {}
    seconds = []
    for f in fragments:
        t0 = time.perf_counter()
        hits = searcher.search_many([f.sequence], k=5, mode=mode)[0].hits
        seconds.append(time.perf_counter() - t0)
        top = [h for h in hits.to_pylist() if h.get("hit_start") is not None][:1]
        if top:
            lo, hi = sorted((top[0]["hit_start"], top[0]["hit_end"]))
            best[f.qid] = (top[0]["id"], lo - 1, hi, top[0]["sstrand"])
    return best, seconds


def minimap2(long_fasta: Path, queries: Path, preset: list[str]) -> tuple[dict[str, Any], float] | None:
    """minimap2's best mapping per query (by AS), 0-based coordinates, and seconds per query."""
    if not shutil.which("minimap2"):
        return None
    started = time.perf_counter()
    proc = subprocess.run(["minimap2", "-c", "-t", "1", *preset, str(long_fasta), str(queries)],
                          check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    best: dict[str, Any] = {}
    score: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        f = line.split("\t")
        s = next((int(x[5:]) for x in f[12:] if x.startswith("AS:i:")), 0)
        if s > score.get(f[0], -1):
            score[f[0]] = s
            best[f[0]] = (f[5], int(f[7]), int(f[8]), "plus" if f[4] == "+" else "minus")
    return best, seconds / _count(queries)


def blastn(long_fasta: Path, queries: Path, work: Path, task: str) -> tuple[dict[str, Any], float] | None:
    """blastn's best HSP per query (by bit score), 0-based coordinates, and seconds per query."""
    if not shutil.which("blastn"):
        return None
    db = work / "longdb"
    if not (work / "longdb.nsq").exists() and not (work / "longdb.00.nsq").exists():
        subprocess.run(["makeblastdb", "-in", str(long_fasta), "-dbtype", "nucl", "-out", str(db)],
                       check=True, capture_output=True)
    out = work / f"locate-{task}.tsv"
    started = time.perf_counter()
    subprocess.run(["blastn", "-task", task, "-query", str(queries), "-db", str(db), "-evalue", "10",
                    "-outfmt", "6 qseqid sseqid sstart send sstrand bitscore", "-max_target_seqs", "5",
                    "-num_threads", "1", "-out", str(out)], check=True, capture_output=True)
    seconds = time.perf_counter() - started
    best: dict[str, Any] = {}
    bits: dict[str, float] = {}
    for line in out.read_text().splitlines():
        qid, sid, sstart, send, sstrand, bitscore = line.split("\t")
        if float(bitscore) > bits.get(qid, -1.0):
            bits[qid] = float(bitscore)
            lo, hi = sorted((int(sstart), int(send)))
            best[qid] = (sid, lo - 1, hi, sstrand)
    return best, seconds / _count(queries)


def _count(queries: Path) -> int:
    return max(1, sum(1 for line in queries.read_text().splitlines() if line.startswith(">")))


def scores(fragments: list[Fragment], best: dict[str, Any], records: dict[str, str]) -> dict[str, Any]:
    """Located and placed fractions (see :func:`judged`) per length and divergence."""
    groups: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for f in fragments:
        verdict = judged(f, best.get(f.qid), records)
        for key in ("all", f"{f.length} bp", f"{f.length} bp {f.divergence} %", f.strand):
            groups[key].append(verdict)
    return {k: {"located": float(np.mean([v[0] for v in vs])), "placed": float(np.mean([v[1] for v in vs])),
                "n": len(vs)} for k, vs in groups.items()}


def five_megabases(work: Path, genome: str, contig: str) -> dict[str, float]:
    """Import a 5 Mbp record into a new catalog, then build its index (the first nucleotide search)."""
    from genocat_desktop.engine import Catalog, import_files
    from genocat_desktop.engine.search.locate import Locator

    rng = np.random.default_rng(5)
    copy = mutate(rng, genome, 5).translate(COMPLEMENT)[::-1]
    record = (genome + copy + contig)[:5_000_000]
    path = work / "five.fna"
    write_fasta(path, [("five_mbp", record)])
    catalog = Catalog.open(str(work / "five"), create=True)
    started = time.perf_counter()
    import_files(catalog, [path])
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    Locator(cache_dir=False).index(catalog.dataset())
    return {"residues": len(record), "import_s": import_s, "index_build_s": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dna.locate_run", description=__doc__.splitlines()[0])
    parser.add_argument("--per-cell", type=int, default=20, help="fragments per length and divergence")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    long_records = read_long()
    records = dict(long_records)
    fragments = make_fragments(long_records, args.per_cell, args.seed)
    results: dict[str, Any] = {"long_records": {n: len(s) for n, s in long_records}, "queries": len(fragments),
                               "systems": {}}
    with tempfile.TemporaryDirectory(prefix="genocat-locate-bench-") as tmp:
        work = Path(tmp)
        catalog_fasta, long_fasta, queries = work / "catalog.fna", work / "long.fna", work / "queries.fna"
        write_fasta(catalog_fasta, read_genes() + long_records)
        write_fasta(long_fasta, long_records)
        write_fasta(queries, [(f.qid, f.sequence) for f in fragments])
        ours = genocat(catalog_fasta, fragments, work)
        runs: dict[str, tuple[dict[str, Any], float] | None] = {
            "GenoCat search (Searcher, mode fast)": (ours["searched"], float(np.mean(ours["search_seconds"]))),
            "GenoCat search (Searcher, mode auto)": (ours["searched_auto"], float(np.mean(ours["auto_seconds"]))),
            "GenoCat Locator alone": (ours["best"], float(np.mean(ours["seconds"]))),
            "minimap2 -c": minimap2(long_fasta, queries, []),
            "minimap2 -c -x sr": minimap2(long_fasta, queries, ["-x", "sr"]),
            "blastn -task blastn": blastn(long_fasta, queries, work, "blastn"),
            "blastn -task megablast": blastn(long_fasta, queries, work, "megablast"),
        }
        results["five_mbp"] = five_megabases(work, long_records[0][1], long_records[1][1])
    for name, run in runs.items():
        results["systems"][name] = None if run is None else {"scores": scores(fragments, run[0], records),
                                                              "ms_per_query": run[1] * 1000}
    per_query = ("best", "seconds", "searched", "search_seconds", "searched_auto", "auto_seconds")
    results["genocat"] = {k: v for k, v in ours.items() if k not in per_query}
    results["genocat"]["ms_per_query_p99"] = float(np.percentile(ours["search_seconds"], 99) * 1000)
    results["genocat"]["auto_ms_per_query_p99"] = float(np.percentile(ours["auto_seconds"], 99) * 1000)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dna_locate.json").write_text(json.dumps(
        {**results, "fragments": [asdict(f) | {"sequence": None} for f in fragments]}, indent=1))
    table = _markdown(results)
    (OUT / "dna_locate.md").write_text(table)
    print(table)
    return 0


def _markdown(results: dict[str, Any]) -> str:
    keys = [f"{n} bp {d} %" for n in LENGTHS for d in DIVERGENCES]
    sizes = ", ".join(f"{n} ({s / 1e6:.2f} Mbp)" for n, s in results["long_records"].items())
    lines = [f"{results['queries']} fragments of {sizes}, half reverse-complemented: located within "
             f"{TOLERANCE} bp on the right strand (in brackets: placed, i.e. on the right strand over half the "
             "true region at least, or at a place that aligns as well: a repeat copy)", "",
             "| system | all | " + " | ".join(keys) + " | ms/query |", "|---|" + "---|" * (len(keys) + 2)]
    for name, r in results["systems"].items():
        if r is None:
            lines.append(f"| {name} | not installed |" + " |" * (len(keys) + 1))
            continue
        s = r["scores"]
        cells = " | ".join(f"{s[k]['located']:.2f} ({s[k]['placed']:.2f})" for k in ["all", *keys])
        lines.append(f"| {name} | {cells} | {r['ms_per_query']:.2f} |")
    g, five = results["genocat"], results["five_mbp"]
    pane = g["pane"]
    lines += ["", f"GenoCat: catalog import {g['import_s']:.2f} s, index build on the first search "
              f"{g['index_build_s']:.2f} s (load from the cache {g['index_load_s']:.2f} s), p99 "
              f"{g['ms_per_query_p99']:.1f} ms per search in mode fast, {g['auto_ms_per_query_p99']:.0f} ms in "
              f"mode auto (which also aligns every gene of the catalog). A {five['residues'] / 1e6:.1f} Mbp record: "
              f"import {five['import_s']:.2f} s, index build {five['index_build_s']:.2f} s.",
              f"Detail pane on {len(pane)} located hits (whole record): median "
              f"{np.median([p['seconds'] for p in pane]) * 1000:.0f} ms, same score as the hit list "
              f"{sum(p['same_score'] for p in pane)}/{len(pane)}, same region {sum(p['same_region'] for p in pane)}"
              f"/{len(pane)}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
