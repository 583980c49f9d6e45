"""The seed-and-diagonal prefilter (engine/search/seeds.py): homologues in, decoys out, filters, extend, cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genocat_desktop.engine.core.errors import Cancelled
from genocat_desktop.engine.core.progress import CancelToken, Progress
from genocat_desktop.engine.search.seeds import (
    AMINO,
    MIN_CANDIDATES,
    PROTEIN_SEEDS,
    SeedIndex,
    SeedParams,
    encode,
    hit_budget,
    within_cells,
)

FREQ = np.array([7.8, 5.1, 4.5, 5.4, 1.9, 4.3, 6.3, 7.4, 2.2, 5.1, 9.0, 5.7, 2.2, 3.9, 5.2, 7.1, 5.9, 1.3, 3.2, 6.5])
LETTERS = np.array(list(AMINO))


def random_protein(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(LETTERS, length, p=FREQ / FREQ.sum()))


def similar_residue(rng: np.random.Generator, a: str) -> str:
    """A residue BLOSUM62 scores positive against ``a`` (what homologues mostly exchange)."""
    groups = ("ILVM", "FYW", "KRQ", "DEN", "ST", "AG", "HN", "C", "P")
    options = "".join(g for g in groups if a in g).replace(a, "") or a
    return str(rng.choice(list(options)))


def distant_homologue(rng: np.random.Generator, seq: str, identity: float = 0.35) -> str:
    """~``identity`` identical residues (most substitutions conservative, a fifth random) and two indels."""
    out = []
    for a in seq:
        r = rng.random()
        if r < identity:
            out.append(a)
        elif r < identity + (1 - identity) * 0.8:
            out.append(similar_residue(rng, a))
        else:
            out.append(str(rng.choice(LETTERS)))
    s = "".join(out)
    s = s[:60] + random_protein(rng, 4) + s[60:]  # an insertion
    return s[:150] + s[155:]  # a deletion


@pytest.fixture(scope="module")
def database() -> tuple[np.ndarray, list[str], str]:
    rng = np.random.default_rng(7)
    query = random_protein(rng, 260)
    background = [random_protein(rng, int(rng.integers(80, 500))) for _ in range(2000)]
    homologue = distant_homologue(rng, query)
    decoy = "".join(rng.permutation(list(homologue)))  # same composition, no order
    seqs = [*background[:700], homologue, *background[700:1400], decoy, *background[1400:]]
    ids = np.arange(len(seqs), dtype=np.int64) * 10 + 5  # ids are the caller's, not positions
    return ids, seqs, query


def test_distant_homologue_ranks_and_decoy_does_not(database: tuple[np.ndarray, list[str], str]) -> None:
    ids, seqs, query = database
    homologue_id, decoy_id = ids[700], ids[1401]
    identity = np.mean([a == b for a, b in zip(query[:60], seqs[700][:60], strict=True)])
    assert 0.25 < identity < 0.5
    index = SeedIndex.build(ids, seqs)
    rows, scores = index.candidates(query, 20)
    assert rows.dtype == np.int64 and len(rows) == len(scores) <= 20
    assert rows[0] == homologue_id
    assert decoy_id not in rows
    assert np.all(np.diff(scores) <= 0)  # best first
    assert scores[0] > 2 * scores[1]


def test_allowed_filters_rows(database: tuple[np.ndarray, list[str], str]) -> None:
    ids, seqs, query = database
    index = SeedIndex.build(ids, seqs)
    allowed = np.sort(ids[::3])
    rows, _ = index.candidates(query, 50, allowed=allowed)
    assert len(rows) == 50 and np.isin(rows, allowed).all()
    assert ids[700] not in rows  # the homologue is filtered out (700 is not a multiple of 3)
    # with room for every touched row, filtering is the same as dropping the others afterwards
    everything, scores = index.candidates(query, len(seqs))
    rows, kept_scores = index.candidates(query, len(seqs), allowed=allowed)
    keep = np.isin(everything, allowed)
    assert list(rows) == list(everything[keep]) and list(kept_scores) == list(scores[keep])
    rows, _ = index.candidates(query, 50, allowed=np.sort(np.array([ids[700], ids[5]])))
    assert rows[0] == ids[700] and set(rows) <= {ids[700], ids[5]}
    rows, _ = index.candidates(query, 50, allowed=np.empty(0, dtype=np.int64))
    assert len(rows) == 0


def test_extend_equals_full_build(database: tuple[np.ndarray, list[str], str]) -> None:
    ids, seqs, query = database
    full = SeedIndex.build(ids, seqs)
    parts = SeedIndex.build(ids[:1000], seqs[:1000])
    for first, last in ((1000, 1500), (1500, 1600), (1600, 1601), (1601, len(seqs))):
        parts = parts.extend(ids[first:last], seqs[first:last])
    assert parts.rows == full.rows == len(seqs)
    assert parts.segments > 1
    rng = np.random.default_rng(3)
    for q in (query, seqs[10], seqs[1200][20:200], random_protein(rng, 120)):
        a, sa = full.candidates(q, 100)
        b, sb = parts.candidates(q, 100)
        assert list(a) == list(b) and list(sa) == list(sb)
        cells = 40 * len(q) * 300  # the cell budget reads each row's length in its own segment
        assert list(full.candidates(q, 1_000, cells=cells)[0]) == list(parts.candidates(q, 1_000, cells=cells)[0])
    allowed = np.sort(ids[::2])
    assert list(full.candidates(query, 30, allowed)[0]) == list(parts.candidates(query, 30, allowed)[0])


def test_extend_leaves_the_old_index_alone(database: tuple[np.ndarray, list[str], str]) -> None:
    ids, seqs, query = database
    small = SeedIndex.build(ids[:700], seqs[:700])
    bigger = small.extend(ids[700:701], seqs[700:701])
    assert small.rows == 700 and bigger.rows == 701
    assert ids[700] not in small.candidates(query, 10)[0]
    assert bigger.candidates(query, 10)[0][0] == ids[700]
    assert bigger.nbytes > small.nbytes > 0


def test_build_reports_progress_and_cancels(database: tuple[np.ndarray, list[str], str]) -> None:
    ids, seqs, _ = database
    reports: list[Progress] = []
    SeedIndex.build(ids, seqs, progress=reports.append)
    assert reports and reports[-1].fraction == 1.0 and {r.unit for r in reports} == {"rows"}
    fractions = [r.fraction or 0.0 for r in reports]
    assert fractions == sorted(fractions)  # never goes back
    token = CancelToken()

    def cancel_on_first(p: Progress) -> None:
        token.cancel()

    with pytest.raises(Cancelled):
        SeedIndex.build(ids, seqs, progress=cancel_on_first, cancel=token)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        SeedIndex.build(ids, seqs, cancel=token)


def test_empty_index_and_short_queries(database: tuple[np.ndarray, list[str], str]) -> None:
    ids, seqs, query = database
    empty = SeedIndex.build(np.empty(0, dtype=np.int64), [])
    assert empty.rows == 0 and empty.nbytes >= 0
    rows, scores = empty.candidates(query, 10)
    assert rows.dtype == np.int64 and len(rows) == 0 and len(scores) == 0
    grown = empty.extend(ids[:3], seqs[:3])
    assert grown.rows == 3 and grown.candidates(seqs[1], 5)[0][0] == ids[1]
    index = SeedIndex.build(ids, seqs)
    span = SeedParams().span
    assert len(index.candidates(query[: span - 1], 10)[0]) == 0
    assert len(index.candidates("", 10)[0]) == 0
    assert len(index.candidates(query, 0)[0]) == 0
    exact = index.candidates(seqs[42][:span], 10)[0]
    assert ids[42] in exact  # a query exactly one seed long still finds its row


def test_odd_residues_and_short_rows() -> None:
    seqs = ["MKV", "", "XXXXXXXXXXXXXXXX", "mkvlaagwqrstyvhhe*", "MKVLAAGWQRSTYVHHEBZJUO"]
    ids = np.arange(len(seqs), dtype=np.int64)
    index = SeedIndex.build(ids, seqs)
    rows, _ = index.candidates("MKVLAAGWQRSTYVHHE", 5)
    assert set(rows) == {3, 4}
    assert list(encode("AZ*a")) == [0, 20, 20, 0]


def test_frequent_seeds_are_not_looked_up() -> None:
    rng = np.random.default_rng(11)
    repeat = "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
    seqs = [random_protein(rng, 100) + repeat for _ in range(300)]
    ids = np.arange(len(seqs), dtype=np.int64)
    index = SeedIndex.build(ids, seqs)
    rows, _ = index.candidates(repeat, 300)
    # every row holds the repeat, but its seed is far too frequent to look up: only similar
    # seeds that occur in the random parts hit
    assert len(rows) < 200
    unmasked = SeedIndex.build(ids, seqs, params=SeedParams(frequent=1e12))
    rows, scores = unmasked.candidates(repeat, 300)
    assert len(rows) == 300 and scores.min() >= 100  # looked up, the repeat hits every row
    rows, _ = index.candidates(seqs[7][:100], 10)
    assert rows[0] == 7


def test_compiled_loops_are_built() -> None:
    from genocat_desktop.engine.search.seeds import compiled

    assert compiled()  # a test run on an install without them would not test the index at all


def test_hit_budget_bounds_the_work_and_keeps_rare_seeds(database: tuple[np.ndarray, list[str], str]) -> None:
    ids, seqs, query = database
    generous = SeedIndex.build(ids, seqs)
    tight = SeedIndex.build(ids, seqs, params=SeedParams(max_hits=300))
    q = encode(query)
    keys, bounds = generous._similar(q)
    few, few_bounds = tight._similar(q)
    counts = tight._key_counts()
    assert counts[keys].sum() > 300 >= counts[few].sum() > 0
    assert len(few_bounds) == len(bounds) and few_bounds[-1] == len(few)
    assert set(few) <= set(keys)
    assert tight.candidates(query, 5)[0][0] == ids[700]  # the homologue still leads


def test_hit_budget_shrinks_only_past_hits_length() -> None:
    params = SeedParams(max_hits=600_000, hits_length=500)
    assert hit_budget(params, 100) == hit_budget(params, 500) == 600_000
    assert hit_budget(params, 1_000) == 300_000 and hit_budget(params, 1_200) == 250_000
    assert hit_budget(SeedParams(max_hits=600_000), 5_000) == 600_000  # no hits_length: the fixed budget
    assert PROTEIN_SEEDS.hits_length is not None and SeedIndex.build(np.arange(1), ["MKV" * 5]).params == PROTEIN_SEEDS


def test_hit_budget_grows_with_the_square_root_of_a_catalog_below_hits_residues() -> None:
    from genocat_desktop.engine.search.seeds import MIN_HITS

    params = SeedParams(max_hits=600_000, hits_length=500, hits_residues=300_000_000)
    assert hit_budget(params, 300, 300_000_000) == hit_budget(params, 300, 3_000_000_000) == 600_000
    assert hit_budget(params, 300, 75_000_000) == 300_000  # a quarter of the residues: half the hits
    assert hit_budget(params, 300, 1_000) == MIN_HITS  # a tiny catalog keeps the least budget
    assert hit_budget(params, 1_000, 75_000_000) == 150_000  # and a long query its share of it
    assert hit_budget(params, 300) == 600_000  # size unknown: the full budget
    assert PROTEIN_SEEDS.hits_residues is not None
    index = SeedIndex.build(np.arange(2), ["MKV" * 5, "W" * 20])
    assert index.residues == 35


def test_long_query_looks_up_fewer_hits(database: tuple[np.ndarray, list[str], str]) -> None:
    ids, seqs, query = database
    fixed = SeedIndex.build(ids, seqs, params=SeedParams(max_hits=2_000))
    scaled = SeedIndex.build(ids, seqs, params=SeedParams(max_hits=2_000, hits_length=len(query) // 2))
    counts = fixed._key_counts()
    q = encode(query)
    assert counts[scaled._similar(q)[0]].sum() <= 1_000 < counts[fixed._similar(q)[0]].sum() <= 2_000
    short = encode(query[: len(query) // 2])  # at hits_length: the whole budget
    assert np.array_equal(scaled._similar(short)[0], fixed._similar(short)[0])


def test_cell_budget_counts_query_length_times_row_residues() -> None:
    lengths = np.full(MIN_CANDIDATES + 50, 100)
    assert within_cells(lengths[:10], 1_000, 0) == 10  # fewer than the floor: all of them
    assert within_cells(lengths, 1_000, 0) == MIN_CANDIDATES
    assert within_cells(lengths, 1_000, 20 * 100 * 1_000) == MIN_CANDIDATES + 20
    assert within_cells(lengths, 100, 20 * 100 * 1_000) == MIN_CANDIDATES + 50  # a 10x shorter query: every row
    assert within_cells(lengths, 1_000, 20 * 100 * 1_000 - 1) == MIN_CANDIDATES + 19


def test_candidates_within_cells_keep_the_best_first(database: tuple[np.ndarray, list[str], str]) -> None:
    ids, seqs, query = database
    index = SeedIndex.build(ids, seqs)
    every, scores = index.candidates(query, 1_000)
    assert len(every) > MIN_CANDIDATES + 10
    length = dict(zip(ids.tolist(), map(len, seqs), strict=True))
    extra = sum(length[int(r)] for r in every[MIN_CANDIDATES:MIN_CANDIDATES + 10])
    cut, cut_scores = index.candidates(query, 1_000, cells=extra * len(query))
    assert list(cut) == list(every[: MIN_CANDIDATES + 10]) and list(cut_scores) == list(scores[: len(cut)])
    assert cut[0] == ids[700]
    assert list(index.candidates(query, 1_000, cells=None)[0]) == list(every)


def test_arrow_array_builds_the_same_index(database: tuple[np.ndarray, list[str], str]) -> None:
    import pyarrow as pa

    ids, seqs, query = database
    from_strings = SeedIndex.build(ids, seqs)
    # a slice of a larger array (non-zero offset) with a null, large and plain string types
    padded = pa.array(["MKV", *seqs, None])
    for array in (padded.slice(1, len(seqs)), pa.array(seqs, pa.large_string())):
        from_arrow = SeedIndex.build(ids, array)
        assert from_arrow.nbytes == from_strings.nbytes
        for q in (query, seqs[10], seqs[1200][20:200]):
            a, sa = from_strings.candidates(q, 100)
            b, sb = from_arrow.candidates(q, 100)
            assert list(a) == list(b) and list(sa) == list(sb)
    extended = SeedIndex.build(ids[:1000], pa.array(seqs[:1000])).extend(ids[1000:], pa.array(seqs[1000:]))
    assert list(extended.candidates(query, 50)[0]) == list(from_strings.candidates(query, 50)[0])
    with_null = SeedIndex.build(np.array([1, 2], dtype=np.int64), pa.array([None, seqs[700]]))
    assert list(with_null.candidates(query, 5)[0]) == [2]
    with pytest.raises(TypeError, match="strings"):
        SeedIndex.build(np.array([1], dtype=np.int64), pa.array([1]))


def test_sensitive_search_finds_rows_appended_after_the_index(database: tuple[np.ndarray, list[str], str],
                                                               tmp_path: Path) -> None:
    """The searcher's seed index is built from the stored sequences and extended by an import."""
    from genocat_desktop.engine import Catalog, Searcher, import_files
    from genocat_desktop.engine.search.queries import Query

    _, seqs, query = database
    first, second = tmp_path / "first.faa", tmp_path / "second.faa"
    first.write_text("".join(f">bg{i}\n{s}\n" for i, s in enumerate(seqs[:600])))
    second.write_text(f">homologue\n{seqs[700]}\n" + "".join(f">more{i}\n{s}\n" for i, s in enumerate(seqs[800:900])))
    catalog = Catalog.open(str(tmp_path / "catalog"))
    import_files(catalog, [first])
    searcher = Searcher(catalog)
    before = searcher.search(Query("q", query), k=5, mode="sensitive")
    assert "homologue" not in before.hits.column("id").to_pylist()
    store = searcher._sequences.stores["protein"]
    assert store.seeds is not None and store.seeds.rows == 600
    import_files(catalog, [second])
    after = searcher.search(Query("q", query), k=5, mode="sensitive")
    assert after.hits.column("id").to_pylist()[0] == "homologue"
    store = searcher._sequences.stores["protein"]
    assert store.seeds.rows == 701 and len(store.sequences) == 701
    assert store.seeds.segments == 2  # extended with the new fragment, not rebuilt
    # the stored pieces share the store's one array of sequences (no second copy)
    pieces = searcher._sequences.pieces["protein"].values()
    assert sum(len(p.sequences) for p in pieces) == 701
    assert all(p.sequences.buffers()[2].address == store.sequences.buffers()[2].address for p in pieces)


