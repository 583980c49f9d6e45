"""Pairs aligned one at a time with parasail's striped SIMD Smith-Waterman: few nucleotide targets, protein
hits' tracebacks and composition-adjusted realignments (each pair with its own matrix, :mod:`.composition`).

pyopal (:mod:`.alignment`) runs its SIMD lanes *across targets*: a query against one or two rows
leaves most lanes idle, so a 1 kb gene against one 1 kb row costs about as much as against sixteen.
`parasail <https://github.com/jeffdaily/parasail>`_ stripes *one* pair across the lanes (Farrar's
method): the same pair scores ~30 times faster. The nucleotide seeds (:mod:`.seeds`) leave about two
rows per query to align, so :mod:`.alignment` aligns few nucleotide targets here and many with pyopal.

Both use :data:`.scoring.NUCLEOTIDE` with the same gap convention (a gap of length L costs
``gap_open + (L - 1) * gap_extend``, i.e. BLAST's 5 + 2L) and find the same best local score; 16-bit
scores that saturate (pairs of tens of kb) are recomputed with 32-bit ones. Letters outside
``ACGTN`` (IUPAC ambiguity codes) are read as ``N``, as the detail pane (:mod:`.pairwise`) reads them.

A nucleotide traceback covers only the window its best alignment spans where that is much smaller than
the pair (a fragment against a gene: score passes forward and back find it), and a window of more than
:data:`SPLIT_CELLS` is traced in pieces (:func:`_global_ops`); both give the whole pair's score and region.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.search.scoring import NUCLEOTIDE, NUCLEOTIDE_LETTERS, Scheme

__all__ = ["Traced", "letters", "pair_scores", "protein_letters", "protein_traced", "scored", "scores", "traced"]

_MATRICES: dict[str, Any] = {}
#: :func:`pair_scores` splits its pairs over the usable CPUs in runs of at least this many (a pair of
#: average proteins costs ~0.2 ms, a thread's start ~0.1 ms).
PAIRS_PER_PART: Final = 4
_TABLES: dict[str, bytes] = {}


@dataclass(frozen=True, slots=True)
class Traced:
    """A pair's best local alignment, with pyopal's field names (coordinates 0-based, ends inclusive).

    ``alignment`` has a letter per column: ``M`` identical, ``X`` mismatch, ``I`` a query letter
    against a gap, ``D`` a target letter against a gap.
    """

    score: int
    query_start: int
    query_end: int
    target_start: int
    target_end: int
    alignment: str
    target_index: int = 0


def _matrix(scheme: Scheme) -> Any:
    matrix = _MATRICES.get(scheme.matrix)
    if matrix is None:
        import parasail

        match, mismatch = scheme.match_mismatch or (1, -1)
        matrix = parasail.matrix_create(NUCLEOTIDE_LETTERS, match, mismatch)
        # N mismatches everything, itself included (as in pyopal's and Biopython's matrices); parasail's
        # extra row and column (letters outside the alphabet) too, though letters() leaves none.
        size = len(NUCLEOTIDE_LETTERS)
        for i in range(size + 1):
            for j in range(size + 1):
                if i >= size - 1 or j >= size - 1:
                    matrix.set_value(i, j, mismatch)
        _MATRICES[scheme.matrix] = matrix
    return matrix


def letters(sequence: str, scheme: Scheme = NUCLEOTIDE) -> str:
    """``sequence`` in the matrix's letters: ``U`` read as ``T``, any other letter outside ``ACGTN`` as ``N``."""
    table = _TABLES.get(scheme.matrix)
    if table is None:
        table = bytes(c if chr(c) in NUCLEOTIDE_LETTERS else ord(scheme.unknown) for c in range(256))
        _TABLES[scheme.matrix] = table
    return sequence.encode("ascii", "replace").translate(scheme.translate).translate(table).decode("ascii")


def scores(query: str, targets: Sequence[str], scheme: Scheme = NUCLEOTIDE) -> np.ndarray:
    """The best local alignment score of ``query`` against each target (score only, no traceback).

    :func:`scored` also gives where each best alignment ends.

    Parameters
    ----------
    query, targets
        Nucleotide sequences (any case of ``ACGTUN``; other letters read as ``N``).
    scheme
        A match/mismatch scheme (:data:`.scoring.NUCLEOTIDE`).

    Returns
    -------
    numpy.ndarray
        ``int64`` scores, one per target (0 where nothing aligns).
    """
    return scored(query, targets, scheme)[0]


