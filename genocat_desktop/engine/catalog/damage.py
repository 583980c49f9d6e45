"""A catalog damaged on disk: which file is missing or cut short, and which version to restore.

Lance reports a deleted data file as ``ArrowInvalid: ... Not found: <path>`` and a
truncated one as ``LanceError(IO): ... failed to fill whole buffer``, naming no
file, from whichever read met it first (a search, an export, an import's dedup).
The manifest of every version records the size of each of its data files, so
the damage can be located exactly: :func:`file_problems` compares the files a
version needs with what is stored. :func:`damage_error` turns a failed read
into a :class:`~genocat_desktop.engine.core.errors.CatalogError` that names the
file and the latest earlier version that is still whole (``genocat restore N``).

:func:`explain_read_failure` does the same for an exception caught far from its
catalog (the CLI's and the window's last resort): it checks the catalogs open
in this process, which :class:`~genocat_desktop.engine.catalog.table.Catalog`
registers with :func:`register`.
"""

from __future__ import annotations

import re
import weakref
from pathlib import Path
from typing import Any, Final, Protocol

from genocat_desktop.engine.core.errors import CatalogError, GenoCatError


class Catalog(Protocol):
    """What this module needs of a :class:`~genocat_desktop.engine.catalog.table.Catalog`.

    (A protocol, not an import: the table module calls this one.)
    """

    location: str
    uri: str
    storage_options: dict[str, str]

    @property
    def version(self) -> int:
        """The version the catalog reads."""
        ...

    def dataset(self, version: int | None = None) -> Any:
        """The Lance dataset at the version read (or at ``version``)."""
        ...

__all__ = [
    "damage_error", "explain_read_failure", "file_problems", "is_read_failure", "refuse_unless_empty", "register",
]

#: How many earlier versions are checked for one that is whole (each check reads one manifest).
RESTORE_CANDIDATES: Final = 20
#: A table folder without a version whose files are younger than this is being created, not damaged.
CREATION_GRACE_S: Final = 10.0
#: Exceptions a failed Lance or Arrow read arrives as (ArrowInvalid is a ValueError).
READ_FAILURES: Final = (OSError, ValueError, RuntimeError)
_NOT_FOUND: Final = re.compile(r"Not found: (\S+?\.lance\S*?)(?:,|\s|$)")

_open_catalogs: weakref.WeakSet[Catalog] = weakref.WeakSet()


def register(catalog: Catalog) -> None:
    """Remember an open catalog, so that :func:`explain_read_failure` can check it (held weakly)."""
    _open_catalogs.add(catalog)


def refuse_unless_empty(location: str, table: str = "sequences") -> None:
    """Raise :class:`CatalogError` if a folder with no catalog holds a damaged one or other files.

    Called where Lance found no version, before a new catalog would be created there:
    a catalog whose ``_versions/`` folder was lost must not be replaced by an empty one
    written over its data, and ``--catalog`` naming some other folder must not fill it.

    Parameters
    ----------
    location
        The catalog's folder (object-store locations are not checked: Lance found no
        version under the prefix, and other objects there are not ours to judge).
    table
        The name of the catalog's Lance table.
    """
    if "://" in location and not location.startswith("file://"):
        return
    folder = Path(location)
    lance_dir = folder / f"{table}.lance"
    if lance_dir.is_dir() and any(lance_dir.iterdir()) and not _being_created(lance_dir):
        held = ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in lance_dir.iterdir())[:6])
        raise CatalogError(
            f"the catalog at {location} is damaged: {table}.lance has no readable version (its _versions/ "
            f"folder is missing or empty; it holds {held}). It was not replaced by a new catalog: put "
            "_versions/ back from a backup, or move the folder away to start a new catalog"
        )
    if folder.is_file():
        raise CatalogError(f"{location} is a file, not a catalog folder")
    if folder.is_dir():
        # Our own working files and benchmark runs may outlive a catalog; hidden files are the desktop's.
        others = sorted(p.name for p in folder.iterdir()
                        if not p.name.startswith(".") and p.name not in ("benchmarks", f"{table}.lance"))
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise CatalogError(f"{location} is not a GenoCat catalog (the folder holds {shown}); give a new "
                               "or empty folder for a new catalog")


def _being_created(lance_dir: Path) -> bool:
    """Whether another process may be creating this table right now (its files are seconds old).

    Lance writes a new table's transaction file before its first manifest: a process opening
    the catalog in between must not call it damaged.
    """
    import time

    try:
        newest = max(p.stat().st_mtime for p in lance_dir.rglob("*"))
    except (OSError, ValueError):
        return False
    return time.time() - newest < CREATION_GRACE_S


