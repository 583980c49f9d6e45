"""DNA search, both strands: GenoCat against blastn, megablast and minimap2 on real bacterial genes.

The catalog is every gene of two real genomes in ``../shared/data/dna/`` (the first 100 CDS of
*Bacillus velezensis* CP040672.1 and the 404 Prodigal genes of the *E. coli* contig MIIJ01000039;
read that folder's README). Queries are cut from seeded random genes: fragments of 150 and 500 bp
and whole genes, with 0, 5 or 15 % substitutions (15 %: also two short indels), and a third of them
reverse-complemented (read from the other strand, as a fragment cut from the contig where a
minus-strand gene lies is). A query is right when its best hit is the gene it was cut from.

Per system: R@1 on each strand and divergence, time per query (GenoCat: warm, in one process;
the tools: the whole run divided by the queries, database build apart), and for GenoCat's
aligned modes the ratio of their E-values to blastn's for the same query and gene. GenoCat runs in
``fast`` (vectors), ``align`` (the embedding's candidates aligned), ``sensitive`` (word seeds on
both strands, :mod:`genocat_desktop.engine.search.seeds`: what ``auto`` chooses for a gene catalog)
and ``exhaustive`` (every row aligned: the reference the seeds must match, hit for hit and bit for bit).

``--scale N`` adds a second catalog of about ``N`` nucleotides: the same genes, plus copies of them
with 20-40 % substitutions (seeded; distant relatives, the true gene stays the best hit), to show how
the seeded search's time grows with the catalog against blastn's (exhaustive is left out there).

Run: ``python -m bench.dna.run [--queries 270] [--seed 1] [--scale 8000000]`` (``ncbi-blast+`` and
``minimap2`` from Debian enable those references; a missing tool is reported, not fatal). Writes
``bench/out/dna.json`` and ``bench/out/dna.md``.
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

ROOT = Path(__file__).resolve().parents[2]
DNA = ROOT.parent / "shared" / "data" / "dna"
GENE_FILES = ("CP040672.1.genes_100.fna", "MIIJ01000039.single.fna.gz")
OUT = ROOT / "bench" / "out"
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


@dataclass(frozen=True)
class Case:
    """One query: where it was cut from and how it was changed."""

    qid: str
    gene: str
    length: str  # "150", "500" or "gene"
    divergence: int  # % substitutions
    strand: str  # "plus" or "minus"
    sequence: str


def read_genes() -> list[tuple[str, str]]:
    """(id, sequence) of every gene in the catalog, in file order."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    genes = []
    for name in GENE_FILES:
        path = DNA / name
        opener: Any = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt") as handle:
            genes += [(title.split()[0], seq.upper()) for title, seq in SimpleFastaParser(handle)]
    return genes


def mutate(rng: np.random.Generator, seq: str, divergence: int) -> str:
    """``divergence`` % substitutions at random positions; from 15 % also two 1-3 bp indels."""
    out = list(seq)
    for i in rng.choice(len(out), size=round(len(out) * divergence / 100), replace=False):
        out[i] = str(rng.choice([b for b in "ACGT" if b != out[i]]))
    if divergence >= 15 and len(out) > 60:
        for _ in range(2):
            at = int(rng.integers(10, len(out) - 10))
            if rng.random() < 0.5:
                del out[at : at + int(rng.integers(1, 4))]
            else:
                out[at:at] = list(rng.choice(list("ACGT"), size=int(rng.integers(1, 4))))
    return "".join(out)