def scored(query: str, targets: Sequence[str], scheme: Scheme = NUCLEOTIDE) -> tuple[np.ndarray, np.ndarray]:
    """:func:`scores`, and the cell where each best alignment ends (what :func:`traced` takes as ``end``).

    Returns
    -------
    tuple of numpy.ndarray
        ``int64`` scores, one per target, and ``(n, 2)`` ``int64`` 0-based end positions on the query
        and on the target (``-1`` where nothing aligns).
    """
    out = np.zeros(len(targets), dtype=np.int64)
    ends = np.full((len(targets), 2), -1, dtype=np.int64)
    if not targets or not query:
        return out, ends
    targets_letters = (letters(t, scheme) for t in targets)
    for i, result in _profiled(letters(query, scheme), targets_letters, _matrix(scheme), scheme):
        out[i] = result.score
        if out[i] > 0:
            ends[i] = result.end_query, result.end_ref
    return out, ends


def _profiled(query: str, targets: Iterable[str], matrix: Any, scheme: Scheme) -> Iterator[tuple[int, Any]]:
    """parasail's score-only result of ``query`` against each non-empty target (both already in the
    matrix's letters), with its index: one 16-bit query profile for every target, the 32-bit one only
    for pairs whose score passes 2^15."""
    import parasail

    profile = parasail.profile_create_16(query, matrix)
    wide = None
    for i, t in enumerate(targets):
        if not t:
            continue
        result = parasail.sw_striped_profile_16(profile, t, scheme.gap_open, scheme.gap_extend)
        if result.saturated:
            if wide is None:
                wide = parasail.profile_create_32(query, matrix)
            result = parasail.sw_striped_profile_32(wide, t, scheme.gap_open, scheme.gap_extend)
        yield i, result


def traced(query: str, target: str, scheme: Scheme = NUCLEOTIDE, target_index: int = 0,
           end: tuple[int, int, int] | None = None) -> Traced:
    """The best local alignment of ``query`` and ``target`` with its columns (traceback).

    Parameters
    ----------
    query, target
        Nucleotide sequences, as for :func:`scores`.
    scheme
        A match/mismatch scheme.
    target_index
        Carried into the result (the caller's index of ``target``).
    end
        The pair's best score and its end cell on the query and the target, from :func:`scored`
        (saves a score pass where the traceback is cut to a window); ``None``: not known.

    Returns
    -------
    Traced
        Score, regions and columns; a score of 0 and no columns where nothing aligns.
    """
    import parasail

    q, t = letters(query, scheme), letters(target, scheme)
    if not q or not t:
        return Traced(0, 0, -1, 0, -1, "", target_index)
    matrix = _matrix(scheme)
    cells = len(q) * len(t)
    # The window only where it can be much smaller than the pair: the best alignment has at least
    # score / match columns on each sequence, so a pair of like lengths that aligns end to end (a gene
    # against its homologue) is traced whole, without the two score passes.
    match = (scheme.match_mismatch or (1, -1))[0]
    if (end is not None and end[0] > 0 and 2 * (end[0] / match) ** 2 <= cells) \
            or (end is None and 2 * min(len(q), len(t)) ** 2 <= cells) or cells > SPLIT_CELLS:
        found = _windowed(q, t, scheme, matrix, target_index, end)
        if found is not None:
            return found
    result = parasail.sw_trace_scan_16(q, t, scheme.gap_open, scheme.gap_extend, matrix)
    if result.saturated:
        result = parasail.sw_trace_scan_32(q, t, scheme.gap_open, scheme.gap_extend, matrix)
    return _traced_result(result, target_index)


