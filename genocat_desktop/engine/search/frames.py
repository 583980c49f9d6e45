"""Six-frame translation with the standard genetic code, and frame coordinates as BLAST prints them.

Translated search (:mod:`.translated`) compares proteins with nucleotide records through the six
reading frames of each record: ``+1``, ``+2``, ``+3`` start at the first, second and third base of
the record as stored; ``-1``, ``-2``, ``-3`` at the first, second and third base of its reverse
complement. Codons are looked up in one numpy table (NCBI translation table 1); a codon with an
ambiguous base becomes ``X``, a stop codon ``*`` (BLOSUM62 scores it), a trailing partial codon
is dropped.
"""

from __future__ import annotations

from typing import Final

import numpy as np

__all__ = ["FRAMES", "frame_span", "six_frames"]

#: The frames in the order :func:`six_frames` returns them.
FRAMES: Final = (1, 2, 3, -1, -2, -3)

# The standard genetic code, codons in TCAG order (NCBI translation table 1).
_CODE: Final = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
_BASE: Final = np.full(256, 64, dtype=np.int64)  # 64 marks an ambiguous base
for _i, _c in enumerate("TCAG"):
    _BASE[ord(_c)] = _i
_BASE[ord("U")] = 0
# Index 64 and above: a codon with an ambiguous base, translated as X.
_AMINO: Final = np.frombuffer((_CODE + "X" * (64 * 21 + 1)).encode(), dtype=np.uint8)
_COMPLEMENT: Final = bytes.maketrans(b"ACGTUacgtu", b"TGCAAtgcaa")


def _translate(codes: np.ndarray, offset: int) -> str:
    n = (codes.size - offset) // 3
    if n <= 0:
        return ""
    c = codes[offset : offset + 3 * n].reshape(n, 3)
    # An ambiguous base (64) pushes the index past 63, where the table holds X.
    return _AMINO[c[:, 0] * 16 + c[:, 1] * 4 + c[:, 2]].tobytes().decode("ascii")


def six_frames(nucleotides: str) -> list[str]:
    """The translations of a nucleotide sequence in the frames of :data:`FRAMES`, in that order.

    Parameters
    ----------
    nucleotides
        DNA or RNA letters (IUPAC codes other than ACGTU translate as ``X``).

    Returns
    -------
    list of str
        Six protein sequences (stops as ``*``); empty for frames shorter than one codon.
    """
    raw = nucleotides.upper().encode("ascii", "replace")
    forward = _BASE[np.frombuffer(raw, dtype=np.uint8)]
    reverse = _BASE[np.frombuffer(raw.translate(_COMPLEMENT)[::-1], dtype=np.uint8)]
    return [_translate(forward, f - 1) for f in FRAMES[:3]] + [_translate(reverse, -f - 1) for f in FRAMES[3:]]


def frame_span(frame: int, aa_start: int, aa_end: int, length: int) -> tuple[int, int]:
    """The nucleotides that residues ``aa_start..aa_end`` (0-based, inclusive) of a frame translate.

    Parameters
    ----------
    frame
        One of :data:`FRAMES`.
    aa_start, aa_end
        The first and last residue of the region in the frame's translation.
    length
        The nucleotide sequence's length.

    Returns
    -------
    tuple of int
        ``(start, end)``, 1-based and inclusive on the sequence as stored, as BLAST prints them:
        on a minus frame ``start > end``.
    """
    offset = abs(frame) - 1
    first, last = offset + 3 * aa_start, offset + 3 * aa_end + 2  # 0-based on the frame's strand
    if frame > 0:
        return first + 1, last + 1
    return length - first, length - last
