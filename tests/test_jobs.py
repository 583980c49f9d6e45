"""The job helpers of engine/jobs.py that are not covered through the importer and the GUI."""

from __future__ import annotations

import gc
import threading

from genocat_desktop.engine.jobs import gc_paused


def test_gc_paused_nests_and_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer job still runs
    assert gc.isenabled()


def test_gc_paused_keeps_a_collector_that_was_off_switched_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_gc_paused_across_threads_ends_with_the_last_job() -> None:
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
    assert not gc.isenabled()  # the other thread's job has not finished
    release.set()
    worker.join(30)
    assert gc.isenabled()


def test_gc_paused_restores_after_an_exception() -> None:
    try:
        with gc_paused():
            raise ValueError("job failed")
    except ValueError:
        pass
    assert gc.isenabled()