def _windowed(q: str, t: str, scheme: Scheme, matrix: Any, target_index: int,
              end: tuple[int, int, int] | None) -> Traced | None:
    """:func:`traced` of a pair of unequal lengths, the traceback only over the region that the best alignment spans.

    A traceback costs about six times a score-only pass per cell, and a fragment against a whole gene
    aligns over a small part of its matrix. A score-only pass gives the best score's end cell; the same pass
    over the reversed prefixes that end there gives its start (the cell where the reversed alignment
    reaches that score, as BLAST's gapped extension works from its seed both ways); the traceback then
    covers that window only: a local alignment inside it with the whole pair's best score is a best local
    alignment of the pair. ``None`` (trace the whole pair) where a pass saturates 16 bits or the window
    does not give back the score. ``end``: the score pass's score and end cell, if already known.
    """
    import parasail

    if end is None:
        forward = parasail.sw_striped_16(q, t, scheme.gap_open, scheme.gap_extend, matrix)
        if forward.saturated:
            return None
        end = int(forward.score), int(forward.end_query), int(forward.end_ref)
    score, q_end, t_end = (int(x) for x in end)
    if score <= 0:
        return Traced(0, 0, -1, 0, -1, "", target_index)
    back = parasail.sw_striped_16(q[q_end::-1], t[t_end::-1], scheme.gap_open, scheme.gap_extend, matrix)
    if back.saturated or int(back.score) != score:
        return None
    q_start, t_start = q_end - int(back.end_query), t_end - int(back.end_ref)
    if (q_end + 1 - q_start) * (t_end + 1 - t_start) > SPLIT_CELLS:
        ops = _global_ops(q[q_start : q_end + 1], t[t_start : t_end + 1], score, scheme, matrix)
        if ops is not None:
            return Traced(score, q_start, q_end, t_start, t_end, ops, target_index)
    result = parasail.sw_trace_scan_16(q[q_start : q_end + 1], t[t_start : t_end + 1], scheme.gap_open,
                                       scheme.gap_extend, matrix)
    if result.saturated or int(result.score) != score:
        return None
    found = _traced_result(result, target_index)
    return Traced(found.score, found.query_start + q_start, found.query_end + q_start,
                  found.target_start + t_start, found.target_end + t_start, found.alignment, target_index)


#: Windows of more cells than this are traced in pieces (:func:`_global_ops`). parasail's traceback keeps a
#: byte or more per cell: past ~16M cells it runs at memory speed (a 7.1 kb gene against itself, 51M cells:
#: 88 ms whole, 44 cut; a 9.3 kb one 151 and 78 ms; CPU medians, bench/dna genes with 5 % substitutions),
#: while below it the score passes that find the cuts cost more than they save (4.0 kb: 6 ms whole, 14 ms
#: in 4M-cell pieces).
SPLIT_CELLS: Final = 1 << 24


def _global_ops(q: str, t: str, score: int, scheme: Scheme, matrix: Any) -> str | None:
    """The columns of a global alignment of ``q`` and ``t`` that scores ``score`` (their best global score),
    traced in pieces of at most :data:`SPLIT_CELLS` (Hirschberg's divide and conquer).

    Two score-only global passes, the upper half of ``q`` forward and the lower half backward, give for every
    cut of ``t`` the best score of each side (their last rows); where the two add up to ``score`` the best path
    crosses the middle there, and each side is aligned the same way. ``None`` where no cut adds up (the
    best path crosses the middle inside a gap, which the two sides would each open: the caller then traces
    the whole window) or where a pass saturates 16 bits.
    """
    import parasail

    gap_open, gap_extend = scheme.gap_open, scheme.gap_extend
    if len(q) * len(t) <= SPLIT_CELLS or len(q) < 2 or len(t) < 2:
        result = parasail.nw_trace_scan_16(q, t, gap_open, gap_extend, matrix)
        if result.saturated:
            result = parasail.nw_trace_scan_32(q, t, gap_open, gap_extend, matrix)
        return _ops(result.cigar) if int(result.score) == score else None
    mid = len(q) // 2
    upper = parasail.nw_rowcol_striped_16(q[:mid], t, gap_open, gap_extend, matrix)
    lower = parasail.nw_rowcol_striped_16(q[mid:][::-1], t[::-1], gap_open, gap_extend, matrix)
    if upper.saturated or lower.saturated:
        return None
    forward = np.array(upper.score_row, dtype=np.int64)  # q[:mid] against t[:j + 1]
    backward = np.array(lower.score_row, dtype=np.int64)[::-1]  # q[mid:] against t[j:]
    # a cut at c gives t[:c] to the upper half and t[c:] to the lower one (both non-empty)
    totals = forward[:-1] + backward[1:]
    cut = int(np.argmax(totals))
    if int(totals[cut]) != score:
        return None
    first = _global_ops(q[:mid], t[: cut + 1], int(forward[cut]), scheme, matrix)
    second = _global_ops(q[mid:], t[cut + 1 :], int(backward[cut + 1]), scheme, matrix)
    return None if first is None or second is None else first + second


def _ops(cigar: Any) -> str:
    """The columns of a parasail traceback's cigar (``result.cigar``, made anew at each read), one letter each
    (:class:`Traced`'s ``alignment``)."""
    import ctypes

    # The packed operations (length << 4 | op) expanded with numpy: parsing the decoded string cost a third
    # of the traceback itself for a 1,250-residue pair (0.26 ms, now 0.04). Read from the C array as bytes:
    # parasail's ``seq`` property wraps it in numpy through ctypes, 20 µs a call, five times the copy.
    struct = cigar.pointer[0]
    packed = np.frombuffer(ctypes.string_at(struct.seq, struct.len * 4), dtype=np.uint32)
    return _CIGAR_LETTERS[packed & 0xF].repeat(packed >> 4).tobytes().decode("ascii")


