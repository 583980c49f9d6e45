"""Shared fixtures and guards for the whole test suite.

* Qt runs headless: ``QT_QPA_PLATFORM=offscreen`` is set here, before any test
  module can import PySide6 (an explicit value in the environment wins).
* Every test must stop the threads it starts: a test that leaves a new
  non-daemon thread running fails (a leaked worker would keep the application
  from exiting).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
DATA_DIR = TESTS_DIR / "data"
EDGE_DIR = DATA_DIR / "fasta-edge"
#: The shared data folder next to the project (present in the development
#: workspace, absent in a fresh clone). Tests needing files that are not
#: redistributable (GPL-derived) read them from here and skip when it is absent.
SHARED_DATA_DIR = TESTS_DIR.parent.parent / "shared" / "data"

#: How long a thread started by a test gets to finish after the test returns.
THREAD_JOIN_TIMEOUT_S = 5.0


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a non-daemon thread running."""
    before = set(threading.enumerate())
    yield
    leaked = []
    for thread in threading.enumerate():
        if thread in before or thread.daemon or thread is threading.current_thread():
            continue
        thread.join(timeout=THREAD_JOIN_TIMEOUT_S)
        if thread.is_alive():
            leaked.append(thread)
    if leaked:
        names = ", ".join(repr(t.name) for t in leaked)
        pytest.fail(f"the test left {len(leaked)} non-daemon thread(s) running: {names}", pytrace=False)


@pytest.fixture
def data_dir() -> Path:
    """The project's own test data (tests/data)."""
    return DATA_DIR


@pytest.fixture
def edge_dir() -> Path:
    """The corpus of odd and malformed FASTA files (tests/data/fasta-edge)."""
    return EDGE_DIR


@pytest.fixture
def shared_file() -> Callable[[str], Path]:
    """Return a function that finds a file in ../shared/data, skipping the test if it is absent.

    For data that may not be redistributed with the project (GPL-derived files).
    """

    def find(relative: str) -> Path:
        path = SHARED_DATA_DIR / relative
        if not path.is_file():
            pytest.skip(f"{relative} is not shipped with the project and ../shared/data is absent")
        return path

    return find


@pytest.fixture
def tmp_catalog_path(tmp_path: Path) -> Path:
    """A not-yet-existing catalog location inside the test's temporary folder."""
    return tmp_path / "catalog"


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; return whether it held.

    For waiting on things outside Qt (a server accepting connections, a file
    written by another process), like ``qtbot.waitUntil``: it returns as soon
    as the condition holds, and the interval only paces the checks.
    """
    import time as _time

    deadline = _time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if condition():
            return True
        if _time.monotonic() >= deadline:
            return False
        pause.wait(interval)
