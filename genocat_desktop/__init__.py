"""GenoCat Desktop: a lab's own catalog of protein and nucleotide sequences.

The package has two fronts over one engine:

* :mod:`genocat_desktop.engine` -- pure Python, no Qt: FASTA import, embedders,
  the LanceDB catalog, search and export.
* :mod:`genocat_desktop.cli.main` and :mod:`genocat_desktop.ui` -- the command line
  and the PySide6 desktop application, both thin layers over the engine.
"""

from __future__ import annotations

# Not `from typing import ...`: typing costs ~10 ms, before `genocat` can install its Ctrl-C handler.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    # Read lazily: importlib.metadata costs ~0.1 s, a fifth of the window's start-up budget.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("genocat-desktop")
        except PackageNotFoundError:  # running from a source tree that was not installed
            value = "0.0.0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