# Proteins: the hit list's tracebacks and the composition-adjusted realignments (:mod:`.composition`),
# each pair with its own matrix. BLAST's gap of length L costs 11 + L; :data:`.scoring.PROTEIN` has it as
# 12 for the first position and 1 for each next one, which is also parasail's ``open``/``extend``.

_PROTEIN_TABLES: dict[str, bytes] = {}
#: parasail's cigar operation codes (``MIDNSHP=X``) as :class:`Traced` letters (``=`` is ``M``).
_CIGAR_LETTERS: Final = np.frombuffer(b"MIDNSHPMX", dtype=np.uint8)


def _view(matrix: Any) -> np.ndarray:
    """A writable view of a parasail matrix made by ``matrix_create`` (its ``matrix`` property is read-only):
    ``set_value`` is one foreign call per cell (441 for 21 letters, for every pair), the view writes them
    at once."""
    import ctypes

    struct = matrix.pointer[0]
    size = int(struct.size)
    return np.ctypeslib.as_array(ctypes.cast(struct.user_matrix, ctypes.POINTER(ctypes.c_int)), shape=(size, size))


def _load(matrix: Any, rows: np.ndarray) -> None:
    """Write ``rows`` (a square integer array of the matrix's size) into a parasail matrix made by
    ``matrix_create``, with its extreme values: parasail reads them to choose its score offsets."""
    struct = matrix.pointer[0]
    _view(matrix)[:] = rows
    struct.max, struct.min = int(rows.max()), int(rows.min())


def protein_letters(sequence: str, alphabet: str, scheme: Scheme | None = None) -> str:
    """``sequence`` in ``alphabet`` (which holds ``X``): lower case read as upper case, the scheme's
    translations (``U``, ``O``, ``J`` to ``X`` for :data:`.scoring.PROTEIN`) applied, anything else read as
    ``X``, as pyopal reads it."""
    key = alphabet + (scheme.name if scheme else "")
    table = _PROTEIN_TABLES.get(key)
    if table is None:
        translate = scheme.translate if scheme else bytes(range(256))
        upper = bytes(range(256)).upper().translate(translate)
        table = bytes(c if chr(c) in alphabet else ord("X") for c in upper)
        _PROTEIN_TABLES[key] = table
    return sequence.encode("ascii", "replace").translate(table).decode("ascii")


def protein_scores(query: str, targets: Sequence[str], scheme: Scheme) -> np.ndarray:
    """The best local alignment score of protein ``query`` against each target, one pair at a time.

    One query profile (16-bit, SIMD within the pair) for every target; a pair whose score passes
    2^15 again with 32 bits. pyopal's lanes run across targets and fill up only when they are many:
    over a few hundred targets it is the faster (:data:`.alignment.STRIPED_SCORED_PROTEIN_TARGETS`).

    Returns
    -------
    numpy.ndarray
        ``int64`` scores, one per target, the same as pyopal's (0 where nothing aligns).
    """
    out = np.zeros(len(targets), dtype=np.int64)
    if not targets or not query:
        return out
    matrix, alphabet = _protein_matrix(scheme)
    targets_letters = (protein_letters(t, alphabet, scheme) for t in targets)
    for i, result in _profiled(protein_letters(query, alphabet, scheme), targets_letters, matrix, scheme):
        out[i] = result.score
    return out


def _protein_matrix(scheme: Scheme) -> tuple[Any, str]:
    """The scheme's named matrix (BLOSUM62) for parasail, from the same values pyopal reads, and its letters."""
    key = "protein " + scheme.matrix
    found = _MATRICES.get(key)
    if found is None:
        import parasail
        from scoring_matrices import ScoringMatrix

        named = ScoringMatrix.from_name(scheme.matrix)
        rows = np.array([list(r) for r in named], dtype=np.int32)  # type: ignore[attr-defined]  # iterates rows
        matrix = parasail.matrix_create(named.alphabet, 0, 0)
        # matrix_create adds a row and column for letters outside the alphabet; protein_letters leaves none.
        full = np.full((matrix.size, matrix.size), int(rows.min()), dtype=np.int32)
        full[: len(rows), : len(rows)] = rows
        _load(matrix, full)
        found = _MATRICES[key] = (matrix, named.alphabet)
    return found  # type: ignore[no-any-return]


