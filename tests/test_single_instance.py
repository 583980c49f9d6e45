"""One app per user: a second ``python -m genocat_desktop FILE`` hands FILE to the open window and exits 0."""

from __future__ import annotations

import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from genocat_desktop.engine import Catalog
from genocat_desktop.ui import single_instance
from genocat_desktop.ui.single_instance import Handoff

DEADLINE_S = 120.0


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENOCAT_")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    # Isolated settings, data and temp folders: the server name and its socket file are this test's own.
    env.update(QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path / "tmp"))
    return env


def _fasta(path: Path, n: int, start: int = 0) -> Path:
    path.write_text("".join(f">s{i} protein {i}\nMKV{'ACDEFGHIKLMNPQRSTVWY'[i % 20] * 3}LLAAG{'PQRST' * (i % 7 + 2)}\n"
                            for i in range(start, start + n)))
    return path


def _sockets(folder: Path) -> list[Path]:
    return [p for p in folder.glob("genocat-*") if stat.S_ISSOCK(p.lstat().st_mode)]


def _count(location: Path) -> int:
    return Catalog.open(location).count()


class Events:
    """The first window's event lines (``$GENOCAT_EVENTS_FD``: ``listening``, ``imported``), read as they come."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self._buffer = b""

    def wait(self, event: str, proc: subprocess.Popen[str]) -> None:
        """Block until the window writes ``event`` (select on the pipe; a bounded wait, not a clock poll)."""
        while True:
            line, sep, rest = self._buffer.partition(b"\n")
            if sep:
                self._buffer = rest
                if line.decode() == event:
                    return
                continue
            ready, _, _ = select.select([self.read_fd], [], [], DEADLINE_S)
            if not ready:
                pytest.fail(f"no '{event}' from the first window within {DEADLINE_S:.0f} s")
            chunk = os.read(self.read_fd, 4096)
            if not chunk:  # the window's end closed: it exited
                stderr = proc.communicate()[1][-2000:]
                pytest.fail(f"the first window exited ({proc.returncode}) before '{event}': {stderr}")
            self._buffer += chunk


@pytest.fixture
def first_window(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, dict[str, str], Events]]:
    env = _env(tmp_path)
    catalog = tmp_path / "catalog"
    first = _fasta(tmp_path / "first.fa", 5)
    events = Events()
    # Only the first window reports events: the later launches get the plain environment.
    proc = subprocess.Popen([sys.executable, "-m", "genocat_desktop", "--catalog", str(catalog), str(first)],
                            env={**env, "GENOCAT_EVENTS_FD": str(events.write_fd)}, pass_fds=(events.write_fd,),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(events.write_fd)
    try:
        events.wait("listening", proc)
        assert _sockets(tmp_path / "tmp")
        events.wait("imported", proc)
        assert _count(catalog) == 5
        yield proc, catalog, env, events
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        os.close(events.read_fd)


def test_second_launch_hands_its_file_to_the_open_window(first_window, tmp_path: Path) -> None:
    proc, catalog, env, events = first_window
    second_file = _fasta(tmp_path / "second.fa", 7, start=100)
    started = time.monotonic()
    # What a file manager runs on a double-click: no --catalog.
    second = subprocess.run([sys.executable, "-m", "genocat_desktop", str(second_file)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=DEADLINE_S)
    assert second.returncode == 0, second.stderr
    assert "already open" in second.stderr
    assert time.monotonic() - started < 30
    # The first window imported it into its own catalog; nothing was created elsewhere.
    events.wait("imported", proc)
    assert _count(catalog) == 12
    assert proc.poll() is None
    assert not (tmp_path / "data" / "GenoCat").exists() or not any((tmp_path / "data" / "GenoCat").rglob("*.lance"))


def test_launch_naming_another_catalog_imports_nothing(first_window, tmp_path: Path) -> None:
    proc, catalog, env, events = first_window
    other = tmp_path / "other"

    def launch(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "genocat_desktop", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=DEADLINE_S)
        assert done.returncode == 0, done.stderr

    launch("--catalog", str(other), str(_fasta(tmp_path / "third.fa", 3, start=200)))
    # The window handles launches in order: once a later plain launch's 2 records are in, the
    # earlier one has been handled, and its 3 records went nowhere.
    launch(str(_fasta(tmp_path / "fourth.fa", 2, start=300)))
    events.wait("imported", proc)
    assert _count(catalog) == 7
    assert not other.exists()


def test_stale_socket_does_not_block_the_start(qapp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crashed instance's socket file: the connect fails, it is removed, and this process listens."""
    from PySide6.QtCore import QDir

    name = f"genocat-test-{os.getpid()}"
    path = Path(QDir.tempPath()) / name
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nothing listens: what a killed app leaves
    assert path.exists()
    monkeypatch.setattr(single_instance, "server_name", lambda: name)
    handed, server = single_instance.start(None, [])
    try:
        assert not handed and server is not None and server.server.isListening()
    finally:
        if server is not None:
            server.close()


def test_handoff_round_trip() -> None:
    request = Handoff(["/a/b.fa", "/c d/é.fasta"], "s3://bucket/prefix")
    assert Handoff.decode(request.encode().rstrip(b"\n")) == request
    assert Handoff.decode(b"not json") is None
    assert Handoff.decode(b'{"catalog": 1}') is None
