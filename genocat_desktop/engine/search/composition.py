"""Composition-based statistics for protein alignments: E-values that hold for biased sequences.

Karlin-Altschul statistics with BLOSUM62's λ and K assume both sequences have the background amino
acid composition. Two low-complexity or coiled-coil proteins (rich in E, K, L, A, Q, R) align with
large scores by composition alone; without a correction they get E-values like 1e-36 where BLAST+
(which corrects by default) reports 4. This module does what BLAST's ``-comp_based_stats`` does,
for each aligned pair, from the two sequences' amino acid compositions:

- **Scaling** (Schaffer et al. 2001, BLAST's mode 1): the ungapped λ of BLOSUM62 for the pair's
  compositions, solved from ``Σ p_i q_j exp(λ s_ij) = 1`` (vectorised over the targets), divided by
  λ for the standard background (0.3176); the ratio, bounded to [0.5, 1] as BLAST bounds it, scales
  the raw score before the gapped statistics. It only ever lowers significance.
- **Matrix adjustment** (Yu & Altschul 2005, Altschul et al. 2005, BLAST's default mode 2,
  "conditional"): target frequencies ``Q`` closest in relative entropy to BLOSUM62's, with the
  query's and the target's compositions (20 pseudocounts towards the background) as marginals and
  BLAST's relative entropy for BLOSUM62 (0.44 nats). ``Q`` has the form ``a_i P_ij^β b_j``: row and
  column scaling (Sinkhorn) for a given ``β``, ``β`` found by the secant method. Their log-odds
  ``ln(Q_ij / p_i q_j) / λ`` are a new matrix; the pair is aligned again with it (parasail, same gap
  costs) and that score gets the standard gapped statistics. BLOSUM62's target frequencies ``P``
  are those it is the exact log-odds matrix of (its implied background, λ 0.3240); the ``λ`` that
  divides the new scores is BLAST's standard 0.3176, as in BLAST, so that at the standard
  composition the new matrix is BLOSUM62 × 1.02 and adjusted bit scores match BLAST+'s (median
  ratio 0.995 over 800 family pairs, ``bench/evalue_bench.py``; dividing by 0.3240 gave 0.973).
  As in BLAST, a pair of unequal lengths whose compositions are far apart is scaled instead (the
  rule of ``compo_mode_condition.c``).

Matrix adjustment costs an alignment per pair (about 0.1 ms for 300 × 300 residues), so
:func:`adjusted_bits` gives it only to the pairs asked for (the hit list's candidates, best raw
score first, and of those, once the list is full, only the ones whose standard E-value is within
:data:`EVALUE_STRETCH` times the list's last, as BLAST stops early); the others are scaled, which
never makes them more significant. Compositions are those of the whole
sequences, as BLAST's for protein subjects: the hit list has them for every candidate without a
traceback, and the same pair then gets the same statistics in the hit list and the detail pane.
Nucleotide alignments are not adjusted.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from genocat_desktop.engine.search.scoring import PROTEIN

__all__ = [
    "AMINO_ACIDS",
    "EVALUE_STRETCH",
    "MAX_ADJUST_CELLS",
    "PRELIM_EVALUE",
    "ROBINSON_FREQUENCIES",
    "TARGET_ENTROPY",
    "adjusted_bits",
    "adjusted_matrices",
    "compositions",
    "lambda_ratios",
    "preliminary",
    "ungapped_lambdas",
]

#: The 20 true amino acids, in the order of every array here.
AMINO_ACIDS: Final = "ARNDCQEGHILKMFPSTWYV"
#: Robinson & Robinson's amino acid frequencies: BLAST's standard background for BLOSUM62's λ.
ROBINSON_FREQUENCIES: Final = np.array([
    0.07805, 0.05129, 0.04487, 0.05364, 0.01925, 0.04264, 0.06295, 0.07377, 0.02199, 0.05142,
    0.09019, 0.05744, 0.02243, 0.03856, 0.05203, 0.07120, 0.05841, 0.01330, 0.03216, 0.06441,
])
#: BLAST's bounds on the λ ratio: never more significant than standard, at most twice less.
RATIO_BOUNDS: Final = (0.5, 1.0)
#: Pseudocounts towards the background added to each composition before matrix adjustment (BLAST's).
PSEUDOCOUNTS: Final = 20
#: The relative entropy (nats) of every adjusted matrix's target frequencies: BLAST's value for BLOSUM62.
TARGET_ENTROPY: Final = 0.44
#: The adjusted matrix is rounded at this many units per score unit (the aligners take integers).
SCALE: Final = 8
#: BLAST's ``EVALUE_STRETCH``: once the list is full, a hit is realigned with the adjusted matrix only
#: if its standard E-value is at most this many times the list's last adjusted E-value.
EVALUE_STRETCH: Final = 5.0
#: Candidates beyond the list's first ``keep`` adjusted together, between two updates of its cut-off.
_LATER_BATCH: Final = 16
#: BLAST's preliminary E-value cut-off with composition-based statistics (``prelim_evalue``: the
#: default expect value 10 times :data:`EVALUE_STRETCH`): hits with a worse standard E-value are never
#: realigned; :func:`preliminary` keeps them out of a full list's candidates.
PRELIM_EVALUE: Final = 50.0
#: Largest pair (query length × target length) aligned again for matrix adjustment: about 10 ms
#: (one pair is aligned at ~0.6 ns a cell). Longer pairs, such as two titins, are scaled instead.
MAX_ADJUST_CELLS: Final = 16_000_000
_UNKNOWN: Final = 20  # code of any other letter
#: Scaled scores from which a realignment is run with 32-bit scores from the start (:func:`_realigned`):
#: an adjusted score a few percent above the raw one would saturate 16 bits (32,767).
_WIDE_FROM: Final = 27_000


@dataclass(frozen=True, slots=True)
class _Blosum:
    scores: np.ndarray  # (20, 20) BLOSUM62
    unknown: int  # its score for X
    values: np.ndarray  # the distinct scores, ascending
    indicator: np.ndarray  # (400, len(values)): which score each letter pair has
    lam: float  # ungapped λ with the Robinson background
    background: np.ndarray  # the frequencies BLOSUM62 is the exact log-odds matrix of (with lam_implied)
    lam_implied: float
    integer_scores: np.ndarray  # ``scores`` as C-contiguous int32 (the compiled fit's input)


@functools.cache
def _blosum() -> _Blosum:
    from scoring_matrices import ScoringMatrix

    matrix = ScoringMatrix.from_name(PROTEIN.matrix)
    letters = matrix.alphabet
    rows = [list(r) for r in matrix]  # type: ignore[attr-defined]  # a ScoringMatrix iterates its rows
    index = [letters.index(c) for c in AMINO_ACIDS]
    scores = np.array([[rows[i][j] for j in index] for i in index], dtype=np.float64)
    x = letters.index("X")
    values = np.unique(scores)
    indicator = (scores.reshape(400, 1) == values.reshape(1, -1)).astype(np.float64)
    lam = float(_solve_lambda(np.outer(ROBINSON_FREQUENCIES, ROBINSON_FREQUENCIES).reshape(1, 400) @ indicator,
                              values)[0])
    # The background and λ under which BLOSUM62 is exactly a log-odds matrix, P_ij = f_i f_j e^{λ s_ij}
    # with marginals f: at that composition the adjusted matrix is BLOSUM62 itself.
    lam_implied, background = _implied_background(scores)
    return _Blosum(scores, int(rows[x][x]), values, indicator, lam, background, lam_implied,
                   np.ascontiguousarray(scores, dtype=np.int32))


def _implied_background(scores: np.ndarray) -> tuple[float, np.ndarray]:
    """λ and frequencies f with ``Σ_j f_j e^{λ s_ij} = 1`` for every ``i`` and ``Σ f = 1`` (bisection)."""

    def excess(lam: float) -> float:
        return float(np.linalg.solve(np.exp(lam * scores), np.ones(len(scores))).sum()) - 1.0

    lo, hi = 0.2, 0.5  # excess(lo) > 0 > excess(hi) for BLOSUM62
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    lam = 0.5 * (lo + hi)
    return lam, np.linalg.solve(np.exp(lam * scores), np.ones(len(scores)))


def _codes() -> bytes:
    table = bytearray([_UNKNOWN]) * 256
    for k, c in enumerate(AMINO_ACIDS):
        table[ord(c)] = table[ord(c.lower())] = k
    return bytes(table)


#: Letter -> its index in :data:`AMINO_ACIDS`, any other byte -> 20 (a ``bytes.translate`` table).
_CODES: Final = _codes()


def compositions(sequences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Amino acid frequencies of each sequence, counted over the 20 true amino acids.

    One pass over all residues (``bytes.translate`` and one ``bincount``): about 5 ms per
    million residues.

    Parameters
    ----------
    sequences
        Protein sequences (other letters, such as X, B, Z, are left out of the counts).

    Returns
    -------
    tuple of numpy.ndarray
        Frequencies ``(n, 20)`` in :data:`AMINO_ACIDS` order (zeros for a sequence with no true
        amino acid) and the number of true amino acids of each sequence ``(n,)``.
    """
    n = len(sequences)
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=n)
    codes = np.frombuffer("".join(sequences).encode("ascii", "replace").translate(_CODES), dtype=np.uint8)
    cells = np.repeat(np.arange(0, n * 21, 21, dtype=np.int64), lengths)
    cells += codes
    counts = np.bincount(cells, minlength=n * 21).reshape(n, 21)[:, :20].astype(np.float64)
    total = counts.sum(axis=1)
    return counts / np.maximum(total, 1.0)[:, None], total


