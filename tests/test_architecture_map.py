"""ARCHITECTURE.md's map matches the source tree.

The "Map" section of ARCHITECTURE.md holds one code block: one line per package
or module, its path from the repository root first. Every path it names must
exist, and every package under ``genocat_desktop/`` (a folder holding Python
modules) must be named, so the map cannot silently go stale when modules move.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
PACKAGE = "genocat_desktop"


def map_paths(text: str) -> list[str]:
    """The paths named in the first code block after the ``## Map`` heading.

    Parameters
    ----------
    text
        The Markdown of ARCHITECTURE.md.

    Returns
    -------
    list[str]
        The first word of each non-empty line of that block, in order.
    """
    section = re.search(r"^## Map\b(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if section is None:
        raise AssertionError("ARCHITECTURE.md has no '## Map' section")
    block = re.search(r"^```[^\n]*\n(.*?)^```", section.group(1), flags=re.M | re.S)
    if block is None:
        raise AssertionError("the '## Map' section of ARCHITECTURE.md has no code block")
    return [line.split()[0] for line in block.group(1).splitlines() if line.strip()]


def packages(root: Path) -> set[str]:
    """Every folder under ``genocat_desktop/`` that holds Python modules, as ``path/`` from the root.

    A folder with an ``__init__.py`` is a package; a folder with other ``.py`` files and no
    ``__init__.py`` (a namespace package) is counted too.
    """
    found = set()
    for module in (root / PACKAGE).rglob("*.py"):
        if "__pycache__" not in module.parts:
            found.add(module.parent.relative_to(root).as_posix() + "/")
    return found


@pytest.fixture(scope="module")
def named() -> list[str]:
    return map_paths(ARCHITECTURE.read_text(encoding="utf-8"))


def test_map_names_paths_of_the_package(named: list[str]) -> None:
    assert named, "the map is empty"
    outside = [p for p in named if not p.startswith(PACKAGE)]
    assert not outside, f"the map names paths outside {PACKAGE}/: {outside}"


def test_every_path_in_the_map_exists(named: list[str]) -> None:
    missing = [p for p in named if not (ROOT / p).exists()]
    assert not missing, f"ARCHITECTURE.md's map names paths that do not exist: {missing}"
    not_folders = [p for p in named if p.endswith("/") and not (ROOT / p).is_dir()]
    assert not not_folders, f"the map names these as folders, but they are files: {not_folders}"


def test_every_package_is_in_the_map(named: list[str]) -> None:
    listed = {p if p.endswith("/") or not (ROOT / p).is_dir() else p + "/" for p in named}
    absent = sorted(packages(ROOT) - listed)
    assert not absent, f"packages missing from ARCHITECTURE.md's map: {absent}"


def test_map_paths_reads_the_map_block_only() -> None:
    text = "# A\n\n```\nnot/this.py\n```\n\n## Map\n\nText.\n\n```\npkg/a.py   one\n\npkg/b/     two\n```\n\n## Next\n"
    assert map_paths(text) == ["pkg/a.py", "pkg/b/"]
