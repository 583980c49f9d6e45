"""The index policy: a vector index only where it beats exact search, decided from a sample of the catalog."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from genocat_desktop.engine import (
    Cancelled,
    CancelToken,
    Catalog,
    Progress,
    Query,
    Searcher,
    VectorIndexParams,
    auto_index,
    build_indexes,
    import_files,
    index_status,
)
from genocat_desktop.engine.search import index_policy
from genocat_desktop.engine.search.index_policy import (
    MAX_PROBE_FRACTION,
    POLICY_KEY,
    IndexDecision,
    needed_probe_fraction,
    plan_vector_index,
    spherical_kmeans,
)

ROWS = 3000
AA = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", np.uint8)


DIM = 64


@pytest.fixture(scope="module")
def clustered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 families of 60 close copies (10 % substitutions), imported: their k-mer vectors cluster."""
    folder = tmp_path_factory.mktemp("clustered")
    rng = np.random.default_rng(3)
    seeds = [AA[rng.integers(0, 20, int(rng.integers(120, 400)))] for _ in range(50)]
    with (folder / "proteins.fa").open("w") as fh:
        for i in range(ROWS):
            seq = seeds[i % 50].copy()
            mutate = rng.random(seq.size) < 0.1
            seq[mutate] = AA[rng.integers(0, 20, int(mutate.sum()))]
            fh.write(f">P{i:05d} protein {i} OS=Organism {i % 7} OX={1000 + i % 7}\n{seq.tobytes().decode()}\n")
    assert import_files(Catalog.open(folder / "catalog"), [folder / "proteins.fa"]).imported == ROWS
    return folder / "catalog"


def _random_rows(n: int, seed: int, start: int = 0) -> pa.Table:
    """``n`` rows whose vectors are uniform on the sphere: no cluster structure at all."""
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = [f"R{i}" for i in range(start, start + n)]
    return pa.table({"seq_hash": [f"{i:032X}" for i in range(start, start + n)], "id": ids,
                     "description": [f"random {i}" for i in ids],
                     "vec_random": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), DIM)})


@pytest.fixture(scope="module")
def unclustered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog of random unit vectors written directly (what the policy reads is the vectors alone)."""
    import lance

    from genocat_desktop.engine.catalog.table import FORMAT, META_KEY

    where = tmp_path_factory.mktemp("unclustered") / "catalog"
    meta = {"format": FORMAT, "created": "test", "default_vector": "vec_random", "user_fields": {},
            "embedders": {"vec_random": {"name": "random", "version": "0", "dim": DIM, "params": {}}}}
    table = _random_rows(ROWS, seed=1)
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    lance.write_dataset(table, str(where / "sequences.lance"))
    return where


def _copy(base: Path, tmp_path: Path) -> Catalog:
    shutil.copytree(base, tmp_path / "c")
    return Catalog.open(tmp_path / "c", create=False)


@pytest.fixture
def beyond_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the vectors did not fit the searcher's memory budget (a catalog of millions of rows)."""
    monkeypatch.setattr(index_policy, "held_in_memory", lambda catalog, column, rows: False)


# ------------------------------------------------------------------------- the measurement itself
def test_probe_fraction_separates_clusters_from_no_structure() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 64))
    clustered = centres[rng.integers(0, 40, 4000)] + 0.05 * rng.normal(size=(4000, 64))
    uniform = rng.normal(size=(4000, 64))
    picks = rng.choice(4000, 100, replace=False)
    fractions = {}
    for name, x in (("clustered", clustered), ("uniform", uniform)):
        x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        centroids = spherical_kmeans(x, 32)
        assert centroids.shape == (32, 64) and np.allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-5)
        fraction, curve = needed_probe_fraction(x, centroids, picks, target=0.99)
        # The curve is a recall that grows with the probes and reaches 1 with every partition.
        recalls = [r for _, r in curve]
        assert recalls == sorted(recalls) and recalls[-1] == 1.0 and curve[-1][0] == 1.0
        assert fraction == pytest.approx(next(f for f, r in curve if r >= 0.99), abs=1e-4)
        fractions[name] = fraction
    assert fractions["clustered"] <= 0.1 and fractions["uniform"] > MAX_PROBE_FRACTION


