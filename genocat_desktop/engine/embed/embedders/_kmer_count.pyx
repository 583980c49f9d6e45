# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The k-mer embedder's counting loops, compiled: one call per batch that runs without the GIL.

The numpy version in :mod:`.kmer` needs ~12 numpy calls per 64 Ki residues, and takes the GIL back
after each. During an import the parser holds the GIL most of the time, so the embedding worker
starved while one core sat idle (BENCHMARKS.md, import). This loop gives the same counts, bit for
bit (``tests/test_embedder.py``), at a quarter of the CPU, and hands the GIL over once per batch.
``count_windows`` counts a window into one column; ``count_neighbours`` into each column of a list
(the BLOSUM62 neighbourhood of an exact k-mer), with an empty list for a window that is dropped.
"""

from libc.stdint cimport int64_t

import numpy as np

#: Dropped columns after the ``2 * dim`` counted ones in :func:`count_neighbours`.
DUMMIES = 16


def count_windows(
    const unsigned char[::1] codes,
    const int64_t[::1] offsets,
    const int[::1] columns,
    int base,
    int k,
    float[:, ::1] out,
):
    """Write each record's signed k-mer counts into ``out``.

    Parameters
    ----------
    codes
        Residue codes, ``0 .. base - 1`` (``base - 1``, and anything larger, is "not in the
        alphabet").
    offsets
        ``(n + 1,)`` record boundaries into ``codes``, non-decreasing.
    columns
        The space's column table (``_Space.columns``): a window's index in base ``base``, first
        residue most significant, to its column; column ``2 * dim`` is dropped.
    base, k
        The alphabet size plus one, and the k-mer length.
    out
        ``(n, dim)`` float32: column ``b`` minus column ``dim + b``, for each record.
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t dim = out.shape[1]
    cdef Py_ssize_t r, i, b, start, end
    cdef long long idx, lead = 1, windows = 1
    cdef unsigned int top = <unsigned int>(base - 1)
    cdef unsigned int c
    cdef int col, width = <int>(2 * dim + 1)
    if k < 1 or base < 2:
        raise ValueError("need k >= 1 and base >= 2")
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} rows for {n} records")
    for i in range(k):
        windows *= base
    if columns.shape[0] < windows:
        raise ValueError(f"the column table has {columns.shape[0]} entries, k-mer indexes go to {windows - 1}")
    for r in range(n):
        if offsets[r] < 0 or offsets[r] > offsets[r + 1] or offsets[r + 1] > codes.shape[0]:
            raise ValueError(f"offsets {offsets[r]}..{offsets[r + 1]} are not within {codes.shape[0]} codes")
    lead = windows // base
    cdef int[::1] counts = np.zeros(width, dtype=np.intc)
    cdef int *cnt = &counts[0]
    cdef float *row
    with nogil:
        for r in range(n):
            start = offsets[r]
            end = offsets[r + 1]
            if end - start >= k:
                # A rolling index: add the new residue, then take the oldest one off for the next window.
                idx = 0
                for i in range(start, start + k - 1):
                    c = codes[i]
                    idx = idx * base + (c if c <= top else top)
                for i in range(start + k - 1, end):
                    c = codes[i]
                    idx = idx * base + (c if c <= top else top)
                    col = columns[idx]
                    if 0 <= col < width:  # a table from _Space always is; a wrong one must not write past
                        cnt[col] += 1
                    c = codes[i - k + 1]
                    idx -= (c if c <= top else top) * lead
            # Clearing the counters while reading them: no separate pass over the 2 * dim + 1 of them.
            row = &out[r, 0]
            for b in range(dim):
                row[b] = <float>(cnt[b] - cnt[dim + b])
                cnt[b] = 0
                cnt[dim + b] = 0
            cnt[2 * dim] = 0




