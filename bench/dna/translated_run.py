"""Translated search: GenoCat against tblastn and blastx on real genes and their proteins.

Two catalogs from ``../shared/data/dna/`` (read its README):

- **DNA** (tblastn-style): the 404 Prodigal genes of the *E. coli* contig MIIJ01000039 (minus-strand
  genes stored as on the contig, reverse-complemented) and the first 100 CDS of *B. velezensis*
  CP040672.1, plus the whole *B. amyloliquefaciens* contig and KK037166 cut into 2 kb pieces (real
  DNA that encodes other proteins, to make the catalog larger). Queries: proteins of those genes
  (``MIIJ01000039.faa.gz``; CP040672's CDS translated), as they are and with 50 % and 70 % of
  their residues replaced at random (about 50 % and 33 % identity). Right: the query's gene first
  and on the right strand (frame sign).
- **Protein** (blastx-style): the proteins of those genes plus the 10,000 NCBI nr proteins of
  ``../shared/data/proteins/unlabeled/diamond_nr_10k.faa.gz``. Queries: whole genes and 300 bp
  fragments, a third reverse-complemented, with 0 or 10 % of their bases replaced. Right: the
  gene's protein first, with the right frame sign.

GenoCat runs twice in the same process per direction: seeded (the default above the bounds) and
aligning every frame / every row (the bounds raised), so the loss of sensitivity is measured, not
assumed. Time per query: GenoCat's median over warm queries (the translation and the seed index
are built by the first query and timed apart); tblastn's and blastx's whole run (one thread,
database built beforehand) divided by the queries; each the best of ``--repeats`` rounds, the
systems taking turns, since the load of a shared machine drifts. ``--scale-mbp``: the frames'
seed index built at that size in a child process (build time, RSS, time per query; see
:func:`scale`). Memory: the frames' seed index in bytes and the
process's peak RSS after each build.

Run: ``python -m bench.dna.translated_run [--queries 60] [--seed 1] [--repeats 2] [--scale-mbp 50]``. Writes
``bench/out/translated.json`` and ``bench/out/translated.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
DNA = DATA / "dna"
OUT = ROOT / "bench" / "out"
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
AMINO = "ACDEFGHIKLMNPQRSTVWY"
PIECE = 2_000


@dataclass(frozen=True)
class Case:
    """One query: the right row, the strand it should be found on, how it was changed."""

    qid: str
    target: str
    strand: int  # +1 / -1: the sign of the right hit's frame
    label: str  # e.g. "30 %" or "300 bp 10 % minus"
    sequence: str


def _fasta(path: Path) -> Iterator[tuple[str, str]]:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as f:
        for header, seq in SimpleFastaParser(f):
            yield header, seq.upper()


def _rc(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def _prodigal_stop(header: str) -> tuple[int, int]:
    fields = header.split(" # ")
    start, end, strand = int(fields[1]), int(fields[2]), int(fields[3])
    return strand, end if strand > 0 else start


def genes() -> list[tuple[str, str, str, int]]:
    """(id, DNA as stored in the catalog, protein, strand of the gene on the stored record)."""
    from Bio.Seq import Seq

    out = []
    proteins = {_prodigal_stop(h): s.rstrip("*") for h, s in _fasta(DNA / "MIIJ01000039.faa.gz")}
    for h, s in _fasta(DNA / "MIIJ01000039.single.fna.gz"):
        strand, _ = key = _prodigal_stop(h)
        if key in proteins:
            out.append((h.split()[0], s if strand > 0 else _rc(s), proteins[key], strand))
    for h, s in _fasta(DNA / "CP040672.1.genes_100.fna"):
        strand = -1 if "complement(" in h else 1
        protein = str(Seq(s).translate(table=11)).rstrip("*")
        if "*" not in protein and len(protein) >= 30:
            out.append((h.split()[0], s if strand > 0 else _rc(s), protein, strand))
    return out


def dna_decoys() -> list[tuple[str, str]]:
    """Real contigs cut into :data:`PIECE` bp rows (they encode proteins other than the queries')."""
    out = []
    for name in ("1390.SAMEA104415756.OFHT01000022.fna", "KK037166.fna.gz"):
        for h, s in _fasta(DNA / name):
            for i in range(0, len(s), PIECE):
                if len(s[i:i + PIECE]) >= 300:
                    out.append((f"{h.split()[0]}_{i}", s[i:i + PIECE]))
    return out


def protein_decoys() -> list[tuple[str, str]]:
    return [(f"nr{i}", re.sub("[^A-Z]", "", s)) for i, (_, s) in
            enumerate(_fasta(DATA / "proteins" / "unlabeled" / "diamond_nr_10k.faa.gz"))]


def mutate(seq: str, rate: float, letters: str, rng: random.Random) -> str:
    out = list(seq)
    for i in rng.sample(range(len(seq)), int(rate * len(seq))):
        out[i] = rng.choice([c for c in letters if c != seq[i]])
    return "".join(out)


def protein_cases(gs: list[tuple[str, str, str, int]], n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    picked = rng.sample(gs, min(n, len(gs)))
    return [Case(f"p{rate}_{i}", gid, strand, f"{round(rate * 100)} %", mutate(prot, rate, AMINO, rng))
            for rate in (0.0, 0.5, 0.7) for i, (gid, _, prot, strand) in enumerate(picked)]


def dna_cases(gs: list[tuple[str, str, str, int]], n: int, seed: int) -> list[Case]:
    """Whole genes and 300 bp fragments, in the gene's orientation or reverse-complemented."""
    rng = random.Random(seed + 1)
    cases = []
    for i, (gid, stored, _, strand) in enumerate(rng.sample(gs, min(n, len(gs)))):
        cds = stored if strand > 0 else _rc(stored)  # the gene read 5' -> 3': its frame is +1
        length = "gene" if i % 2 == 0 else "300 bp"
        if length == "300 bp" and len(cds) > 330:
            start = rng.randrange(0, len(cds) - 300)
            cds = cds[start:start + 300]
        rate = 0.1 if i % 4 >= 2 else 0.0
        seq = mutate(cds, rate, "ACGT", rng)
        minus = i % 3 == 2
        label = f"{length} {round(rate * 100)} %" + (" minus" if minus else "")
        cases.append(Case(f"d{i}", gid, -1 if minus else 1, label, _rc(seq) if minus else seq))
    return cases


def _rss() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    get = lambda name: int(re.search(rf"{name}:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]  # noqa: E731
    return {"rss_mb": get("VmRSS"), "peak_rss_mb": get("VmHWM")}


def genocat(rows: list[tuple[str, str]], cases: list[Case], work: Path, name: str, seeded: bool
            ) -> dict[str, Any]:
    """GenoCat's best hit per query; the first query (translation, seed index) timed apart."""
    from genocat_desktop.engine import Catalog, import_files
    from genocat_desktop.engine.search import translated
    from genocat_desktop.engine.search.searcher import Searcher

    folder = work / name
    if not folder.exists():
        fasta = work / f"{name}.fa"
        fasta.write_text("".join(f">{i}\n{s}\n" for i, s in rows))
        import_files(Catalog.open(folder), [fasta])
    saved = translated.SEED_ABOVE, translated.MAX_PROTEIN_RESIDUES
    if not seeded:
        translated.SEED_ABOVE = translated.MAX_PROTEIN_RESIDUES = 10**12  # type: ignore[misc]
    try:
        searcher = Searcher(Catalog.open(folder))
        before = _rss()
        t0 = time.perf_counter()
        first = searcher.search_many([cases[0].sequence], k=5)[0]
        build = time.perf_counter() - t0
        after = _rss()
        targets = searcher._translated._targets
        index = targets.seeds.nbytes if targets is not None and targets.seeds is not None else 0
        stores = searcher._sequences.stores.get("protein")
        if stores is not None and stores.seeds is not None:
            index = stores.seeds.nbytes
        times, best = [], {cases[0].qid: first.hits.to_pylist()[:1]}
        for c in cases[1:]:
            t0 = time.perf_counter()
            r = searcher.search_many([c.sequence], k=5)[0]
            times.append(time.perf_counter() - t0)
            best[c.qid] = r.hits.to_pylist()[:1]
    finally:
        translated.SEED_ABOVE, translated.MAX_PROTEIN_RESIDUES = saved  # type: ignore[misc]
    hits = {q: (h[0]["id"], int(np.sign(h[0]["frame"]))) if h else None for q, h in best.items()}
    return {"hits": hits, "times": times,
            "first_query_s": build, "index_mb": index / 2**20, "rss_before_mb": before["rss_mb"],
            "peak_rss_after_first_mb": after["peak_rss_mb"]}


def blast(program: str, rows: list[tuple[str, str]], cases: list[Case], work: Path) -> dict[str, Any] | None:
    """tblastn (protein queries, nucleotide database) or blastx: best hit by bit score, whole run per query."""
    if not shutil.which(program):
        return None
    dbtype = "nucl" if program == "tblastn" else "prot"
    db = work / f"{program}_db"
    # BLAST rewrites some identifiers (lcl|...): the database names rows by position instead
    (work / f"{program}_db.fa").write_text("".join(f">r{n}\n{s}\n" for n, (_, s) in enumerate(rows)))
    subprocess.run(["makeblastdb", "-in", str(work / f"{program}_db.fa"), "-dbtype", dbtype, "-out", str(db)],
                   check=True, capture_output=True)
    queries = work / f"{program}_q.fa"
    queries.write_text("".join(f">{c.qid}\n{c.sequence}\n" for c in cases))
    t0 = time.perf_counter()
    done = subprocess.run([program, "-query", str(queries), "-db", str(db), "-outfmt",
                           # the strand from the coordinates: BLAST 2.12 printed sframe -1 for every hit
                           # when it was the last column
                           "6 qseqid sseqid bitscore evalue " + ("sstart send" if program == "tblastn" else
                                                                 "qstart qend"),
                           "-max_target_seqs", "5", "-num_threads", "1"],
                          check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    best: dict[str, tuple[float, str, int]] = {}
    for line in done.stdout.splitlines():
        q, s, bits, _, start, end = line.split("\t")
        if q not in best or float(bits) > best[q][0]:
            best[q] = (float(bits), rows[int(s[1:])][0], 1 if int(start) <= int(end) else -1)
    hits = {c.qid: (best[c.qid][1], best[c.qid][2]) if c.qid in best else None for c in cases}
    return {"hits": hits, "times": None, "elapsed": elapsed}


def _best(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """Two rounds of one system: the best time per query (GenoCat) or per run (a tool)."""
    if old is None or new is None:
        return new
    # the first round's memory figures: later rounds' peak RSS includes the other systems' runs
    if new["times"] is not None:
        return old | {"times": list(np.minimum(old["times"], new["times"]))}
    return old | {"elapsed": min(old["elapsed"], new["elapsed"])}


def _ms(run: dict[str, Any], queries: int) -> float:
    """GenoCat: the median warm query; a tool: its whole run over the queries."""
    return 1000 * float(np.median(run["times"])) if run["times"] is not None else 1000 * run["elapsed"] / queries


def rank1(cases: list[Case], hits: dict[str, Any]) -> dict[str, float]:
    groups: dict[str, list[bool]] = {"all": []}
    for c in cases:
        ok = hits.get(c.qid) == (c.target, c.strand)
        groups["all"].append(ok)
        groups.setdefault(c.label, []).append(ok)
    return {k: float(np.mean(v)) for k, v in groups.items()}


def scale(mbp: float, queries: list[str]) -> dict[str, Any]:
    """Build time, memory and time per query of the frames' seed index at ``mbp`` megabases.

    Run in a child process (its RSS is the index's). The real DNA of the data folder, cut into
    :data:`PIECE` bp rows, is repeated up to the size: no catalog holds this much real DNA here,
    and the measure is of memory and time, not of which row is found.
    """
    from genocat_desktop.engine.core.progress import no_progress
    from genocat_desktop.engine.search import translated as tr

    real = [s for _, s in dna_decoys()] + [s for _, s, _, _ in genes()]
    for _, s in _fasta(DNA / "MIIJ01000039.fna.gz"):
        real += [p for i in range(0, len(s), PIECE) if (p := s[i:i + PIECE]).count("N") < PIECE // 10]
    per_copy = sum(map(len, real))
    copies = int(mbp * 1e6 // per_copy)
    rest = int(np.searchsorted(np.cumsum([len(r) for r in real]), mbp * 1e6 - copies * per_copy))
    rows = real * copies + real[:rest]
    before = _rss()["rss_mb"]
    t0 = time.perf_counter()
    frames = tr._translated(rows, no_progress, None)
    t1 = time.perf_counter()
    seeds = tr._frame_seeds(frames, no_progress, None)
    t2 = time.perf_counter()
    after = _rss()
    seeded = []
    for q in queries:
        t = time.perf_counter()
        chosen = seeds.frames(q, tr.FRAME_CANDIDATES)
        list(tr._aligner().align(tr._encode(q), tr._database([frames[int(c)] for c in chosen]), mode="score"))
        seeded.append(time.perf_counter() - t)
    every = []
    database = tr._database(frames)
    for q in queries[:2]:
        t = time.perf_counter()
        list(tr._aligner().align(tr._encode(q), database, mode="score"))
        every.append(time.perf_counter() - t)
    tool = None
    if shutil.which("tblastn"):
        with tempfile.TemporaryDirectory(prefix="genocat-translated-scale-") as tmp:
            cases = [Case(f"q{i}", "", 1, "", q) for i, q in enumerate(queries)]
            tool = blast("tblastn", [(str(i), r) for i, r in enumerate(rows)], cases, Path(tmp))
    return {"tblastn_ms": 1000 * tool["elapsed"] / len(queries) if tool else None,
            "mbp": sum(map(len, rows)) / 1e6, "translate_s": t1 - t0, "index_s": t2 - t1,
            "index_mb": seeds.nbytes / 2**20, "rss_before_mb": before, "rss_after_mb": after["rss_mb"],
            "peak_rss_mb": after["peak_rss_mb"], "seeded_ms_median": 1000 * float(np.median(seeded)),
            "all_frames_ms_median": 1000 * float(np.median(every))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dna.translated_run", description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=60, help="proteins (each at 0/30/50 %%) and DNA queries")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2,
                        help="timing rounds, GenoCat and the reference in turn (the best of them kept)")
    parser.add_argument("--scale-mbp", type=float, default=0.0,
                        help="also measure the frames' seed index at this many megabases (a child process)")
    parser.add_argument("--scale-child", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    gs = genes()
    if args.scale_child:
        print(json.dumps(scale(args.scale_child, [c.sequence for c in protein_cases(gs, 20, args.seed)])))
        return 0
    dna_rows = [(g[0], g[1]) for g in gs] + dna_decoys()
    protein_rows = [(g[0], g[2]) for g in gs] + protein_decoys()
    pcases, dcases = protein_cases(gs, args.queries, args.seed), dna_cases(gs, args.queries, args.seed)
    results: dict[str, Any] = {
        "load": os.getloadavg(), "cores": os.cpu_count(),
        "dna_catalog": {"rows": len(dna_rows), "nucleotides": sum(len(s) for _, s in dna_rows)},
        "protein_catalog": {"rows": len(protein_rows), "residues": sum(len(s) for _, s in protein_rows)},
        "tblastn": {}, "blastx": {},
    }
    with tempfile.TemporaryDirectory(prefix="genocat-translated-bench-") as tmp:
        work = Path(tmp)
        # The machine's load drifts: each system runs once per round, in turn, and keeps its best
        # time per query (GenoCat) or per run (the tools) over the rounds.
        runs: dict[str, dict[str, Any]] = {"tblastn": {}, "blastx": {}}
        for _ in range(args.repeats):
            rounds: dict[str, dict[str, Callable[[], dict[str, Any] | None]]] = {
                "tblastn": {"GenoCat seeded": lambda: genocat(dna_rows, pcases, work, "dna", True),
                            "GenoCat all frames": lambda: genocat(dna_rows, pcases, work, "dna", False),
                            "tblastn 1 thread": lambda: blast("tblastn", dna_rows, pcases, work)},
                "blastx": {"GenoCat seeded": lambda: genocat(protein_rows, dcases, work, "protein", True),
                           "GenoCat all rows": lambda: genocat(protein_rows, dcases, work, "protein", False),
                           "blastx 1 thread": lambda: blast("blastx", protein_rows, dcases, work)},
            }
            for direction, calls in rounds.items():
                for name, call in calls.items():
                    runs[direction][name] = _best(runs[direction].get(name), call())
    for direction, cases in (("tblastn", pcases), ("blastx", dcases)):
        systems = runs[direction]
        reference = list(systems.values())[-1]
        for name, run in systems.items():
            if run is None:
                results[direction][name] = None
                continue
            entry = {k: v for k, v in run.items() if k not in ("hits", "times", "elapsed")} | {
                "rank1": rank1(cases, run["hits"]), "ms_per_query": _ms(run, len(cases))}
            if reference is not None:
                entry["time_ratio"] = entry["ms_per_query"] / _ms(reference, len(cases))
                entry["rank1_ratio"] = entry["rank1"]["all"] / max(rank1(cases, reference["hits"])["all"], 1e-9)
            results[direction][name] = entry
    if args.scale_mbp:
        import sys

        child = subprocess.run([sys.executable, "-m", "bench.dna.translated_run", "--scale-child",
                                str(args.scale_mbp), "--seed", str(args.seed)], cwd=ROOT, check=True,
                               capture_output=True, text=True)
        results["scale"] = json.loads(child.stdout.splitlines()[-1])
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "translated.json").write_text(json.dumps(results, indent=1))
    text = _markdown(results)
    (OUT / "translated.md").write_text(text)
    print(text)
    return 0


def _markdown(results: dict[str, Any]) -> str:
    d, p = results["dna_catalog"], results["protein_catalog"]
    lines = [f"load {results['load'][0]:.2f} on {results['cores']} cores; DNA catalog {d['rows']:,} rows, "
             f"{d['nucleotides']:,} bp; protein catalog {p['rows']:,} rows, {p['residues']:,} residues", ""]
    for direction in ("tblastn", "blastx"):
        systems = results[direction]
        labels = sorted({k for r in systems.values() if r for k in r["rank1"]} - {"all"})
        lines += [f"### {direction}-style", "",
                  "| system | R@1 all | " + " | ".join(labels) + " | ms/query | x reference | first query s | "
                  "index MB | peak RSS MB |", "|---|" + "---|" * (len(labels) + 6)]
        for name, r in systems.items():
            if r is None:
                lines.append(f"| {name} | not installed |")
                continue
            cells = " | ".join(f"{r['rank1'].get(k, float('nan')):.3f}" for k in labels)
            lines.append(f"| {name} | {r['rank1']['all']:.3f} | {cells} | {r['ms_per_query']:.1f} | "
                         f"{r.get('time_ratio', 1):.2f} | "
                         f"{r.get('first_query_s', float('nan')):.2f} | {r.get('index_mb', float('nan')):.0f} | "
                         f"{r.get('peak_rss_after_first_mb', float('nan')):.0f} |")
        lines.append("")
    sc = results.get("scale")
    if sc:
        lines += [f"Frames' seed index at {sc['mbp']:.1f} Mbp (real DNA repeated): translation "
                  f"{sc['translate_s']:.1f} s, index {sc['index_s']:.1f} s, {sc['index_mb']:.0f} MB; RSS "
                  f"{sc['rss_before_mb']:.0f} -> "
                  f"{sc['rss_after_mb']:.0f} MB (peak {sc['peak_rss_mb']:.0f}); per query seeded "
                  f"{sc['seeded_ms_median']:.0f} ms (seeds and the score pass), all frames "
                  f"{sc['all_frames_ms_median']:.0f} ms, tblastn {sc['tblastn_ms'] or float('nan'):.0f} ms", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
