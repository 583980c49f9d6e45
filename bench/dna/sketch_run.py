"""MinHash sketch columns on real DNA: inserts in constructs, genome distances, speed; sourmash as the reference.

Three measurements, on the records of ``../shared/data/dna/`` (read its README):

* **Constructs** (containment). Real genes (500-3,000 bp, from the two gene files) are put
  into 3-10 kb constructs: one of five random vector backbones (constructs share them, as
  a lab's plasmids do) with the gene inserted at a random place, in either orientation; a
  third of the genes go into two or three constructs. Each gene is then searched (in
  its CDS orientation) against the catalog of every construct: it is right when every
  construct carrying it is in the top 5. Measured for several ``scaled`` values, with
  sourmash's own containment (``MinHash.contained_by``) ranked the same way beside it.
* **Genome distance** (ANI). 50 kb pieces of the shared contigs (no ``N``), copied with
  1, 5 and 10 % random substitutions, half of the copies reverse-complemented; the catalog
  holds every copy. Each piece is searched; its copies' ``ani`` and ``distance`` are
  compared with sourmash's ``containment_ani`` and ``jaccard_ani`` on the same sequences,
  at GenoCat's ``scaled`` and at ``sourmash sketch dna``'s default (1000), and with the
  true divergence.
* **Speed**: sketching a 5 Mbp genome (the real contigs plus random sequence), importing
  it into a catalog with a sketch column, and warm queries on a 10,000-construct catalog.

Run: ``python -m bench.dna.sketch_run [--seed 1] [--quick]``; writes ``bench/out/dna_sketch.json``
and ``bench/out/dna_sketch.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.dna.run import DNA, OUT, mutate, read_genes, write_fasta

CONTIGS = ("MIIJ01000039.fna.gz", "1390.SAMEA104415756.OFHT01000022.fna", "KK037166.fna.gz")
COMPLEMENT = str.maketrans("ACGT", "TGCA")
SCALED_TRIED = (10, 50, 100, 200, 1000)


def rc(seq: str) -> str:
    """The reverse complement."""
    return seq.translate(COMPLEMENT)[::-1]


def random_dna(rng: np.random.Generator, n: int) -> str:
    """``n`` random bases."""
    return "".join(np.array(list("ACGT"))[rng.integers(0, 4, n)])


def read_contigs() -> list[str]:
    """The shared contigs' sequences (upper case)."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    out = []
    for name in CONTIGS:
        opener: Any = gzip.open if name.endswith(".gz") else open
        with opener(DNA / name, "rt") as handle:
            out += [seq.upper() for _, seq in SimpleFastaParser(handle)]
    return out


def make_constructs(rng: np.random.Generator, genes: list[tuple[str, str]], count: int
                    ) -> tuple[list[tuple[str, str]], dict[str, list[str]], dict[str, str]]:
    """``count`` constructs; the genes used (id -> the constructs carrying it) and their sequences."""
    usable = [(g, s) for g, s in genes if 500 <= len(s) <= 3000 and "N" not in s]
    backbones = [random_dna(rng, int(rng.integers(2000, 7000))) for _ in range(5)]
    constructs: list[tuple[str, str]] = []
    carriers: dict[str, list[str]] = {}
    inserts: dict[str, str] = {}
    order = rng.permutation(len(usable))
    pick = 0
    while len(constructs) < count:
        gene, seq = usable[int(order[pick % len(order)])]
        pick += 1
        copies = int(rng.choice([1, 1, 2, 3]))
        inserts[gene] = seq
        for _ in range(min(copies, count - len(constructs))):
            bb = backbones[int(rng.integers(len(backbones)))]
            bb = bb[: max(0, min(len(bb), int(rng.integers(3000, 10_000)) - len(seq)))]
            at = int(rng.integers(0, len(bb) + 1))
            insert = seq if rng.random() < 0.5 else rc(seq)
            name = f"construct{len(constructs):05d}"
            constructs.append((name, bb[:at] + insert + bb[at:]))
            carriers.setdefault(gene, []).append(name)
    return constructs, carriers, inserts


