"""Exact scoring of a query against vectors held in RAM: the scan in parts and the top ``k``.

Vectors are L2-normalised, so cosine similarity is one matrix-vector product.
The product is bound by memory bandwidth, not arithmetic: BLAS runs on one
thread per part (:func:`~genocat_desktop.engine.core.process.single_thread_blas`)
and large matrices are split into parts scanned on threads of their own
(:func:`~genocat_desktop.engine.core.parallel.run_parts`).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from genocat_desktop.engine.core.parallel import part_count, run_parts
from genocat_desktop.engine.core.process import single_thread_blas

__all__ = ["PARALLEL_SCAN_ROWS", "scan_scores", "top_k"]

#: Matrices with at least this many rows are scanned in parts, one per CPU (:mod:`..core.parallel`).
PARALLEL_SCAN_ROWS: Final = 65_536


def scan_scores(vectors: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """``vectors @ vec``: large matrices in parts on several threads, each running BLAS on one thread.

    A matrix-vector product is bound by memory bandwidth, which one core does not fill: two parts
    on two cores scan 100k rows in about half the time. OpenBLAS's own threads would do the same
    but spin while they wait, which made searches many times slower on a busy machine (see
    :func:`~genocat_desktop.engine.core.process.single_thread_blas`); these threads block instead,
    so under load a part just runs later. A part's scores can differ from one whole product's in
    the last bit (BLAS blocks the rows differently), never more; the parts depend only on the row
    count, so a search is repeatable.

    Parameters
    ----------
    vectors
        One row per catalog row.
    vec
        The query vector.

    Returns
    -------
    numpy.ndarray
        One score per row of ``vectors``.
    """
    rows = vectors.shape[0]
    parts = part_count(rows, PARALLEL_SCAN_ROWS // 2)
    out = np.empty(rows, dtype=np.result_type(vectors, vec))
    with single_thread_blas():
        if parts < 2:
            np.matmul(vectors, vec, out=out)
            return out
        bounds = np.linspace(0, rows, parts + 1).astype(int).tolist()

        def part(i: int) -> None:
            lo, hi = bounds[i], bounds[i + 1]
            np.matmul(vectors[lo:hi], vec, out=out[lo:hi])

        run_parts(part, parts, "genocat-scan")
    return out


def top_k(
    vectors: np.ndarray, vec: np.ndarray, k: int, mask: np.ndarray | None, scores: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and row positions of the best ``k`` rows of ``vectors``, best first.

    Parameters
    ----------
    vectors, vec
        As for :func:`scan_scores`.
    k
        How many rows.
    mask
        Rows allowed (``None``: all).
    scores
        The rows' scores, when already computed (a block of queries at once).

    Returns
    -------
    tuple of numpy.ndarray
        The scores and the positions.
    """
    if vectors.shape[0] == 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    if scores is None:
        scores = scan_scores(vectors, vec)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
        k = min(k, int(mask.sum()))
    k = min(k, scores.size)
    if k == 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    top = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    # Ties are broken by position (row address order) so a search always gives the same order.
    order = np.lexsort((top, -scores[top]))
    top = top[order]
    return scores[top], top
