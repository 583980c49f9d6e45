"""Catalogs outlive app versions: a catalog written by release 0.1 (format 1) must keep working.

tests/data/catalog-v1/ was written once by packaging/make_catalog_fixture.py (its docstring says
when to add a newer fixture) and is committed: 40 proteins in two imports, a user field with
values, scalar and full-text indexes, a second embedding column (``vec_esm``, from the tiny ESM-2
model kept beside it) and nine versions. Every test works on a copy in ``tmp_path``; the last
checks that the committed files were left byte-identical. Today's code must open it, search it,
list and read its versions, and write to it; a format it does not know yet is refused with one line.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from genocat_desktop.engine import (
    Catalog,
    CatalogError,
    Searcher,
    add_model,
    import_files,
    index_status,
    parse_condition,
    set_values,
    text_search,
    user_fields,
)
from genocat_desktop.engine.catalog.table import FORMAT, META_KEY

FIXTURE = Path(__file__).resolve().parent / "data" / "catalog-v1"
FACTS: dict[str, Any] = json.loads((FIXTURE / "fixture.json").read_text())


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


FIXTURE_DIGEST = _digest(FIXTURE)


@pytest.fixture
def old_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """A copy of the fixture, opened, with its ESM-2 model installed in a registry of this test."""
    shutil.copytree(FIXTURE, tmp_path / "fixture")
    monkeypatch.setenv("GENOCAT_MODELS", str(tmp_path / "models"))
    add_model(tmp_path / "fixture" / FACTS["model"])
    return Catalog.open(tmp_path / "fixture" / "catalog", create=False)


def _sequence(cat: Catalog, ident: str) -> str:
    table = cat.dataset().to_table(columns=["sequence"], filter=f"id = '{ident}'")
    return str(table.column("sequence")[0].as_py())


def test_opens_with_its_fields_embeddings_and_indexes(old_catalog: Catalog) -> None:
    cat = old_catalog
    assert FACTS["format"] <= FORMAT
    assert cat.version == FACTS["version"], "opening an old catalog must not write to it"
    assert cat.count() == FACTS["rows"]
    assert [f.name for f in cat.fields()] == FACTS["fields"]
    assert sorted(cat.vector_columns()) == FACTS["vector_columns"]
    assert cat.meta["default_vector"] == FACTS["default_vector"]
    name = FACTS["user_field"]["name"]
    definition = user_fields(cat)[name]
    assert (definition.type, definition.allowed) == ("category", tuple(FACTS["user_field"]["values"]))
    # Set on the first import's rows; the second import's rows have none.
    values = cat.dataset().to_table(columns=[name]).column(name).to_pylist()
    assert set(values) == {*FACTS["user_field"]["values"], None}
    status = index_status(cat)
    assert sorted(f"{i.column}:{i.kind}" for i in status.indexes) == FACTS["indexes"]
    assert all(i.rows_unindexed == 0 for i in status.indexes)


def test_versions_are_listed_with_their_messages_and_readable(old_catalog: Catalog) -> None:
    versions = old_catalog.versions()
    assert [v.version for v in versions] == FACTS["versions"]
    messages = {v.version: v.message for v in versions}
    assert messages[2].startswith("import first.faa: 24 new")
    assert "add field 'assay'" in messages[3]
    assert messages[FACTS["version"]].startswith("index:")
    # Time travel: the first import alone, before the user field existed.
    first = old_catalog.dataset(2)
    assert first.count_rows() == 24
    assert "assay" not in first.schema.names


@pytest.mark.parametrize("column", ["vec_kmer", "vec_esm"])
def test_similarity_search_on_each_embedding(old_catalog: Catalog, column: str) -> None:
    query = _sequence(old_catalog, "Phage_Coat_Gp8|00005")
    result = Searcher(old_catalog).search(query, k=5, column=column)
    assert result.hits.column("id")[0].as_py() == "Phage_Coat_Gp8|00005"
    assert result.hits.column("score")[0].as_py() == pytest.approx(1.0, abs=1e-4)
    filtered = Searcher(old_catalog).search(query, k=40, column=column, conditions=[parse_condition("assay = high")])
    assert filtered.hits.num_rows == old_catalog.count("assay = 'high'") > 0
    assert set(filtered.hits.column("assay").to_pylist()) == {"high"}


def test_full_text_search_uses_the_old_index(old_catalog: Catalog) -> None:
    hits = text_search(old_catalog, "coat", k=20)
    assert hits.num_rows == old_catalog.count("description LIKE 'Phage Coat%'") > 0
    assert all("Coat" in d for d in hits.column("description").to_pylist())


def test_writes_import_and_set_values_on_the_current_format(
    old_catalog: Catalog, tmp_path: Path, data_dir: Path
) -> None:
    cat = old_catalog
    records = (data_dir / "families_small.faa").read_text().split(">")[1:]
    new_file = tmp_path / "third.faa"
    new_file.write_text("".join(">" + r for r in records[40:52]))
    report = import_files(cat, [new_file])
    assert not report.failed and report.imported == 12
    assert cat.count() == FACTS["rows"] + 12
    # Every vector column of the old catalog is filled for the new rows, the ESM one included.
    table = cat.dataset().to_table(columns=["vec_kmer", "vec_esm"], filter="source_file = 'third.faa'")
    assert table.num_rows == 12 and table.column("vec_esm").null_count == 0
    edit = set_values(cat, "assay", "low", conditions=[parse_condition("source_file = third.faa")])
    assert edit.rows == 12
    assert cat.count("assay = 'low' AND source_file = 'third.faa'") == 12
    # A write leaves the catalog on today's format: an older format is migrated in one commit whose
    # message says so (none is needed while FORMAT is the fixture's).
    assert cat.meta["format"] == FORMAT
    new = [v for v in cat.versions() if v.version > FACTS["version"]]
    migrations = [v for v in new if "format" in v.message.lower()]
    assert len(migrations) == (1 if FACTS["format"] < FORMAT else 0)
    assert len(new) == 2 + len(migrations)
    # The versions written by the old release are still there and readable.
    assert cat.dataset(FACTS["version"]).count_rows() == FACTS["rows"]
    reopened = Catalog.open(cat.location, create=False)
    assert reopened.count() == FACTS["rows"] + 12


def _as_newer_format(location: str) -> None:
    """Commit a schema-metadata change that claims the next format, as a later release would."""
    import lance

    ds = lance.dataset(location + "/sequences.lance")
    record = json.loads(ds.schema.metadata[META_KEY])
    record["format"] = FORMAT + 1
    ds.update_schema_metadata({META_KEY.decode(): json.dumps(record)})


def test_a_newer_format_is_refused_with_one_clear_line(old_catalog: Catalog) -> None:
    location = old_catalog.location
    _as_newer_format(location)
    with pytest.raises(CatalogError, match=f"newer GenoCat \\(format {FORMAT + 1}\\); update GenoCat"):
        Catalog.open(location, create=False)
    proc = subprocess.run(
        [sys.executable, "-m", "genocat_desktop", "--catalog", location, "info"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"genocat: error: this catalog was written by a newer GenoCat (format {FORMAT + 1}); update GenoCat to open it"
    ]


def test_the_committed_fixture_is_never_modified() -> None:
    assert _digest(FIXTURE) == FIXTURE_DIGEST
