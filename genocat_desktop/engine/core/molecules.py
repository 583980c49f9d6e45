"""Molecule types: the names a row's ``molecule`` column takes, and which of them are nucleotides.

One place for the rule, used from embedding (a nucleotide row's k-mers, its ORF for ESM-2) to
alignment (blastn's scoring, both strands) and the fronts (strand columns). No imports: the UI reads
it through the application layer without loading the engine.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MOLECULES", "NUCLEOTIDES", "is_nucleotide"]

#: Every molecule type, in the order of the ingest's codes (``records.MOL_PROTEIN`` ...).
MOLECULES: Final = ("protein", "dna", "rna")
#: The molecule types scored and searched as nucleotides.
NUCLEOTIDES: Final = frozenset({"dna", "rna"})


def is_nucleotide(molecule: str | None) -> bool:
    """Whether ``molecule`` (a row's or a query's molecule type) is DNA or RNA."""
    return molecule in NUCLEOTIDES