def construct_recall(work: Path, constructs: list[tuple[str, str]], carriers: dict[str, list[str]],
                     inserts: dict[str, str], scaled: int) -> dict[str, Any]:
    """GenoCat's sketch search and sourmash's containment, ranked alike, at one ``scaled``."""
    from sourmash import MinHash

    from genocat_desktop.engine import Catalog, Searcher, add_embedding, import_files

    folder = work / f"constructs-{scaled}"
    folder.mkdir()
    write_fasta(folder / "c.fna", constructs)
    catalog = Catalog.open(str(folder / "cat"), create=True)
    import_files(catalog, [folder / "c.fna"])
    add_embedding(catalog, "sketch", {"scaled": scaled})
    searcher = Searcher(catalog)
    ours = ref = refused = 0
    seconds = []
    mhs = []
    for name, seq in constructs:
        mh = MinHash(n=0, ksize=21, scaled=scaled)
        mh.add_sequence(seq, force=True)
        mhs.append((name, mh))
    for gene, seq in inserts.items():
        want = set(carriers[gene])
        started = time.perf_counter()
        try:
            hits = searcher.search(seq, k=5, column="vec_sketch").hits.column("id").to_pylist()
        except Exception:  # a query that keeps no hash is refused with a message
            hits = []
            refused += 1
        seconds.append(time.perf_counter() - started)
        ours += want <= set(hits)
        q = MinHash(n=0, ksize=21, scaled=scaled)
        q.add_sequence(seq, force=True)
        scored = sorted(((q.contained_by(mh) if len(q) else 0.0, -i, n) for i, (n, mh) in enumerate(mhs)),
                        reverse=True)[:5]
        ref += want <= {n for c, _, n in scored if c > 0}
    return {"scaled": scaled, "inserts": len(inserts), "genocat_top5": ours / len(inserts),
            "sourmash_top5": ref / len(inserts), "refused_no_hash": refused,
            "query_ms_p50": 1000 * float(np.median(seconds))}


def genome_distances(work: Path, rng: np.random.Generator, scaled: int, pieces: int, ksize: int = 21
                     ) -> dict[str, Any]:
    """ANI and distance of 50 kb pieces' diverged copies: GenoCat against sourmash and the truth."""
    from sourmash import MinHash

    from genocat_desktop.engine import Catalog, Searcher, add_embedding, import_files

    # Non-overlapping 50 kb windows without N: a piece's copies must not resemble another piece's.
    windows = [c[at : at + 50_000] for c in read_contigs() for at in range(0, len(c) - 50_000 + 1, 50_000)]
    windows = [w for w in windows if "N" not in w]
    originals = [windows[int(i)] for i in rng.choice(len(windows), size=min(pieces, len(windows)), replace=False)]
    copies = []
    for i, piece in enumerate(originals):
        for j, div in enumerate((1, 5, 10)):
            seq = mutate(rng, piece, div)
            minus = (i + j) % 2 == 1
            copies.append((f"piece{i}_d{div}", rc(seq) if minus else seq, i, div, "minus" if minus else "plus"))
    folder = work / f"genomes-{ksize}-{scaled}"
    folder.mkdir()
    write_fasta(folder / "g.fna", [(c[0], c[1]) for c in copies])
    catalog = Catalog.open(str(folder / "cat"), create=True)
    import_files(catalog, [folder / "g.fna"])
    add_embedding(catalog, "sketch", {"scaled": scaled, "ksize": ksize})
    searcher = Searcher(catalog)
    rows = []
    for i, piece in enumerate(originals):
        hits = {h["id"]: h for h in searcher.search(piece, k=50, column="vec_sketch").hits.to_pylist()}
        for name, seq, owner, div, strand in copies:
            if owner != i:
                continue
            h = hits[name]
            ref: dict[str, float] = {}
            for s in (scaled, 1000):
                a, b = MinHash(n=0, ksize=ksize, scaled=s), MinHash(n=0, ksize=ksize, scaled=s)
                a.add_sequence(piece, force=True)
                b.add_sequence(seq, force=True)
                ref[f"ani_{s}"] = a.containment_ani(b).dist
                ref[f"jaccard_{s}"] = a.jaccard_ani(b).dist
            ref["mash"] = mash_distance(piece, seq)
            rows.append({"divergence": div, "strand": strand,
                         "genocat_ani": h["ani"], "genocat_distance": h["distance"], "rank": h["rank"],
                         **{f"sourmash_{k}": v for k, v in ref.items()}})
    out: dict[str, Any] = {"scaled": scaled, "ksize": ksize, "pieces": len(originals), "rows": rows}
    for s in (scaled, 1000):
        out[f"max_abs_diff_ani_vs_sourmash_{s}"] = max(abs((1 - r["genocat_ani"]) - r[f"sourmash_ani_{s}"])
                                                      for r in rows)
        out[f"max_abs_diff_distance_vs_sourmash_{s}"] = max(
            abs(r["genocat_distance"] - r[f"sourmash_jaccard_{s}"]) for r in rows)
    out["max_abs_diff_distance_vs_mash"] = max(abs(r["genocat_distance"] - r["sourmash_mash"]) for r in rows)
    out["share_within_0.01_of_mash"] = float(np.mean([abs(r["genocat_distance"] - r["sourmash_mash"]) <= 0.01
                                                      for r in rows]))
    out["share_within_0.01_of_truth"] = float(np.mean([abs(r["genocat_distance"] - r["divergence"] / 100) <= 0.01
                                                       for r in rows]))
    out["max_abs_diff_distance_vs_truth"] = max(abs(r["genocat_distance"] - r["divergence"] / 100) for r in rows)
    out["max_abs_diff_1-ani_vs_truth"] = max(abs(1 - r["genocat_ani"] - r["divergence"] / 100) for r in rows)
    out["all_copies_rank_by_divergence"] = all(r["rank"] == (1, 5, 10).index(r["divergence"]) + 1 for r in rows)
    for div in (1, 5, 10):
        sel = [r for r in rows if r["divergence"] == div]
        for key in ("genocat_distance", "sourmash_jaccard_1000", "sourmash_mash"):
            out[f"mean_{key}_d{div}"] = float(np.mean([r[key] for r in sel]))
        out[f"mean_1-ani_d{div}"] = float(np.mean([1 - r["genocat_ani"] for r in sel]))
    return out


