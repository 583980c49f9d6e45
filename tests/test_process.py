"""Process-wide settings: importing the engine changes nothing; ``configure_process()`` sets them.

Each check runs in a fresh interpreter: this test process has already run
``configure_process()`` (tests/conftest.py) and imported the engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genocat_desktop.engine.core.process import LANCE_QUIET, lance_threads

KEYS = ("LANCE_CPU_THREADS", *LANCE_QUIET)

SCRIPT = textwrap.dedent(
    """
    import importlib, json, os, pkgutil, sys
    before = dict(os.environ)
    import genocat_desktop.engine as engine

    for module in pkgutil.walk_packages(engine.__path__, prefix=engine.__name__ + "."):
        importlib.import_module(module.name)
    engine.Catalog, engine.Searcher, engine.import_files  # the lazy public names too
    after_import = dict(os.environ)
    engine.configure_process()
    configured = dict(os.environ)
    engine.configure_process()  # idempotent
    print(json.dumps({
        "import_changed": sorted(k for k in {*before, *after_import} if before.get(k) != after_import.get(k)),
        "configured": {k: configured.get(k) for k in KEYS},
        "again_changed": dict(os.environ) != configured,
        "cpus": os.cpu_count(),
    }))
    """
).replace("KEYS", repr(KEYS))


def _run(env: dict[str, str]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_importing_the_engine_changes_no_environment_variable_and_configure_process_sets_them() -> None:
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    result = _run(env)
    assert result["import_changed"] == []
    configured = result["configured"]
    assert isinstance(configured, dict)
    assert {k: configured[k] for k in LANCE_QUIET} == LANCE_QUIET
    cpus = result["cpus"]
    assert isinstance(cpus, int)
    assert configured["LANCE_CPU_THREADS"] == lance_threads(cpus)
    assert result["again_changed"] is False


@pytest.mark.parametrize("key", ["LANCE_CPU_THREADS", "LANCE_LOG"])
def test_configure_process_keeps_a_value_the_user_set(key: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env[key] = "7"
    result = _run(env)
    configured = result["configured"]
    assert isinstance(configured, dict)
    assert configured[key] == "7"


def test_lance_threads_only_on_two_or_three_cpus() -> None:
    assert [lance_threads(n) for n in (None, 1, 2, 3, 4, 16)] == [None, None, "2", "2", None, None]
