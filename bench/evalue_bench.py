"""Honest E-values: wrong-family hits at small E-values, GenoCat before/after composition statistics vs BLAST+.

Queries: the 579 labelled family proteins (``families_cap100.faa``). Database: those plus the real
background proteins of ``proteins/unlabeled`` (DIAMOND nr 10k and 300, MMseqs2 example queries),
sequences deduplicated. Every query is aligned to every database row (pyopal, score-only, the hit
list's scheme), so the figures bound what any candidate generator can show. For each query we count
the wrong-family hits with E < 1e-3: another family's member, or a background protein (counted two
ways: always wrong, or wrong only when default blastp does not find it at E < 1e-3 either).

Systems: GenoCat with standard statistics (λ, K of BLOSUM62 11/1, as before), GenoCat with
composition-based statistics (:mod:`genocat_desktop.engine.search.composition`), ``blastp``
(defaults: ``-comp_based_stats 2``) and ``blastp -comp_based_stats 0 -seg no``. Also coiled-coil
proteins of the background (myosin, tropomyosin, kinesin, keratin, ... by description) against each
other's unrelated kinds, and true family pairs' E-values before/after (the median shift).

Run: ``python -m bench.evalue_bench`` (writes ``bench/out/evalue.json`` and ``evalue.md``; BLAST's
outputs are cached in ``bench/out/evalue/``).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.data import OUT, families_cap100, read_fasta, shared_data

WORK: Final = OUT / "evalue"
CUTOFF: Final = 1e-3
BLAST_RUNS: Final = {"blastp": [], "blastp_cbs0_segno": ["-comp_based_stats", "0", "-seg", "no"]}
#: Descriptions of coiled-coil proteins (long heptad-repeat rods), as NCBI and UniProt name them.
COILED: Final = re.compile(r"\b(myosin heavy chain|myosin-[0-9]+|tropomyosin|paramyosin|kinesin|keratin|dynein heavy|"
                           r"spectrin|golgin|lamin|coiled-coil|structural maintenance of chromosomes|"
                           r"chromosome segregation protein SMC|SMC family|SMC protein)\b", re.I)
#: Kinds of coiled-coil protein: two of different kinds are unrelated.
KINDS: Final = ("myosin", "tropomyosin", "kinesin", "keratin", "dynein", "spectrin", "golgin", "lamin",
                "structural maintenance", "smc", "coiled-coil")


def database() -> tuple[list[str], list[str], list[str], list[str]]:
    """(ids, sequences, labels, titles): queries first (label = family), then background (label '')."""
    ids, seqs, labels, titles = [], [], [], []
    seen: set[str] = set()
    for title, seq in read_fasta(families_cap100()):
        seq = seq.upper().rstrip("*")
        seen.add(seq)
        ids.append(f"q{len(ids)}")
        seqs.append(seq)
        labels.append(title.split("|")[0])
        titles.append(title)
    unl = shared_data() / "proteins" / "unlabeled"
    for path in (unl / "diamond_nr_10k.faa.gz", unl / "diamond_nr_300.faa", unl / "mmseqs2_QUERY.fasta"):
        for title, seq in read_fasta(path):
            seq = re.sub(r"[^A-Z]", "", seq.upper())
            if not seq or seq in seen:
                continue
            seen.add(seq)
            ids.append(f"b{len(ids)}")
            seqs.append(seq)
            labels.append("")
            titles.append(title)
    return ids, seqs, labels, titles


def run_blast(ids: list[str], seqs: list[str], n_queries: int) -> dict[str, dict[tuple[int, int], float]]:
    """Each BLAST run's hits at E < 1e-3: (query index, row index) -> E-value (cached TSV)."""
    WORK.mkdir(parents=True, exist_ok=True)
    db_fa = WORK / "db.faa"
    if not db_fa.exists():
        db_fa.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, seqs, strict=True)))
        (WORK / "queries.faa").write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids[:n_queries], seqs, strict=False)))
        subprocess.run(["makeblastdb", "-in", str(db_fa), "-dbtype", "prot", "-out", str(WORK / "db")],
                       check=True, capture_output=True)
    index = {x: k for k, x in enumerate(ids)}
    out: dict[str, dict[tuple[int, int], float]] = {}
    for name, extra in BLAST_RUNS.items():
        tsv = WORK / f"{name}.tsv"
        if not tsv.exists():
            t0 = time.perf_counter()
            subprocess.run(["blastp", "-query", str(WORK / "queries.faa"), "-db", str(WORK / "db"), "-evalue",
                            str(CUTOFF), "-max_target_seqs", "20000", "-num_threads", "2", "-outfmt",
                            "6 qseqid sseqid evalue bitscore", "-out", str(tsv) + ".part", *extra], check=True)
            Path(str(tsv) + ".part").rename(tsv)
            (WORK / f"{name}.seconds").write_text(f"{time.perf_counter() - t0:.1f}\n")
        hits: dict[tuple[int, int], float] = {}
        for line in tsv.read_text().splitlines():
            q, s, e, _ = line.split("\t")
            key = (index[q], index[s])
            hits[key] = min(hits.get(key, np.inf), float(e))
        out[name] = hits
    return out


