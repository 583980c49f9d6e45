"""GenoCat Desktop: a lab's own catalog of protein and nucleotide sequences.

The package has two fronts over one engine:

* :mod:`genocat_desktop.engine` -- pure Python, no Qt: FASTA import, embedders,
  the LanceDB catalog, search and export.
* :mod:`genocat_desktop.cli` and :mod:`genocat_desktop.ui` -- the command line
  and the PySide6 desktop application, both thin layers over the engine.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("genocat-desktop")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
