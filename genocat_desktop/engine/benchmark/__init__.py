"""The benchmark: measure a catalog (or a synthetic one) against the design targets.

One long engine task (``progress``, ``cancel``), used by the benchmark page and by
``genocat bench``. Four measurements, each against a target from the design:

========================  =============================================  ==============
measure                   how                                            target
========================  =============================================  ==============
import throughput         :func:`import_files` of a synthetic FASTA file  ≥ 10,000 seq/s
                          into a scratch catalog (the open catalog is
                          never written): wall time, parsing, embedding
                          and writing included
search latency            ``Searcher.search`` of N queries, one at a     p99 < 10 ms
                          time, embedding included, after ``warm()``
recall@k                  the search's hits against exact cosine top-k   ≥ 95%
                          (numpy over every vector, in chunks); a hit
                          tied with the k-th exact score counts
export                    CSV export of 10,000 hits (``export_hits``)   < 1 s
========================  =============================================  ==============

The queries are rows of the catalog with 10% of their residues mutated
(seeded), so they resemble the catalog without being copies of it. A
synthetic catalog is made of protein families (a random parent per 20
sequences, 15% mutations), with background amino-acid frequencies and a
log-normal length distribution (median ~ 300).

Results are a :class:`BenchmarkResult` (every raw latency kept, for the
histogram), saved as JSON in ``<catalog>/benchmarks/`` with one line per run
appended to ``runs.csv`` there, so runs can be compared over time
(:func:`load_results`, :func:`results_table`).

* :mod:`.run`: :func:`run_benchmark` and its steps (import, search, recall, export).
* :mod:`.results`: :class:`BenchmarkResult`, the :class:`Targets`, and results on disk.
* :mod:`.synthetic`: the synthetic protein families (:func:`write_synthetic_fasta`).
"""

from genocat_desktop.engine.benchmark.results import (
    TARGETS,
    BenchmarkResult,
    Check,
    Targets,
    format_measure,
    load_results,
    results_folder,
    results_table,
    save_result,
)
from genocat_desktop.engine.benchmark.run import run_benchmark
from genocat_desktop.engine.benchmark.synthetic import write_synthetic_fasta

__all__ = [
    "TARGETS",
    "BenchmarkResult",
    "Check",
    "Targets",
    "format_measure",
    "load_results",
    "results_folder",
    "results_table",
    "run_benchmark",
    "save_result",
    "write_synthetic_fasta",
]