def mash_distance(a: str, b: str, ksize: int = 21, size: int = 1000) -> float:
    """Mash's distance with Mash's defaults (k=21, a bottom-1000 sketch), on sourmash's num-based MinHash.

    Mash is not installed here: its estimator (the Jaccard index of the bottom ``size`` hashes of the
    union, then ``-ln(2J / (1 + J)) / k``) on a sourmash bottom sketch of the same size and k.
    """
    from sourmash import MinHash

    ma, mb = MinHash(n=size, ksize=ksize), MinHash(n=size, ksize=ksize)
    ma.add_sequence(a, force=True)
    mb.add_sequence(b, force=True)
    j = ma.jaccard(mb)
    return 1.0 if j == 0 else float(-np.log(2 * j / (1 + j)) / ksize)


def speed(work: Path, rng: np.random.Generator, constructs: int) -> dict[str, Any]:
    """Sketching and importing a 5 Mbp genome; warm queries on a catalog of ``constructs`` constructs."""
    from genocat_desktop.engine import Catalog, Searcher, add_embedding, import_files
    from genocat_desktop.engine.embed.embedders.sketch import SketchEmbedder

    contigs = read_contigs()
    genome = "".join(contigs)
    genome += random_dna(rng, 5_000_000 - len(genome))
    emb = SketchEmbedder()
    emb.sketch_one("ACGT" * 20)  # sourmash imported before timing
    started = time.perf_counter()
    hashes = emb.sketch_one(genome)
    sketch_s = time.perf_counter() - started
    folder = work / "speed"
    folder.mkdir()
    write_fasta(folder / "genome.fna", [("genome", genome)])
    catalog = Catalog.open(str(folder / "genome-cat"), create=True)
    add_embedding(catalog, "sketch")  # an empty catalog: the column first, then the import fills it
    started = time.perf_counter()
    import_files(catalog, [folder / "genome.fna"])
    import_s = time.perf_counter() - started
    genes = read_genes()
    made, _, inserts = make_constructs(rng, genes, constructs)
    write_fasta(folder / "c.fna", made)
    big = Catalog.open(str(folder / "constructs-cat"), create=True)
    started = time.perf_counter()
    import_files(big, [folder / "c.fna"])
    add = add_embedding(big, "sketch")
    build_s = time.perf_counter() - started
    searcher = Searcher(big)
    queries = list(inserts.values())[:200]
    started = time.perf_counter()
    searcher.search(queries[0], k=10, column="vec_sketch")
    first_ms = 1000 * (time.perf_counter() - started)
    times = []
    for q in queries:
        started = time.perf_counter()
        searcher.search(q, k=10, column="vec_sketch")
        times.append(time.perf_counter() - started)
    return {"genome_bp": len(genome), "genome_hashes": int(hashes.size), "sketch_5mbp_s": sketch_s,
            "import_5mbp_with_sketch_and_kmer_s": import_s, "constructs": constructs,
            "constructs_import_and_sketch_s": build_s, "sketch_column_s": add.seconds,
            "first_query_ms_incl_load": first_ms, "query_ms_p50": 1000 * float(np.median(times)),
            "query_ms_max": 1000 * float(np.max(times))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="fewer constructs and pieces")
    args = parser.parse_args(argv)
    from genocat_desktop.engine import configure_process

    configure_process()
    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="genocat-sketch-bench-"))
    results: dict[str, Any] = {"seed": args.seed}
    try:
        made, carriers, inserts = make_constructs(rng, read_genes(), 60 if args.quick else 200)
        results["constructs"] = [construct_recall(work, made, carriers, inserts, s) for s in SCALED_TRIED]
        # The same pieces (same seed) for each sketch setting.
        results["genomes"] = [genome_distances(work, np.random.default_rng(args.seed + 1), scaled,
                                               3 if args.quick else 12, ksize)
                              for ksize, scaled in ((21, 100), (31, 100), (31, 50), (21, 1000))]
        results["speed"] = speed(work, rng, 1000 if args.quick else 10_000)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dna_sketch.json").write_text(json.dumps(results, indent=2))
    (OUT / "dna_sketch.md").write_text(_markdown(results))
    print(_markdown(results))
    return 0


