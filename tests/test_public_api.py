"""The engine's public API (``genocat_desktop.engine``) keeps every name, whatever was imported before."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import genocat_desktop.engine.ingest.importer  # a module under the ingest sub-package, first
    import genocat_desktop.engine.ingest.distributed.driver
    import genocat_desktop.engine as engine
    from genocat_desktop.engine import ingest

    assert callable(ingest) and ingest is engine.ingest, engine.ingest
    missing = [name for name in engine.__all__ if not hasattr(engine, name)]
    assert not missing, missing
    print("ok", len(engine.__all__))
    """
)


def test_every_public_name_resolves_and_ingest_stays_the_function() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok ")
