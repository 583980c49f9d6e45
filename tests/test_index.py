"""ANN vector, scalar and full-text indexes, at small scale (a few thousand rows, 16 partitions)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genocat_desktop.engine import (
    Calibration,
    Cancelled,
    CancelToken,
    Catalog,
    CatalogError,
    Progress,
    Query,
    QueryError,
    Searcher,
    VectorIndexParams,
    auto_index,
    build_indexes,
    choose_vector_params,
    drop_indexes,
    import_files,
    index_status,
    optimize_indexes,
    parse_condition,
    text_search,
)
from genocat_desktop.engine.search.ann import CALIBRATION_KEY, DEFAULT_REFINE, SearchEffort, vector_index
from genocat_desktop.engine.search.calibration import (
    CALIBRATION_QUERIES,
    CALIBRATION_REFINES,
    CALIBRATION_TARGET,
    NO_ROW,
    calibrate,
    calibration_sample,
)
from genocat_desktop.engine.search.indexes import MAX_PARTITIONS

ROWS = 3000
PARAMS = VectorIndexParams("IVF_RQ", 16, 4)
AA = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", np.uint8)
WORDS = ["kinase", "transporter", "heat shock protein", "ligase", "dehydrogenase", "synthase"]


def _fasta(path: Path, n: int, seed: int, prefix: str = "P") -> None:
    """``n`` proteins in 50 families (30 % substitutions), UniProt-style headers with organism and taxid."""
    rng = np.random.default_rng(seed)
    families = [AA[rng.integers(0, 20, int(rng.integers(120, 400)))] for _ in range(50)]
    with path.open("w") as fh:
        for i in range(n):
            seq = families[i % 50].copy()
            mutate = rng.random(seq.size) < 0.3
            seq[mutate] = AA[rng.integers(0, 20, int(mutate.sum()))]
            org = i % 12
            fh.write(f">tr|{prefix}{i:05d}|{prefix}{i}_ORG{org} Putative {WORDS[i % len(WORDS)]} {i % 97} "
                     f"OS=Organism {org} OX={1000 + org} PE=3 SV=1\n{seq.tobytes().decode()}\n")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3,000-row catalog (built once) to copy."""
    where = tmp_path_factory.mktemp("index") / "catalog"
    fasta = where.parent / "proteins.fa"
    _fasta(fasta, ROWS, seed=1)
    cat = Catalog.open(where)
    assert import_files(cat, [fasta]).imported == ROWS
    return where


@pytest.fixture(scope="module")
def indexed(base: Path) -> Path:
    """The same catalog with every index built (built once)."""
    where = base.parent / "indexed"
    shutil.copytree(base, where)
    build_indexes(Catalog.open(where, create=False), params=PARAMS)
    return where


@pytest.fixture
def catalog(indexed: Path, tmp_path: Path) -> Catalog:
    shutil.copytree(indexed, tmp_path / "c")
    return Catalog.open(tmp_path / "c", create=False)


def _queries(cat: Catalog, n: int = 40) -> list[str]:
    seqs = cat.dataset().to_table(columns=["sequence"]).column("sequence").to_pylist()
    rng = np.random.default_rng(5)
    out = []
    for i in rng.choice(len(seqs), n, replace=False).tolist():  # near, but not equal to, catalog rows
        s = np.frombuffer(seqs[i].encode(), np.uint8).copy()
        m = rng.random(s.size) < 0.15
        s[m] = AA[rng.integers(0, 20, int(m.sum()))]
        out.append(s.tobytes().decode())
    return out


def test_status_lists_every_kind(catalog: Catalog) -> None:
    status = index_status(catalog)
    vec = status.vector()
    assert vec is not None and vec.index_type == "IVF_RQ" and vec.num_partitions == 16
    assert vec.rows_indexed == ROWS and vec.rows_unindexed == 0
    assert vec.built_at is not None and vec.built_at.tzinfo is not None
    kinds = {i.column: (i.kind, i.index_type) for i in status.indexes}
    assert kinds["description"] == ("text", "Inverted")
    assert kinds["organism"] == ("scalar", "Bitmap") and kinds["taxid"] == ("scalar", "BTree")
    assert json.loads(json.dumps(status.to_dict()))["rows"] == ROWS


def test_recall_at_10_against_exact(catalog: Catalog) -> None:
    exact, ann = Searcher(catalog, use_index=False), Searcher(catalog, use_index=True)
    recalls = []
    for q in _queries(catalog):
        truth = set(exact.search(q, k=10).hits.column("id").to_pylist())
        result = ann.search(q, k=10)
        assert result.extra["strategy"] == "index" and not result.exact
        recalls.append(len(truth & set(result.hits.column("id").to_pylist())) / 10)
    assert float(np.mean(recalls)) >= 0.95


def test_index_is_used_only_above_the_memory_budget_by_default(catalog: Catalog) -> None:
    q = _queries(catalog, 1)[0]
    assert Searcher(catalog).search(q).extra["strategy"] == "memory"
    assert Searcher(catalog, memory_budget=1).search(q).extra["strategy"] == "index"