def _markdown(r: dict[str, Any]) -> str:
    lines = ["# MinHash sketches on real DNA (`python -m bench.dna.sketch_run`)", "",
             "## Inserts in constructs: every construct carrying the insert in the top 5", "",
             "| scaled | inserts | GenoCat | sourmash containment | refused (no hash) | query p50 |",
             "|---|---|---|---|---|---|"]
    for c in r["constructs"]:
        lines.append(f"| {c['scaled']} | {c['inserts']} | {c['genocat_top5']:.3f} | {c['sourmash_top5']:.3f} | "
                     f"{c['refused_no_hash']} | {c['query_ms_p50']:.1f} ms |")
    for g in r["genomes"]:
        lines += _genome_lines(g)
    sp = r["speed"]
    lines += ["", "## Speed", "",
              f"- sketch of a {sp['genome_bp'] / 1e6:.1f} Mbp genome: {sp['sketch_5mbp_s']:.2f} s "
              f"({sp['genome_hashes']:,} hashes); import into a catalog with k-mer and sketch columns: "
              f"{sp['import_5mbp_with_sketch_and_kmer_s']:.2f} s",
              f"- {sp['constructs']:,} constructs: import + sketch column {sp['constructs_import_and_sketch_s']:.1f} s "
              f"(sketch column {sp['sketch_column_s']:.1f} s); first query (loads the hashes) "
              f"{sp['first_query_ms_incl_load']:.0f} ms, then p50 {sp['query_ms_p50']:.1f} ms, "
              f"max {sp['query_ms_max']:.1f} ms"]
    return "\n".join(lines) + "\n"


def _genome_lines(g: dict[str, Any]) -> list[str]:
    s = g["scaled"]
    lines = ["", f"## 50 kb pieces, diverged copies ({g['pieces']} pieces, GenoCat k {g['ksize']}, scaled {s}; "
             "means over the copies, half of them reverse-complemented)", "",
             "| divergence | GenoCat distance | GenoCat 1 - ANI | Mash-like (k 21, s 1000) | sourmash scaled 1000 |",
             "|---|---|---|---|---|"]
    for d in (1, 5, 10):
        lines.append(f"| {d} % | {g[f'mean_genocat_distance_d{d}']:.4f} | {g[f'mean_1-ani_d{d}']:.4f} | "
                     f"{g[f'mean_sourmash_mash_d{d}']:.4f} | {g[f'mean_sourmash_jaccard_1000_d{d}']:.4f} |")
    lines.append(f"\nLargest difference, any copy: from sourmash at the same scaled ({s}): ANI "
                 f"{g[f'max_abs_diff_ani_vs_sourmash_{s}']:.4f}, "
                 f"distance {g[f'max_abs_diff_distance_vs_sourmash_{s}']:.4f}; "
                 f"from the Mash-like distance {g['max_abs_diff_distance_vs_mash']:.4f} "
                 f"({g['share_within_0.01_of_mash']:.0%} of copies within 0.01); from the true divergence: "
                 f"distance {g['max_abs_diff_distance_vs_truth']:.4f} ({g['share_within_0.01_of_truth']:.0%} within "
                 f"0.01), 1 - ANI {g['max_abs_diff_1-ani_vs_truth']:.4f}. Copies ranked 1 %, 5 %, 10 % for every "
                 f"piece: {g['all_copies_rank_by_divergence']}. (sourmash at scaled 1000 keeps ~50 hashes of a "
                 "50 kb piece: at 10 % it often shares none.)")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