def raw_scores(seqs: list[str], n_queries: int) -> np.ndarray:
    """Every query's raw local score against every row (pyopal score-only, the hit list's scheme; cached)."""
    from genocat_desktop.engine.search.alignment import best_scores

    path = WORK / "genocat_raw.npy"
    if path.exists():
        return np.load(path)
    out = np.zeros((n_queries, len(seqs)), dtype=np.int32)
    molecules = ["protein"] * len(seqs)
    t0 = time.perf_counter()
    for qi in range(n_queries):
        out[qi] = best_scores(seqs[qi], "protein", seqs, molecules)[0]
    (WORK / "genocat_raw.seconds").write_text(f"{time.perf_counter() - t0:.1f}\n")
    np.save(path, out)
    return out


def statistics(seqs: list[str], raw: np.ndarray, db_residues: int) -> dict[str, np.ndarray]:
    """Bits of every (query, row) pair: standard, scaled only (mode 1), and composition-adjusted as the hit
    list computes them (matrix adjustment for the rows shown; here every row with a standard E <= 10,
    the only ones that could come out significant: scaling never raises a score)."""
    from genocat_desktop.engine.search.composition import adjusted_bits
    from genocat_desktop.engine.search.scoring import PROTEIN, evalue

    path = WORK / "genocat_bits.npz"
    if path.exists():
        return dict(np.load(path))
    standard = PROTEIN.bits(raw.astype(np.float64))
    scaled = np.zeros_like(standard)
    adjusted = np.zeros_like(standard)
    seconds = {"scaled": 0.0, "adjusted": 0.0}
    for qi in range(raw.shape[0]):
        t0 = time.perf_counter()
        scaled[qi] = adjusted_bits(seqs[qi], seqs, raw[qi], adjust=[])
        t1 = time.perf_counter()
        shown = np.flatnonzero(evalue(standard[qi], len(seqs[qi]), db_residues) <= 10)
        adjusted[qi] = adjusted_bits(seqs[qi], seqs, raw[qi], adjust=shown)
        seconds["scaled"] += t1 - t0
        seconds["adjusted"] += time.perf_counter() - t1
    out = {"standard": standard, "scaled": scaled, "adjusted": adjusted,
           "seconds": np.array([seconds["scaled"], seconds["adjusted"]])}
    np.savez(path, **out)
    return out


def wrong_hits(hits: dict[str, dict[tuple[int, int], float]], labels: list[str], titles: list[str],
               blastp: dict[tuple[int, int], float], pairwise: dict[tuple[int, int], float],
               n_queries: int) -> dict[str, dict[str, Any]]:
    """Per system: queries with a wrong-family hit at E < 1e-3, three ways of judging background rows:
    always wrong; wrong unless default blastp's database search found the pair at E < 1e-3; wrong
    unless default blastp aligning the pair alone (same search space) gives E < 1e-3 (the database
    search's seeds miss some homologues that exhaustive alignment finds)."""
    out: dict[str, dict[str, Any]] = {}
    for name, found in hits.items():
        other_family: set[int] = set()
        background: set[int] = set()
        unconfirmed: set[int] = set()
        unconfirmed_pairwise: set[int] = set()
        for (q, s), e in found.items():
            if s == q or e >= CUTOFF:
                continue
            if labels[s]:
                if labels[s] != labels[q]:
                    other_family.add(q)
            else:
                background.add(q)
                if (q, s) not in blastp:
                    unconfirmed.add(q)
                    if pairwise.get((q, s), np.inf) >= CUTOFF:
                        unconfirmed_pairwise.add(q)
        out[name] = {
            "examples_background_blastp_rejects": sorted(
                (float(e), labels[q], titles[s][:80], pairwise.get((q, s), float("inf")))
                for (q, s), e in found.items()
                if e < CUTOFF and not labels[s] and (q, s) not in blastp and pairwise.get((q, s), np.inf) >= CUTOFF
            )[:40],
            "other_family": len(other_family),
            "any_background_wrong": len(other_family | background),
            "background_wrong_unless_blastp": len(other_family | unconfirmed),
            "background_wrong_unless_blastp_pairwise": len(other_family | unconfirmed_pairwise),
            "queries": n_queries,
        }
    return out


