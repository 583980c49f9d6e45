"""The job helpers of engine/jobs.py that are not covered through the importer and the GUI."""

from __future__ import annotations

import gc
import threading

from genocat_desktop.engine.core.progress import gc_paused


def _full_collections_held() -> bool:
    return gc.get_threshold()[2] >= 1 << 30


def test_gc_paused_nests_and_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    with gc_paused():
        assert _full_collections_held() and gc.isenabled()  # young generations are still collected
        assert gc.get_threshold()[:2] == before[:2]
        with gc_paused():
            assert _full_collections_held()
        assert _full_collections_held()  # the outer job still runs
    assert gc.get_threshold() == before


def test_gc_paused_across_threads_ends_with_the_last_job() -> None:
    before = gc.get_threshold()
    inside, release = threading.Event(), threading.Event()

    def job() -> None:
        with gc_paused():
            inside.set()
            release.wait(30)

    worker = threading.Thread(target=job)
    worker.start()
    assert inside.wait(30)
    with gc_paused():
        pass
    assert _full_collections_held()  # the other thread's job has not finished
    release.set()
    worker.join(30)
    assert gc.get_threshold() == before


def test_gc_paused_restores_after_an_exception() -> None:
    before = gc.get_threshold()
    try:
        with gc_paused():
            raise ValueError("job failed")
    except ValueError:
        pass
    assert gc.get_threshold() == before