def make_cases(genes: list[tuple[str, str]], count: int, seed: int) -> list[Case]:
    """``count`` queries spread evenly over lengths and divergences, a third on the minus strand."""
    rng = np.random.default_rng(seed)
    usable = [(g, s) for g, s in genes if len(s) >= 600]
    cases = []
    kinds = [(length, div) for length in ("150", "500", "gene") for div in (0, 5, 15)]
    for n in range(count):
        gene, seq = usable[int(rng.integers(len(usable)))]
        length, div = kinds[n % len(kinds)]
        if length != "gene":
            size = int(length)
            start = int(rng.integers(0, len(seq) - size + 1))
            seq = seq[start : start + size]
        query = mutate(rng, seq, div)
        strand = "minus" if (n // len(kinds)) % 3 == 2 else "plus"  # every kind on both strands
        if strand == "minus":
            query = query.translate(COMPLEMENT)[::-1]
        cases.append(Case(f"q{n}", gene, length, div, strand, query))
    return cases


def write_fasta(path: Path, records: list[tuple[str, str]]) -> None:
    path.write_text("".join(f">{i}\n{s}\n" for i, s in records))


def genocat(genes_fasta: Path, cases: list[Case], work: Path, *, mode: str) -> tuple[dict[str, Any], float]:
    """Best hit per query (id, E-value, bits) and seconds per query (the mean, as for the tools), warm."""
    from genocat_desktop.engine import Catalog, Searcher, configure_process, import_files
    from genocat_desktop.engine.search.queries import Query

    configure_process()
    location = work / f"catalog-{genes_fasta.stem}"
    catalog = Catalog.open(str(location), create=True)
    if not catalog.count():
        import_files(catalog, [genes_fasta])
    searcher = Searcher(catalog)
    searcher.warm()
    searcher.search(Query("warm", cases[0].sequence, "dna"), k=1, mode=mode)  # loads what the rest reuse
    best: dict[str, Any] = {}
    seconds = []
    for case in cases:
        started = time.perf_counter()
        hits = searcher.search(Query(case.qid, case.sequence, "dna"), k=1, mode=mode).hits.to_pylist()
        seconds.append(time.perf_counter() - started)
        best[case.qid] = (hits[0]["id"], hits[0].get("evalue"), hits[0].get("bits")) if hits else (None, None, None)
    return best, float(np.mean(seconds))


def scaled_genes(genes: list[tuple[str, str]], nucleotides: int, seed: int) -> list[tuple[str, str]]:
    """The genes, then copies of them with 20-40 % substitutions until about ``nucleotides`` in all."""
    rng = np.random.default_rng(seed + 1000)
    out = list(genes)
    total = sum(len(s) for _, s in genes)
    short = [(g, s) for g, s in genes if len(s) < 10_000]  # long records are located, not aligned
    n = 0
    while total < nucleotides:
        gene, seq = short[n % len(short)]
        copy = mutate(rng, seq, int(rng.integers(20, 41)))
        out.append((f"{gene}~copy{n}", copy))
        total += len(copy)
        n += 1
    return out


def blastn(genes_fasta: Path, queries: Path, work: Path, task: str) -> tuple[dict[str, Any], float] | None:
    """blastn's best hit per query (by bit score) and seconds per query, or ``None`` without BLAST+."""
    if not shutil.which("blastn"):
        return None
    db = work / f"blastdb-{genes_fasta.stem}"
    if not (work / f"{db.name}.nsq").exists() and not (work / f"{db.name}.00.nsq").exists():
        subprocess.run(["makeblastdb", "-in", str(genes_fasta), "-dbtype", "nucl", "-out", str(db)],
                       check=True, capture_output=True)
    out = work / f"{task}-{genes_fasta.stem}.tsv"
    started = time.perf_counter()
    subprocess.run(["blastn", "-task", task, "-query", str(queries), "-db", str(db), "-outfmt", "6",
                    "-evalue", "10", "-max_target_seqs", "5", "-num_threads", "2", "-out", str(out)],
                   check=True, capture_output=True)
    seconds = time.perf_counter() - started
    best: dict[str, Any] = {}
    bits: dict[str, float] = {}
    for line in out.read_text().splitlines():
        f = line.split("\t")
        if float(f[11]) > bits.get(f[0], -1.0):
            bits[f[0]] = float(f[11])
            best[f[0]] = (f[1], float(f[10]), float(f[11]))
    return best, seconds / max(1, sum(1 for line in queries.read_text().splitlines() if line.startswith(">")))


def minimap2(genes_fasta: Path, queries: Path, work: Path) -> tuple[dict[str, Any], float] | None:
    """minimap2's best mapping per query (by alignment score), or ``None`` without minimap2."""
    if not shutil.which("minimap2"):
        return None
    started = time.perf_counter()
    proc = subprocess.run(["minimap2", "-c", "-t", "2", str(genes_fasta), str(queries)],
                          check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    best: dict[str, Any] = {}
    score: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        f = line.split("\t")
        s = next((int(x[5:]) for x in f[12:] if x.startswith("AS:i:")), 0)
        if s > score.get(f[0], -1):
            score[f[0]] = s
            best[f[0]] = (f[5], None, None)
    return best, seconds / max(1, sum(1 for line in queries.read_text().splitlines() if line.startswith(">")))


def recall(cases: list[Case], best: dict[str, Any]) -> dict[str, float]:
    """R@1 overall, per strand and per divergence."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for c in cases:
        right = best.get(c.qid, (None, None))[0] == c.gene
        for key in ("all", c.strand, f"{c.divergence} %", f"{c.divergence} % {c.strand}"):
            groups[key].append(right)
    return {k: float(np.mean(v)) for k, v in groups.items()}


def same_hits(cases: list[Case], ours: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """How often two GenoCat modes put the same row first, and with it the same bits."""
    same = [ours[c.qid][0] == reference[c.qid][0] for c in cases]
    bits = [ours[c.qid][2] == reference[c.qid][2] for c in cases if ours[c.qid][0] == reference[c.qid][0]]
    return {"same_top": float(np.mean(same)), "same_bits": float(np.mean(bits)) if bits else float("nan")}


def evalue_ratios(cases: list[Case], ours: dict[str, Any], theirs: dict[str, Any]) -> list[float]:
    """GenoCat's E-value over blastn's, where both put the right gene first with an E-value above 0."""
    out = []
    for c in cases:
        a, b = ours.get(c.qid), theirs.get(c.qid)
        if a and b and a[0] == b[0] == c.gene and a[1] and b[1]:
            out.append(float(a[1]) / float(b[1]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dna.run", description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=270)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=int, default=0, help="also a catalog of about this many nucleotides")
    args = parser.parse_args(argv)
    genes = read_genes()
    cases = make_cases(genes, args.queries, args.seed)
    results: dict[str, Any] = {"genes": len(genes), "nucleotides": sum(len(s) for _, s in genes),
                               "queries": len(cases), "systems": {}}
    with tempfile.TemporaryDirectory(prefix="genocat-dna-bench-") as tmp:
        work = Path(tmp)
        genes_fasta, queries = work / "genes.fna", work / "queries.fna"
        write_fasta(genes_fasta, genes)
        write_fasta(queries, [(c.qid, c.sequence) for c in cases])
        runs: dict[str, tuple[dict[str, Any], float] | None] = {
            "GenoCat fast (k-mer, both strands)": genocat(genes_fasta, cases, work, mode="fast"),
            "GenoCat align": genocat(genes_fasta, cases, work, mode="align"),
            "GenoCat sensitive (word seeds; auto)": genocat(genes_fasta, cases, work, mode="sensitive"),
            "GenoCat exhaustive": genocat(genes_fasta, cases, work, mode="exhaustive"),
            "blastn -task blastn": blastn(genes_fasta, queries, work, "blastn"),
            "blastn -task megablast": blastn(genes_fasta, queries, work, "megablast"),
            "minimap2 -c": minimap2(genes_fasta, queries, work),
        }
        if args.scale:
            big = scaled_genes(genes, args.scale, args.seed)
            big_fasta = work / "scaled.fna"
            write_fasta(big_fasta, big)
            results["scaled"] = {"rows": len(big), "nucleotides": sum(len(s) for _, s in big)}
            runs["GenoCat sensitive, scaled catalog"] = genocat(big_fasta, cases, work, mode="sensitive")
            runs["blastn -task blastn, scaled catalog"] = blastn(big_fasta, queries, work, "blastn")
    for name, run in runs.items():
        if run is None:
            results["systems"][name] = None
            continue
        best, per_query = run
        results["systems"][name] = {"recall": recall(cases, best), "ms_per_query": per_query * 1000}
    blast = runs["blastn -task blastn"]
    if blast:
        for name in ("GenoCat align", "GenoCat sensitive (word seeds; auto)", "GenoCat exhaustive"):
            ours = runs[name]
            ratios = evalue_ratios(cases, ours[0], blast[0]) if ours else []
            if ratios and ours:
                results["systems"][name] |= {"evalue_ratio_median": float(np.median(ratios)),
                                             "evalue_ratio_within_2x": float(np.mean([0.5 <= r <= 2 for r in ratios])),
                                             "evalue_pairs": len(ratios)}
    seeded, exhaustive = runs["GenoCat sensitive (word seeds; auto)"], runs["GenoCat exhaustive"]
    if seeded and exhaustive:
        results["seeded_vs_exhaustive"] = same_hits(cases, seeded[0], exhaustive[0])
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dna.json").write_text(json.dumps({**results, "cases": [asdict(c) | {"sequence": None} for c in cases]},
                                             indent=1))
    table = _markdown(results)
    (OUT / "dna.md").write_text(table)
    print(table)
    return 0


def _markdown(results: dict[str, Any]) -> str:
    keys = ["all", "plus", "minus", "0 %", "5 %", "5 % minus", "15 %", "15 % minus"]
    lines = [f"{results['queries']} queries against {results['genes']} real genes, {results['nucleotides']:,} nt "
             "(R@1: the right gene first; ms/query: the mean; GenoCat one thread, the tools two)", "",
             "| system | " + " | ".join(f"R@1 {k}" for k in keys) + " | ms/query |",
             "|---|" + "---|" * (len(keys) + 1)]
    for name, r in results["systems"].items():
        if r is None:
            lines.append(f"| {name} | " + " | ".join("not installed" for _ in keys) + " | – |")
            continue
        cells = " | ".join(f"{r['recall'].get(k, float('nan')):.3f}" for k in keys)
        lines.append(f"| {name} | {cells} | {r['ms_per_query']:.1f} |")
    lines.append("")
    for name, r in results["systems"].items():
        if r and r.get("evalue_pairs"):
            lines.append(f"E-values, {name} over blastn for the same right hit: median {r['evalue_ratio_median']:.2f}, "
                         f"within 2x for {r['evalue_ratio_within_2x']:.0%} of {r['evalue_pairs']} pairs.")
    if results.get("seeded_vs_exhaustive"):
        same = results["seeded_vs_exhaustive"]
        lines.append(f"Seeded vs exhaustive: same top hit for {same['same_top']:.1%} of queries, same bits for "
                     f"{same['same_bits']:.1%} of those.")
    for name in ("GenoCat sensitive (word seeds; auto)", "GenoCat sensitive, scaled catalog"):
        ours, theirs = results["systems"].get(name), results["systems"].get(
            "blastn -task blastn" + (", scaled catalog" if "scaled" in name else ""))
        if ours and theirs:
            lines.append(f"{name}: {ours['ms_per_query'] / theirs['ms_per_query']:.2f}x blastn's time per query.")
    if results.get("scaled"):
        lines.append(f"Scaled catalog: {results['scaled']['rows']:,} rows, {results['scaled']['nucleotides']:,} nt "
                     "(the genes and copies with 20-40 % substitutions).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