@pytest.mark.parametrize("threshold", [12.0, 20.0, 26.0])
def test_similar_seeds_are_every_key_at_the_threshold_in_ascending_order(threshold: float) -> None:
    """The compiled enumeration (best partner first, pruned) against scoring every key of each window."""
    from genocat_desktop.engine.search import _seeds
    from genocat_desktop.engine.search.seeds import _reduction, _scores, _shape_offsets

    p = PROTEIN_SEEDS
    matrix, shape, lut = _scores(p)[1], _shape_offsets(p.shape), _reduction(p.alphabet, p.residues)
    alpha = len(p.alphabet)
    query = encode(random_protein(np.random.default_rng(int(threshold)), 14) + "XAC")  # an X: windows without keys
    keys, bounds, scores = _seeds.similar_seeds(query, shape, p.span, lut, alpha, matrix, threshold, p.max_similar)
    assert len(bounds) == len(query) - p.span + 2
    for i in range(len(bounds) - 1):
        got = keys[bounds[i]:bounds[i + 1]]
        window = query[i + shape]
        if (window >= 20).any():
            assert got.size == 0
            continue
        letters = lut[window]
        every = np.zeros(1)  # each key's score against the window, its letters read most significant first
        for letter in letters:
            every = np.add.outer(every, matrix[letter]).ravel()
        own = int(np.ravel_multi_index(tuple(int(c) for c in letters), (alpha,) * len(letters)))
        expected = np.union1d(np.flatnonzero(every >= threshold), [own])
        assert np.array_equal(got, expected)  # every key once, ascending
        window_scores = scores[bounds[i]:bounds[i + 1]]
        assert np.isinf(window_scores[got == own]).all()
        np.testing.assert_allclose(window_scores[got != own], every[got[got != own]])
