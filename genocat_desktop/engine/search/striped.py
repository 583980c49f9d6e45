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
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.search.scoring import NUCLEOTIDE, NUCLEOTIDE_LETTERS, Scheme

__all__ = ["Traced", "letters", "scores", "traced"]

_CIGAR: Final = re.compile(rb"(\d+)([=XIDM])")
_MATRICES: dict[str, Any] = {}
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
    import parasail

    out = np.zeros(len(targets), dtype=np.int64)
    if not targets or not query:
        return out
    matrix = _matrix(scheme)
    q = letters(query, scheme)
    # One query profile for every target; the 32-bit one only for pairs whose score passes 2^15.
    profile = parasail.profile_create_16(q, matrix)
    wide = None
    for i, target in enumerate(targets):
        t = letters(target, scheme)
        if not t:
            continue
        result = parasail.sw_striped_profile_16(profile, t, scheme.gap_open, scheme.gap_extend)
        if result.saturated:
            if wide is None:
                wide = parasail.profile_create_32(q, matrix)
            result = parasail.sw_striped_profile_32(wide, t, scheme.gap_open, scheme.gap_extend)
        out[i] = result.score
    return out


def traced(query: str, target: str, scheme: Scheme = NUCLEOTIDE, target_index: int = 0) -> Traced:
    """The best local alignment of ``query`` and ``target`` with its columns (traceback).

    Parameters
    ----------
    query, target
        Nucleotide sequences, as for :func:`scores`.
    scheme
        A match/mismatch scheme.
    target_index
        Carried into the result (the caller's index of ``target``).

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
    result = parasail.sw_trace_scan_16(q, t, scheme.gap_open, scheme.gap_extend, matrix)
    if result.saturated:
        result = parasail.sw_trace_scan_32(q, t, scheme.gap_open, scheme.gap_extend, matrix)
    if result.score <= 0:
        return Traced(0, 0, -1, 0, -1, "", target_index)
    cigar = result.cigar
    ops = "".join(("M" if op == b"=" else op.decode("ascii")) * int(n) for n, op in _CIGAR.findall(cigar.decode))
    # parasail's local traceback can run on past the alignment's start as a gap back to the first row or
    # column (b"300D150=" for 150 identical bases at 300); a local alignment never starts with a gap
    # (it would score more without it), so the leading gap columns go and the start moves past them.
    body = ops.lstrip("ID")
    lead = ops[: len(ops) - len(body)]
    query_start = int(cigar.beg_query) + lead.count("I")
    target_start = int(cigar.beg_ref) + lead.count("D")
    return Traced(int(result.score), query_start, int(result.end_query), target_start, int(result.end_ref),
                  body, target_index)


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
    # The packed operations (length << 4 | op) expanded with numpy: parsing the decoded string cost a third
    # of the traceback itself for a 1,250-residue pair (0.26 ms, now 0.04).
    packed = np.asarray(cigar.seq, dtype=np.uint32)
    ops = _CIGAR_LETTERS[packed & 0xF].repeat(packed >> 4).tobytes().decode("ascii")
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

    out = np.zeros(len(targets), dtype=np.int64)
    if not len(targets) or not query:
        return out
    matrix = parasail.matrix_create(alphabet, 0, 0)  # one matrix, overwritten for each pair
    k = len(alphabet)
    # parasail reads matrix[target letter, query letter]; the row and column it adds for letters outside
    # the alphabet (none are left) get the lowest score of all, so the matrix's minimum is that one.
    full = np.full((len(targets), matrix.size, matrix.size), np.min(matrices), dtype=np.int32)
    full[:, :k, :k] = np.swapaxes(matrices, 1, 2)
    highest = full.max(axis=(1, 2)).tolist()
    view = _view(matrix)
    struct = matrix.pointer[0]
    struct.min = int(full[0, k, k])
    for i, target in enumerate(targets):
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
    return out