def blast_pairwise(pairs: set[tuple[int, int]], seqs: list[str], db_residues: int) -> dict[tuple[int, int], float]:
    """Default blastp's E-value of each (query, row) pair aligned alone, with the database's search space."""
    by_query: dict[int, list[int]] = {}
    for q, s in sorted(pairs):
        by_query.setdefault(q, []).append(s)
    out: dict[tuple[int, int], float] = {}
    for q, rows in by_query.items():
        (WORK / "pair_q.faa").write_text(f">q\n{seqs[q]}\n")
        (WORK / "pair_s.faa").write_text("".join(f">r{s}\n{seqs[s]}\n" for s in rows))
        res = subprocess.run(["blastp", "-query", str(WORK / "pair_q.faa"), "-subject", str(WORK / "pair_s.faa"),
                              "-dbsize", str(db_residues), "-evalue", "1e6", "-outfmt", "6 sseqid evalue"],
                             check=True, capture_output=True, text=True).stdout
        for line in res.splitlines():
            sid, e = line.split("\t")
            key = (q, int(sid[1:]))
            out[key] = min(out.get(key, np.inf), float(e))
    return out


def genocat_hits(evalues: np.ndarray) -> dict[tuple[int, int], float]:
    q, s = np.nonzero(evalues < CUTOFF)
    return {(int(a), int(b)): float(evalues[a, b]) for a, b in zip(q, s, strict=True)}


def family_pairs(evalues: dict[str, np.ndarray], blast: dict[str, dict[tuple[int, int], float]],
                 labels: list[str], n_queries: int) -> dict[str, Any]:
    """True family pairs (query, another member of its family): found at E < 1e-3, and the E-value shift."""
    lab = np.array(labels[:n_queries])
    same = (lab[:, None] == lab[None, :]) & ~np.eye(n_queries, dtype=bool)
    pairs = int(same.sum())
    found = {name: int((e[:, :n_queries][same] < CUTOFF).sum()) for name, e in evalues.items()}
    found |= {name: sum(1 for (q, s) in h if s < n_queries and s != q and labels[s] == labels[q])
              for name, h in blast.items()}
    before, after = evalues["genocat_standard"][:, :n_queries][same], evalues["genocat_adjusted"][:, :n_queries][same]
    significant = before < CUTOFF
    with np.errstate(divide="ignore"):
        shift = np.log10(np.maximum(after[significant], 1e-300)) - np.log10(np.maximum(before[significant], 1e-300))
    return {
        "pairs": pairs,
        "found_at_1e-3": found,
        "sensitivity_at_1e-3": {k: round(v / pairs, 4) for k, v in found.items()},
        "significant_before": int(significant.sum()),
        "lost_after": int((after[significant] >= CUTOFF).sum()),
        "gained_after": int(((after < CUTOFF) & ~significant).sum()),
        "median_log10_shift": round(float(np.median(shift)), 3),
        "p10_p90_log10_shift": [round(float(np.percentile(shift, 10)), 3), round(float(np.percentile(shift, 90)), 3)],
    }


