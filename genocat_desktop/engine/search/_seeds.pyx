# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The seed prefilter's compiled loops: index build, similar-seed enumeration, diagonal scoring.

:mod:`.seeds` holds the design; these are its inner loops, each run without the GIL. Residues are
codes ``0..19`` (``20`` and above: anything else, never part of a seed). A seed is the letters a
spaced shape picks from a window, each mapped to a reduced-alphabet letter; its key is those
letters read as a number in base ``alpha``. A segment's index is the positions of its windows
(every ``stride``-th window of each row), counting-sorted by key: ``starts[key]..starts[key+1]``
into ``postings``; a posting is the window's position in the segment's concatenated residues.
"""

from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t

import numpy as np


cdef extern from *:
    void __builtin_prefetch(const void *addr) nogil


cdef inline int64_t _key(const uint8_t *codes, const int32_t *shape, int weight, const uint8_t *lut,
                         int64_t alpha) noexcept nogil:
    """The window's key, or -1 when a picked residue is not one of the 20."""
    cdef int64_t key = 0
    cdef int j
    cdef uint8_t c
    for j in range(weight):
        c = codes[shape[j]]
        if c >= 20:
            return -1
        key = key * alpha + lut[c]
    return key


def count_seeds(const uint8_t[::1] codes, const int64_t[::1] offsets, Py_ssize_t first, Py_ssize_t last,
                const int32_t[::1] shape, int span, const uint8_t[::1] lut, int64_t alpha, int stride,
                int64_t[::1] counts):
    """Add the keys of rows ``first..last-1`` to ``counts`` (one slot per key)."""
    cdef Py_ssize_t r
    cdef int64_t t, end, key
    cdef int weight = <int>shape.shape[0]
    with nogil:
        for r in range(first, last):
            end = offsets[r + 1] - span
            t = offsets[r]
            while t <= end:
                key = _key(&codes[t], &shape[0], weight, &lut[0], alpha)
                if key >= 0:
                    counts[key] += 1
                t += stride


def fill_seeds(const uint8_t[::1] codes, const int64_t[::1] offsets, Py_ssize_t first, Py_ssize_t last,
               const int32_t[::1] shape, int span, const uint8_t[::1] lut, int64_t alpha, int stride,
               int64_t[::1] cursor, uint32_t[::1] postings):
    """Write the positions of rows ``first..last-1``'s windows at ``cursor[key]`` (then advance it)."""
    cdef Py_ssize_t r
    cdef int64_t t, end, key
    cdef int weight = <int>shape.shape[0]
    with nogil:
        for r in range(first, last):
            end = offsets[r + 1] - span
            t = offsets[r]
            while t <= end:
                key = _key(&codes[t], &shape[0], weight, &lut[0], alpha)
                if key >= 0:
                    postings[cursor[key]] = <uint32_t>t
                    cursor[key] += 1
                t += stride


cdef inline void _partners(const double *ranked, const int32_t *order, int64_t alpha, double partial,
                           double rest, double threshold, int32_t *out, int32_t *count) noexcept nogil:
    """The partners that can reach ``threshold`` (``partial`` so far, at most ``rest`` from the positions
    after) into ``out``, in ascending order (insertion sort: a few letters), their number into ``count``.
    ``ranked``/``order``: the letter's partners' scores and letters, best first."""
    cdef int m = 0, b
    cdef int32_t letter
    while m < alpha and (partial + ranked[m]) + rest >= threshold:
        letter = order[m]
        b = m
        while b > 0 and out[b - 1] > letter:
            out[b] = out[b - 1]
            b -= 1
        out[b] = letter
        m += 1
    count[0] = m


