"""One call's work in parts on the usable CPUs (engine.core.parallel) gives what one thread gives."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from genocat_desktop.engine.core import parallel

AMINO = "ARNDCQEGHILKMFPSTWYV"


def _proteins(rng: np.random.Generator, n: int, low: int = 40, high: int = 400) -> list[str]:
    return ["".join(rng.choice(list(AMINO), int(length))) for length in rng.integers(low, high, n)]


def test_part_count_keeps_small_work_on_one_thread_and_respects_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parallel.part_count(10, 8, cpus=4) == 1  # fewer than two parts' worth
    assert parallel.part_count(16, 8, cpus=4) == 2
    assert parallel.part_count(10_000, 8, cpus=64) == parallel.MAX_PARTS
    assert parallel.part_count(10_000, 8, cpus=1) == 1
    monkeypatch.setenv(parallel.THREADS_ENV, "1")
    assert parallel.usable_cpus() == 1
    monkeypatch.setenv(parallel.THREADS_ENV, "not a number")
    assert parallel.usable_cpus() >= 1


def test_run_parts_runs_every_part_on_threads_of_its_own_and_raises_a_parts_error() -> None:
    seen: dict[int, str] = {}

    def work(i: int) -> None:
        seen[i] = threading.current_thread().name

    parallel.run_parts(work, 3, "genocat-test")
    assert sorted(seen) == [0, 1, 2]
    assert seen[0] == threading.current_thread().name and len(set(seen.values())) == 3

    finished: list[int] = []

    def failing(i: int) -> None:
        if i == 1:
            raise MemoryError("part 1")
        finished.append(i)

    with pytest.raises(MemoryError, match="part 1"):
        parallel.run_parts(failing, 3)
    assert sorted(finished) == [0, 2]  # the other parts ran to their end before the error was raised


@pytest.fixture
def four_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine with four CPUs, whatever this one has (the parts then really run)."""
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 4)


def test_scores_aligned_in_parts_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from genocat_desktop.engine.search import alignment
    from genocat_desktop.engine.search.scoring import PROTEIN

    rng = np.random.default_rng(7)
    query = _proteins(rng, 1, 300, 301)[0]
    targets = _proteins(rng, 700)
    targets[5] = query[20:250]  # a few that overflow 8 bits
    targets[650] = query
    database = alignment.encoded(targets, PROTEIN)
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 1)
    one = {h.target_index: h.score for h in alignment._opal_hits(query, "protein", targets, ["protein"] * 700,
                                                                  mode="score", database=database)}
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 4)
    names: set[str] = set()
    align = alignment._BATCH_ALIGNERS[PROTEIN.matrix].align

    class Recording:
        def align(self, *args: object, **kwargs: object) -> object:
            names.add(threading.current_thread().name)
            return align(*args, **kwargs)

    split = {h.target_index: h.score for h in alignment._in_parts(Recording(), query.encode(), database,
                                                                   alignment.SCORED_PART_TARGETS, mode="score",
                                                                   overflow="simple")}
    assert split == one and len(one) == 700 and one[650] > one[5] > 0
    assert len(names) == 4


@pytest.mark.usefixtures("four_cpus")
def test_tracebacks_and_realignments_in_parts_equal_one_at_a_time() -> None:
    from genocat_desktop.engine.search import alignment, striped
    from genocat_desktop.engine.search.scoring import PROTEIN

    rng = np.random.default_rng(8)
    query = _proteins(rng, 1, 450, 451)[0]
    targets = [query[i:i + 200] + t for i, t in zip(range(0, 250, 10), _proteins(rng, 25), strict=True)]
    serial = [striped.protein_traced(query, t, PROTEIN, target_index=n) for n, t in enumerate(targets)]
    split = alignment._each_in_parts(lambda n: striped.protein_traced(query, targets[n], PROTEIN, target_index=n),
                                     len(targets), len(query) * 600)
    assert split == serial
    letters = AMINO + "X"
    base = np.full((21, 21), -4, dtype=np.int32)
    base[:20, :20] = rng.integers(-4, 12, (20, 20))
    matrices = np.stack([base + (i % 3) for i in range(len(targets))])
    together = striped.pair_scores(query, targets, matrices, letters, 11, 1)
    alone = np.concatenate([striped.pair_scores(query, [t], matrices[i:i + 1], letters, 11, 1)
                            for i, t in enumerate(targets)])
    assert np.array_equal(together, alone) and (together > 0).all()


def test_pyopal_tracebacks_in_parts_keep_each_targets_index(monkeypatch: pytest.MonkeyPatch) -> None:
    from genocat_desktop.engine.search import alignment

    rng = np.random.default_rng(9)
    query = _proteins(rng, 1, 200, 201)[0]
    targets = _proteins(rng, 40, 50, 300)
    targets[33] = query[10:150]

    def traced() -> list[tuple[int, int, str]]:
        return sorted((h.target_index, h.score, h.alignment)
                      for h in alignment._opal_hits(query, "protein", targets, ["protein"] * len(targets)))

    monkeypatch.setattr(parallel, "usable_cpus", lambda: 1)
    one = traced()
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 4)
    assert traced() == one and len(one) == 40
    assert max(one, key=lambda hit: hit[1])[0] == 33
