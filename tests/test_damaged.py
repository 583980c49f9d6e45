"""A catalog damaged on disk: one clear line naming the file and the version to restore, never a traceback.

A deleted or truncated data file, a lost ``_versions/`` folder, a read-only catalog,
and ``--catalog`` naming a folder of other files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genocat_desktop.cli.main import EXIT_ERROR, EXIT_OK, main
from genocat_desktop.engine import Catalog, CatalogError, Searcher, explain_read_failure, import_files

PROTEINS = [
    "MKVLAAGIVALLLAAGCSSSKEETTEASTEAPAAEAPKAEEAAKPAEGEAKPAEEAKPAEGE",
    "MSTNPKPQRKTKRNTNRRPQDVKFPGGGQIVGGVYLLPRRGPRLGVRATRKTSERSQPRGR",
    "MDSKGSSQKGSRLLLLLVVSNLLLCQGVVSTPVCPNGPGNCQVSLRDLFDRAVMVSHYIHDL",
    "MAHHHHHHVDDDDKMLGSKTVTLEELRKAVQSGKLDEALKLLSEARAGLKEGRTEEAIKLL",
]


def _fasta(path: Path, start: int, stop: int) -> Path:
    path.write_text("".join(f">p{i} protein {i}\n{PROTEINS[i]}\n" for i in range(start, stop)))
    return path


@pytest.fixture
def damaged_setup(tmp_path: Path) -> tuple[Path, Path]:
    """A catalog at version 3 (two imports) and the data file that version 3 added."""
    location = tmp_path / "catalog"
    cat = Catalog.open(location)
    import_files(cat, [_fasta(tmp_path / "a.faa", 0, 2)])
    before = set((location / "sequences.lance" / "data").iterdir())
    import_files(cat, [_fasta(tmp_path / "b.faa", 2, 4)])
    assert cat.version == 3
    (added,) = set((location / "sequences.lance" / "data").iterdir()) - before
    return location, added


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_search_import_export_on_a_damaged_catalog_say_which_file_and_what_to_restore(
    damaged_setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    location, data_file = damaged_setup
    if damage == "deleted":
        data_file.unlink()
    else:
        os.truncate(data_file, data_file.stat().st_size // 3)
    expected = "is missing" if damage == "deleted" else "is damaged"
    commands = [
        ["search", PROTEINS[0]],
        ["export", str(tmp_path / "out.csv")],
        ["import", str(_fasta(tmp_path / "c.faa", 0, 4))],
    ]
    for command in commands:
        code, err = _cli(capsys, "--catalog", str(location), *command)
        assert code == EXIT_ERROR, (command, err)
        assert "Traceback" not in err and data_file.name in err and expected in err, (command, err)
        assert "genocat restore 2" in err, err  # version 2 does not need the damaged file
    # Nothing was changed by the failed commands; the advice works.
    assert Catalog.open(location, create=False).version == 3
    code, err = _cli(capsys, "--catalog", str(location), "restore", "2")
    assert code == EXIT_OK, err
    code, err = _cli(capsys, "--catalog", str(location), "search", PROTEINS[0])
    assert code == EXIT_OK, err


def test_a_read_failure_in_the_engine_is_explained_for_the_window(damaged_setup: tuple[Path, Path]) -> None:
    location, data_file = damaged_setup
    cat = Catalog.open(location, create=False)
    data_file.unlink()
    with pytest.raises(Exception) as info:  # the searcher reads the table itself: Lance's error comes out
        Searcher(cat).search(PROTEINS[2], k=2)
    explained = explain_read_failure(info.value)
    if isinstance(info.value, CatalogError):  # a read that already converts it
        explained = info.value
    assert isinstance(explained, CatalogError) and data_file.name in str(explained)
    assert "\n" not in str(explained)
    # An error that is not a failed read is left alone, damaged catalog or not (it is a bug to report).
    assert explain_read_failure(ValueError("something else")) is None


def test_restore_on_a_read_only_catalog_is_one_line(
    damaged_setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lance

    location, _ = damaged_setup

    def refuse(self: object) -> None:
        raise OSError(f"LanceError(IO): Generic LocalFileSystem error: Unable to open file {location}/x: "
                      "Permission denied (os error 13), /rust/lance-io/src/local.rs:1:1\nbacktrace...")

    monkeypatch.setattr(lance.LanceDataset, "restore", refuse)
    code, err = _cli(capsys, "--catalog", str(location), "restore", "2")
    assert code == EXIT_ERROR and "Traceback" not in err
    assert err.count("\n") == 1 and "restore version 2" in err and "Permission denied" in err
    assert Catalog.open(location, create=False).version == 3


def test_a_catalog_without_versions_is_not_replaced(
    damaged_setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location, data_file = damaged_setup
    table = location / "sequences.lance"
    for path in (table / "_versions").iterdir():
        path.unlink()
    (table / "_versions").rmdir()
    old = data_file.stat().st_mtime - 3600  # written an hour ago: not a catalog being created right now
    for path in table.rglob("*"):
        os.utime(path, (old, old))
    kept = sorted(p.name for p in (table / "data").iterdir())
    with pytest.raises(CatalogError, match=r"damaged.*_versions"):
        Catalog.open(location)
    code, err = _cli(capsys, "--catalog", str(location), "import", str(_fasta(tmp_path / "c.faa", 0, 1)))
    assert code == EXIT_ERROR and "damaged" in err and "Traceback" not in err
    code, err = _cli(capsys, "--catalog", str(location), "info")
    assert code == EXIT_ERROR and "damaged" in err
    assert not (table / "_versions").exists() and sorted(p.name for p in (table / "data").iterdir()) == kept


def test_a_folder_of_other_files_is_not_made_a_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "thesis.docx").write_bytes(b"not a catalog")
    with pytest.raises(CatalogError, match=r"not a GenoCat catalog.*thesis\.docx"):
        Catalog.open(folder)
    code, err = _cli(capsys, "--catalog", str(folder), "import", str(_fasta(tmp_path / "c.faa", 0, 1)))
    assert code == EXIT_ERROR and "not a GenoCat catalog" in err
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.docx"]
    # An empty folder, or one holding only our working files, becomes a catalog.
    empty = tmp_path / "empty"
    (empty / ".genocat").mkdir(parents=True)
    assert Catalog.open(empty).count() == 0