def _traced_result(result: Any, target_index: int) -> Traced:
    """A parasail traceback result as a :class:`Traced`."""
    if result.score <= 0:
        return Traced(0, 0, -1, 0, -1, "", target_index)
    cigar = result.cigar
    ops = _ops(cigar)
    # As in traced(): a local alignment never starts with a gap; parasail's can lead with one.
    body = ops.lstrip("ID")
    lead = ops[: len(ops) - len(body)]
    return Traced(int(result.score), int(cigar.beg_query) + lead.count("I"), int(result.end_query),
                  int(cigar.beg_ref) + lead.count("D"), int(result.end_ref), body, target_index)


def protein_traced(query: str, target: str, scheme: Scheme, target_index: int = 0) -> Traced:
    """The best local alignment of two proteins with its columns (traceback), as pyopal's full mode.

    Parameters
    ----------
    query, target
        Protein sequences (letters outside the matrix's alphabet read as ``X``).
    scheme
        A scheme with a named matrix (:data:`.scoring.PROTEIN`).
    target_index
        Carried into the result (the caller's index of ``target``).

    Returns
    -------
    Traced
        Score, regions and columns; a score of 0 and no columns where nothing aligns. Among
        alignments of equal score, parasail may choose another path than pyopal.
    """
    import parasail

    matrix, alphabet = _protein_matrix(scheme)
    q, t = protein_letters(query, alphabet, scheme), protein_letters(target, alphabet, scheme)
    if not q or not t:
        return Traced(0, 0, -1, 0, -1, "", target_index)
    result = parasail.sw_trace_scan_16(q, t, scheme.gap_open, scheme.gap_extend, matrix)
    if result.saturated:
        result = parasail.sw_trace_scan_32(q, t, scheme.gap_open, scheme.gap_extend, matrix)
    return _traced_result(result, target_index)


def pair_scores(
    query: str, targets: Sequence[str], matrices: np.ndarray, alphabet: str, gap_open: int, gap_extend: int,
    wide: np.ndarray | None = None,
) -> np.ndarray:
    """The best local score of ``query`` against each target, each pair with its own integer matrix.

    Parameters
    ----------
    query, targets
        Sequences already in ``alphabet`` (:func:`protein_letters`).
    matrices
        ``(n, k, k)`` integer scores, rows the query's letters, in ``alphabet`` order (``k`` its length).
    alphabet
        The matrices' letters.
    gap_open, gap_extend
        The gap costs of every pair (a gap of length L costs ``gap_open + (L - 1) * gap_extend``).
    wide
        ``(n,)`` booleans: pairs aligned with 32-bit scores from the start (those that would saturate
        16 bits); the others are aligned again with 32 bits when they saturate. ``None``: none.

    Returns
    -------
    numpy.ndarray
        ``int64`` scores, one per target.
    """
    import parasail

    from genocat_desktop.engine.core.parallel import part_count, run_parts

    out = np.zeros(len(targets), dtype=np.int64)
    if not len(targets) or not query:
        return out
    k = len(alphabet)
    size = parasail.matrix_create(alphabet, 0, 0).size  # the alphabet and one letter for the others
    # parasail reads matrix[target letter, query letter]; the row and column it adds for letters outside
    # the alphabet (none are left) get the lowest score of all, so the matrix's minimum is that one.
    full = np.full((len(targets), size, size), np.min(matrices), dtype=np.int32)
    full[:, :k, :k] = np.swapaxes(matrices, 1, 2)
    highest = full.max(axis=(1, 2)).tolist()
    # Pairs in interleaved runs on the usable CPUs (parasail's calls release the GIL), each run with
    # one matrix of its own, overwritten for each of its pairs.
    parts = part_count(len(targets), PAIRS_PER_PART)

    def part(p: int) -> None:
        matrix = parasail.matrix_create(alphabet, 0, 0)
        view = _view(matrix)
        struct = matrix.pointer[0]
        struct.min = int(full[0, k, k])
        for i in range(p, len(targets), parts):
            target = targets[i]
            if not target:
                continue
            view[:] = full[i]
            struct.max = highest[i]
            if wide is None or not wide[i]:
                result = parasail.sw_striped_16(query, target, gap_open, gap_extend, matrix)
                if not result.saturated:
                    out[i] = result.score
                    continue
            out[i] = parasail.sw_striped_32(query, target, gap_open, gap_extend, matrix).score

    run_parts(part, parts, "genocat-pairs")
    return out
