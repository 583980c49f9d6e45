"""Catalogs on S3-compatible storage, against a real S3 server (moto_server) started by the tests.

The server listens on 127.0.0.1 on a free port; every ``AWS_*`` variable is
cleared so nothing can reach real AWS; each test gets its own bucket. The
server enforces credentials (moto's IAM mode), so wrong keys are really refused.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import MOTO, S3Server, free_port

from genocat_desktop.engine import (
    BucketNotFoundError,
    Catalog,
    CatalogNotFoundError,
    EndpointUnreachableError,
    InsecureEndpointError,
    S3Settings,
    Searcher,
    StorageAuthError,
    StorageError,
    build_indexes,
    import_files,
    index_status,
    load_credentials,
    save_credentials,
    storage_options,
)
from genocat_desktop.engine.catalog.access import prepare_options
from genocat_desktop.engine.catalog.storage import StorageOptions

DATA = Path(__file__).parent / "data"
pytestmark = [
    pytest.mark.skipif(not MOTO.exists(), reason="moto[server] is not installed"),
    pytest.mark.usefixtures("isolated_aws"),
]


def _options(server: S3Server, location: str, **settings: Any) -> StorageOptions:
    st = S3Settings(endpoint=server.endpoint, allow_http=True, retry_timeout=3, **settings)
    return storage_options(location, st, server.credentials)


def test_create_import_search_and_index_on_s3(s3_server: S3Server) -> None:
    location = f"s3://{s3_server.bucket()}/lab/catalog"
    opts = _options(s3_server, location)
    with pytest.raises(CatalogNotFoundError):
        Catalog.open(location, create=False, storage_options=opts)
    cat = Catalog.open(location, storage_options=opts)
    report = import_files(cat, [DATA / "families_small.faa"])
    assert not report.failed and report.imported > 0
    other = Catalog.open(location, create=False, storage_options=opts)  # e.g. a colleague's workstation
    assert other.count() == cat.count() == report.imported
    row = other.dataset().to_table(columns=["id", "sequence"], limit=1).to_pylist()[0]
    hit = Searcher(other).search(row["sequence"], k=3).hits
    assert row["id"] in hit.column("id").to_pylist()
    status = build_indexes(other, scalar=False, text=False)
    assert status.vector() is not None and status.vector().rows_indexed == other.count()  # type: ignore[union-attr]
    # Not calibrated on object storage by default (each re-ranking read is a request): every partition.
    assert "ann_calibration" not in other.meta
    ann = Searcher(other, use_index=True).search(row["sequence"], k=3)
    assert ann.extra["strategy"] == "index" and row["id"] in ann.hits.column("id").to_pylist()
    assert index_status(cat).vector() is not None
    # The secret never shows in the options' text form (they may be logged).
    assert s3_server.credentials.secret_access_key not in repr(opts) + str(opts)


def _timed_error(location: str, opts: dict[str, str]) -> tuple[type[BaseException], float, str]:
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        Catalog.open(location, storage_options=opts)
    return type(info.value), time.monotonic() - started, str(info.value)


def test_distinct_fast_errors(s3_server: S3Server) -> None:
    bucket = s3_server.bucket()
    location = f"s3://{bucket}/cat"
    opts = _options(s3_server, location)

    kind, seconds, message = _timed_error(f"s3://no-such-bucket-{uuid.uuid4().hex[:6]}/cat", opts)
    assert kind is BucketNotFoundError and seconds < 3 and "does not exist" in message

    wrong_secret = dict(opts, aws_secret_access_key="not-the-secret")
    kind, seconds, message = _timed_error(location, wrong_secret)
    assert kind is StorageAuthError and seconds < 3 and "secret" in message

    unknown_key = dict(opts, aws_access_key_id="AKIAUNKNOWNUNKNOWN00")
    kind, seconds, message = _timed_error(location, unknown_key)
    assert kind is StorageAuthError and seconds < 3 and "not known" in message

    dead = dict(opts, aws_endpoint=f"http://127.0.0.1:{free_port()}")
    kind, seconds, message = _timed_error(location, dead)
    assert kind is EndpointUnreachableError and seconds < 5

    no_http = {k: v for k, v in opts.items() if k != "allow_http"}
    kind, seconds, message = _timed_error(location, no_http)
    assert kind is InsecureEndpointError and seconds < 1 and "allow" in message.lower()

    https_to_http = dict(opts, aws_endpoint=s3_server.endpoint.replace("http://", "https://"))
    kind, seconds, message = _timed_error(location, https_to_http)
    assert kind is EndpointUnreachableError and seconds < 5

    with pytest.raises(StorageError, match="unknown storage option"):
        prepare_options(location, dict(opts, aws_endpiont="typo"))


def test_credentials_from_keyring_and_environment(
    s3_server: S3Server, memory_keyring: dict[tuple[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_server.bucket()
    location = f"s3://{bucket}/cat"
    settings = S3Settings(endpoint=s3_server.endpoint, allow_http=True)
    # Nothing found: a clear "no credentials" error.
    with pytest.raises(StorageAuthError, match="no credentials"):
        Catalog.open(location, storage_options=storage_options(location, settings))
    save_credentials(s3_server.endpoint, bucket, s3_server.credentials)
    assert s3_server.credentials.secret_access_key in next(iter(memory_keyring.values()))
    loaded = load_credentials(s3_server.endpoint, bucket)
    assert loaded is not None and loaded.source == "keyring"
    cat = Catalog.open(location, storage_options=storage_options(location, settings))
    assert cat.count() == 0
    # The AWS default chain alone (the GUI's choice) does not look in the keyring.
    assert "aws_access_key_id" not in storage_options(location, settings, use_keyring=False)
    assert s3_server.credentials.secret_access_key not in repr(loaded)
    # The environment (standard AWS chain), with the endpoint from the environment too.
    memory_keyring.clear()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.credentials.secret_access_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("GENOCAT_S3_ALLOW_HTTP", "1")
    assert Catalog.open(location, create=False).count() == 0  # options completed from the environment


def _write_fasta(path: Path, prefix: str, n: int, seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", np.uint8)
    with path.open("w") as fh:
        for i in range(n):
            seq = letters[rng.integers(0, 20, int(rng.integers(60, 200)))].tobytes().decode()
            fh.write(f">{prefix}{i}\n{seq}\n")


def _import_child(location: str, opts: dict[str, str], path: str) -> int:
    cat = Catalog.open(location, storage_options=opts)
    report = import_files(cat, [path])
    if report.failed:
        raise RuntimeError(report.failed[0].error)
    return report.imported


def test_two_processes_importing_at_once_lose_no_rows(s3_server: S3Server, tmp_path: Path) -> None:
    location = f"s3://{s3_server.bucket()}/shared"
    opts = dict(_options(s3_server, location))
    Catalog.open(location, storage_options=opts)  # created once, then two writers append
    files = []
    for n, name in enumerate(["a", "b", "c", "d"]):
        path = tmp_path / f"{name}.fa"
        _write_fasta(path, name, 1500, seed=n)
        files.append(str(path))
    # spawn, not fork: forking after lance is imported can hang (see the platform findings).
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        imported = pool.starmap(_import_child, [(location, opts, f) for f in files])
    assert imported == [1500] * 4
    cat = Catalog.open(location, create=False, storage_options=opts)
    assert cat.count() == 6000
    ids = cat.dataset().to_table(columns=["id"]).column("id").to_pylist()
    assert len(set(ids)) == 6000


class _Proxy:
    """A TCP proxy in front of the server, to make "the server" vanish and come back (moto keeps
    its data in memory, so the real process must survive)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self._sock: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._sock = sock
        t = threading.Thread(target=self._accept, args=(sock,), daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()
        self._conns.clear()


def test_import_interrupted_by_the_server_going_away_changes_nothing(s3_server: S3Server, tmp_path: Path) -> None:
    proxy = _Proxy(s3_server.port)
    proxy.start()
    location = f"s3://{s3_server.bucket()}/cat"
    st = S3Settings(endpoint=f"http://127.0.0.1:{proxy.port}", allow_http=True, retries=1, retry_timeout=2,
                    connect_timeout=1)
    opts = storage_options(location, st, s3_server.credentials)
    cat = Catalog.open(location, storage_options=opts)
    first = tmp_path / "first.fa"
    _write_fasta(first, "first", 300, seed=1)
    assert not import_files(cat, [first]).failed
    version, rows = cat.version, cat.count()
    big = tmp_path / "big.fa"
    _write_fasta(big, "big", 40_000, seed=2)

    def pull_the_plug(p: Any) -> None:
        if p.phase == "importing" and proxy._sock is not None:
            proxy.stop()

    started = time.monotonic()
    report = import_files(cat, [big], progress=pull_the_plug)
    seconds = time.monotonic() - started
    assert report.failed, "the import should have failed"
    message = report.failed[0].error or ""
    assert "left as it was" in message and "127.0.0.1" in message
    assert seconds < 30
    proxy.start()  # the server is back
    again = Catalog.open(location, create=False, storage_options=opts)
    assert (again.version, again.count()) == (version, rows)
    proxy.stop()


def test_cli_on_s3(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    from genocat_desktop.cli.main import main

    bucket = s3_server.bucket()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.credentials.secret_access_key)
    base = ["--catalog", f"s3://{bucket}/cli", "--endpoint", s3_server.endpoint, "--allow-http", "--region",
            "us-east-1"]
    assert main([*base, "import", str(DATA / "mmseqs2_QUERY.fasta")]) == 0
    assert main([*base, "index", "build"]) == 0
    capsys.readouterr()
    assert main([*base, "index", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert any(i["kind"] == "vector" for i in status["indexes"])
    assert main([*base, "search", "--text", "kinase", "--format", "tsv"]) == 0
    assert main(["--catalog", f"s3://{bucket}-missing/cli", "--endpoint", s3_server.endpoint, "--allow-http",
                 "info"]) == 1
    assert "does not exist" in capsys.readouterr().err
    shutil.rmtree(tmp_path, ignore_errors=True)
