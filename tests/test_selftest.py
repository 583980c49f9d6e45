"""``genocat --selftest`` and ``genocat-desktop --print-startup-time``, run from source.

The same checks run on the frozen bundle in tests/test_packaging.py. Each
test starts a fresh interpreter, as a user's ``genocat --selftest`` does:
the self-test creates its own QApplication on the offscreen platform.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genocat_desktop import selftest

pytestmark = pytest.mark.slow

TIMEOUT_S = 600
GUI_MAIN = "import sys; from genocat_desktop.cli.main import main_gui; sys.exit(main_gui())"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENOCAT_")}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path / "home"))
    env.update(extra)
    return env


def _run(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=_env(tmp_path, **extra), capture_output=True, text=True, timeout=TIMEOUT_S,
                          cwd=tmp_path)


def _fasta(path: Path, n: int) -> Path:
    head = "MKVLAAGIVALLLAAGCSSHKETW"
    records = [f">seq{i} test protein {i}\n{head[i % 5:]}{'PQRSTVWY' * (i + 2)}\n" for i in range(n)]
    path.write_text("".join(records))
    return path


def test_selftest_passes_from_source(tmp_path: Path) -> None:
    proc = _run([sys.executable, "-m", "genocat_desktop", "--selftest"], tmp_path)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "from source" in lines[0]
    for name in selftest.STEPS:
        assert any(line.startswith(f"ok   {name} ") for line in lines), f"no 'ok' line for step {name!r}"
    assert lines[-1].startswith(f"self-test passed: {len(selftest.STEPS)} steps in ")
    assert "platform offscreen" in proc.stdout
    assert "379 sequences from families_small.faa" in proc.stdout
    # It kept to its temporary folder: no settings or catalog in the user's folders.
    assert not (tmp_path / "config").exists()
    assert not (tmp_path / "data").exists()


def test_selftest_stops_at_the_failing_step(tmp_path: Path) -> None:
    proc = _run([sys.executable, "-m", "genocat_desktop", "--selftest"], tmp_path, GENOCAT_SELFTEST_FAIL="search")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("ok   import ") for line in lines)
    assert any(line.startswith("FAIL search ") for line in lines)
    assert lines[-1] == "self-test FAILED at step 'search': failed on purpose (GENOCAT_SELFTEST_FAIL=search)"
    assert not any(line.startswith("ok   onnx") for line in lines)


def test_selftest_fails_without_fonts(tmp_path: Path) -> None:
    """A system without font files (a bare Debian root): Qt would draw boxes, the self-test must say so."""
    (tmp_path / "no-fonts").mkdir()
    conf = tmp_path / "fonts.conf"
    conf.write_text(f'<?xml version="1.0"?><fontconfig><dir>{tmp_path}/no-fonts</dir>'
                    f"<cachedir>{tmp_path}/fc-cache</cachedir></fontconfig>")
    proc = _run([sys.executable, "-m", "genocat_desktop", "--selftest"], tmp_path, FONTCONFIG_FILE=str(conf))
    assert proc.returncode == 1
    assert "self-test FAILED at step 'qt': no usable font" in proc.stdout


def test_selftest_from_the_desktop_entry_point(tmp_path: Path) -> None:
    """``genocat-desktop --selftest`` (the launcher's executable) runs the same self-test."""
    proc = _run([sys.executable, "-c", GUI_MAIN, "--selftest"], tmp_path, GENOCAT_SELFTEST_FAIL="qt")
    assert proc.returncode == 1
    assert "self-test FAILED at step 'qt'" in proc.stdout


def test_selftest_in_process_reports_a_bad_sample(qapp: object, tmp_path: Path) -> None:
    """A file that is not FASTA fails the import step with the importer's message; the window is closed."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMainWindow

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    bad = tmp_path / "reads.fasta"
    bad.write_text("@read1\nACGT\n+\nIIII\n")
    out = tmp_path / "out.txt"
    with out.open("w") as f:
        code = selftest.run(f, sample=bad, timeout=60)
    text = out.read_text()
    assert code == 1, text
    assert "FAIL import" in text
    assert "reads.fasta was not imported" in text
    QApplication.processEvents()
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, QMainWindow) and w.isVisible()]


def test_file_argument_is_imported(tmp_path: Path) -> None:
    """What a file manager does on double-click: ``genocat-desktop FILE`` opens the window and imports FILE."""
    fasta = _fasta(tmp_path / "my proteins.faa", 4)
    catalog = tmp_path / "catalog"
    proc = _run([sys.executable, "-c", GUI_MAIN, "--print-startup-time", "--catalog", str(catalog), str(fasta)],
                tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "startup: window shown after " in proc.stdout
    assert f"imported: {fasta}: 4 new sequence(s) from 4 record(s)" in proc.stdout
    info = _run([sys.executable, "-m", "genocat_desktop", "--catalog", str(catalog), "info", "--json"], tmp_path)
    assert json.loads(info.stdout)["rows"] == 4


def test_genocat_with_a_file_starts_the_window_and_imports(tmp_path: Path) -> None:
    """``genocat FILE`` (no command) goes the same way as ``genocat-desktop FILE``."""
    fasta = _fasta(tmp_path / "x.fa", 2)
    proc = _run([sys.executable, "-m", "genocat_desktop", "--print-startup-time", "--catalog",
                 str(tmp_path / "catalog"), str(fasta)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 new sequence(s)" in proc.stdout


def test_a_file_that_is_not_fasta_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "notes.fasta"
    bad.write_bytes(b"\x00\x01binary\xff")
    proc = _run([sys.executable, "-c", GUI_MAIN, "--print-startup-time", "--catalog", str(tmp_path / "c"),
                 str(bad)], tmp_path)
    assert proc.returncode == 1
    assert f"imported: {bad}: FAILED: " in proc.stdout


def test_startup_time_without_files(tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = _run([sys.executable, "-c", GUI_MAIN, "--print-startup-time", "--catalog", str(tmp_path / "c")],
                tmp_path)
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("startup:")]
    seconds = float(line.split("after ")[1].split(" s")[0])
    assert 0 < seconds < wall


def test_seconds_since_process_start() -> None:
    elapsed = selftest.seconds_since_process_start()
    assert elapsed is not None and 0 < elapsed < 24 * 3600


def test_tiny_model_matches_its_documented_weights() -> None:
    """The shipped ONNX file is the model whose weights the self-test compares against."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(selftest.tiny_model_path()), providers=["CPUExecutionProvider"])
    x = np.eye(4, dtype=np.float32)
    (y,) = session.run(None, {"x": x})
    w, b = np.array(selftest.TINY_W, np.float32), np.array(selftest.TINY_B, np.float32)
    assert np.allclose(y, np.maximum(w + b, 0))
