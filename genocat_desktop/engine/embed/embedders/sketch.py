"""FracMinHash sketches of nucleotide records (sourmash), stored as a catalog column of hashes.

A sketch answers what a vector cannot: *which records contain this insert or
amplicon* (containment: the share of the query's k-mers found in a record) and
*how far apart are two genomes* (ANI and a Mash-like distance from containment
or Jaccard, as sourmash reports them). Each nucleotide record keeps the hashes
of its canonical k-mers (a k-mer and its reverse complement hash alike, so both
strands are one sketch) that fall below ``2**64 / scaled``: about one k-mer in
``scaled``. The hashes are sourmash's own (``MinHash.add_sequence``, MurmurHash3
with sourmash's seed): sketches made here compare with ``sourmash sketch dna``
signatures of the same ``ksize``, ``scaled`` and ``seed``.

Why one sketch with ``ksize=21, scaled=100`` serves inserts and genomes (measured by
``python -m bench.dna.sketch_run``, BENCHMARKS.md): a 1 kb insert keeps ~10
hashes at scaled 100, and every construct carrying one of 113 real gene inserts was in
the top 5; at scaled 1000, 48 of the 113 inserts kept no hash at all and could not be
searched. For genomes, k=21 at scaled 100 put the distance of every 1/5/10 %-diverged
copy of 50 kb pieces within 0.01 of the truth and of a Mash-style estimate (k=31: 94 %
of copies; at 10 % divergence too few of its 31-mers survive). A 5 Mbp genome costs
~50k hashes (400 KB) and under a second to sketch; a sketch can be downsampled to a larger
``scaled`` later, never the reverse.

The column is ``list<uint64>`` (sorted hashes; empty for protein rows); the
catalog records ``ksize``, ``scaled`` and ``seed`` like any embedder's
parameters. :mod:`genocat_desktop.engine.search.sketches` searches it.

sourmash's package imports scipy (for confidence intervals, never used here);
the desktop bundle leaves scipy out, so :func:`load_sourmash` lets sourmash
import without it (see there).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa

from genocat_desktop.engine.core.errors import EmbedderError

__all__ = ["DEFAULT_KSIZE", "DEFAULT_SCALED", "SketchEmbedder", "is_sketch", "load_sourmash"]

#: Mash's default k: a 10 %-diverged copy still shares 0.9 ** 21 = 11 % of its k-mers (k 31: 4 %).
DEFAULT_KSIZE: Final = 21
#: One hash per ~100 bp: enough for 1 kb inserts and for genome ANI (see the module docstring).
DEFAULT_SCALED: Final = 100
#: sourmash's default seed: sketches compare with ``sourmash sketch dna`` signatures.
DEFAULT_SEED: Final = 42
#: The Arrow type of a sketch column.
SKETCH_TYPE: Final = pa.list_(pa.uint64())
_NUCLEOTIDE: Final = frozenset({"dna", "rna"})


def is_sketch(record: dict[str, Any] | None) -> bool:
    """Whether an embedder record (``Catalog.vector_columns()[column]``) is a sketch column's."""
    return bool(record) and record.get("name") == SketchEmbedder.name  # type: ignore[union-attr]


def load_sourmash() -> Any:
    """Import sourmash, and return its ``MinHash`` class.

    sourmash's package imports ``scipy.optimize`` and ``scipy.stats`` at import time, for
    confidence intervals that GenoCat never asks for (point estimates only). Where scipy is
    absent (the desktop bundle excludes it: ~100 MB) those names are stood in for by
    placeholders that raise if ever called, so sourmash imports and sketches as usual.
    """
    if "sourmash" not in sys.modules and not _importable("scipy"):
        _stand_in_for_scipy()
    try:
        from sourmash import MinHash
    except ImportError as exc:
        raise EmbedderError(f"MinHash sketches need the sourmash package ({exc}); pip install sourmash") from None
    return MinHash


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _stand_in_for_scipy() -> None:
    def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        raise EmbedderError("confidence intervals of sketch ANI need scipy, which this GenoCat does not include")

    stats = types.SimpleNamespace(ppf=unavailable, cdf=unavailable, pmf=unavailable)
    root = types.ModuleType("scipy")
    optimize = types.ModuleType("scipy.optimize")
    optimize.brentq = unavailable  # type: ignore[attr-defined]
    stats_module = types.ModuleType("scipy.stats")
    stats_module.norm = stats  # type: ignore[attr-defined]
    stats_module.binom = stats  # type: ignore[attr-defined]
    root.optimize, root.stats = optimize, stats_module  # type: ignore[attr-defined]
    sys.modules.update({"scipy": root, "scipy.optimize": optimize, "scipy.stats": stats_module})