def file_problems(catalog: Catalog, version: int | None = None) -> list[str]:
    """What is wrong with the data files of one version: ``"data/X.lance is missing"`` and the like.

    Parameters
    ----------
    catalog
        The catalog.
    version
        The version to check; the one ``catalog`` reads if ``None``.

    Returns
    -------
    list[str]
        One entry per missing or wrongly sized data file (empty when all are whole).
    """
    from genocat_desktop.engine.catalog.filesystems import catalog_filesystem

    ds = catalog.dataset(version)
    fs, root = catalog_filesystem(catalog.uri, catalog.storage_options)
    expected: dict[str, int | None] = {}
    for fragment in ds.get_fragments():
        for data_file in fragment.data_files():
            if getattr(data_file, "base_id", None) is None:  # files of another base are not ours to check
                expected[f"data/{data_file.path}"] = getattr(data_file, "file_size_bytes", None)
    if not expected:
        return []
    import pyarrow.fs as pafs

    infos = fs.get_file_info([f"{root.rstrip('/')}/{name}" for name in expected])
    problems = []
    for (name, size), info in zip(expected.items(), infos, strict=True):
        if info.type == pafs.FileType.NotFound:
            problems.append(f"{name} is missing")
        elif size is not None and info.size is not None and info.size != size:
            problems.append(f"{name} is damaged ({info.size:,} bytes instead of {size:,})")
    return problems


def _whole_earlier_version(catalog: Catalog, current: int) -> int | None:
    """The latest version before ``current`` whose data files are all there, if one of the last few is."""
    try:
        numbers = sorted((int(v["version"]) for v in catalog.dataset().versions()), reverse=True)
    except READ_FAILURES:
        return None
    for number in [n for n in numbers if n < current][:RESTORE_CANDIDATES]:
        try:
            if not file_problems(catalog, number):
                return number
        except (*READ_FAILURES, GenoCatError):
            continue
    return None


def damage_error(catalog: Catalog, exc: BaseException | None = None) -> CatalogError | None:
    """A :class:`CatalogError` naming the damaged files of ``catalog``, or ``None`` if all are whole.

    Parameters
    ----------
    catalog
        The catalog a read of failed.
    exc
        The failure (a ``Not found`` path in it is named when the version's files look whole).

    Returns
    -------
    CatalogError or None
        The error to raise instead of ``exc``; ``None`` when no damage was found.
    """
    try:
        current = catalog.version
        problems = file_problems(catalog)
    except (*READ_FAILURES, GenoCatError):
        return None
    if not problems and exc is not None:
        match = _NOT_FOUND.search(str(exc))
        if match and "sequences.lance" in match.group(1):
            problems = [f"{match.group(1).split('sequences.lance/', 1)[-1]} is missing"]
    if not problems:
        return None
    shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
    earlier = _whole_earlier_version(catalog, current)
    if earlier is not None:
        advice = (f"`genocat versions` lists its versions and `genocat restore {earlier}` makes version "
                  f"{earlier}, the latest one whose files are whole, current again")
    else:
        advice = ("no recent version has all its files: put the missing files back from a backup, or list the "
                  "versions with `genocat versions` and restore one with `genocat restore N`")
    return CatalogError(f"the catalog at {catalog.location} is damaged: in sequences.lance, {shown}; {advice}")


def is_read_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is how Lance or Arrow report a failed read (I/O, a missing or short file).

    Other exceptions (a ``ValueError`` of our own making) are bugs and must not be explained away.
    """
    if isinstance(exc, GenoCatError) or not isinstance(exc, READ_FAILURES):
        return False
    text = str(exc)
    return (isinstance(exc, OSError) or type(exc).__module__.startswith("pyarrow")
            or "LanceError" in text or "Not found:" in text)


def explain_read_failure(exc: BaseException) -> CatalogError | None:
    """The :class:`CatalogError` a failed read stands for, if a catalog open in this process is damaged.

    For the fronts' last resort: an exception that is not a ``GenoCatError`` and
    came from a Lance or Arrow read (``OSError``, ``ValueError``, ``RuntimeError``).

    Parameters
    ----------
    exc
        The exception caught.

    Returns
    -------
    CatalogError or None
        ``None`` when it is not a read failure or no open catalog is damaged (then it is a bug).
    """
    if not is_read_failure(exc):
        return None
    for catalog in list(_open_catalogs):
        error = damage_error(catalog, exc)
        if error is not None:
            return error
    return None

