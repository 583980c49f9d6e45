"""Protein pairs one at a time with parasail vs pyopal: equal scores, tracebacks, and the crossover.

Checks that :func:`.striped.pair_scores` (composition-adjusted realignment, each pair with its own
matrix) gives pyopal's scores exactly, and how often :func:`.striped.protein_traced` picks another
alignment of the same score than pyopal's full mode (identity or coordinates differ). Then times the
tracebacks of a family's longest member against 4, 16 and 51 targets (its homologues first, then
unrelated UniProt entries) in both, the crossover behind :func:`.alignment._striped_protein`.

Run: ``python -m bench.protein_traced_bench`` (prints; minimum of 3 runs per timing).
"""

from __future__ import annotations

import collections
import random
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "proteins"


def _read(path: Path) -> tuple[list[str], list[str]]:
    names: list[str] = []
    seqs: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            names.append(line[1:].split()[0])
            seqs.append("")
        elif seqs:
            seqs[-1] += line.strip()
    return names, seqs


def _pyopal_realigned(query: str, target: str, rows: np.ndarray) -> float:
    import pyopal
    from scoring_matrices import ScoringMatrix

    from genocat_desktop.engine.search import composition as C
    from genocat_desktop.engine.search.scoring import PROTEIN

    letters = C.AMINO_ACIDS + "X"
    aligner = pyopal.Aligner(ScoringMatrix(rows.tolist(), alphabet=letters), gap_open=PROTEIN.gap_open * C.SCALE,
                             gap_extend=PROTEIN.gap_extend * C.SCALE)
    database = pyopal.Database([target.encode()], alphabet=aligner.alphabet)
    return float(aligner.align(query.encode(), database, mode="score")[0].score)


def main() -> None:
    from genocat_desktop.engine.search import composition as C
    from genocat_desktop.engine.search import striped
    from genocat_desktop.engine.search.alignment import _opal_hits
    from genocat_desktop.engine.search.scoring import PROTEIN

    names, seqs = _read(DATA / "labeled" / "families.faa")
    _, uniprot = _read(DATA / "unlabeled" / "mmseqs2_QUERY.fasta")
    rng = random.Random(1)
    pairs = [(rng.choice(uniprot), rng.choice(seqs)) for _ in range(300)]
    pairs += [(seqs[i], seqs[i + 1]) for i in rng.sample(range(len(seqs) - 1), 300)]
    unequal = tried = 0
    for q, t in pairs:
        qp, qn = C.compositions([q])
        tp, tn = C.compositions([t])
        matrices = C.adjusted_matrices(qp[0], qn[0], tp, tn)
        if not np.isfinite(matrices).all():
            continue
        rows = np.full((1, 21, 21), C._blosum().unknown * C.SCALE, dtype=np.int32)
        rows[:, :20, :20] = np.rint(matrices * C.SCALE)
        tried += 1
        unequal += C._realigned(q, [t], matrices)[0] * C.SCALE != _pyopal_realigned(q, t, rows[0])
    print(f"realigned pairs: {tried}, scores unequal to pyopal's: {unequal}")
    scores = identity = coordinates = 0
    for q, t in pairs:
        h = next(iter(_opal_hits(q, "protein", [t], ["protein"])))
        g = striped.protein_traced(q, t, PROTEIN)
        scores += h.score != g.score
        if h.score > 0 and h.score == g.score:
            identity += h.alignment.count("M") * len(g.alignment) != g.alignment.count("M") * len(h.alignment)
            coordinates += (h.query_start, h.query_end, h.target_start, h.target_end) != (
                g.query_start, g.query_end, g.target_start, g.target_end)
    print(f"traced pairs: {len(pairs)}, scores unequal: {scores}, identity differs: {identity}, "
          f"coordinates differ: {coordinates}")
    family = collections.defaultdict(list)
    for name, s in zip(names, seqs, strict=True):
        family[name.split("|")[0]].append(s)
    for f, members in family.items():
        members = sorted(members, key=len, reverse=True)
        if len(members) < 20 or len(members[0]) < 150:
            continue
        q = members[0]
        for n in (4, 16, 51):
            ts = (members[1:] + uniprot)[:n]
            best = [np.inf, np.inf]
            for _ in range(3):
                start = time.perf_counter()
                list(_opal_hits(q, "protein", ts, ["protein"] * n))
                best[0] = min(best[0], time.perf_counter() - start)
                start = time.perf_counter()
                [striped.protein_traced(q, t, PROTEIN) for t in ts]
                best[1] = min(best[1], time.perf_counter() - start)
            print(f"{f}: query {len(q)}, {n} targets: pyopal {best[0] * 1e3:.2f} ms, parasail {best[1] * 1e3:.2f} ms, "
                  f"pyopal/parasail {best[0] / best[1]:.2f}")


if __name__ == "__main__":
    main()
