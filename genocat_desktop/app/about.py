"""The versions a lab's IT person asks for: ``genocat --version`` and Help → About show the same list.

The app, Lance (pylance), Qt (PySide6), ONNX Runtime and Python, and the catalog
format this release writes. Library versions come from the installed package
metadata, so listing them imports neither Lance nor Qt nor ONNX Runtime
(``genocat --version`` stays instant and Qt-free); the running Qt library's own
version is known only to the UI, which passes it in.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

__all__ = ["VersionInfo", "version_info", "version_text"]

#: Distribution names, as pip knows them (the frozen bundle carries their metadata: packaging/genocat.spec).
LANCE_DIST = "pylance"
ONNXRUNTIME_DIST = "onnxruntime"
PYSIDE_DIST = "PySide6_Essentials"
NOT_INSTALLED = "not installed"


@dataclass(frozen=True)
class VersionInfo:
    """The versions of one installation.

    Attributes
    ----------
    app
        GenoCat's own version.
    lance, pyside, onnxruntime, python
        The versions of pylance, PySide6, ONNX Runtime and Python (``"not installed"`` if missing).
    qt
        The Qt library the window runs on, or ``None`` outside the window.
    catalog_format
        The catalog format number this release writes; it opens this format and older ones.
    """

    app: str
    lance: str
    pyside: str
    onnxruntime: str
    python: str
    catalog_format: int
    qt: str | None = None

    def rows(self) -> list[tuple[str, str]]:
        """(label, version) pairs in display order."""
        qt = f"{self.qt} (PySide6 {self.pyside})" if self.qt else f"PySide6 {self.pyside}"
        return [
            ("GenoCat", self.app),
            ("Lance", f"{self.lance} (pylance)"),
            ("Qt", qt),
            ("ONNX Runtime", self.onnxruntime),
            ("Python", self.python),
            ("Catalog format", str(self.catalog_format)),
        ]


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return NOT_INSTALLED


def version_info(qt: str | None = None) -> VersionInfo:
    """The versions of this installation, read from package metadata (nothing heavy is imported).

    Parameters
    ----------
    qt
        The running Qt library's version (``PySide6.QtCore.qVersion()``), which only the UI knows.

    Returns
    -------
    VersionInfo
        The app, library and Python versions and the catalog format.
    """
    from genocat_desktop import __version__
    from genocat_desktop.engine.catalog.table import FORMAT

    return VersionInfo(
        app=__version__,
        lance=_dist_version(LANCE_DIST),
        pyside=_dist_version(PYSIDE_DIST),
        onnxruntime=_dist_version(ONNXRUNTIME_DIST),
        python=f"{platform.python_version()} ({platform.python_implementation()})",
        catalog_format=FORMAT,
        qt=qt,
    )


def version_text(qt: str | None = None) -> str:
    """What ``genocat --version`` prints: ``GenoCat X`` on the first line, then one library per line.

    Parameters
    ----------
    qt
        The running Qt library's version, if known.

    Returns
    -------
    str
        Lines of ``label version``, without a trailing newline.
    """
    rows = version_info(qt).rows()
    width = max(len(label) for label, _ in rows)
    first, *rest = rows
    return "\n".join([f"{first[0]} {first[1]}", *(f"  {label:<{width}}  {value}" for label, value in rest)])