def test_candidates_are_refined_in_ram_like_lance_refines_them(catalog: Catalog) -> None:
    # Default budget: the half-precision copy fits and re-ranks; a budget below it: Lance re-ranks.
    dim = int(catalog.vector_columns()[catalog.default_vector]["dim"])
    ram = Searcher(catalog, use_index=True)
    q0 = _queries(catalog, 1)[0]
    assert ram.search(q0).extra["refine"] == "lance"  # not warmed: one query does not load the copy
    ram.warm()
    lance = Searcher(catalog, use_index=True, memory_budget=ROWS * dim * 2 - 1)  # not warmed: Lance refines
    files = Searcher(catalog, use_index=True, memory_budget=ROWS * dim * 2 - 1)
    files.warm()  # the copy does not fit this budget: it is kept in files
    exact = Searcher(catalog, use_index=False)
    same = []
    for q in _queries(catalog, 20):
        a, b, e = ram.search(q, k=10), lance.search(q, k=10), exact.search(q, k=10)
        assert a.extra["refine"] == "memory" and b.extra["refine"] == "lance"
        f = files.search(q, k=10)
        assert f.extra["refine"] == "files" and f.hits.equals(a.hits)  # the same half-precision values
        # The same candidates, so (nearly) the same hits; the RAM copy's scores are the exact ones
        # within half precision.
        same.append(len(set(a.hits.column("id").to_pylist()) & set(b.hits.column("id").to_pylist())) / 10)
        truth = dict(zip(e.hits.column("id").to_pylist(), e.hits.column("score").to_pylist(), strict=True))
        for ident, score in zip(a.hits.column("id").to_pylist(), a.hits.column("score").to_pylist(), strict=True):
            if ident in truth:
                # Half precision: a relative error of 2^-11 per value; dense 3-mer vectors (cosines
                # near 0.8) reach 2.1e-4, sparse hashed 4-mers stayed below 1e-4.
                assert abs(score - truth[ident]) < 5e-4
        scores = a.hits.column("score").to_pylist()
        assert scores == sorted(scores, reverse=True)
    assert float(np.mean(same)) >= 0.98


def test_warming_loads_the_vector_index_into_lances_cache(catalog: Catalog) -> None:
    searcher = Searcher(catalog, use_index=True, effort=SearchEffort(probe_fraction=1.0))
    searcher.warm()
    warmed = catalog.dataset().session().index_cache_size_bytes()
    searcher.search(_queries(catalog, 1)[0])  # probes every partition: none is left to load
    grown = catalog.dataset().session().index_cache_size_bytes() - warmed
    assert grown < 0.01 * warmed  # a few bytes of bookkeeping; without the prewarm: every partition


def test_warming_can_be_cancelled(catalog: Catalog) -> None:
    searcher = Searcher(catalog, use_index=True)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        searcher.warm(cancel=token)
    q = _queries(catalog, 1)[0]
    assert searcher.search(q).extra["refine"] == "lance"  # nothing half-loaded is used
    searcher.warm()
    assert searcher.search(q).extra["refine"] == "memory"
    exact = Searcher(catalog)
    with pytest.raises(Cancelled):
        exact.warm(cancel=token)
    assert exact.search(q).extra["strategy"] == "memory"


def test_fields_limit_the_columns_and_vectors_skip_the_embedder(catalog: Catalog) -> None:
    searcher = Searcher(catalog, use_index=True)
    q = _queries(catalog, 1)[0]
    full = searcher.search(q, k=5)
    only = searcher.search(q, k=5, fields=["id", "organism"])
    assert only.hits.column_names == ["rank", "score", "id", "organism"]
    assert only.hits.column("id").to_pylist() == full.hits.column("id").to_pylist()
    vec = catalog.embedder(catalog.default_vector).embed([q], ["protein"])
    given = searcher.search_many([Query("v", q)], k=5, vectors=vec)[0]
    assert given.hits.column("id").to_pylist() == full.hits.column("id").to_pylist()
    with pytest.raises(QueryError, match="unknown field"):
        searcher.search(q, fields=["id", "nope"])
    with pytest.raises(QueryError, match="query vectors"):
        searcher.search_many([Query("v", q)], vectors=np.zeros((1, 3), np.float32))
    # In memory (no index) the fields apply too.
    assert Searcher(catalog).search(q, k=3, fields=["id"]).hits.column_names == ["rank", "score", "id"]


def test_filtered_search_returns_full_k(catalog: Catalog) -> None:
    exact, ann = Searcher(catalog, use_index=False), Searcher(catalog, use_index=True)
    q = _queries(catalog, 1)[0]
    broad = [parse_condition("organism = 'Organism 3'")]  # 1 in 12 rows
    hits = ann.search(q, k=10, conditions=broad)
    assert len(hits) == 10 and set(hits.hits.column("organism").to_pylist()) == {"Organism 3"}
    truth = exact.search(q, k=10, conditions=broad).hits.column("id").to_pylist()
    assert len(set(truth) & set(hits.hits.column("id").to_pylist())) >= 9
    # A selective filter (a few dozen rows) bypasses the index: exact, and full k.
    narrow = [parse_condition("organism = 'Organism 5'"), parse_condition("length < 200")]
    result = ann.search(q, k=10, conditions=narrow)
    assert result.extra["strategy"] == "exact-filtered" and result.exact
    expected = exact.search(q, k=10, conditions=narrow).hits.column("id").to_pylist()
    assert result.hits.column("id").to_pylist() == expected
    assert len(result) == min(10, result.candidates)
    # The same with the RAM copy loaded: the matching rows are scored from it.
    ann.warm()
    again = ann.search(q, k=10, conditions=narrow)
    assert _path(again) == ("exact-filtered", "memory") and again.exact
    assert set(again.hits.column("id").to_pylist()) == set(expected)
    exact_scores = exact.search(q, k=10, conditions=narrow).hits.column("score").to_numpy()
    assert np.abs(again.hits.column("score").to_numpy() - exact_scores).max() < 2e-4
    broad_again = ann.search(q, k=10, conditions=broad)
    assert broad_again.extra["refine"] == "memory" and len(broad_again) == 10  # 250 rows: below BYPASS_ROWS
    assert set(broad_again.hits.column("id").to_pylist()) == set(truth)


