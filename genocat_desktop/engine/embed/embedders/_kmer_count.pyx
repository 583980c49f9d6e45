# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The k-mer embedder's counting loop, compiled: one call per batch that runs without the GIL.

The numpy version in :mod:`.kmer` needs ~12 numpy calls per 64 Ki residues, and takes the GIL back
after each. During an import the parser holds the GIL most of the time, so the embedding worker
starved while one core sat idle (BENCHMARKS.md, import). This loop gives the same counts, bit for
bit (``tests/test_embedder.py``), at a quarter of the CPU, and hands the GIL over once per batch.
"""

from libc.stdint cimport int64_t

import numpy as np


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
