"""4. Embedding throughput of the k-mer embedder (the default, no model file).

The records are parsed first (untimed) into the importer's packed batches;
then ``KmerEmbedder.embed_packed`` (the importer's path) and ``embed`` (the
path of a list of strings, as for queries) embed all of them, against the
numpy exact 3-mer count baseline (:mod:`bench.kmer3`) on the same batches,
side by side, repeated.
"""

from __future__ import annotations

import time
from typing import Any

from genocat_desktop.engine.embed.embedders.base import create
from genocat_desktop.engine.ingest.fasta import FastaReader

from . import data, kmer3
from .util import ratio, summary, table


def run(quick: bool, log) -> dict[str, Any]:
    n = 10_000 if quick else 100_000
    runs = 3 if quick else 5
    path = data.synthetic(n, log=log)
    batches = [(b.data, b.offsets, b.sequences()) for b in FastaReader(path)]
    records = sum(len(o) - 1 for _, o, _ in batches)
    residues = sum(len(d) for d, _, _ in batches)
    emb = create("kmer")
    timers = {
        "kmer_embed_packed": lambda: [emb.embed_packed(d, o) for d, o, _ in batches],  # type: ignore[attr-defined]
        "kmer_embed_strings": lambda: [emb.embed(s) for _, _, s in batches],
        "numpy_exact_3mer": lambda: [kmer3.embed_packed(d, o) for d, o, _ in batches],
    }
    names = list(timers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(runs):
        for name in names[r % len(names):] + names[: r % len(names)]:
            c = time.process_time()
            t = time.perf_counter()
            timers[name]()
            samples[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    res = {"records": records, "residues": residues, "runs": runs, "dim": emb.dim,
           "params": emb.params(), "batches": len(batches), "seconds": {k: summary(v) for k, v in samples.items()},
           "cpu_seconds": {k: summary(v) for k, v in cpu.items()}}
    for k in names:
        res["seconds"][k]["rate"] = records / res["seconds"][k]["median"]
        res["cpu_seconds"][k]["rate"] = records / res["cpu_seconds"][k]["median"]
    log(f"  embedding: packed {res['seconds']['kmer_embed_packed']['rate']:,.0f} seq/s, "
        f"3-mer {res['seconds']['numpy_exact_3mer']['rate']:,.0f} seq/s")
    return res


def report(res: dict[str, Any]) -> str:
    s, c = res["seconds"], res["cpu_seconds"]
    base = s["numpy_exact_3mer"]["rate"]
    rows = [
        [label, f"{dim:,}", s[k]["median"], s[k]["rate"], res["residues"] / s[k]["median"] / 1e6,
         ratio(s[k]["rate"], base), c[k]["rate"], ratio(c[k]["rate"], c["numpy_exact_3mer"]["rate"])]
        for k, label, dim in (
            ("kmer_embed_packed", "k-mer embedder, `embed_packed` (import path)", res["dim"]),
            ("kmer_embed_strings", "k-mer embedder, `embed(list[str])`", res["dim"]),
            ("numpy_exact_3mer", "reference: numpy exact 3-mer counts", kmer3.DIM),
        )
    ]
    return table(["embedder", "dim", "seconds (median)", "sequences/s", "M residues/s", "vs 3-mer baseline",
                  "sequences/CPU-s", "vs 3-mer (CPU)"],
                 rows) + (f"\n\n{res['records']:,} synthetic records ({res['residues'] / 1e6:.1f} M residues) "
                          f"in {res['batches']} batches, {res['runs']} runs each, interleaved; "
                          f"k-mer parameters {res['params']}.")