def _solve_lambda(probs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """λ > 0 with ``Σ_s probs[s] e^{λ s} = 1`` for each row; NaN where the expected score is not negative
    or no score is positive (no local-alignment statistics exist)."""
    mean = probs @ values
    valid = (mean < 0) & (probs[:, values > 0].sum(axis=1) > 0)
    # f(λ) = Σ probs e^{λs} − 1 is convex, 0 at 0 and decreasing there: Newton from the right of its
    # positive root converges monotonically. Find such a start by doubling.
    lam = np.full(len(probs), 0.5)
    for _ in range(12):
        above = (np.exp(lam[:, None] * values) * probs).sum(axis=1)
        grow = valid & (above < 1.0)
        if not grow.any():
            break
        lam = np.where(grow, 2 * lam, lam)
    for _ in range(60):
        terms = np.exp(lam[:, None] * values) * probs
        f = terms.sum(axis=1) - 1.0
        slope = (terms * values).sum(axis=1)
        step = np.where(valid & (slope > 0), f / np.where(slope > 0, slope, 1.0), 0.0)
        lam = lam - step
        if np.all(np.abs(step) <= 1e-9 * lam):
            break
    return np.where(valid, lam, np.nan)


def ungapped_lambdas(query: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """BLOSUM62's ungapped λ for a query composition ``(20,)`` against each target composition ``(n, 20)``.

    Returns
    -------
    numpy.ndarray
        ``(n,)``; NaN where the pair's expected score is not negative (no λ exists).
    """
    b = _blosum()
    # P(score = v) = Σ_ij p_i q_j [s_ij = v]: the query's part first, (20, values), then one product.
    by_target_letter = np.einsum("i,ijv->jv", query, b.indicator.reshape(20, 20, -1))
    return _solve_lambda(targets @ by_target_letter, b.values)


def lambda_ratios(query: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The pair's λ over the standard λ, bounded to :data:`RATIO_BOUNDS` (no λ: the lower bound)."""
    ratio = ungapped_lambdas(query, targets) / _blosum().lam
    return np.clip(np.nan_to_num(ratio, nan=RATIO_BOUNDS[0]), *RATIO_BOUNDS)


def _js_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The square root of the Jensen-Shannon divergence of rows of ``a`` and ``b`` (a metric)."""
    mid = (a + b) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(a > 0, a * np.log(a / mid), 0.0) + np.where(b > 0, b * np.log(b / mid), 0.0)
    return np.sqrt(np.maximum(terms.sum(axis=-1) / 2, 0.0))


def _scaled_instead(query: np.ndarray, query_n: float, targets: np.ndarray, target_n: np.ndarray) -> np.ndarray:
    """Where BLAST's conditional rule scales instead of adjusting the matrix: neither sequence is dominated
    by two letters, the compositions are far apart (in directions away from the background) and one
    sequence is over 3 times longer than the other."""

    def two_letters(p: np.ndarray, n: np.ndarray) -> np.ndarray:
        top = np.sort(p, axis=-1)[..., -2:].sum(axis=-1)
        return (n > 50) & (top > 0.4)

    background = _blosum().background
    d_t = _js_distance(targets, background[None, :])
    d_q = _js_distance(query[None, :], background[None, :])
    d_qt = _js_distance(targets, query[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = (d_t**2 + d_q**2 - d_qt**2) / (2 * d_t * d_q)
    angle = np.degrees(np.arccos(np.clip(np.nan_to_num(cosine, nan=1.0), -1, 1)))
    longer = np.maximum(query_n, target_n) / np.maximum(np.minimum(query_n, target_n), 1)
    dominated = two_letters(query[None, :], np.array([query_n])) | two_letters(targets, target_n)
    return ~dominated & (d_qt > 0.16) & (longer > 3.0) & (angle > 70.0)


def adjusted_matrices(query: np.ndarray, query_n: float, targets: np.ndarray, target_n: np.ndarray) -> np.ndarray:
    """BLOSUM62 adjusted to each pair's compositions (compositional matrix adjustment).

    Parameters
    ----------
    query, query_n
        The query's composition ``(20,)`` and its number of true amino acids.
    targets, target_n
        The targets' compositions ``(n, 20)`` and numbers of true amino acids ``(n,)``.

    Returns
    -------
    numpy.ndarray
        ``(n, 20, 20)`` scores in BLOSUM62's units (rows: the query's letters); NaN where the
        optimisation did not converge.
    """
    b = _blosum()
    n = len(targets)
    p = _with_pseudocounts(np.broadcast_to(query, (n, 20)), np.full(n, float(query_n)))
    q = _with_pseudocounts(targets, target_n)
    log_pq = np.log(p)[:, :, None] + np.log(q)[:, None, :]
    try:
        from genocat_desktop.engine.search import _composition
    except ImportError:  # installed without a C compiler: the same steps in numpy, every pair at once
        log_joint, entropy = _fitted_joints(p, q, log_pq)
    else:
        # One pair at a time in C: the numpy steps' cost is mostly numpy's per-call overhead on these
        # small arrays (~100 Sinkhorn steps of ~10 calls each for a query's 51 pairs; 6 -> <1 ms).
        log_joint, entropy = _composition.fit_joints(np.ascontiguousarray(p), np.ascontiguousarray(q),
                                                     b.integer_scores, b.lam_implied, TARGET_ENTROPY)
    with np.errstate(invalid="ignore"):
        matrices = (log_joint - log_pq) / b.lam
    converged = np.isfinite(matrices).all(axis=(1, 2)) & (np.abs(entropy - TARGET_ENTROPY) < 1e-6)
    return np.where(converged[:, None, None], matrices, np.nan)


def _fitted_joints(p: np.ndarray, q: np.ndarray, log_pq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The logarithms of every pair's adjusted target frequencies and their relative entropies (numpy, all
    pairs at once; ``_composition.fit_joints`` does the same steps one pair at a time)."""
    n = len(p)
    row, col = np.ones((n, 20)), np.ones((n, 20))
    lam_scores = _blosum().lam_implied * _blosum().scores

    def fitted(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ln Q, Q = a P^β b with the pair's marginals (Sinkhorn, from the last β's scalings), and Q's relative
        entropy to p qᵀ. P^β is e^{βλs} up to row and column factors, which the scalings absorb."""
        nonlocal row, col
        kernel = np.exp(beta[:, None, None] * lam_scores[None])
        for _ in range(500):
            # Batched matrix-vector products (matmul: several times faster than the same einsum).
            row = p / np.matmul(kernel, col[:, :, None])[:, :, 0]
            sums = np.matmul(row[:, None, :], kernel)[:, 0, :]
            if np.abs(sums * col - q).max() < 1e-10:  # the column sums, with the rows just fitted
                break
            col = q / sums
        log_joint = np.log(row)[:, :, None] + beta[:, None, None] * lam_scores[None] + np.log(col)[:, None, :]
        return log_joint, (np.exp(log_joint) * (log_joint - log_pq)).sum(axis=(1, 2))

    # The relative entropy grows with β (β = 0 gives Q = p qᵀ, entropy 0): secant steps on β,
    # kept inside a bracket that always holds the root.
    lo, hi = np.zeros(n), np.full(n, 4.0)
    beta = np.ones(n)
    log_joint, entropy = fitted(beta)
    prev_beta, prev_gap = np.zeros(n), np.full(n, -TARGET_ENTROPY)
    for _ in range(30):
        gap = entropy - TARGET_ENTROPY
        if np.all(np.abs(gap) < 1e-9):
            break
        lo, hi = np.where(gap < 0, beta, lo), np.where(gap > 0, beta, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            secant = beta - gap * (beta - prev_beta) / (gap - prev_gap)
        inside = np.isfinite(secant) & (secant > lo) & (secant < hi)
        prev_beta, prev_gap = beta, gap
        beta = np.where(inside, secant, (lo + hi) / 2)
        log_joint, entropy = fitted(beta)
    return log_joint, entropy


def _with_pseudocounts(probs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    weight = (PSEUDOCOUNTS / (counts + PSEUDOCOUNTS))[:, None]
    return (1 - weight) * probs + weight * _blosum().background[None, :]


def _realigned(
    query: str, targets: Sequence[str], matrices: np.ndarray, scores: np.ndarray | None = None
) -> np.ndarray:
    """Each target's best local score to the query with its own matrix (BLOSUM62 units, gap costs unchanged).

    One pair at a time with parasail (:func:`.striped.pair_scores`, SIMD within the pair): pyopal's lanes
    run across targets, and a pair with its own matrix would leave all but one idle. ``scores``, the raw
    scores, only choose the integer range: a pair whose scaled score passes :data:`_WIDE_FROM` is aligned
    with 32-bit scores from the start rather than saturating 16 bits first.
    """
    from genocat_desktop.engine.search.striped import pair_scores, protein_letters

    letters = AMINO_ACIDS + "X"
    rows = np.full((len(targets), 21, 21), _blosum().unknown * SCALE, dtype=np.int32)
    rows[:, :20, :20] = np.rint(matrices * SCALE)
    wide = None if scores is None else np.asarray(scores) * SCALE >= _WIDE_FROM
    found = pair_scores(protein_letters(query, letters), [protein_letters(t, letters) for t in targets], rows,
                        letters, PROTEIN.gap_open * SCALE, PROTEIN.gap_extend * SCALE, wide)
    return found / SCALE


def adjusted_bits(
    query: str, targets: Sequence[str], scores: np.ndarray, adjust: np.ndarray | Sequence[int] | None = None,
    among: np.ndarray | Sequence[int] | None = None, keep: int | None = None,
) -> np.ndarray:
    """Composition-adjusted bit scores of protein alignments.

    Parameters
    ----------
    query, targets
        The protein query and the aligned targets.
    scores
        Each target's raw local alignment score with BLOSUM62 and BLAST's gap costs.
    adjust
        Indexes of the targets that get matrix adjustment (an alignment each); the others, and
        those where BLAST's rule, a failed optimisation or :data:`MAX_ADJUST_CELLS` says so, get
        their score scaled by the pair's λ ratio. ``None``: every target.
    among
        Indexes of the targets adjusted at all (``adjust`` should be among them); the others keep
        the standard bit score. ``None``: every target.
    keep
        How many hits are wanted, ``adjust`` then being ordered best first (by raw score): after
        the first ``keep``, a target is adjusted only if its standard E-value is within
        :data:`EVALUE_STRETCH` times the ``keep``-th adjusted one, as BLAST stops realigning
        (``BlastCompo_EarlyTermination``); the others are scaled, which puts them below that hit.
        ``None``: every ``adjust`` target.

    Returns
    -------
    numpy.ndarray
        Bit scores ``(λ S' − ln K) / ln 2`` with BLOSUM62's gapped λ and K, ``S'`` the adjusted score
        (never above the raw score for a scaled pair).
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = len(targets)
    if n == 0:
        return np.zeros(0)
    lam, k = PROTEIN.lam, PROTEIN.k
    assert lam is not None and k is not None
    query_ps, query_ns = compositions([query])
    query_p, query_n = query_ps[0], float(query_ns[0])
    adjusted = scores.copy()
    if query_n > 0:
        # Only the ``among`` targets are scaled: the others keep the standard bits (an upper bound;
        # the hit list shows none of them), which saves solving λ, and counting residues, for
        # thousands of rows.
        scaled = np.arange(n) if among is None else np.asarray(among, dtype=np.int64)
        chosen = np.arange(n) if adjust is None else np.asarray(adjust, dtype=np.int64)
        counted = np.union1d(scaled, chosen)
        target_p, target_n = np.zeros((n, 20)), np.zeros(n)
        target_p[counted], target_n[counted] = compositions([targets[i] for i in counted])
        known = target_n > 0  # nothing to adjust for a sequence of X only
        scaled = scaled[known[scaled]]
        adjusted[scaled] = scores[scaled] * lambda_ratios(query_p, target_p[scaled])
        later = np.empty(0, dtype=np.int64)
        if keep is not None and len(chosen) > keep:
            chosen, later = chosen[:keep], chosen[keep:]
        _realign_into(adjusted, query, query_p, query_n, targets, target_p, target_n, scores, known, chosen)
        if keep is not None and len(later):
            # As BLAST: the list so far is the ``keep`` best adjusted hits, and its cut-off rises as better
            # hits arrive (a few at a time: each batch costs a vectorised matrix fit).
            done, margin = chosen, math.log(EVALUE_STRETCH) / lam
            for start in range(0, len(later), _LATER_BATCH):
                kth = np.sort(adjusted[done])[::-1][keep - 1]
                batch = later[start:start + _LATER_BATCH]
                batch = batch[scores[batch] >= kth - margin]
                if not len(batch):
                    break  # best raw score first: none further on can pass
                _realign_into(adjusted, query, query_p, query_n, targets, target_p, target_n, scores, known, batch)
                done = np.concatenate([done, batch])
    return (lam * adjusted - math.log(k)) / math.log(2)


def _realign_into(
    adjusted: np.ndarray, query: str, query_p: np.ndarray, query_n: float, targets: Sequence[str],
    target_p: np.ndarray, target_n: np.ndarray, scores: np.ndarray, known: np.ndarray, chosen: np.ndarray,
) -> None:
    """Matrix adjustment of the ``chosen`` targets that BLAST's rule and the limits allow, into ``adjusted``."""
    lengths = np.fromiter((len(targets[i]) for i in chosen), dtype=np.int64, count=len(chosen))
    chosen = chosen[known[chosen] & (scores[chosen] > 0) & (len(query) * lengths <= MAX_ADJUST_CELLS)]
    chosen = chosen[~_scaled_instead(query_p, query_n, target_p[chosen], target_n[chosen])]
    if len(chosen):
        matrices = adjusted_matrices(query_p, query_n, target_p[chosen], target_n[chosen])
        ok = np.isfinite(matrices).all(axis=(1, 2))
        chosen, matrices = chosen[ok], matrices[ok]
        adjusted[chosen] = _realigned(query, [targets[i] for i in chosen], matrices, scores[chosen])


def preliminary(candidates: np.ndarray, scores: np.ndarray, query_length: int, db_residues: int,
                keep: int) -> np.ndarray:
    """The candidates for a list of ``keep`` hits, best raw score first, without those after the first
    ``keep`` whose standard E-value is over :data:`PRELIM_EVALUE`.

    BLAST never realigns such a hit; here it could only enter the list by displacing another hit as
    insignificant, and it would cost a realignment (most of the candidates of a query with few
    homologues, the slowest for a long query).
    """
    from genocat_desktop.engine.search.scoring import evalue

    later = candidates[keep:]
    standard = evalue(PROTEIN.bits(scores[later].astype(np.float64)), query_length, db_residues)
    return np.concatenate([candidates[:keep], later[standard <= PRELIM_EVALUE]])