def test_filtered_search_with_the_ram_copy(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    from genocat_desktop.engine.search import ann as ix
    from genocat_desktop.engine.search import vectors as vectors_mod

    calls: list[str | None] = []
    real = ix._candidate_ids

    def spy(ds: object, nearest: dict[str, object], sql: str | None) -> np.ndarray:
        calls.append(sql)
        return real(ds, nearest, sql)  # type: ignore[arg-type]

    monkeypatch.setattr(ix, "_candidate_ids", spy)
    exact = Searcher(catalog, use_index=False)
    broad = [parse_condition("organism = 'Organism 3'")]  # 250 of 3,000 rows
    queries = _queries(catalog, 10)

    # The passing rows' vectors fit FILTER_MATRIX_BYTES: searched exactly from RAM, Lance not asked.
    ann = Searcher(catalog, use_index=True)
    ann.warm()
    for q in queries:
        got, want = ann.search(q, k=10, conditions=broad), exact.search(q, k=10, conditions=broad)
        assert got.exact and _path(got) == ("exact-filtered", "memory")
        assert got.hits.column("id").to_pylist() == want.hits.column("id").to_pylist()
        assert np.abs(got.hits.column("score").to_numpy() - want.hits.column("score").to_numpy()).max() < 2e-4
    assert calls == [] and len(ann._refine.subsets) == 1  # one float32 matrix, kept for the next query

    # They do not fit: Lance finds candidates in the probed partitions without the filter, the
    # engine keeps those that pass (post-filtering).
    monkeypatch.setattr(vectors_mod, "FILTER_MATRIX_BYTES", 0)
    monkeypatch.setattr(ix, "BYPASS_ROWS", 50)  # 250 rows would bypass the index at this size
    ann = Searcher(catalog, use_index=True, effort=SearchEffort(nprobes=4, refine_factor=5))
    ann.warm()
    found = 0
    for q in queries:
        calls.clear()
        got, want = ann.search(q, k=10, conditions=broad), exact.search(q, k=10, conditions=broad)
        assert calls == [None] and not got.exact and _path(got) == ("index", "memory")
        assert len(got) == 10 and set(got.hits.column("organism").to_pylist()) == {"Organism 3"}
        found += len(set(got.hits.column("id").to_pylist()) & set(want.hits.column("id").to_pylist()))
    assert found >= 0.95 * 10 * len(queries)

    # A filter whose rows are all far from the query: too few of the wider candidates pass, and
    # Lance pre-filters instead (the 60 rows least like the query, chosen by exact score).
    ds = catalog.dataset()
    ref = vector_index(ds, catalog.default_vector)
    assert ref is not None
    vec = catalog.embedder(catalog.default_vector).embed([queries[0]], ["protein"])[0]
    table = ds.to_table(columns=["id", catalog.default_vector], with_row_id=True)
    dim = vec.size
    scores = table.column(catalog.default_vector).combine_chunks().flatten().to_numpy().reshape(-1, dim) @ vec
    far = np.argsort(scores)[:60]
    allowed = np.sort(table.column("_rowid").to_numpy()[far].astype(np.uint64))
    sql = "id IN (" + ", ".join(f"'{i}'" for i in table.column("id").to_numpy(zero_copy_only=False)[far]) + ")"
    calls.clear()
    ids = ix.ann_candidates(ds, ref, vec, 10, sql=sql, candidates=60,
                            effort=SearchEffort(nprobes=4, refine_factor=1), allowed=allowed)
    assert ids is not None and calls == [None, sql]
    assert ids.size == 10 and set(ids.tolist()) <= set(allowed.tolist())


def test_hit_fields_come_from_ram_with_the_copy_and_follow_edits(catalog: Catalog) -> None:
    from genocat_desktop.engine.catalog.schema import add_field, set_values

    dim = int(catalog.vector_columns()[catalog.default_vector]["dim"])
    ram = Searcher(catalog, use_index=True)
    ram.warm()
    # A budget with room for the vectors only: fields are read from the data files.
    lance_rows = Searcher(catalog, use_index=True, memory_budget=ROWS * dim * 2 + 1000)
    lance_rows.warm()
    assert ram._refine.copy is not None and ram._refine.copy.rows is not None
    assert "sequence" not in ram._refine.copy.rows.column_names  # the bulk stays on disk
    assert lance_rows._refine.copy is not None and lance_rows._refine.copy.rows is None
    broad = [parse_condition("organism = 'Organism 3'")]
    for q in _queries(catalog, 5):
        for conditions in ([], broad):
            a = ram.search(q, k=10, conditions=conditions)
            b = lance_rows.search(q, k=10, conditions=conditions)
            assert a.extra["refine"] == b.extra["refine"] == "memory"
            assert a.hits.equals(b.hits)  # same columns, types, order and values, the sequences too
            assert a.hits.column_names == b.hits.column_names
    # A field edit writes new files for that field only: the fields are re-read, the vectors kept.
    vectors = {i: piece.vectors.copy() for i, piece in ram._refine.fragments.items()}
    reads = ram._refine.vector_reads
    add_field(catalog, "assay", "text")
    set_values(catalog, "assay", "done", all_rows=True)
    ram._checked = 0.0  # see the new version now, not after REFRESH_SECONDS
    hit = ram.search(_queries(catalog, 1)[0], k=3)
    assert hit.hits.column("assay").to_pylist() == ["done"] * 3
    assert ram._refine.copy.rows is not None and "assay" in ram._refine.copy.rows.column_names
    assert ram._refine.vector_reads == reads  # not re-read
    assert all(np.array_equal(ram._refine.fragments[i].vectors, v) for i, v in vectors.items())
    # the fragments' pieces are views of the one copy searched, not a second copy of every vector
    assert all(np.shares_memory(p.vectors, ram._refine.copy.vectors) for p in ram._refine.fragments.values())


def test_rows_appended_after_the_build_are_found_then_optimized(catalog: Catalog, tmp_path: Path) -> None:
    ann = Searcher(catalog, use_index=True)
    ann.warm()  # the RAM copy of the vectors, before the import: it must take in the new rows
    new = tmp_path / "new.fa"
    _fasta(new, 200, seed=99, prefix="N")
    assert import_files(catalog, [new]).imported == 200
    status = index_status(catalog)
    assert status.vector() is not None and status.vector().rows_unindexed == 200  # type: ignore[union-attr]
    table = catalog.dataset().to_table(columns=["id", "sequence"], filter="id LIKE 'tr|N%'", limit=20)
    for ident, seq in zip(table.column("id").to_pylist(), table.column("sequence").to_pylist(), strict=True):
        result = ann.search(seq, k=3)
        assert result.extra["strategy"] == "index" and result.extra["refine"] == "memory"
        assert ident in result.hits.column("id").to_pylist()
    after = optimize_indexes(catalog)
    assert after.vector().rows_unindexed == 0  # type: ignore[union-attr]
    assert all(i.rows_unindexed == 0 for i in after.indexes)
    seq = table.column("sequence")[0].as_py()
    found = Searcher(catalog, use_index=True).search(seq, k=3).hits.column("id").to_pylist()
    assert table.column("id")[0].as_py() in found


def test_drop(catalog: Catalog) -> None:
    before = [i.name for i in index_status(catalog).indexes]
    left = drop_indexes(catalog, names=["genocat_organism"])
    assert [i.name for i in left.indexes] == [n for n in before if n != "genocat_organism"]
    left = drop_indexes(catalog, kinds=("vector",))
    assert left.vector() is None and len(left.indexes) > 0
    q = _queries(catalog, 1)[0]
    assert Searcher(catalog, use_index=True, memory_budget=1).search(q).extra["strategy"] == "scan"
    assert drop_indexes(catalog).indexes == []


@pytest.mark.parametrize("stop_at", ["train_ivf", "merge_partitions", "scalar"])
def test_cancel_leaves_the_catalog_unchanged(base: Path, tmp_path: Path, stop_at: str) -> None:
    shutil.copytree(base, tmp_path / "c")
    cat = Catalog.open(tmp_path / "c", create=False)
    version = cat.version
    token = CancelToken()
    phases: list[str] = []

    def progress(p: Progress) -> None:
        phases.append(p.phase)
        if p.phase == stop_at:
            token.cancel()

    with pytest.raises(Cancelled):
        build_indexes(cat, params=PARAMS, progress=progress, cancel=token)
    assert stop_at in phases
    cat.refresh()
    assert cat.version == version and index_status(cat).indexes == []
    indices = Path(cat.uri) / "_indices"
    # Half-written vector segments are removed (scalar segments Lance names itself may remain as orphans).
    left = list(indices.iterdir()) if indices.exists() else []
    assert stop_at == "scalar" or left == []


def test_build_rejects_empty_and_too_small(tmp_path: Path) -> None:
    cat = Catalog.open(tmp_path / "empty")
    with pytest.raises(CatalogError, match="empty"):
        build_indexes(cat)
    (tmp_path / "few.fa").write_text(">a\nMKVLAAGIVWWW\n>b\nMSTNPKPQRKTK\n")
    import_files(cat, [tmp_path / "few.fa"])
    with pytest.raises(CatalogError, match="partitions"):
        build_indexes(cat, params=VectorIndexParams("IVF_RQ", 16, 4))


def test_choose_params() -> None:
    small, big = choose_vector_params(3000, 512), choose_vector_params(1_000_000, 320)
    assert small.index_type == big.index_type == "IVF_RQ"
    # √rows / 2: 500 partitions at 1M rows (more than 256: built without Lance's progress callback).
    assert small.num_partitions == 27 and big.num_partitions == 500
    assert choose_vector_params(100_000_000, 320).num_partitions == MAX_PARTITIONS
    assert choose_vector_params(50, 512).num_partitions == 1


def test_auto_index_after_import(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As for a catalog whose vectors the searcher does not hold in RAM (tests/test_index_policy.py: one it holds).
    from genocat_desktop.engine.search import index_policy

    monkeypatch.setattr(index_policy, "held_in_memory", lambda catalog, column, rows: False)
    shutil.copytree(base, tmp_path / "c")
    cat = Catalog.open(tmp_path / "c", create=False)
    assert auto_index(cat, threshold=ROWS + 1) is None and index_status(cat).indexes == []
    assert index_status(cat).recommended is False
    assert auto_index(cat, threshold=ROWS) == "built"
    assert index_status(cat).vector() is not None
    assert auto_index(cat, threshold=ROWS) is None  # nothing new
    new = tmp_path / "new.fa"
    _fasta(new, 400, seed=7, prefix="M")
    import_files(cat, [new])
    assert auto_index(cat, threshold=ROWS) == "optimized"  # 400 new rows > 5 %


def test_text_search_with_and_without_the_index(catalog: Catalog, base: Path) -> None:
    hits = text_search(catalog, "kinase", k=20)
    assert len(hits) == 20 and all("kinase" in d.lower() for d in hits.column("description").to_pylist())
    assert hits.column("rank").to_pylist() == list(range(1, 21))
    phrase = text_search(catalog, '"heat shock"', k=5)
    assert len(phrase) == 5 and all("heat shock" in d for d in phrase.column("description").to_pylist())
    filtered = text_search(catalog, "ligase", k=50, conditions=[parse_condition("organism = 'Organism 3'")])
    assert len(filtered) > 0 and set(filtered.column("organism").to_pylist()) == {"Organism 3"}
    plain = Catalog.open(base, create=False)  # no full-text index: a substring scan
    scan = text_search(plain, "Transporter", k=10)
    assert len(scan) == 10 and all("transporter" in d for d in scan.column("description").to_pylist())
    with pytest.raises(QueryError):
        text_search(catalog, "  ")


def test_cli_index_commands(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genocat_desktop.cli.main import main

    shutil.copytree(base, tmp_path / "c")
    cat = ["--catalog", str(tmp_path / "c")]
    assert main([*cat, "index", "status"]) == 0
    assert "no indexes" in capsys.readouterr().out
    assert main([*cat, "index", "build", "--partitions", "16"]) == 0
    assert "IVF_RQ (16 partitions)" in capsys.readouterr().out
    assert main([*cat, "index", "status"]) == 0
    effort = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("search effort"))
    opened = Catalog.open(tmp_path / "c", create=False)
    cal = vector_index(opened.dataset(), opened.default_vector).calibration  # type: ignore[union-attr]
    assert cal is not None and f"probe {cal.nprobes} of 16 partitions" in effort
    assert f"re-rank {cal.refine_factor} × k" in effort and f"on {cal.queries} sample queries" in effort
    assert main([*cat, "index", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {i["kind"] for i in status["indexes"]} == {"vector", "scalar", "text"}
    assert status["calibration"]["nprobes"] == cal.nprobes
    assert main([*cat, "search", "--text", "dehydrogenase", "-k", "3", "--format", "tsv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and "dehydrogenase" in lines[1]
    seq = Catalog.open(tmp_path / "c", create=False).dataset().to_table(columns=["sequence"], limit=1)
    assert main([*cat, "search", seq.column("sequence")[0].as_py(), "--nprobes", "4", "--refine", "20",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["hits"]
    assert main([*cat, "search"]) == 1  # neither a query nor --text
    assert main([*cat, "index", "drop", "--only", "text"]) == 0
    assert main([*cat, "index", "optimize"]) == 0
    assert main([*cat, "index", "drop"]) == 0
    assert "0 index(es) left" in capsys.readouterr().out
    os.environ.pop("GENOCAT_CATALOG", None)


def test_build_in_a_child_process_and_cancel_it(base: Path, tmp_path: Path) -> None:
    shutil.copytree(base, tmp_path / "c")
    cat = Catalog.open(tmp_path / "c", create=False)
    version = cat.version
    token = CancelToken()

    def progress(p: Progress) -> None:
        if p.phase == "train_ivf":
            token.cancel()

    with pytest.raises(Cancelled):
        build_indexes(cat, params=PARAMS, isolate=True, progress=progress, cancel=token)
    assert cat.version == version and index_status(cat).indexes == []
    indices = Path(cat.uri) / "_indices"
    assert not indices.exists() or list(indices.iterdir()) == []
    phases: list[str] = []
    status = build_indexes(cat, params=PARAMS, isolate=True, scalar=False, text=False,
                           progress=lambda p: phases.append(p.phase))
    assert status.vector() is not None and status.vector().rows_indexed == ROWS  # type: ignore[union-attr]
    assert {"train_ivf", "shuffle", "merge_partitions", "done"} <= set(phases)
    q = _queries(cat, 1)[0]
    assert Searcher(cat, use_index=True).search(q, k=5).extra["strategy"] == "index"


def _path(result: object) -> tuple[object, object]:
    """How a search found its hits: its strategy and who refined the candidates (``extra`` says more)."""
    extra = result.extra  # type: ignore[attr-defined]
    return extra.get("strategy"), extra.get("refine")


def _exact_ids(vectors: np.ndarray, q: np.ndarray, own: int | None, k: int = 10) -> set[int]:
    scores = vectors @ q / np.linalg.norm(vectors, axis=1) / np.linalg.norm(q)
    if own is not None:
        scores[own] = -np.inf
    return {int(i) for i in np.argsort(-scores, kind="stable")[:k]}


def test_build_stores_a_calibration_that_the_default_effort_uses(catalog: Catalog) -> None:
    ref = vector_index(catalog.dataset(), catalog.default_vector)
    assert ref is not None and ref.calibration is not None
    cal = ref.calibration
    assert catalog.meta[CALIBRATION_KEY][catalog.default_vector]["nprobes"] == cal.nprobes  # stored in the catalog
    assert 1 <= cal.nprobes <= ref.num_partitions and cal.refine_factor in CALIBRATION_REFINES
    assert cal.recall >= CALIBRATION_TARGET and cal.queries == 2 * CALIBRATION_QUERIES and cal.k == 10
    # The chosen effort is among those measured, and every measured effort that reached the
    # target with the same refine factor probes at least as many partitions.
    tried = {(int(p), int(r)): rc for p, r, rc, _ in cal.tried}
    assert tried[cal.nprobes, cal.refine_factor] == cal.recall
    assert all(p >= cal.nprobes for (p, r), rc in tried.items() if r == cal.refine_factor and rc >= CALIBRATION_TARGET)
    # The default effort uses it; explicit settings override it.
    assert SearchEffort().resolve(ref) == (cal.nprobes, cal.refine_factor)
    assert SearchEffort(nprobes=3).resolve(ref) == (3, cal.refine_factor)
    assert SearchEffort(refine_factor=2).resolve(ref) == (cal.nprobes, 2)
    assert SearchEffort.fast().resolve(ref)[0] == ref.num_partitions  # 20 %, at least 20 probes, of 16


def test_calibration_recall_is_measured_against_exact_search(catalog: Catalog) -> None:
    """Recompute the recall of the chosen effort by hand, for both kinds of sample queries: the catalog's
    own rows (own row left out) and near copies of them; the calibration keeps the lower."""
    col = catalog.default_vector
    again = calibrate(catalog, col, store=False)
    stored = vector_index(catalog.dataset(), col).calibration  # type: ignore[union-attr]
    assert stored is not None and (again.nprobes, again.refine_factor) == (stored.nprobes, stored.refine_factor)
    ds = catalog.dataset()
    table = ds.to_table(columns=[col], with_row_id=True)
    vectors = np.stack(table.column(col).to_numpy(zero_copy_only=False)).astype(np.float32)
    row_ids = table.column("_rowid").to_numpy()
    positions = np.sort(np.random.default_rng(0).choice(ds.count_rows(), size=CALIBRATION_QUERIES, replace=False))
    sample = calibration_sample(ds, col, embedder=catalog.embedder(col))
    m = CALIBRATION_QUERIES
    assert sample.vectors.shape[0] == 2 * m and np.array_equal(sample.own == NO_ROW, np.repeat([False, True], m))
    assert np.allclose(sample.vectors[:m], vectors[positions])
    # The near copies differ from their rows in about a quarter of the residues, and are embedded as queries are.
    cosines = np.sum(sample.vectors[m:] * vectors[positions], axis=1) / (
        np.linalg.norm(sample.vectors[m:], axis=1) * np.linalg.norm(vectors[positions], axis=1))
    assert 0.2 < float(np.median(cosines)) < 0.95
    recalls = []
    for kind in (0, 1):
        hits = 0
        for j, pos in enumerate(positions):
            q = sample.vectors[kind * m + j]
            found = ds.to_table(columns=["_distance"], with_row_id=True, nearest={
                "column": col, "q": q, "k": 11, "metric": "cosine", "nprobes": stored.nprobes,
                "refine_factor": stored.refine_factor}).column("_rowid").to_numpy()
            own = int(pos) if kind == 0 else None
            found = [int(np.flatnonzero(row_ids == r)[0]) for r in found if kind == 1 or r != row_ids[pos]][:10]
            hits += len(set(found) & _exact_ids(vectors, q, own))
        recalls.append(hits / (10 * m))
    assert min(recalls) == pytest.approx(stored.recall, abs=0.02)


def test_a_stale_or_missing_calibration_falls_back_to_every_partition(catalog: Catalog) -> None:
    col = catalog.default_vector
    old = vector_index(catalog.dataset(), col)
    assert old is not None and old.calibration is not None
    # Rebuilt without calibrating: the stored calibration names the old index and is ignored.
    build_indexes(catalog, params=PARAMS, scalar=False, text=False, calibration=False)
    new = vector_index(catalog.dataset(), col)
    assert new is not None and new.calibration is None
    assert CALIBRATION_KEY in catalog.meta  # (still stored, but for the replaced index)
    assert SearchEffort().resolve(new) == (new.num_partitions, DEFAULT_REFINE)
    line = index_status(catalog).effort_line()
    assert line is not None and line.startswith("not measured: every partition probed")
    # Calibrating the new index is picked up by a Searcher (its index cache follows the version).
    searcher = Searcher(catalog, use_index=True)
    q = _queries(catalog, 1)[0]
    assert searcher.search(q).extra["strategy"] == "index"
    cal = calibrate(catalog, col)
    assert isinstance(cal, Calibration)
    assert index_status(catalog).effort_line() == cal.describe(new.num_partitions)
    assert searcher._vector_index(catalog.dataset(), col).calibration == cal  # type: ignore[union-attr]
    assert Calibration.from_dict({"nprobes": 1}) is None  # an unreadable record is ignored


def test_more_than_256_partitions_build_in_a_child_without_lance_events(base: Path, tmp_path: Path) -> None:
    shutil.copytree(base, tmp_path / "c")
    cat = Catalog.open(tmp_path / "c", create=False)
    phases: list[str] = []
    # isolate=False is overridden: without Lance's events only killing the process can cancel it.
    status = build_indexes(cat, params=VectorIndexParams("IVF_RQ", 300, 4), isolate=False, scalar=False,
                           text=False, calibration=False, progress=lambda p: phases.append(p.phase))
    vec = status.vector()
    assert vec is not None and vec.num_partitions == 300 and vec.rows_indexed == ROWS
    assert "train_ivf" not in phases and "shuffle" not in phases and phases[-1] == "done"


def test_the_index_search_refines_as_lance_does(catalog: Catalog) -> None:
    """``ann_search`` re-ranks the refine × k candidates itself (their vectors and hit fields read once by
    row id): the same hits, order and distances as Lance's own refinement of the same candidates."""
    from genocat_desktop.engine.search.ann import ann_search

    ds = catalog.dataset()
    ref = vector_index(ds, catalog.default_vector)
    assert ref is not None
    emb = catalog.embedder(catalog.default_vector)
    effort = SearchEffort(nprobes=max(1, (ref.num_partitions or 1) // 2), refine_factor=3)
    for q in _queries(catalog, 10):
        vec = emb.embed([q], ["protein"])[0].astype(np.float32)
        ours, exact = ann_search(ds, ref, vec, 10, sql=None, columns=["id", "length"], candidates=ROWS, effort=effort)
        lance = ds.to_table(columns=["id", "length", "_distance"], prefilter=True, nearest={
            "column": ref.column, "q": vec, "k": 10, "metric": "cosine", "nprobes": effort.nprobes,
            "refine_factor": 3})
        assert not exact and ours.column_names == ["id", "length", "_distance"]
        assert ours.column("id").to_pylist() == lance.column("id").to_pylist()
        assert ours.column("length").to_pylist() == lance.column("length").to_pylist()
        np.testing.assert_allclose(ours.column("_distance").to_numpy(), lance.column("_distance").to_numpy(),
                                   atol=1e-5)


def _small_budget(cat: Catalog) -> int:
    """A memory budget below the half-precision copy (it goes to files), with room for the fields."""
    return ROWS * int(cat.vector_columns()[cat.default_vector]["dim"]) * 2 - 1


def test_a_copy_beyond_the_budget_is_kept_in_files_and_reused(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lance

    from genocat_desktop.engine.catalog.schema import add_field, set_values

    files = Searcher(catalog, use_index=True, memory_budget=_small_budget(catalog))
    files.warm()
    folder = catalog.work_folder("refine") / f"refine-{catalog.default_vector}"
    assert files._refine.folder == folder and files._refine.vector_reads == len(catalog.dataset().get_fragments())
    written = sorted(p.name for p in folder.iterdir())
    assert written and not [n for n in written if n.endswith(".tmp")]
    q = _queries(catalog, 1)[0]
    takes: list[object] = []
    take_rows = lance.LanceDataset._take_rows
    monkeypatch.setattr(lance.LanceDataset, "_take_rows",
                        lambda self, *a, **kw: takes.append(kw.get("columns")) or take_rows(self, *a, **kw))
    first = files.search(q, k=5)
    assert first.extra["refine"] == "files" and first.hits.column("sequence").null_count == 0
    assert takes == []  # vectors, fields and sequences all from the copy: no read of Lance's files
    monkeypatch.undo()
    # Another process (a new searcher) opens the same files without reading a vector from Lance.
    again = Searcher(catalog, use_index=True, memory_budget=_small_budget(catalog))
    again.warm()
    assert again._refine.vector_reads == 0 and again.search(q, k=5).hits.equals(first.hits)
    # An import writes the new fragment's files only, and its rows are found through the copy.
    new = tmp_path / "new.fa"
    _fasta(new, 200, seed=98, prefix="N")
    assert import_files(catalog, [new]).imported == 200
    files._checked = 0.0  # see the new version now, not after REFRESH_SECONDS
    table = catalog.dataset().to_table(columns=["id", "sequence"], filter="id LIKE 'tr|N%'", limit=5)
    for ident, seq in zip(table.column("id").to_pylist(), table.column("sequence").to_pylist(), strict=True):
        result = files.search(seq, k=3)
        assert result.extra["refine"] == "files" and ident in result.hits.column("id").to_pylist()
    assert files._refine.vector_reads == len(catalog.dataset().get_fragments())  # one more fragment: one read
    # A field edit rewrites the fields' files, never the vectors'; the old fields' files are removed.
    reads = files._refine.vector_reads
    add_field(catalog, "assay", "text")
    set_values(catalog, "assay", "done", all_rows=True)
    files._checked = 0.0
    hit = files.search(q, k=3)
    assert hit.extra["refine"] == "files" and hit.hits.column("assay").to_pylist() == ["done"] * 3
    assert files._refine.vector_reads == reads
    now = {p.name for p in folder.iterdir()}
    fragments = len(catalog.dataset().get_fragments())
    # vectors, row ids, fields, sequences and their offsets per fragment: nothing stale is left
    assert len(now) == 5 * fragments


def test_a_copy_in_files_that_cannot_be_written_or_read_leaves_lance_to_refine(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = _queries(catalog, 1)[0]
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # the working folder cannot be made under a file
    monkeypatch.setattr(type(catalog), "work_folder", lambda self, purpose: blocked / purpose)
    searcher = Searcher(catalog, use_index=True, memory_budget=_small_budget(catalog))
    searcher.warm()
    assert searcher._refine.copy is None and searcher.search(q).extra["refine"] == "lance"
    monkeypatch.undo()
    searcher = Searcher(catalog, use_index=True, memory_budget=_small_budget(catalog))
    searcher.warm()
    expected = searcher.search(q, k=10)
    assert expected.extra["refine"] == "files"
    folder = searcher._refine.folder
    assert folder is not None
    for path in folder.glob("*.f16"):  # another process's cleanup removed them
        path.unlink()
    lost = searcher.search(q, k=10)
    assert lost.extra["refine"] == "lance" and lost.hits.column("id").to_pylist()[:3] == \
        expected.hits.column("id").to_pylist()[:3]


def test_a_cancelled_copy_in_files_leaves_nothing_trusted(catalog: Catalog, tmp_path: Path) -> None:
    from genocat_desktop.engine.search import refine_files

    more = tmp_path / "more.fa"
    _fasta(more, 100, seed=97, prefix="M")
    assert import_files(catalog, [more]).imported == 100  # a second fragment
    token = CancelToken()
    calls = []
    original = refine_files._vectors

    def cancel_midway(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            token.cancel()  # the second fragment's write sees it at its first batch
        return original(*args, **kwargs)  # type: ignore[arg-type]

    searcher = Searcher(catalog, use_index=True, memory_budget=_small_budget(catalog))
    fragments = len(catalog.dataset().get_fragments())
    assert fragments >= 2
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(refine_files, "_vectors", cancel_midway)
        with pytest.raises(Cancelled):
            searcher.warm(cancel=token)
    folder = catalog.work_folder("refine") / f"refine-{catalog.default_vector}"
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert len(list(folder.glob("*.f16"))) == 1  # the first fragment's, complete
    searcher.warm()
    assert searcher._refine.vector_reads == fragments - 1  # the complete one was trusted, not re-read
    assert searcher.search(_queries(catalog, 1)[0]).extra["refine"] == "files"


def test_file_vectors_read_the_rows_asked_for_in_any_order(tmp_path: Path) -> None:
    from genocat_desktop.engine.search.refine_files import FileVectors

    rng = np.random.default_rng(3)
    parts = [rng.standard_normal((n, 8)).astype(np.float16) for n in (5, 1, 7)]
    paths = []
    for i, part in enumerate(parts):
        paths.append(tmp_path / f"{i}.f16")
        paths[-1].write_bytes(part.tobytes())
    whole = np.concatenate(parts)
    order = rng.permutation(len(whole))
    plain, permuted = FileVectors(paths, [5, 1, 7], 8), FileVectors(paths, [5, 1, 7], 8, order)
    pos = np.array([12, 0, 5, 5, 6, 4])
    assert plain.shape == (13, 8) and np.array_equal(plain[pos], whole[pos])
    assert np.array_equal(permuted[pos], whole[order[pos]])
    paths[2].write_bytes(parts[2][:3].tobytes())  # truncated by something else
    with pytest.raises(OSError):
        plain[np.array([12])]


def test_file_sequences_read_the_rows_asked_for_in_any_order(tmp_path: Path) -> None:
    import pyarrow as pa

    from genocat_desktop.engine.search.refine_files import FileSequences

    parts = [["MKV", "", "ACDEFGHIKLMNPQRSTVWY"], ["W"], ["PPG", "MKVLA"]]
    paths, offsets = [], []
    for i, part in enumerate(parts):
        paths.append(tmp_path / f"{i}.seq")
        paths[-1].write_bytes("".join(part).encode())
        offsets.append(np.concatenate([[0], np.cumsum([len(x) for x in part])]).astype(np.int64))
    whole = [s for part in parts for s in part]
    order = np.array([5, 0, 3, 1, 4, 2])
    column = pa.field("sequence", pa.large_string())
    plain = FileSequences(paths, offsets, column)
    permuted = FileSequences(paths, offsets, column, order)
    assert len(plain) == 6
    got = plain.take(np.array([5, 1, 2, 3]))
    assert got.type == pa.large_string() and got.to_pylist() == ["MKVLA", "", "ACDEFGHIKLMNPQRSTVWY", "W"]
    assert permuted.take(np.arange(6)).to_pylist() == [whole[i] for i in order]
    paths[2].write_bytes(b"PPG")  # truncated by something else
    with pytest.raises(OSError):
        plain.take(np.array([5]))


def test_two_searchers_writing_the_copy_at_once_both_get_whole_files(catalog: Catalog) -> None:
    """Two processes opening a large catalog at once write the same files: each under a name of its own."""
    import threading

    from genocat_desktop.engine.search import refine_files

    barrier = threading.Barrier(2, timeout=30)
    first = threading.local()
    batches = refine_files._batches

    def together(*args: Any, **kwargs: Any) -> Any:
        if not getattr(first, "done", False):
            first.done = True
            barrier.wait()  # both writers have opened their file for the first fragment's vectors
        return batches(*args, **kwargs)

    searchers = [Searcher(catalog, use_index=True, memory_budget=_small_budget(catalog)) for _ in range(2)]
    errors: list[BaseException] = []

    def warm(searcher: Searcher) -> None:
        try:
            searcher.warm()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(refine_files, "_batches", together)
        threads = [threading.Thread(target=warm, args=(s,)) for s in searchers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    q = _queries(catalog, 1)[0]
    a, b = (s.search(q, k=10) for s in searchers)
    assert a.extra["refine"] == b.extra["refine"] == "files" and a.hits.equals(b.hits)
    folder = catalog.work_folder("refine") / f"refine-{catalog.default_vector}"
    assert not list(folder.glob("*.tmp"))