def coiled_coil_pairs(seqs: list[str], titles: list[str], db_residues: int) -> dict[str, Any]:
    """Background coiled-coil proteins of different kinds against each other, every system."""
    from genocat_desktop.engine.search.alignment import best_scores
    from genocat_desktop.engine.search.composition import adjusted_bits
    from genocat_desktop.engine.search.scoring import PROTEIN, evalue

    rows = [i for i, t in enumerate(titles) if COILED.search(t)]
    kinds = {i: next(k for k in KINDS if k in titles[i].lower()) for i in rows}
    pairs = [(a, b) for a in rows for b in rows if a != b and kinds[a] != kinds[b]]
    fa = WORK / "coiled.faa"
    fa.write_text("".join(f">r{i}\n{seqs[i]}\n" for i in rows))
    blast: dict[str, dict[tuple[int, int], float]] = {}
    for name, extra in BLAST_RUNS.items():
        res = subprocess.run(["blastp", "-query", str(fa), "-subject", str(fa), "-dbsize", str(db_residues),
                              "-evalue", "1e6", "-outfmt", "6 qseqid sseqid evalue", *extra],
                             check=True, capture_output=True, text=True).stdout
        hits: dict[tuple[int, int], float] = {}
        for line in res.splitlines():
            q, s, e = line.split("\t")
            key = (int(q[1:]), int(s[1:]))
            hits[key] = min(hits.get(key, np.inf), float(e))
        blast[name] = hits
    table = []
    for a in rows:
        targets = [b for x, b in pairs if x == a]
        raw = best_scores(seqs[a], "protein", [seqs[b] for b in targets], ["protein"] * len(targets))[0]
        std = evalue(PROTEIN.bits(raw.astype(float)), len(seqs[a]), db_residues)
        adj = evalue(adjusted_bits(seqs[a], [seqs[b] for b in targets], raw), len(seqs[a]), db_residues)
        for b, e0, e1 in zip(targets, std, adj, strict=True):
            table.append({"query": titles[a][:60], "target": titles[b][:60], "kinds": [kinds[a], kinds[b]],
                          "genocat_standard": float(e0), "genocat_adjusted": float(e1),
                          **{name: blast[name].get((a, b), float("inf")) for name in BLAST_RUNS}})
    systems = ["genocat_standard", "genocat_adjusted", *BLAST_RUNS]
    return {
        "proteins": len(rows), "pairs": len(table),
        "pairs_below_1e-3": {s: sum(1 for r in table if r[s] < CUTOFF) for s in systems},
        "smallest": {s: min(r[s] for r in table) for s in systems},
        "worst_before": sorted(table, key=lambda r: r["genocat_standard"])[:8],
    }


def timing(seqs: list[str], n_queries: int, rng_seed: int = 1) -> dict[str, Any]:
    """Per-query CPU cost of the statistics in a hit list: 2,000 candidates, matrix adjustment for the 30
    (k = 10) or 110 (k = 50) best, the rows the searcher traces; against standard statistics. CPU time
    (``process_time``), not wall time: the machine is shared."""
    from genocat_desktop.engine.search.alignment import best_scores
    from genocat_desktop.engine.search.composition import adjusted_bits
    from genocat_desktop.engine.search.scoring import PROTEIN

    rng = np.random.default_rng(rng_seed)
    out: dict[str, Any] = {}
    queries = rng.choice(n_queries, 40, replace=False)
    for room in (30, 110):
        spent = {"standard_ms": [], "scaled_ms": [], "adjusted_ms": [], "align_ms": []}
        for qi in queries:
            cand = rng.choice(len(seqs), 2000, replace=False)
            targets = [seqs[i] for i in cand]
            t0 = time.process_time()
            raw = best_scores(seqs[qi], "protein", targets, ["protein"] * len(targets))[0]
            t1 = time.process_time()
            PROTEIN.bits(raw)
            t2 = time.process_time()
            adjusted_bits(seqs[qi], targets, raw, adjust=[])
            t3 = time.process_time()
            adjusted_bits(seqs[qi], targets, raw, adjust=np.argsort(-raw)[:room])
            t4 = time.process_time()
            for k, v in zip(spent, (t2 - t1, t3 - t2, t4 - t3, t1 - t0), strict=True):
                spent[k].append(1e3 * v)
        out[f"room_{room}"] = {k: round(float(np.median(v)), 1) for k, v in spent.items()}
    return out


def main() -> None:
    ids, seqs, labels, titles = database()
    n_queries = sum(1 for lab in labels if lab)
    db_residues = sum(map(len, seqs))
    blast = run_blast(ids, seqs, n_queries)
    raw = raw_scores(seqs, n_queries)
    bits = statistics(seqs, raw, db_residues)
    from genocat_desktop.engine.search.scoring import evalue

    lengths = np.array([len(s) for s in seqs[:n_queries]])[:, None]
    evalues = {f"genocat_{k}": evalue(bits[k], 1, db_residues) * lengths for k in ("standard", "scaled", "adjusted")}
    hits = {k: genocat_hits(v) for k, v in evalues.items()} | blast
    unconfirmed = {(q, s) for found in hits.values() for (q, s) in found
                   if not labels[s] and (q, s) not in blast["blastp"]}
    pairwise = blast_pairwise(unconfirmed, seqs, db_residues)
    result = {
        "database": {"rows": len(seqs), "residues": db_residues, "queries": n_queries,
                     "background_rows": len(seqs) - n_queries},
        "wrong_family_queries": wrong_hits(hits, labels, titles, blast["blastp"], pairwise, n_queries),
        "family_pairs": family_pairs(evalues, blast, labels, n_queries),
        "coiled_coil": coiled_coil_pairs(seqs, titles, db_residues),
        "seconds": {"blast": {k: float((WORK / f"{k}.seconds").read_text()) for k in BLAST_RUNS},
                    "genocat_all_rows_scaled": round(float(bits["seconds"][0]), 1),
                    "genocat_all_rows_adjusted_E_le_10": round(float(bits["seconds"][1]), 1)},
        "per_query_cost": timing(seqs, n_queries),
    }
    (OUT / "evalue.json").write_text(json.dumps(result, indent=1, default=float))
    (OUT / "evalue.md").write_text(report(result))
    print(report(result))