def similar_seeds(const uint8_t[::1] query, const int32_t[::1] shape, int span, const uint8_t[::1] lut,
                  int64_t alpha, const double[:, ::1] matrix, double threshold, int64_t limit):
    """Every key that scores at least ``threshold`` against each query window (BLAST's neighbourhood).

    Returns ``(keys, bounds, scores)``: window ``i``'s keys are ``keys[bounds[i]:bounds[i + 1]]``
    in ascending order (none for a window with a residue outside the 20), each with its score
    against the window; the window's own key is always there, with score ``inf`` (so that a
    higher threshold applied to ``scores`` later keeps it, as enumerating at that threshold
    would). ``matrix`` scores seed letters against each other. Past ``limit`` keys in all,
    windows get their own key only.
    """
    cdef Py_ssize_t n = query.shape[0] - span + 1 if query.shape[0] >= span else 0
    cdef int weight = <int>shape.shape[0]
    cdef Py_ssize_t i
    if alpha > 32:
        raise ValueError("similar_seeds: at most 32 seed letters")
    cdef int j, depth, row
    cdef int64_t count = 0, cap = 1024, own
    keys_arr = np.empty(cap, dtype=np.int64)
    scores_arr = np.empty(cap, dtype=np.float64)
    bounds_arr = np.zeros(n + 1, dtype=np.int64)
    # Each letter's partners, best score first: the depth-first walk below stops at the first
    # partner that cannot reach the threshold instead of trying every letter.
    order_arr = np.ascontiguousarray(np.argsort(-np.asarray(matrix), axis=1, kind="stable").astype(np.int32))
    ranked_arr = np.ascontiguousarray(np.take_along_axis(np.asarray(matrix), order_arr, 1))
    cdef const int32_t[:, ::1] order = order_arr
    cdef const double[:, ::1] ranked = ranked_arr
    cdef int64_t[::1] keys = keys_arr
    cdef double[::1] scores = scores_arr
    cdef int64_t[::1] bounds = bounds_arr
    cdef double[::1] best = np.zeros(weight + 1, dtype=np.float64)  # best score of positions j.. to the end
    cdef int32_t[::1] word = np.zeros(weight, dtype=np.int32)
    cdef int32_t[::1] cand = np.zeros(weight * 32, dtype=np.int32)  # each depth's letters to visit, ascending
    cdef int32_t[::1] ncand = np.zeros(weight, dtype=np.int32)
    cdef int32_t[::1] pos = np.zeros(weight, dtype=np.int32)
    cdef int32_t letter
    cdef double[::1] partial = np.zeros(weight + 1, dtype=np.float64)
    cdef int64_t[::1] prefix = np.zeros(weight + 1, dtype=np.int64)
    cdef bint valid
    cdef double s
    for i in range(n):
        valid = True
        own = 0
        for j in range(weight):
            if query[i + shape[j]] >= 20:
                valid = False
                break
            word[j] = lut[query[i + shape[j]]]
            own = own * alpha + word[j]
        if not valid:
            bounds[i + 1] = count
            continue
        best[weight] = 0.0
        for j in range(weight - 1, -1, -1):
            best[j] = best[j + 1] + ranked[word[j], 0]
        if best[0] < threshold or count >= limit:  # the window's own key only
            if count + 1 > cap:
                cap *= 2
                keys_arr = np.resize(keys_arr, cap)
                scores_arr = np.resize(scores_arr, cap)
                keys = keys_arr
                scores = scores_arr
            keys[count] = own
            scores[count] = INFINITY
            count += 1
            bounds[i + 1] = count
            continue
        # Depth-first over letters. At each position the partners that can still reach the threshold
        # are a prefix of the letter's partners best first (the walk stops at the first that cannot);
        # that prefix, a few letters, is then visited in ascending order, so that the window's keys
        # come out sorted (the lookups then walk the key table forwards) at a fraction of the cost
        # of sorting them after (the same keys; 1.5 instead of 3.0 ms a query at threshold 19).
        depth = 0
        partial[0] = 0.0
        prefix[0] = 0
        _partners(&ranked[word[0], 0], &order[word[0], 0], alpha, 0.0, best[1], threshold, &cand[0], &ncand[0])
        pos[0] = 0
        while depth >= 0:
            if pos[depth] >= ncand[depth]:
                depth -= 1
                continue
            letter = cand[depth * 32 + pos[depth]]
            pos[depth] += 1
            s = partial[depth] + matrix[word[depth], letter]
            if depth == weight - 1:
                if count + 1 > cap:
                    cap *= 2
                    keys_arr = np.resize(keys_arr, cap)
                    scores_arr = np.resize(scores_arr, cap)
                    keys = keys_arr
                    scores = scores_arr
                keys[count] = prefix[depth] * alpha + letter
                scores[count] = INFINITY if keys[count] == own else s
                count += 1
                continue
            partial[depth + 1] = s
            prefix[depth + 1] = prefix[depth] * alpha + letter
            depth += 1
            _partners(&ranked[word[depth], 0], &order[word[depth], 0], alpha, s, best[depth + 1], threshold,
                      &cand[depth * 32], &ncand[depth])
            pos[depth] = 0
        bounds[i + 1] = count
    return keys_arr[:count].copy(), bounds_arr, scores_arr[:count].copy()


