"""A sequence imported again with a richer header: its row's empty fields are filled, never overwritten.

The rule (``importer.FILLABLE_FIELDS``): a row's empty description, name, organism, taxid and gene take
the values of the new file's records with the same sequence; a field that has a value keeps it. The
import report and the version's description in History say the same thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from genocat_desktop.engine import Catalog, import_files

SEQ_A = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"
SEQ_B = "MSDNGPQNQRNAPRITFGGPSDSTGSNQNGERSGARSKQRRPQGLPNNTASWFTALTQHGKEDLKF"
SEQ_C = "MADQLTEEQIAEFKEAFSLFDKDGDGTITTKELGTVMRSLGQNPTEAELQDMINEVDADGNGTIDF"


@pytest.fixture
def catalog(tmp_catalog_path: Path) -> Catalog:
    return Catalog.open(tmp_catalog_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def rows_by_id(catalog: Catalog) -> dict[str, dict[str, object]]:
    table = catalog.dataset().to_table(columns=["id", "aliases", "description", "name", "organism", "taxid"])
    return {row["id"]: row for row in table.to_pylist()}


def test_reimport_fills_empty_fields_and_keeps_set_ones(catalog: Catalog, tmp_path: Path) -> None:
    poor = write(tmp_path / "poor.fa", f">P1\n{SEQ_A}\n>P2 kept description\n{SEQ_B}\n>P3\n{SEQ_C}\n")
    assert import_files(catalog, [poor]).files[0].imported == 3
    rich = write(tmp_path / "rich.fa", (
        f">sp|Q11111|KIN_HUMAN Kinase alpha OS=Homo sapiens OX=9606 GN=KIN PE=1 SV=1\n{SEQ_A}\n"
        f">Q22222 a different description\n{SEQ_B}\n"
        f">P3\n{SEQ_C}\n"
    ))
    fr = import_files(catalog, [rich]).files[0]
    assert fr.ok and fr.imported == 0 and fr.already_in_catalog == 3
    rows = rows_by_id(catalog)
    # P1 had nothing: it takes the UniProt header's fields, and the new identifier as an alias.
    assert rows["P1"]["description"] == "Kinase alpha OS=Homo sapiens OX=9606 GN=KIN PE=1 SV=1"
    assert rows["P1"]["name"] == "Kinase alpha"
    assert rows["P1"]["organism"] == "Homo sapiens"
    assert rows["P1"]["taxid"] == 9606
    assert rows["P1"]["aliases"] == ["sp|Q11111|KIN_HUMAN"]
    # P2's description was set: it stays (never overwritten), the identifier is still added.
    assert rows["P2"]["description"] == "kept description"
    assert rows["P2"]["aliases"] == ["Q22222"]
    # P3 again with the same bare header: nothing to add.
    assert rows["P3"]["description"] in ("", None) and not rows["P3"]["aliases"]
    assert (fr.aliases_added, fr.alias_rows, fr.rows_filled) == (2, 2, 1)
    # One commit for the whole file; its History description says what the report says.
    assert fr.version == catalog.version
    message = catalog.versions()[-1].message
    assert fr.catalog_changes() in message
    assert "2 identifiers added as aliases to 2 rows" in message
    assert "empty description fields filled on 1 row" in message
    assert f"({fr.catalog_changes()})" in fr.summary()


def test_reimport_of_the_same_file_changes_nothing(catalog: Catalog, tmp_path: Path) -> None:
    path = write(tmp_path / "a.fa", f">P1\n{SEQ_A}\n>P2 desc\n{SEQ_B}\n")
    import_files(catalog, [path])
    version = catalog.version
    fr = import_files(catalog, [path]).files[0]
    assert catalog.version == version and fr.version == version
    assert (fr.aliases_added, fr.rows_filled) == (0, 0)
    assert fr.catalog_changes() == "no new identifier or description"


def test_fill_only_without_new_alias(catalog: Catalog, tmp_path: Path) -> None:
    """The same identifier again, now with a description: the row is filled, no alias is added."""
    import_files(catalog, [write(tmp_path / "a.fa", f">P1\n{SEQ_A}\n")])
    fr = import_files(catalog, [write(tmp_path / "b.fa", f">P1 Tubulin beta chain [Mus musculus]\n{SEQ_A}\n")]).files[0]
    row = rows_by_id(catalog)["P1"]
    assert row["description"] == "Tubulin beta chain [Mus musculus]"
    assert row["organism"] == "Mus musculus"
    assert not row["aliases"]
    assert (fr.aliases_added, fr.rows_filled) == (0, 1)
    assert catalog.versions()[-1].message == "import b.fa: 0 new; empty description fields filled on 1 row"
    assert catalog.count() == 1


def test_later_duplicate_in_a_file_fills_nothing_on_reimport(catalog: Catalog, tmp_path: Path) -> None:
    """The first record of a sequence in a file makes (or fills) its row, so the same file twice is one version."""
    path = write(tmp_path / "dup.fa", f">alpha\n{SEQ_A}\n>alpha (again, with words)\n{SEQ_A}\n")
    import_files(catalog, [path])
    version = catalog.version
    fr = import_files(catalog, [path]).files[0]
    assert catalog.refresh() == version and fr.rows_filled == 0
    assert rows_by_id(catalog)["alpha"]["description"] in ("", None)
