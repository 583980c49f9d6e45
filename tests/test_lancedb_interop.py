"""A lab's own script opens a GenoCat catalog with LanceDB's API (README, "Your catalog from Python").

GenoCat creates and writes its table with pylance alone (lancedb is not in the
bundle); these tests hold it to what lancedb users expect: ``lancedb.connect(folder)
.open_table("sequences")`` works, a vector search on ``vec_kmer`` finds the same
nearest row as GenoCat's own search, and the table is the one lancedb's
``create_table`` would have written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from genocat_desktop.engine import Catalog, Searcher, import_files, read_queries

lancedb = pytest.importorskip("lancedb", reason="lancedb is in the dev extra (pip install -e '.[dev]')")

#: The table name a lab's script opens (engine/catalog/table.py: TABLE).
TABLE_NAME = "sequences"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    data = Path(__file__).parent / "data"
    cat = Catalog.open(tmp_path_factory.mktemp("interop") / "catalog")
    report = import_files(cat, [data / "families_small.faa"])
    assert not report.failed
    return cat


def _mutated(sequence: str, every: int = 9) -> str:
    """The sequence with every ``every``-th residue changed: no row of the catalog equals it."""
    return "".join(("W" if c != "W" else "A") if i % every == 4 else c for i, c in enumerate(sequence))


def test_lancedb_opens_the_catalog_and_finds_the_same_nearest_row(catalog: Catalog) -> None:
    db = lancedb.connect(catalog.location)
    assert TABLE_NAME in db.list_tables().tables
    table = db.open_table(TABLE_NAME)
    assert table.count_rows() == catalog.dataset().count_rows()
    assert b"genocat" in (table.schema.metadata or {}), "the embedder record travels with the table"

    queries = read_queries(Path(__file__).parent / "data" / "families_small.faa")[:40:8]
    searcher = Searcher(catalog)
    embedder = catalog.embedder("vec_kmer")
    for query in queries:
        sequence = _mutated(query.sequence)
        ours = searcher.search(sequence, k=5, column="vec_kmer").hits
        scores = ours.column("score").to_pylist()
        assert scores[0] > scores[1] + 1e-4, "the test needs one clear nearest row"
        vector = embedder.embed([sequence])[0]
        theirs = (table.search(vector, vector_column_name="vec_kmer").distance_type("cosine").limit(5)
                  .select(["seq_hash", "id"]).to_arrow())
        assert theirs.column("seq_hash")[0].as_py() == ours.column("seq_hash")[0].as_py(), query.id
        # lancedb reports a cosine distance, GenoCat a cosine similarity: 1 - distance.
        assert 1.0 - theirs.column("_distance")[0].as_py() == pytest.approx(scores[0], abs=1e-4)


def test_lancedb_reads_versions_genocat_wrote(catalog: Catalog) -> None:
    table = lancedb.connect(catalog.location).open_table(TABLE_NAME)
    assert table.version == catalog.version
    assert [v["version"] for v in table.list_versions()][-1] == catalog.version


def test_a_new_catalog_is_the_table_lancedb_would_create(tmp_path: Path) -> None:
    """Same data storage version and manifest naming as lancedb's create_table, so either can open the other's."""
    import lance

    cat = Catalog.open(tmp_path / "genocat")
    ours = lance.dataset(cat.uri)
    db = lancedb.connect(tmp_path / "lancedb")
    db.create_table(TABLE_NAME, schema=ours.schema)
    theirs = lance.dataset(str(tmp_path / "lancedb" / f"{TABLE_NAME}.lance"))
    assert ours.data_storage_version == theirs.data_storage_version
    def manifests(table: Path) -> list[str]:
        return sorted(p.name for p in (table / "_versions").glob("*.manifest"))

    # V2 manifest paths on both
    assert manifests(Path(cat.uri)) == manifests(tmp_path / "lancedb" / f"{TABLE_NAME}.lance")
    assert ours.schema == theirs.schema and ours.schema.metadata == theirs.schema.metadata