def report(r: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    db = r["database"]
    lines = [f"# E-values: wrong-family hits at E < {CUTOFF:g}", "",
             f"{db['queries']} family queries; database {db['rows']:,} rows ({db['residues']:,} residues): the "
             f"queries plus {db['background_rows']:,} real background proteins. GenoCat aligns every row.", "",
             "Queries with a wrong hit at E < 1e-3: another family's member, plus background rows judged three ways "
             "(every background hit wrong; wrong unless default blastp's database search has the pair at E < 1e-3; "
             "wrong unless default blastp on the pair alone, same search space, gives E < 1e-3).", "",
             "| system | other family | + any background hit | + background hit blastp's search lacks "
             "| + background hit blastp gives E ≥ 1e-3 alone |", "|---|---|---|---|---|"]
    for name, w in r["wrong_family_queries"].items():
        cells = [w[k] for k in ("other_family", "any_background_wrong", "background_wrong_unless_blastp",
                                "background_wrong_unless_blastp_pairwise")]
        lines.append(f"| {name} | " + " | ".join(f"{c} ({c / w['queries']:.1%})" for c in cells) + " |")
    lines += ["", "GenoCat (adjusted) background hits at E < 1e-3 that blastp rejects even alone (query family | "
              "hit | GenoCat E | blastp E): mostly members of the query's superfamily that BLAST's X-drop "
              "alignment scores lower; the coiled-coil pairs are the composition cases left.", ""]
    rejected = r["wrong_family_queries"]["genocat_adjusted"]["examples_background_blastp_rejects"]
    lines += [f"- {fam} | {title} | {e:.1e} | {b:.1e}" for e, fam, title, b in rejected]
    f = r["family_pairs"]
    lines += ["", f"True family pairs: {f['pairs']:,}; found at E < {CUTOFF:g}:", "", "| system | pairs | share |",
              "|---|---|---|"]
    lines += [f"| {k} | {v:,} | {f['sensitivity_at_1e-3'][k]:.3f} |" for k, v in f["found_at_1e-3"].items()]
    lines += ["", f"GenoCat before → after, pairs significant before ({f['significant_before']:,}): median shift of "
              f"log10 E {f['median_log10_shift']:+.2f} (10th–90th percentile {f['p10_p90_log10_shift']}); "
              f"{f['lost_after']} lost significance, {f['gained_after']} gained it.", ""]
    c = r["coiled_coil"]
    lines += [f"Coiled-coil proteins of the background ({c['proteins']}), {c['pairs']} ordered pairs of different "
              "kinds:", "", "| system | pairs at E < 1e-3 | smallest E |", "|---|---|---|"]
    lines += [f"| {k} | {v} | {c['smallest'][k]:.2g} |" for k, v in c["pairs_below_1e-3"].items()]
    lines += ["", "| query | target | GenoCat before | after | blastp | blastp cbs 0, seg no |",
              "|---|---|---|---|---|---|"]
    for w in c["worst_before"]:
        lines.append(f"| {w['query']} | {w['target']} | {w['genocat_standard']:.2g} | {w['genocat_adjusted']:.2g} | "
                     f"{w['blastp']:.2g} | {w['blastp_cbs0_segno']:.2g} |")
    lines += ["", "Per-query cost (median CPU ms over 40 queries; 2,000 random candidates, matrix adjustment for the "
              "best-scoring rows, as many as the searcher traces):",
              "", "| rows adjusted | alignment (score-only) | standard bits | scaled only | adjusted |",
              "|---|---|---|---|---|"]
    for room, t in r["per_query_cost"].items():
        lines.append(f"| {room.split('_')[1]} | {t['align_ms']} | {t['standard_ms']} | {t['scaled_ms']} | "
                     f"{t['adjusted_ms']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
