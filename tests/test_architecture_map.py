"""The module map (docs/MODULES.md, linked from ARCHITECTURE.md) matches the source tree.

The "Map" section of docs/MODULES.md holds one code block. A line that starts in the first column
names a package by its path from the repository root; the indented lines under it name that
package's modules (file names first, then what they do). Every path and module it names must exist,
and every package and module under ``genocat_desktop/`` must be named, so the map cannot go stale
when modules move.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "MODULES.md"
PACKAGE = "genocat_desktop"
MODULE = re.compile(r"^[\w.]+\.pyx?$")


def map_entries(text: str) -> list[str]:
    """The paths named in the first code block after the ``## Map`` heading, from the repository root.

    Parameters
    ----------
    text
        The Markdown of docs/MODULES.md.

    Returns
    -------
    list[str]
        Each package (``path/``) and, after it, each of the modules its indented lines name
        (``path/module.py``), in order.
    """
    section = re.search(r"^## Map\b(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if section is None:
        raise AssertionError("docs/MODULES.md has no '## Map' section")
    block = re.search(r"^```[^\n]*\n(.*?)^```", section.group(1), flags=re.M | re.S)
    if block is None:
        raise AssertionError("the '## Map' section of docs/MODULES.md has no code block")
    entries: list[str] = []
    package = ""
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            package = line.split()[0]
            entries.append(package)
            continue
        if not package:
            raise AssertionError(f"a module line before any package: {line!r}")
        for word in line.split():
            if not MODULE.match(word):
                break
            entries.append(package + word)
    return entries


def tree(root: Path) -> set[str]:
    """Every package folder (``path/``) and module (``path/name.py``, ``.pyx``) under ``genocat_desktop/``.

    ``__init__.py`` files are the packages themselves and are not listed.
    """
    found = set()
    for module in [*(root / PACKAGE).rglob("*.py"), *(root / PACKAGE).rglob("*.pyx")]:
        if "__pycache__" in module.parts:
            continue
        found.add(module.parent.relative_to(root).as_posix() + "/")
        if module.name != "__init__.py":
            found.add(module.relative_to(root).as_posix())
    return found


@pytest.fixture(scope="module")
def named() -> list[str]:
    return map_entries(ARCHITECTURE.read_text(encoding="utf-8"))


def test_map_names_paths_of_the_package(named: list[str]) -> None:
    assert named, "the map is empty"
    outside = [p for p in named if not p.startswith(PACKAGE)]
    assert not outside, f"the map names paths outside {PACKAGE}/: {outside}"


def test_every_path_in_the_map_exists(named: list[str]) -> None:
    missing = [p for p in named if not (ROOT / p).exists()]
    assert not missing, f"docs/MODULES.md's map names paths that do not exist: {missing}"
    not_folders = [p for p in named if p.endswith("/") and not (ROOT / p).is_dir()]
    assert not not_folders, f"the map names these as folders, but they are files: {not_folders}"


def test_every_package_and_module_is_in_the_map(named: list[str]) -> None:
    absent = sorted(tree(ROOT) - set(named))
    assert not absent, f"packages or modules missing from docs/MODULES.md's map: {absent}"


def test_map_entries_reads_the_map_block_only() -> None:
    text = (
        "# A\n\n```\nnot/this.py\n```\n\n## Map\n\nText.\n\n```\npkg/   one\n  a.py b.pyx   what they do\n\n"
        "pkg/b/     two\n  c.py  the c.py module\n```\n\n## Next\n"
    )
    assert map_entries(text) == ["pkg/", "pkg/a.py", "pkg/b.pyx", "pkg/b/", "pkg/b/c.py"]