def count_neighbours(
    const unsigned char[::1] codes,
    const int64_t[::1] offsets,
    const int[:, ::1] heads,
    const unsigned char[::1] more,
    const int64_t[::1] starts,
    const int[::1] flat,
    const float[::1] mean,
    int base,
    int k,
    float[:, ::1] out,
):
    """Like :func:`count_windows`, but a window counts into every column of its neighbour list.

    Each record's row is its counts less ``mean`` times its windows of residues all in the
    alphabet (what a random sequence of as many windows is expected to count); a record that
    counted into no column at all gets a row of zeros (the caller then tries a shorter k).

    A window's list is its four ``heads`` (short lists padded with dropped columns), then, where
    ``more`` says so, the rest of it in ``flat``: four unconditional increments and a loop that is
    rarely entered (8 % of real windows at threshold 15), instead of a loop whose length (0, 1, 2,
    ... columns) the processor mispredicts at nearly every window: a third less time.

    Parameters
    ----------
    codes, offsets, base, k, out
        As for :func:`count_windows`.
    heads
        ``(base ** k, 4)`` or more rows: the first four columns of window index ``w``'s list.
    more
        ``(base ** k,)`` or more: non-zero where ``w``'s list goes on in ``flat``.
    starts
        ``(base ** k + 1,)`` or longer, non-decreasing: the rest of ``w``'s list is
        ``flat[starts[w]:starts[w + 1]]``.
    flat
        The lists' remaining columns, one after another.
    mean
        ``(dim,)``: the expected signed count per window (``_Space.mean``; zeros: no centring).
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef Py_ssize_t dim = out.shape[1]
    cdef Py_ssize_t r, i, b, start, end
    cdef int64_t j, stop, counted, valid
    cdef long long idx, lead = 1, windows = 1
    cdef unsigned int top = <unsigned int>(base - 1)
    cdef unsigned int c
    # Columns 2 * dim and up, to DUMMIES, are dropped: the padding of short lists. Spread over
    # several, increments of a dropped column do not wait on one another.
    cdef int bad, width = <int>(2 * dim + DUMMIES)
    cdef float scale
    cdef const float *avg
    cdef const int *head
    if k < 1 or base < 2:
        raise ValueError("need k >= 1 and base >= 2")
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} rows for {n} records")
    if mean.shape[0] != dim:
        raise ValueError(f"mean has {mean.shape[0]} entries for {dim} columns")
    for i in range(k):
        windows *= base
    _check_lists(heads, more, starts, flat, windows, width)
    for r in range(n):
        if offsets[r] < 0 or offsets[r] > offsets[r + 1] or offsets[r + 1] > codes.shape[0]:
            raise ValueError(f"offsets {offsets[r]}..{offsets[r + 1]} are not within {codes.shape[0]} codes")
    lead = windows // base
    cdef int[::1] counts = np.zeros(width, dtype=np.intc)
    cdef int *cnt = &counts[0]
    cdef float *row
    avg = &mean[0]
    with nogil:
        for r in range(n):
            start = offsets[r]
            end = offsets[r + 1]
            valid = 0
            if end - start >= k:
                idx = 0
                bad = 0  # residues outside the alphabet in the current window
                for i in range(start, start + k - 1):
                    c = codes[i]
                    bad += c >= top
                    idx = idx * base + (c if c <= top else top)
                for i in range(start + k - 1, end):
                    c = codes[i]
                    bad += c >= top
                    idx = idx * base + (c if c <= top else top)
                    valid += bad == 0
                    head = &heads[idx, 0]
                    cnt[head[0]] += 1
                    cnt[head[1]] += 1
                    cnt[head[2]] += 1
                    cnt[head[3]] += 1
                    if more[idx]:
                        stop = starts[idx + 1]
                        for j in range(starts[idx], stop):
                            cnt[flat[j]] += 1
                    c = codes[i - k + 1]
                    bad -= c >= top
                    idx -= (c if c <= top else top) * lead
            counted = 0
            for b in range(2 * dim):
                counted += cnt[b]
            row = &out[r, 0]
            if counted:
                scale = <float>valid
                for b in range(dim):
                    row[b] = <float>(cnt[b] - cnt[dim + b]) - scale * avg[b]
            else:
                for b in range(dim):
                    row[b] = 0
            for b in range(width):
                cnt[b] = 0


def _check_lists(
    const int[:, ::1] heads, const unsigned char[::1] more, const int64_t[::1] starts, const int[::1] flat,
    long long windows, int width,
):
    """Refuse a neighbour table that would make :func:`count_neighbours` read or write outside.

    Every column is checked here, once per call, so that the counting loop need not.
    """
    cdef long long i
    cdef int64_t j
    cdef int b
    if heads.shape[0] < windows or heads.shape[1] != 4 or more.shape[0] < windows or starts.shape[0] < windows + 1:
        raise ValueError(f"the neighbour table has {heads.shape[0]} heads and {starts.shape[0]} starts, "
                         f"k-mer indexes go to {windows - 1}")
    if starts[0] < 0 or starts[windows] > flat.shape[0]:
        raise ValueError(f"the neighbour table's starts go outside its {flat.shape[0]} columns")
    for i in range(windows):
        if starts[i] > starts[i + 1]:
            raise ValueError("the neighbour table's starts are not non-decreasing")
        for b in range(4):
            if not 0 <= heads[i, b] < width:
                raise ValueError(f"the neighbour table has a column outside 0..{width - 1}")
    for j in range(starts[windows]):
        if not 0 <= flat[j] < width:
            raise ValueError(f"the neighbour table has a column outside 0..{width - 1}")
