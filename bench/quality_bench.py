"""5. Retrieval quality of the k-mer embedder on the shared labelled families.

``families_cap100.faa``: 579 proteins of 17 families. All against all by
cosine similarity, self hits excluded; a hit is right when it shares the
query's family (the part of the id before ``|``). Measured the same way, in
the same run, for exact 3-mer count vectors (the bar the shared data README
quotes: P@1 0.845, P@10 0.696, sensitivity@50 0.610).

P@1: fraction of queries whose best hit is of their family. P@10: mean
fraction of the top 10 of the query's family. Sensitivity@50: mean fraction
of the query's family (other members, at most 50 of them) found in the top 50.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from genocat_desktop.engine.embed.embedders.base import create

from . import data, kmer3
from .util import table


def scores(vectors: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :50]
    same = labels[order] == labels[:, None]
    family = np.array([(labels == lab).sum() - 1 for lab in labels])
    has = family > 0
    return {
        "p_at_1": float(same[has, 0].mean()),
        "p_at_10": float(same[has, :10].mean()),
        "sensitivity_at_50": float((same[has, :50].sum(axis=1) / np.minimum(family[has], 50)).mean()),
        "queries": int(has.sum()),
    }


def run(quick: bool, log) -> dict[str, Any]:
    records = data.read_fasta(data.families_cap100())
    labels = np.array([title.split("|", 1)[0] for title, _ in records])
    seqs = [s.upper() for _, s in records]
    emb = create("kmer")
    out: dict[str, Any] = {"proteins": len(seqs), "families": len(set(labels.tolist())), "params": emb.params()}
    for name, fn in (("kmer", lambda: emb.embed(seqs)), ("exact_3mer", lambda: kmer3.embed(seqs))):
        t = time.perf_counter()
        vecs = fn()
        seconds = time.perf_counter() - t
        out[name] = scores(np.asarray(vecs, dtype=np.float32), labels) | {"embed_seconds": seconds}
    log(f"  quality: k-mer P@1 {out['kmer']['p_at_1']:.3f}, exact 3-mer P@1 {out['exact_3mer']['p_at_1']:.3f}")
    return out


def report(res: dict[str, Any]) -> str:
    rows = []
    for key, label in (("kmer", f"k-mer embedder {res['params']}"), ("exact_3mer", "exact 3-mer counts (reference)")):
        r = res[key]
        rows.append([label, *(f"{r[m]:.3f}" for m in ("p_at_1", "p_at_10", "sensitivity_at_50"))])
    rows.append(["k-mer − 3-mer", *(f"{res['kmer'][m] - res['exact_3mer'][m]:+.3f}"
                                   for m in ("p_at_1", "p_at_10", "sensitivity_at_50"))])
    return table(["vectors (cosine)", "P@1", "P@10", "sensitivity@50"], rows) + (
        f"\n\n{res['kmer']['queries']} queries, {res['families']} families, all against all, self hits excluded.")
