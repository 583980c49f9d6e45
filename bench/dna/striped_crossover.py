"""Where parasail (one pair at a time, striped SIMD) stops beating pyopal (SIMD across targets) for DNA.

The hit list's nucleotide alignment (``genocat_desktop/engine/search/alignment.py``) sends up to
``STRIPED_MAX_TARGETS`` targets to parasail (:mod:`genocat_desktop.engine.search.striped`), more to
pyopal. This measures both on real genes (``../shared/data/dna``, as ``bench.dna.run``): the score-only
pass on both strands (pyopal with the targets encoded beforehand, as the searcher holds them) and the
traceback of one strand, for a query cut from a gene with 5 % substitutions against that gene and
``n - 1`` other genes, at 150 bp and 1 kb and ``n`` from 1 to 64. Medians of repeated runs.

Run: ``python -m bench.dna.striped_crossover [--repeats 7]``; writes ``bench/out/striped_crossover.md``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.dna.run import OUT, mutate, read_genes


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def _row(query: str, targets: list[str], repeats: int) -> tuple[float, float, float, float]:
    """ms: pyopal's and parasail's scores on both strands, then their tracebacks on one."""
    from genocat_desktop.engine.search import alignment, striped
    from genocat_desktop.engine.search.scoring import NUCLEOTIDE, reverse_complement

    minus, kinds = reverse_complement(query), ["dna"] * len(targets)
    database = alignment.encoded(targets, NUCLEOTIDE)

    def opal_scores() -> None:
        for q in (query, minus):
            alignment._opal_hits(q, "dna", targets, kinds, "score", database)

    return (_median_ms(opal_scores, repeats),
            _median_ms(lambda: [striped.scores(q, targets) for q in (query, minus)], repeats),
            _median_ms(lambda: alignment._opal_hits(query, "dna", targets, kinds), repeats),
            _median_ms(lambda: [striped.traced(query, t) for t in targets], repeats))


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(prog="python -m bench.dna.striped_crossover", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    genes = [s for _, s in read_genes() if 1000 <= len(s) <= 3000]
    rng = np.random.default_rng(args.seed)
    lines = ["| query | targets | scores, both strands: pyopal ms | parasail ms | traceback: pyopal ms | parasail ms |",
             "|---|---|---|---|---|---|"]
    for length in (150, 1000):
        for n in (1, 2, 4, 8, 16, 32, 64):
            picked = [genes[int(i)] for i in rng.choice(len(genes), size=n, replace=False)]
            times = _row(mutate(rng, picked[0][:length], 5), picked, args.repeats)
            row = f"| {length} bp | {n} | " + " | ".join(f"{ms:.2f}" for ms in times) + " |"
            print(row, flush=True)
            lines.append(row)
    OUT.mkdir(parents=True, exist_ok=True)
    path = Path(OUT) / "striped_crossover.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
