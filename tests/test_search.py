"""Similarity search, filters and their safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from genocat_desktop.engine import (
    Catalog,
    Condition,
    FilterError,
    QueryError,
    Searcher,
    import_files,
    parse_condition,
    read_queries,
    to_sql,
)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    data = Path(__file__).parent / "data"
    cat = Catalog.open(tmp_path_factory.mktemp("search") / "catalog")
    report = import_files(cat, [data / "mmseqs2_QUERY.fasta", data / "families_small.faa"])
    assert not report.failed
    return cat


def test_every_sequence_finds_itself_first(catalog: Catalog) -> None:
    table = catalog.dataset().to_table(columns=["id", "sequence"])
    searcher = Searcher(catalog)
    ids, seqs = table.column("id").to_pylist(), table.column("sequence").to_pylist()
    for ident, seq in list(zip(ids, seqs, strict=True))[::7]:
        hits = searcher.search(seq, k=3).hits
        assert hits.column("score")[0].as_py() == pytest.approx(1.0, abs=1e-5)
        assert ident in hits.column("id").to_pylist()  # identical composition may tie


def test_hits_are_ranked_and_sized(catalog: Catalog) -> None:
    q = read_queries(Path(__file__).parent / "data" / "mmseqs2_QUERY.fasta")[3]
    result = Searcher(catalog).search(q, k=25)
    scores = result.hits.column("score").to_pylist()
    assert len(result) == 25 and scores == sorted(scores, reverse=True)
    assert result.hits.column("rank").to_pylist() == list(range(1, 26))
    assert result.exact and result.version == catalog.version


def test_same_family_is_the_nearest_neighbour_most_of_the_time(catalog: Catalog) -> None:
    data = Path(__file__).parent / "data"
    labels = dict(line.split("\t")[:2] for line in (data / "families_small.tsv").read_text().splitlines()[1:])
    queries = read_queries(data / "families_small.faa")
    searcher = Searcher(catalog)
    right = 0
    for q in queries:
        hits = searcher.search(q, k=2, conditions=[parse_condition("source_file = families_small.faa")]).hits
        other = next(i for i in hits.column("id").to_pylist() if i != q.id)
        right += labels[other] == labels[q.id]
    assert right / len(queries) > 0.6


def test_filters_apply_before_ranking(catalog: Catalog) -> None:
    searcher = Searcher(catalog)
    q = "MKVLAAGIVALLLAAGCSSSKEETKAAPA"
    hits = searcher.search(q, k=5, conditions=[Condition("organism", "contains", "sapiens")]).hits
    assert len(hits) == 5
    assert all("sapiens" in o.lower() for o in hits.column("organism").to_pylist())
    narrow = searcher.search(q, k=10, conditions=[parse_condition("accession = A7TBS3")])
    assert narrow.hits.column("accession").to_pylist() == ["A7TBS3"] and narrow.candidates == 1
    none = searcher.search(q, k=10, conditions=[parse_condition("length > 100000")])
    assert len(none) == 0


def test_lance_fallback_agrees_with_numpy(catalog: Catalog) -> None:
    q = read_queries(Path(__file__).parent / "data" / "mmseqs2_QUERY.fasta")[10]
    fast = Searcher(catalog).search(q, k=5)
    slow = Searcher(catalog, memory_budget=1).search(q, k=5)
    assert slow.extra["strategy"] == "scan" and fast.extra["strategy"] == "memory"
    assert fast.hits.column("id")[0] == slow.hits.column("id")[0]
    assert fast.hits.column("score").to_pylist() == pytest.approx(slow.hits.column("score").to_pylist(), abs=1e-4)


def test_new_rows_are_seen_after_refresh(tmp_catalog_path: Path, tmp_path: Path) -> None:
    cat = Catalog.open(tmp_catalog_path)
    (tmp_path / "a.fa").write_text(">a\nMKVLAAGIVWWWPPP\n")
    import_files(cat, [tmp_path / "a.fa"])
    searcher = Searcher(cat)
    assert len(searcher.search("MKVLAAGIV", k=5)) == 1
    other = Catalog.open(tmp_catalog_path, create=False)  # another process, in effect
    (tmp_path / "b.fa").write_text(">b\nMSTNPKPQRKTKRNTNRRPQDVKFPGG\n")
    import_files(other, [tmp_path / "b.fa"])
    searcher._checked = 0.0  # skip the 2 s refresh interval
    assert len(searcher.search("MKVLAAGIV", k=5)) == 2


def test_a_query_of_a_molecule_type_the_catalog_lacks_is_searched_translated(
    tmp_catalog_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Protein and nucleotide k-mers live in separate spaces: a protein query against DNA rows is
    # searched in six frames instead (the reverse too), and refused above the translated bound.
    from genocat_desktop.engine.search import translated

    cat = Catalog.open(tmp_catalog_path)
    genes = ">g1\nATGGCTAAAGTTCTGGCTGCAGGTATCGTTTAA\n>g2\nATGTCTACCAACCCGAAACCGCAGCGTAAATAA\n"
    (tmp_path / "genes.fna").write_text(genes)
    import_files(cat, [tmp_path / "genes.fna"])
    searcher = Searcher(cat)
    hits = searcher.search("MAKVLAAGIV", k=5).hits.to_pylist()
    assert [h["id"] for h in hits] == ["g1", "g2"]
    assert (hits[0]["frame"], hits[0]["hit_start"], hits[0]["hit_end"]) == (1, 1, 30)
    assert len(searcher.search("ATGGCTAAAGTTCTGGCTGCA", k=5)) == 2  # a nucleotide query is fine
    monkeypatch.setattr(translated, "MAX_NUCLEOTIDES", 10)
    with pytest.raises(QueryError, match="at most 10 nucleotides; the catalog holds 66: add a filter"):
        searcher.search("MAKVLAAGIV", k=5)
    (tmp_path / "p.faa").write_text(">p\nMKVLAAGIVWWWPPP\n")
    import_files(cat, [tmp_path / "p.faa"])
    with pytest.raises(QueryError, match="the rows matching the filters hold 66"):
        searcher.search("MAKVLAAGIV", k=5, conditions=[parse_condition("molecule = dna")])
    assert len(searcher.search("MAKVLAAGIV", k=5)) == 3


@pytest.mark.parametrize(
    "text",
    [
        "organism contains x') OR 1=1 --",
        "organism = ' OR ''='",
        "description contains 100%_",
        "id starts with \\",
    ],
)
def test_filter_values_cannot_inject_sql(catalog: Catalog, text: str) -> None:
    sql = to_sql([parse_condition(text)], catalog.schema)
    assert catalog.count(sql) == 0


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("lenght > 3", "no field"),
        ("length > many", "whole number"),
        ("length contains 3", "text fields"),
        ("vec_kmer = 1", "vectors"),
        ("just words", "cannot read"),
        ("`id; DROP` = 1", "no field"),
    ],
)
def test_bad_filters_are_explained(catalog: Catalog, text: str, word: str) -> None:
    with pytest.raises(FilterError, match=word):
        to_sql([parse_condition(text)], catalog.schema)


def test_typed_filters(catalog: Catalog) -> None:
    assert catalog.count(to_sql([parse_condition("protein_existence in 1, 2")], catalog.schema)) > 0
    assert catalog.count(to_sql([parse_condition("gene is not empty")], catalog.schema)) > 0
    assert catalog.count(to_sql([parse_condition("imported_at > 2000-01-01")], catalog.schema)) == catalog.count()


@pytest.mark.parametrize("bad", ["", "   ", "MKV!!", ">q\n"])
def test_bad_queries_are_explained(bad: str) -> None:
    with pytest.raises(QueryError):
        read_queries(bad)


def test_query_forms() -> None:
    (q,) = read_queries("1 mkvla agivw\n61 ACGT")
    assert q.sequence == "MKVLAAGIVWACGT" and q.molecule == "protein"
    a, b = read_queries(">n1 x\nACGTACGTACGTAAGG\n>n2\nMKV*")
    assert (a.id, a.molecule, b.sequence) == ("n1", "dna", "MKV")
    with pytest.raises(QueryError, match="between 1 and"):
        Searcher.__new__(Searcher).search_many(["MKV"], k=0)


def test_many_queries_at_once_match_one_by_one(catalog: Catalog) -> None:
    queries = read_queries(Path(__file__).parent / "data" / "mmseqs2_QUERY.fasta")[:70]  # more than one block
    searcher = Searcher(catalog)
    cond = [parse_condition("length > 200")]
    together = searcher.search_many(queries, k=5, conditions=cond)
    for q, r in zip(queries[::9], together[::9], strict=True):
        alone = searcher.search(q, k=5, conditions=cond)
        assert r.hits.column("seq_hash").to_pylist() == alone.hits.column("seq_hash").to_pylist()
        assert r.hits.column("score").to_pylist() == pytest.approx(alone.hits.column("score").to_pylist(), abs=1e-5)


def test_new_versions_reuse_what_is_unchanged(tmp_catalog_path: Path, data_dir: Path, tmp_path: Path) -> None:
    """An import reads only the new fragments; a field edit re-reads no vectors."""
    from genocat_desktop.engine.catalog.schema import add_field, set_values

    cat = Catalog.open(tmp_catalog_path)
    import_files(cat, [data_dir / "mmseqs2_QUERY.fasta"])
    searcher = Searcher(cat)
    q = read_queries(data_dir / "mmseqs2_QUERY.fasta")[0]
    first = searcher.search(q, k=3)
    old = dict(searcher._exact.fragments)

    (tmp_path / "new.fa").write_text(">new1\nMKVLAAGIVWWWPPPKKKLLL\n")
    import_files(cat, [tmp_path / "new.fa"])
    searcher._checked = 0.0
    after_import = searcher.search("MKVLAAGIVWWWPPPKKKLLL", k=1)
    assert after_import.hits.column("id").to_pylist() == ["new1"]
    assert all(searcher._exact.fragments[i] is piece for i, piece in old.items())

    add_field(cat, "assay", "text")
    set_values(cat, "assay", "done", all_rows=True)
    searcher._checked = 0.0
    edited = searcher.search(q, k=3)
    assert edited.hits.column("assay").to_pylist() == ["done"] * 3
    assert edited.hits.column("seq_hash").to_pylist() == first.hits.column("seq_hash").to_pylist()
    assert all(searcher._exact.fragments[i].vectors is piece.vectors for i, piece in old.items())


def test_queries_run_without_full_garbage_collections(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from genocat_desktop.engine.search import strategies as search_module

    seen: list[int] = []
    original = search_module.top_k

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(gc.get_threshold()[2])
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search_module, "top_k", spy)
    before = gc.get_threshold()
    Searcher(catalog).search(read_queries(Path(__file__).parent / "data" / "mmseqs2_QUERY.fasta")[0], k=5)
    assert seen and all(t >= 1 << 30 for t in seen)  # a full pass mid-query held the GIL for 100+ ms
    assert gc.get_threshold() == before


@pytest.mark.parametrize("rows", [10, 65_535, 65_536, 200_001])
def test_a_large_scan_in_parts_scores_every_row_as_one_product_does(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large matrices are scanned in parts on several threads (scan.scan_scores). Every row must get
    # its score, to float32 rounding, and the parts must really run when the machine has the CPUs.
    import threading

    import numpy as np

    from genocat_desktop.engine.core import parallel
    from genocat_desktop.engine.search import scan as search

    monkeypatch.setattr(parallel, "usable_cpus", lambda: 4)  # whatever this machine has
    rng = np.random.default_rng(rows)
    vectors = rng.standard_normal((rows, 64), dtype=np.float32)
    vec = rng.standard_normal(64, dtype=np.float32)
    threads: set[str] = set()
    matmul = np.matmul

    def recording(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
        threads.add(threading.current_thread().name)
        return matmul(a, b, out=out)

    monkeypatch.setattr(search.np, "matmul", recording)
    scores = search.scan_scores(vectors, vec)
    monkeypatch.undo()
    expected = vectors.astype(np.float64) @ vec.astype(np.float64)
    assert scores.dtype == np.float32 and scores.shape == (rows,)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
    parts = min(4, rows // (search.PARALLEL_SCAN_ROWS // 2))
    assert len(threads) == (parts if parts >= 2 else 1)


def test_aligned_hits_read_from_storage_take_rows_and_vectors_at_once(catalog: Catalog,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Not held in RAM, an aligned hit list reads its rows and their vectors (the cosine) in one take."""
    import lance

    q = read_queries(Path(__file__).parent / "data" / "mmseqs2_QUERY.fasta")[10]
    fast = Searcher(catalog).search(q, k=5, mode="exhaustive")
    takes: list[list[str]] = []
    original = lance.LanceDataset._take_rows

    def counted(self: lance.LanceDataset, indices: list[int], columns: list[str] | None = None) -> object:
        takes.append(list(columns or []))
        return original(self, indices, columns=columns)

    monkeypatch.setattr(lance.LanceDataset, "_take_rows", counted)
    slow = Searcher(catalog, memory_budget=1).search(q, k=5, mode="exhaustive")
    assert slow.hits.column("id").to_pylist() == fast.hits.column("id").to_pylist()
    assert slow.hits.column("score").to_pylist() == pytest.approx(fast.hits.column("score").to_pylist(), abs=1e-4)
    assert len(takes) == 1 and catalog.default_vector in takes[0] and "id" in takes[0]
    assert catalog.default_vector not in slow.hits.column_names
