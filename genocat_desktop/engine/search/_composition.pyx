# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compositional matrix adjustment's inner loops (:mod:`.composition`), one pair at a time without the GIL.

For each pair, target frequencies ``Q = a P^β b`` with the pair's marginals (Sinkhorn scaling of
rows and columns, warm-started from the last ``β``'s), and ``β`` found by secant steps inside a
bracket until ``Q``'s relative entropy to ``p qᵀ`` is the target. The same steps as
:func:`.composition.adjusted_matrices`'s numpy path, which runs them on every pair at once: a pair
here stops when it has converged, there when all have, so the two agree within the tolerances.

BLOSUM62's target frequencies are ``P_ij = f_i f_j e^{λ s_ij}``, so ``P^β`` is ``e^{βλ s_ij}`` up to
row and column factors, which the scalings ``a`` and ``b`` absorb: the kernel takes one ``exp`` per
distinct score (16) instead of one per cell, and ``ln Q`` is ``ln a_i + βλ s_ij + ln b_j`` without
a ``log`` per cell. Both were most of a pair's cost.
"""

from libc.math cimport INFINITY, exp, fabs, isfinite, log

import numpy as np

#: Sinkhorn stops when every column sum is this close to its marginal (rows exact after each step).
cdef double SINKHORN_TOLERANCE = 1e-10
#: The secant steps stop when the relative entropy is this close to the target (nats).
cdef double ENTROPY_TOLERANCE = 1e-9


cdef double _fitted(double beta, double lam, const int[:, ::1] scores, int low, int values,
                    const double[::1] p, const double[::1] q, const double[::1] log_p, const double[::1] log_q,
                    double *row, double *col, double *kernel, double[:, ::1] log_joint) noexcept nogil:
    """``ln Q`` for this ``β`` into ``log_joint`` (``row`` and ``col`` updated in place); ``Q``'s relative
    entropy to ``p qᵀ``."""
    cdef int i, j, step
    cdef double s, worst, gap, value, entropy = 0.0
    cdef double sums[20]
    cdef double log_row[20]
    cdef double log_col[20]
    cdef double table[64]
    for i in range(values):
        table[i] = exp(beta * lam * (low + i))
    for i in range(20):
        for j in range(20):
            kernel[i * 20 + j] = table[scores[i, j] - low]
    for step in range(500):
        for i in range(20):
            s = 0.0
            for j in range(20):
                s += kernel[i * 20 + j] * col[j]
            row[i] = p[i] / s
        worst = 0.0
        for j in range(20):
            s = 0.0
            for i in range(20):
                s += row[i] * kernel[i * 20 + j]
            sums[j] = s
            gap = fabs(s * col[j] - q[j])
            if gap > worst or gap != gap:  # a NaN never converges
                worst = gap if gap == gap else INFINITY
        if worst < SINKHORN_TOLERANCE:  # the column sums, with the rows just fitted
            break
        for j in range(20):
            col[j] = q[j] / sums[j]
    for i in range(20):
        log_row[i] = log(row[i]) - log_p[i]
        log_col[i] = log(col[i]) - log_q[i]
    for i in range(20):
        for j in range(20):
            value = row[i] * kernel[i * 20 + j] * col[j]
            s = log_row[i] + beta * lam * scores[i, j] + log_col[j]  # ln(Q_ij / p_i q_j)
            log_joint[i, j] = s + log_p[i] + log_q[j]
            entropy += value * s
    return entropy


def fit_joints(const double[:, ::1] p, const double[:, ::1] q, const int[:, ::1] scores, double lam, double target):
    """Each pair's adjusted target frequencies as logarithms ``(n, 20, 20)``, and their relative entropies ``(n,)``.

    ``p``, ``q``: the pairs' query and target compositions (with pseudocounts), ``(n, 20)``;
    ``scores``, ``lam``: BLOSUM62 and the λ of which it is the exact log-odds matrix (its target
    frequencies are ``f_i f_j e^{λ s_ij}``); ``target``: the relative entropy sought.
    """
    cdef Py_ssize_t n = p.shape[0], k
    cdef int i, j, step
    cdef int low = 1 << 30, high = -(1 << 30)
    for i in range(20):
        for j in range(20):
            low = min(low, scores[i, j])
            high = max(high, scores[i, j])
    if high - low >= 64:
        raise ValueError("fit_joints: scores span more than 64 values")
    cdef int values = high - low + 1
    log_joints_arr = np.empty((n, 20, 20), dtype=np.float64)
    entropies_arr = np.empty(n, dtype=np.float64)
    log_p_arr = np.log(np.asarray(p))
    log_q_arr = np.log(np.asarray(q))
    cdef double[:, :, ::1] log_joints = log_joints_arr
    cdef double[::1] entropies = entropies_arr
    cdef const double[:, ::1] log_p = log_p_arr
    cdef const double[:, ::1] log_q = log_q_arr
    cdef double row[20]
    cdef double col[20]
    cdef double kernel[400]
    cdef double lo, hi, beta, entropy, gap, prev_beta, prev_gap, secant
    with nogil:
        for k in range(n):
            for i in range(20):
                row[i] = 1.0
                col[i] = 1.0
            # The relative entropy grows with β (β = 0 gives Q = p qᵀ, entropy 0).
            lo, hi, beta = 0.0, 4.0, 1.0
            entropy = _fitted(beta, lam, scores, low, values, p[k], q[k], log_p[k], log_q[k], row, col, kernel,
                              log_joints[k])
            prev_beta, prev_gap = 0.0, -target
            for step in range(30):
                gap = entropy - target
                if fabs(gap) < ENTROPY_TOLERANCE:
                    break
                if gap < 0:
                    lo = beta
                if gap > 0:
                    hi = beta
                secant = beta - gap * (beta - prev_beta) / (gap - prev_gap)
                prev_beta, prev_gap = beta, gap
                beta = secant if (isfinite(secant) and lo < secant < hi) else (lo + hi) / 2
                entropy = _fitted(beta, lam, scores, low, values, p[k], q[k], log_p[k], log_q[k], row, col,
                                  kernel, log_joints[k])
            entropies[k] = entropy
    return log_joints_arr, entropies_arr