class SketchEmbedder:
    """FracMinHash sketches of DNA/RNA records (both strands), through sourmash.

    Parameters
    ----------
    ksize
        k-mer length: 21 (Mash's default) keeps genome distances up to ~10 % within 0.01 of the
        truth on 50 kb pieces; 31 (sourmash's species-level default) is stricter.
    scaled
        Keep about one k-mer in ``scaled``.
    seed
        The hash seed (sourmash's default 42 keeps sketches comparable with sourmash's).
    """

    name = "sketch"
    version = 1
    #: No vector: the column holds hashes (``list<uint64>``), searched by :mod:`..search.sketches`.
    dim = 0
    arrow_type = SKETCH_TYPE

    def __init__(self, ksize: int = DEFAULT_KSIZE, scaled: int = DEFAULT_SCALED, seed: int = DEFAULT_SEED) -> None:
        if not 11 <= int(ksize) <= 63 or not 1 <= int(scaled) <= 1_000_000 or int(seed) < 0:
            raise ValueError("need 11 <= ksize <= 63, 1 <= scaled <= 1,000,000 and seed >= 0")
        self.ksize = int(ksize)
        self.scaled = int(scaled)
        self.seed = int(seed)
        self._empty: Any = None

    def params(self) -> dict[str, Any]:
        """Parameters that recreate this embedder."""
        return {"ksize": self.ksize, "scaled": self.scaled, "seed": self.seed}

    def embed(self, sequences: Sequence[str], molecules: Sequence[str] | None = None) -> np.ndarray:
        """Not available: a sketch is a set of hashes; see :meth:`sketch`.

        Raises
        ------
        EmbedderError
            Always.
        """
        raise EmbedderError("a sketch column holds MinHash hashes, not vectors: search it by containment or ANI")

    def _minhash(self) -> Any:
        if self._empty is None:
            minhash = load_sourmash()
            self._empty = minhash(n=0, ksize=self.ksize, scaled=self.scaled, seed=self.seed)
        return self._empty

    def sketch_one(self, sequence: str) -> np.ndarray:
        """The sorted ``uint64`` hashes of one nucleotide sequence (``U`` read as ``T``; k-mers with other
        letters than ``ACGT`` are skipped, as sourmash does)."""
        mh = self._minhash().copy_and_clear()
        mh.add_sequence(sequence.upper().replace("U", "T"), force=True)
        return np.fromiter(mh.hashes.keys(), dtype=np.uint64, count=len(mh))

    def sketch(self, sequences: Sequence[str], molecules: Sequence[str] | None = None) -> list[np.ndarray]:
        """Sketch each sequence; protein rows (and ``molecules=None``, read as protein) get no hash.

        Parameters
        ----------
        sequences
            Normalised (upper-case) residues.
        molecules
            ``"protein"``, ``"dna"`` or ``"rna"`` per sequence.

        Returns
        -------
        list of numpy.ndarray
            Sorted ``uint64`` hashes per sequence.
        """
        mols = molecules if molecules is not None else ["protein"] * len(sequences)
        empty = np.empty(0, dtype=np.uint64)
        return [self.sketch_one(s) if m in _NUCLEOTIDE else empty for s, m in zip(sequences, mols, strict=True)]

    def sketch_arrow(self, sequences: Sequence[str], molecules: Sequence[str] | None = None) -> pa.Array:
        """:meth:`sketch` as an Arrow ``list<uint64>`` array (the column's values)."""
        return _as_list_array(self.sketch(sequences, molecules))

    def sketch_packed(self, data: Any, offsets: np.ndarray, nucleotide: np.ndarray) -> pa.Array:
        """Sketch records packed in one buffer (the importer's rows), as an Arrow ``list<uint64>`` array.

        Parameters
        ----------
        data
            Upper-case residues of all records, concatenated (``bytes`` or a buffer of bytes).
        offsets
            ``(n + 1,)`` record boundaries into ``data``.
        nucleotide
            Boolean per record: DNA/RNA (sketched) rather than protein (no hash).
        """
        raw = data if isinstance(data, bytes) else bytes(memoryview(data).cast("B"))
        base = int(offsets[0])
        empty = np.empty(0, dtype=np.uint64)
        bounds = (offsets - base).tolist()
        if base or offsets[-1] != len(raw):
            raw = raw[base : int(offsets[-1])]
        sketches = [
            self.sketch_one(raw[bounds[i] : bounds[i + 1]].decode("ascii", "replace")) if nucleotide[i] else empty
            for i in range(len(bounds) - 1)
        ]
        return _as_list_array(sketches)


def _as_list_array(sketches: list[np.ndarray]) -> pa.Array:
    offsets = np.zeros(len(sketches) + 1, dtype=np.int32)
    np.cumsum([s.size for s in sketches], out=offsets[1:])
    values = np.concatenate(sketches) if sketches else np.empty(0, dtype=np.uint64)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, pa.uint64()))
