"""Data files shipped with GenoCat (the sample proteins), located independently of the install layout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["sample_fasta"]


def sample_fasta() -> Path:
    """The bundled sample FASTA file (379 real proteins from 15 Pfam families, CC0/BSD/MIT).

    Works from a source checkout, an installed wheel and a PyInstaller bundle
    (which keeps package data next to this module when collected with
    ``--collect-data genocat_desktop``).
    """
    return Path(__file__).resolve().parent / "sample" / "families_small.faa"
