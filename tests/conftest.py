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

import contextlib
import json
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from genocat_desktop.engine.core.process import configure_process

configure_process()  # what every front does at start-up (Lance's environment)

TESTS_DIR = Path(__file__).resolve().parent
DATA_DIR = TESTS_DIR / "data"
EDGE_DIR = DATA_DIR / "fasta-edge"
#: The shared data folder next to the project (present in the development
#: workspace, absent in a fresh clone). Tests needing files that are not
#: redistributable (GPL-derived) read them from here and skip when it is absent.
SHARED_DATA_DIR = TESTS_DIR.parent.parent / "shared" / "data"

#: The S3-compatible test server (PyPI ``moto[server]``), next to the interpreter.
MOTO = Path(sys.executable).with_name("moto_server")

#: How long a thread started by a test gets to finish after the test returns.
THREAD_JOIN_TIMEOUT_S = 5.0


@pytest.fixture(autouse=True)
def _own_search_history(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test has its own search history: a window never starts with another test's last query."""
    monkeypatch.setenv("GENOCAT_HISTORY", str(tmp_path_factory.mktemp("history") / "search_history.json"))


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


# ------------------------------------------------------------------------------------------ S3
# A real S3 server for the S3 tests (tests/test_s3.py, tests/test_gui_storage.py): moto_server on
# 127.0.0.1 with a free port, a bucket per test, AWS_* cleared so nothing can reach real AWS.
def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError):
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    return False


def _wait_port(port: int, timeout: float = 20.0) -> None:
    if not wait_until(lambda: _accepts(port), timeout):
        raise RuntimeError(f"moto_server did not start on port {port}")


class S3Server:
    """A moto_server subprocess with one IAM user whose keys it enforces."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        # The first 4 requests (creating the IAM user, key and policy) are unauthenticated;
        # after that moto checks every signature against its IAM users, like a real store.
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "4"
        self.log = (tmp / "moto.log").open("wb")
        self.proc = subprocess.Popen(
            [str(MOTO), "-H", "127.0.0.1", "-p", str(self.port)], env=env, stdout=self.log, stderr=self.log
        )
        _wait_port(self.port)
        import boto3

        from genocat_desktop.engine import Credentials

        kw: dict[str, Any] = {"endpoint_url": self.endpoint, "region_name": "us-east-1",
                              "aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
        iam = boto3.client("iam", **kw)
        iam.create_user(UserName="lab")
        key = iam.create_access_key(UserName="lab")["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="lab", PolicyName="all", PolicyDocument=json.dumps(policy))
        self.credentials = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        kw.update(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        self.s3 = boto3.client("s3", **kw)

    def bucket(self) -> str:
        name = f"lab-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (moto_server) for the module, enforcing the credentials of one IAM user."""
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("AWS_"):
                mp.delenv(key)
        # Nothing may fall back to a real profile or real AWS.
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        server = S3Server(tmp_path_factory.mktemp("moto"))
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def isolated_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``AWS_*``/``GENOCAT_S3_*`` variable, profile file or instance metadata: nothing reaches real AWS."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "GENOCAT_S3_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def memory_keyring() -> Iterator[dict[tuple[str, str], str]]:
    """An in-memory keyring backend (the test machine has no secret service)."""
    import keyring
    from keyring.backend import KeyringBackend

    store: dict[tuple[str, str], str] = {}

    class Memory(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            return store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(Memory())
    try:
        yield store
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One local Ray for the whole session: 2 CPUs, a small object store, its own temp folder.

    Shared by the engine's Ray tests and the desktop app's Ray ingest test (one ``ray.init``
    per session: it costs seconds and ~700 MB).
    """
    import tempfile
    import warnings

    import ray

    from genocat_desktop.engine.ingest.distributed import runners as distributed

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "lance is not fork-safe")  # Ray's helper processes exec at once
        ray.init(num_cpus=2, object_store_memory=96 << 20, include_dashboard=False, _temp_dir=temp,
                 logging_level="error", log_to_driver=False, runtime_env=dict(distributed.RAY_RUNTIME_ENV))
    yield
    ray.shutdown()
    import shutil

    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def window_opener(qtbot: Any) -> Iterator[Callable[..., Any]]:
    """Open main windows on catalog folders; each is closed at the end with its engine thread stopped.

    ``make(location, ready)`` shows a window and waits for the signal ``ready(window)`` returns (the
    page a test file works with has shown its state); the window's quit confirmation is answered yes.
    """
    from genocat_desktop.ui.main_window import MainWindow

    windows: list[Any] = []

    def make(location: Path, ready: Callable[[Any], Any], timeout_ms: int = 180_000) -> Any:
        w = MainWindow(str(location))
        qtbot.addWidget(w)
        windows.append(w)
        with qtbot.waitSignal(ready(w), timeout=timeout_ms):
            w.show()
        return w

    yield make
    for w in windows:
        w.confirm = lambda title, text: True
        w.close()
        assert not w.engine.running, "the engine thread is still running after the window closed"