def hsp_hits(const int64_t[::1] keys, const int64_t[::1] bounds, const int64_t[::1] starts,
             const uint32_t[::1] postings, const int64_t[::1] offsets, const int32_t[::1] block_row,
             int block_shift, const uint8_t[::1] allowed, bint use_allowed, const uint8_t[::1] skip,
             const uint8_t[::1] query, const uint8_t[::1] codes, const int32_t[:, ::1] matrix, int span,
             int xdrop, int32_t[::1] touched, int32_t[:, ::1] state):
    """Extend every seed hit without gaps (BLAST's X-drop) and keep each row's best segment score.

    ``query`` and ``codes`` are residue codes (``matrix`` scores them, 21 x 21). A hit on the
    diagonal of the row's previous segment, inside it, is not extended again. ``state`` has a
    row of four per segment row (hits, best score, last diagonal, where the last segment ended on
    the query: one cache line serves a hit); its hits column must be zero on entry (it is the
    "seen" flag). Returns how many rows were touched (listed in ``touched``, first-touch order).
    """
    cdef Py_ssize_t n = bounds.shape[0] - 1
    cdef Py_ssize_t m = query.shape[0]
    cdef Py_ssize_t i, e, qi
    cdef int64_t j, key, stop, p, tp, lo, hi
    cdef int32_t r, d, ntouched = 0, run, top, t, ahead
    with nogil:
        for i in range(n):
            for e in range(bounds[i], bounds[i + 1]):
                key = keys[e]
                if skip[key]:
                    continue
                stop = starts[key + 1]
                for j in range(starts[key], stop):
                    p = postings[j]
                    # Each hit reads a row's residues, its offsets and its state at random: memory misses
                    # unless asked for a few hits ahead (the residues and block six ahead, then, once that
                    # block's row is cached, the row's offsets and state three ahead: a third less time
                    # per hit at 1M rows than the residues alone four ahead, bench/seeds_bench.py).
                    if j + 6 < stop:
                        __builtin_prefetch(&codes[postings[j + 6]])
                        __builtin_prefetch(&block_row[postings[j + 6] >> block_shift])
                    if j + 3 < stop:
                        ahead = block_row[postings[j + 3] >> block_shift]
                        __builtin_prefetch(&offsets[ahead])
                        __builtin_prefetch(&state[ahead, 0])
                    r = block_row[p >> block_shift]
                    while offsets[r + 1] <= p:
                        r += 1
                    if use_allowed and not allowed[r]:
                        continue
                    d = <int32_t>(p - offsets[r] - i)
                    if state[r, 0] == 0:
                        touched[ntouched] = r
                        ntouched += 1
                        state[r, 1] = -1
                        state[r, 2] = d
                        state[r, 3] = -1
                    state[r, 0] += 1
                    if state[r, 2] == d and i < state[r, 3]:
                        continue  # inside the segment already found on this diagonal
                    run = 0
                    for t in range(span):
                        run += matrix[query[i + t], codes[p + t]]
                    top = run
                    qi = i + span
                    tp = p + span
                    hi = offsets[r + 1]
                    while qi < m and tp < hi:
                        run += matrix[query[qi], codes[tp]]
                        if run > top:
                            top = run
                        elif run < top - xdrop:
                            break
                        qi += 1
                        tp += 1
                    state[r, 2] = d
                    state[r, 3] = <int32_t>qi
                    run = top
                    qi = i - 1
                    tp = p - 1
                    lo = offsets[r]
                    while qi >= 0 and tp >= lo:
                        run += matrix[query[qi], codes[tp]]
                        if run > top:
                            top = run
                        elif run < top - xdrop:
                            break
                        qi -= 1
                        tp -= 1
                    if top > state[r, 1]:
                        state[r, 1] = top
    return ntouched