def test_probe_fraction_by_hand() -> None:
    """Two partitions, rows on either side: a query whose neighbours straddle them needs both."""
    x = np.array([[1, 0], [0.99, 0.14], [0.98, 0.2], [0, 1], [0.14, 0.99]], np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    centroids = np.array([[1, 0], [0, 1]], np.float32)
    # Row 0's 2 nearest are rows 1 and 2 (its own partition): one probe. Row 3's are 4 (same) and 2 (other).
    assert needed_probe_fraction(x, centroids, np.array([0]), k=2, target=1.0)[0] == 0.5
    fraction, curve = needed_probe_fraction(x, centroids, np.array([3]), k=2, target=1.0)
    assert fraction == 1.0 and curve == [[0.5, 0.5], [1.0, 1.0]]


def test_measurement_can_be_cancelled(unclustered: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        index_policy.measure_pruning(Catalog.open(unclustered, create=False), "vec_random", cancel=token)


# ------------------------------------------------------------------------- automatic builds
def test_no_vector_index_while_the_searcher_holds_the_vectors(clustered: Path, tmp_path: Path) -> None:
    cat = _copy(clustered, tmp_path)
    version = cat.version
    decision = plan_vector_index(cat)
    assert decision.action == "none" and decision.in_memory and decision.probe_fraction is None
    assert "exactly" in decision.reason and f"{ROWS:,} vectors" in decision.reason
    assert auto_index(cat, threshold=ROWS) == "built"
    status = index_status(cat)
    assert status.vector() is None  # the 20 s of a useless index are not spent
    assert {i.kind for i in status.indexes} == {"scalar", "text"}
    assert POLICY_KEY not in cat.meta and status.decision is None  # nothing measured, nothing stored
    assert cat.version > version
    assert auto_index(cat, threshold=ROWS) is None  # up to date
    assert Searcher(cat).search("MKVLAAGIVLLLAA" * 10).extra["strategy"] == "memory"


def test_clustered_vectors_get_an_ivf_index(clustered: Path, tmp_path: Path, beyond_memory: None) -> None:
    cat = _copy(clustered, tmp_path)
    phases: list[str] = []
    assert auto_index(cat, threshold=ROWS, progress=lambda p: phases.append(p.phase)) == "built"
    status = index_status(cat)
    vec = status.vector()
    assert vec is not None and vec.num_partitions == 27  # choose_vector_params: √3000 / 2
    decision = status.decision
    assert decision is not None and decision.action == "ivf" and decision.prunes
    assert decision.probe_fraction is not None and decision.probe_fraction <= 0.1
    assert decision.rows == ROWS and decision.sample_rows == ROWS and decision.queries == 200
    assert cat.meta[POLICY_KEY][cat.default_vector]["action"] == "ivf"  # beside the calibration
    assert "train_ivf" in phases


def test_unclustered_vectors_get_one_partition_and_exact_recall(unclustered: Path, tmp_path: Path,
                                                                 beyond_memory: None) -> None:
    cat = _copy(unclustered, tmp_path)
    messages: list[str] = []
    assert auto_index(cat, threshold=ROWS, progress=lambda p: messages.append(p.message)) == "built"
    status = index_status(cat)
    vec, decision = status.vector(), status.decision
    assert vec is not None and vec.num_partitions == 1 and vec.index_type == "IVF_RQ"
    assert decision is not None and decision.action == "flat" and decision.prunes is False
    assert decision.probe_fraction is not None and decision.probe_fraction > MAX_PROBE_FRACTION
    assert any("no cluster structure" in m for m in messages)
    # One partition: every row's codes are scanned, then refined exactly; recall against exact search.
    queries = _random_rows(20, seed=5).column("vec_random").to_numpy(zero_copy_only=False)
    vectors = np.stack(list(queries)).astype(np.float32)
    exact, ann = Searcher(cat, use_index=False), Searcher(cat, use_index=True)
    recalls = []
    for i in range(vectors.shape[0]):
        query = [Query(f"q{i}", "A")]
        truth = set(exact.search_many(query, k=10, vectors=vectors[i : i + 1])[0].hits.column("id").to_pylist())
        found = ann.search_many(query, k=10, vectors=vectors[i : i + 1])[0]
        assert found.extra["strategy"] == "index"
        recalls.append(len(truth & set(found.hits.column("id").to_pylist())) / 10)
    assert float(np.mean(recalls)) >= 0.95


def test_a_stored_decision_is_reused_until_the_catalog_grows(unclustered: Path, tmp_path: Path,
                                                             beyond_memory: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cat = _copy(unclustered, tmp_path)
    first = plan_vector_index(cat)
    index_policy.store_decision(cat, cat.default_vector, first)
    assert index_policy.stored_decision(cat.dataset(), cat.default_vector) == first
    assert IndexDecision.from_dict(first.to_dict()) == first and IndexDecision.from_dict({"rows": 1}) is None
    calls: list[int] = []
    real = index_policy.measure_pruning

    def counted(*args: Any, **kwargs: Any) -> IndexDecision:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(index_policy, "measure_pruning", counted)
    assert plan_vector_index(cat) == first and calls == []
    import lance

    lance.write_dataset(_random_rows(ROWS, seed=9, start=ROWS), cat.dataset().uri, mode="append")
    cat.refresh()  # twice the rows: measured again
    again = plan_vector_index(cat)
    assert calls == [1] and again.rows == 2 * ROWS and again.action == "flat"


# ------------------------------------------------------------------------- explicit builds
def test_an_explicit_build_says_when_the_index_will_not_help(unclustered: Path, tmp_path: Path) -> None:
    cat = _copy(unclustered, tmp_path)
    messages: list[Progress] = []
    status = build_indexes(cat, scalar=False, text=False, progress=messages.append)
    said = [p.message for p in messages if p.phase == "policy"]
    assert any("would not use a vector index" in m and "no cluster structure" in m for m in said)
    vec = status.vector()
    assert vec is not None and vec.num_partitions == 1  # built on request: the kind that helps most
    assert status.decision is not None and status.decision.action == "none"
    # Asked for partitions, it builds them, and still says why they will not help.
    messages.clear()
    status = build_indexes(cat, params=VectorIndexParams("IVF_RQ", 8, 4), scalar=False, text=False,
                           progress=messages.append)
    assert status.vector().num_partitions == 8  # type: ignore[union-attr]
    assert any("no cluster structure" in p.message for p in messages if p.phase == "policy")


def test_a_build_cancelled_while_measuring_changes_nothing(unclustered: Path, tmp_path: Path) -> None:
    cat = _copy(unclustered, tmp_path)
    version = cat.version
    token = CancelToken()

    def progress(p: Progress) -> None:
        if p.phase == "policy":
            token.cancel()  # the measurement checks it between k-means iterations

    with pytest.raises(Cancelled):
        build_indexes(cat, progress=progress, cancel=token)
    cat.refresh()
    assert cat.version == version and index_status(cat).indexes == [] and POLICY_KEY not in cat.meta


def test_near_copies_substitute_a_quarter_and_cut_long_rows_to_a_window(tmp_path: Path) -> None:
    """The calibration's near copies: each residue kept with probability 0.75, the row's own alphabet,
    a contig cut to a window of NEAR_COPY_MAX_RESIDUES."""
    import lance
    import pyarrow as pa

    from genocat_desktop.engine.search import calibration

    rng = np.random.default_rng(0)
    protein = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 2_000))
    contig = "".join(rng.choice(list("ACGT"), 30_000))
    ds = lance.write_dataset(pa.table({"sequence": [protein, contig], "molecule": ["protein", "dna"]}),
                             str(tmp_path / "t.lance"))

    class Recorder:
        def embed(self, seqs: list[str], molecules: list[str]) -> np.ndarray:
            self.seqs, self.molecules = seqs, molecules
            return np.ones((len(seqs), 4), np.float32)

    emb = Recorder()
    out = calibration._near_copies(ds, np.array([0, 1]), emb, seed=0)
    assert out is not None and out.shape == (2, 4) and emb.molecules == ["protein", "dna"]
    copy, window = emb.seqs
    same = np.mean(np.frombuffer(copy.encode(), np.uint8) == np.frombuffer(protein.encode(), np.uint8))
    assert 0.72 < same < 0.80  # 25 % drawn anew (1 in 20 of them the same letter): 0.7625, SD 0.01
    assert len(window) == calibration.NEAR_COPY_MAX_RESIDUES and set(window) <= set("ACGT")
    assert calibration._near_copies(lance.write_dataset(pa.table({"x": [1]}), str(tmp_path / "u.lance")),
                                    np.array([0]), emb, seed=0) is None


def test_near_copies_only_from_a_cheap_embedder_that_can_be_built() -> None:
    from genocat_desktop.engine.core.errors import EmbedderError
    from genocat_desktop.engine.search.calibration import cheap_embedder

    clock = [0.0]

    class FakeEmbedder:
        def __init__(self, seconds: float, broken: bool) -> None:
            self.seconds, self.broken, self.calls = seconds, broken, 0

        def embed(self, sequences: list[str], molecules: list[str]) -> None:
            if self.broken:
                raise RuntimeError("the model cannot run here")
            self.calls += 1
            clock[0] += self.seconds * len(sequences)  # what embedding them takes

    class FakeCatalog:
        def __init__(self, name: str, fails: bool = False, seconds: float = 0.0, broken: bool = False) -> None:
            self.name, self.fails = name, fails
            self.model = FakeEmbedder(seconds, broken)

        def vector_columns(self) -> dict[str, dict[str, str]]:
            return {"v": {"name": self.name}}

        def embedder(self, column: str) -> FakeEmbedder:
            if self.fails:
                raise EmbedderError("cannot be built with these parameters")
            return self.model

    def cheap(cat: FakeCatalog) -> object:
        return cheap_embedder(cat, "v", queries=100, budget=30.0, clock=lambda: clock[0])  # type: ignore[arg-type]

    kmer = FakeCatalog("kmer", seconds=1.0)
    assert cheap(kmer) is kmer.model and kmer.model.calls == 0  # a k-mer embedder is never timed
    assert cheap(FakeCatalog("kmer", fails=True)) is None
    small = FakeCatalog("esm", seconds=0.25)  # 100 copies: 25 s
    assert cheap(small) is small.model and small.model.calls == 2  # loaded, then timed
    assert cheap(FakeCatalog("esm", seconds=0.35)) is None  # 35 s
    assert cheap(FakeCatalog("esm", fails=True)) is None
    assert cheap(FakeCatalog("esm", broken=True)) is None


def test_an_index_that_prunes_coarsely_gets_fewer_larger_partitions() -> None:
    """Where queries must probe many partitions, one per COARSE_PARTITION_ROWS rows (Lance pays per probed
    partition); where they probe few, the usual √rows / 2; where the index cannot prune, one."""
    from genocat_desktop.engine.search.index_policy import COARSE_FROM, COARSE_PARTITION_ROWS, decision_params

    def params(fraction: float | None, rows: int) -> tuple[str, int]:
        p = decision_params(IndexDecision("ivf", "", rows, probe_fraction=fraction), rows, 512)
        return p.index_type, p.num_partitions

    assert params(0.41, 1_000_000) == ("IVF_RQ", 1_000_000 // COARSE_PARTITION_ROWS)  # real k-mer vectors: 62
    assert params(COARSE_FROM, 1_000_000) == ("IVF_RQ", 500)  # clustered: fine cells prune
    assert params(None, 1_000_000) == ("IVF_RQ", 500)  # nothing measured (an explicit build)
    assert params(0.3, 100_000_000) == ("IVF_RQ", 4096)  # never more than √rows / 2 allows
    assert params(0.3, 20_000) == ("IVF_RQ", 1)
    assert params(0.9, 1_000_000) == ("IVF_RQ", 1)  # cannot prune: one partition, no k-means
