"""The ESM alphabet in numpy: tokenising, windows for long proteins, six-frame translation.

Everything here is pure numpy so the app needs no torch or transformers at run
time. The token ids are those of fair-esm's ``Alphabet.from_architecture("ESM-1b")``
and of the ``vocab.txt`` shipped with every Hugging Face ESM-2 checkpoint (the
33 tokens of :data:`ESM2_TOKENS`, in that order).

Unknown residues: the catalog keeps only upper-case letters, and of those only
``J`` is not in the ESM alphabet; it becomes ``<unk>``, one token per residue
(as fair-esm does), so token positions always line up with residues. The
Hugging Face tokenizer would merge a *run* of unknown letters into a single
``<unk>``; for sequences without such runs the ids are identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

__all__ = [
    "CLS",
    "EOS",
    "ESM2_TOKENS",
    "PAD",
    "UNK",
    "encode_batch",
    "translate_longest_orf",
    "windows",
]

#: fair-esm's ESM-1b/ESM-2 alphabet: 4 specials, 25 residue letters, gap tokens, null, mask.
ESM2_TOKENS: Final[tuple[str, ...]] = (
    "<cls>", "<pad>", "<eos>", "<unk>",
    "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q", "N", "F", "Y", "M", "H", "W", "C",
    "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>",
)
CLS: Final = 0
PAD: Final = 1
EOS: Final = 2
UNK: Final = 3

_LUT = np.full(256, UNK, dtype=np.int64)
for _i, _tok in enumerate(ESM2_TOKENS):
    if len(_tok) == 1:
        _LUT[ord(_tok)] = _i
        if _tok.isalpha():
            _LUT[ord(_tok.lower())] = _i


def encode_batch(residues: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask for a batch, right-padded to the longest.

    Parameters
    ----------
    residues
        Protein sequences as ASCII bytes (no windows here: the caller splits long ones).

    Returns
    -------
    ids, mask
        ``int64`` arrays of shape ``(n, longest + 2)``: ``<cls>`` residues ``<eos>`` then ``<pad>``;
        the mask is 1 on real tokens (``<cls>`` and ``<eos>`` included), 0 on padding.
    """
    n = len(residues)
    lengths = np.fromiter((len(r) for r in residues), dtype=np.int64, count=n)
    width = int(lengths.max(initial=0)) + 2
    ids = np.full((n, width), PAD, dtype=np.int64)
    ids[:, 0] = CLS
    if n:
        # One vectorised scatter for the whole batch instead of a Python loop per sequence.
        flat = _LUT[np.frombuffer(b"".join(residues), dtype=np.uint8)]
        rows = np.repeat(np.arange(n), lengths)
        starts = np.zeros(n, dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        cols = np.arange(flat.size) - np.repeat(starts, lengths) + 1
        ids[rows, cols] = flat
        ids[np.arange(n), lengths + 1] = EOS
    mask = (np.arange(width)[None, :] < (lengths + 2)[:, None]).astype(np.int64)
    return ids, mask


def windows(length: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Split ``length`` residues into windows of at most ``size`` that overlap by at least ``overlap``.

    The windows are spread evenly, the first starting at 0 and the last ending
    at ``length``, so no residue is left out and every residue near a window's
    edge is also seen, with context on both sides, by a neighbouring window.

    Returns
    -------
    list of (start, stop)
        One ``(0, length)`` window when the protein fits.
    """
    if length <= size:
        return [(0, length)]
    if not 0 <= overlap < size:
        raise ValueError("need 0 <= overlap < window size")
    stride = size - overlap
    count = -(-(length - overlap) // stride)  # ceil: enough windows for the required overlap
    starts = np.round(np.linspace(0, length - size, count)).astype(np.int64)
    return [(int(s), int(s) + size) for s in starts]


# The standard genetic code, codons in TCAG order (NCBI translation table 1).
_CODE: Final = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
_BASE = np.full(256, 4, dtype=np.int64)
for _i, _c in enumerate("TCAG"):
    _BASE[ord(_c)] = _i
_BASE[ord("U")] = 0
# Index 64 = a codon with an ambiguous base (N, R, Y...): translated as X.
_AMINO = np.frombuffer((_CODE + "X").encode(), dtype=np.uint8)
_COMPLEMENT = bytes.maketrans(b"ACGTUN", b"TGCAAN")


def translate_longest_orf(nucleotides: bytes) -> bytes:
    """The protein a nucleotide record most plausibly encodes: its longest open reading frame.

    ESM-2 is a protein model; DNA and RNA records are embedded as the protein
    they encode. The rule: translate all six reading frames with the standard
    genetic code (a codon with an ambiguous base becomes ``X``); an open reading
    frame runs from an ``ATG`` to the next stop codon, or to the end of the
    record (a fragment); take the longest. For a coding sequence, the usual
    nucleotide record in a protein catalog, that is its translation without the
    stop codon. Without any ``ATG``, the longest stretch free of stop codons is
    taken instead. Ties go to the first frame in the order +1, +2, +3, -1, -2,
    -3. Fewer than three bases give an empty protein.
    """
    seq = nucleotides.upper()
    best_orf = b""
    best_stretch = b""
    for strand in (seq, seq.translate(_COMPLEMENT)[::-1]):
        codes = _BASE[np.frombuffer(strand, dtype=np.uint8)]
        for frame in range(3):
            n = (codes.size - frame) // 3
            if n <= 0:
                continue
            c = codes[frame : frame + 3 * n].reshape(n, 3)
            idx = np.where((c == 4).any(axis=1), 64, c[:, 0] * 16 + c[:, 1] * 4 + c[:, 2])
            for stretch in _AMINO[idx].tobytes().split(b"*"):
                if len(stretch) > len(best_stretch):
                    best_stretch = stretch
                start = stretch.find(b"M")
                if start >= 0 and len(stretch) - start > len(best_orf):
                    best_orf = stretch[start:]
    return best_orf or best_stretch
