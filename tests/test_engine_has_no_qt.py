"""The engine must run without Qt: importing any engine module loads no Qt module.

Runs in a fresh interpreter, because this test process may already have loaded
PySide6 for the GUI tests. (``lint-imports`` checks the same statically; this
test also catches imports hidden in function bodies that run at import time,
and third-party libraries that pull Qt in.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

FORBIDDEN_PREFIXES = ("PySide6", "shiboken6", "pyqtgraph")

SCRIPT = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import genocat_desktop.engine as engine

    imported = [engine.__name__]
    for module in pkgutil.walk_packages(engine.__path__, prefix=engine.__name__ + "."):
        importlib.import_module(module.name)
        imported.append(module.name)
    qt = sorted(name for name in sys.modules if name.split(".")[0] in {forbidden!r})
    print(json.dumps({{"imported": imported, "qt": qt}}))
    """
).format(forbidden=set(FORBIDDEN_PREFIXES))


def test_importing_every_engine_module_loads_no_qt() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=Path(__file__).resolve().parents[1],  # the source tree, installed or not
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "genocat_desktop.engine.ingest.fasta" in result["imported"]
    assert "genocat_desktop.engine.ingest.headers" in result["imported"]
    assert result["qt"] == [], f"engine imports pulled in Qt modules: {result['qt']}"
