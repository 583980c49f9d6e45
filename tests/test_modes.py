"""Search modes (engine/search/modes.py) as the searcher runs them: the choice of ``auto`` and what a batch aligns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genocat_desktop.engine.search import modes
from genocat_desktop.engine.search.modes import (
    EXHAUSTIVE_MAX_RESIDUES,
    SEEDED_MAX_RESIDUES,
    SMALL_SEEDED_MAX_RESIDUES,
    choose_mode,
    seeded_settings,
)

AMINO = "ACDEFGHIKLMNPQRSTVWY"


def _protein(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list(AMINO), length))


def _mutant(rng: np.random.Generator, seq: str, rate: float) -> str:
    return "".join(str(rng.choice(list(AMINO))) if rng.random() < rate else a for a in seq)


def test_auto_protein_modes_follow_the_catalog_size() -> None:
    assert choose_mode("auto", False, 100_000, 300).mode == "exhaustive"  # a small catalog: every row aligned
    assert choose_mode("auto", False, EXHAUSTIVE_MAX_RESIDUES, 5_000).mode == "exhaustive"
    assert choose_mode("auto", False, EXHAUSTIVE_MAX_RESIDUES + 1, 5_000).mode == "sensitive"
    assert choose_mode("auto", False, SEEDED_MAX_RESIDUES + 1, 10**6).mode == "align"
    assert choose_mode("sensitive", False, 100, 1).mode == "sensitive"  # asked: never changed


def test_seeded_settings_follow_the_seed_index_size() -> None:
    """A small index seeds from a lower score and aligns fewer rows, without the embedding's nearest;
    a larger one keeps the index's threshold, bounds a long query's cells and adds the nearest rows
    while the vectors are small enough to hold."""
    small = seeded_settings(SMALL_SEEDED_MAX_RESIDUES, 5_000)
    assert (small.threshold, small.candidates, small.cells, small.neighbours) == (19.0, 100, False, False)
    assert "score 19" in small.describe() and "100 rows" in small.describe()
    mid = seeded_settings(SMALL_SEEDED_MAX_RESIDUES + 1, 10_000)
    assert (mid.threshold, mid.candidates, mid.cells, mid.neighbours) == (None, 1_000, True, True)
    assert not seeded_settings(40_000_000, 100_000).neighbours
    assert mid.describe() == "the best 1,000 rows aligned"


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str]]]:
    """Three families of 40 copies each (30 % mutated) in 300 unrelated proteins, and one query per family."""
    rng = np.random.default_rng(11)
    roots = [_protein(rng, 220) for _ in range(3)]
    rows = [(f"fam{f}_{i}", _mutant(rng, root, 0.3)) for f, root in enumerate(roots) for i in range(40)]
    rows += [(f"bg{i}", _protein(rng, int(rng.integers(100, 400)))) for i in range(300)]
    path = tmp_path_factory.mktemp("modes") / "rows.faa"
    path.write_text("".join(f">{i}\n{s}\n" for i, s in rows))
    return path, [(f"q{f}", _mutant(rng, root, 0.3)) for f, root in enumerate(roots)]


def test_a_batch_aligns_each_querys_own_nearest_rows(families: tuple[Path, list[tuple[str, str]]],
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In ``sensitive`` mode the embedding's nearest rows join the seeds' ones: in a batch, each query's own
    (the strategy scores the batch's vectors in blocks, one row per query), as when it is searched alone."""
    from genocat_desktop.engine import Catalog, Searcher, import_files
    from genocat_desktop.engine.search.queries import Query

    # the nearest rows join where the small-catalog settings do not apply: make these 420 rows count as larger
    monkeypatch.setattr(modes, "SMALL_SEEDED_MAX_RESIDUES", 0)

    path, queries = families
    catalog = Catalog.open(str(tmp_path / "catalog"))
    import_files(catalog, [path])
    searcher = Searcher(catalog)
    searcher.warm()
    qs = [Query(i, s) for i, s in queries]
    batch = searcher.search_many(qs, k=500, mode="sensitive", candidates=5)
    for q, together in zip(qs, batch, strict=True):
        alone = searcher.search_many([q], k=500, mode="sensitive", candidates=5)[0]
        aligned = together.extra["aligned_rows"]
        assert isinstance(aligned, int) and aligned > 5  # the nearest rows joined the 5 seeded ones
        assert aligned == alone.extra["aligned_rows"]
        assert together.hits.column("id").to_pylist() == alone.hits.column("id").to_pylist()


def test_a_small_catalogs_seeded_search_says_how_it_seeded(families: tuple[Path, list[tuple[str, str]]],
                                                           tmp_path: Path) -> None:
    """In a small catalog ``sensitive`` seeds with the small-catalog settings, aligns at most their rows
    (no nearest rows added) and names them in the reason; still finds each family."""
    from genocat_desktop.engine import Catalog, Searcher, import_files
    from genocat_desktop.engine.search.queries import Query

    path, queries = families
    catalog = Catalog.open(str(tmp_path / "catalog"))
    import_files(catalog, [path])
    searcher = Searcher(catalog)
    for n, result in enumerate(searcher.search_many([Query(i, s) for i, s in queries], k=40, mode="sensitive")):
        assert result.extra["mode_reason"] == "as asked; similar seeds from score 19, the best 100 rows aligned"
        aligned = result.extra["aligned_rows"]
        assert isinstance(aligned, int) and 40 <= aligned <= 100
        assert sum(i.startswith(f"fam{n}_") for i in result.hits.column("id").to_pylist()) >= 38


def test_dna_and_rna_are_the_nucleotides() -> None:
    from genocat_desktop.engine.core.molecules import MOLECULES, is_nucleotide

    assert [m for m in MOLECULES if is_nucleotide(m)] == ["dna", "rna"]
    assert not is_nucleotide("protein") and not is_nucleotide(None) and not is_nucleotide("DNA ")
