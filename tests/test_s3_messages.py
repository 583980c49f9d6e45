"""S3 access messages that say what is really wrong, fast: a bad bucket name, a server that is not S3, silence.

No S3 server is needed: a plain ``http.server`` on 127.0.0.1 and sockets that accept
and then never answer (or answer a byte at a time), each on a free port, each bounded in time.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from genocat_desktop.engine import Catalog, EndpointUnreachableError, StorageAuthError, StorageError
from genocat_desktop.engine.catalog.access import check_access

pytestmark = pytest.mark.usefixtures("isolated_aws")

KEYS = {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "secret", "aws_region": "us-east-1",
        "allow_http": "true", "aws_virtual_hosted_style_request": "false", "connect_timeout": "1s"}


@contextlib.contextmanager
def _web_server() -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def _silent_server(trickle: bool = False) -> Iterator[str]:
    """Accepts connections and never answers (``trickle``: sends one header byte every 0.3 s)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        held = []
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = listener.accept()
                held.append(conn)
            if trickle:
                for conn in held:
                    with contextlib.suppress(OSError):
                        conn.send(b"H" if not getattr(conn, "started", False) else b"X")
                stop.wait(0.3)
        for conn in held:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize("bucket", ["My_Bucket", "ab", "bucket..name", "-bucket", "192.168.1.1"])
def test_an_invalid_bucket_name_is_named_before_any_request(bucket: str) -> None:
    with _silent_server() as endpoint:  # any request would hang: the answer must come without one
        started = time.monotonic()
        with pytest.raises(StorageError, match="not a valid S3 bucket name") as info:
            check_access(f"s3://{bucket}/catalog", dict(KEYS, aws_endpoint=endpoint))
        assert time.monotonic() - started < 0.5
    assert not isinstance(info.value, StorageAuthError) and "secret" not in str(info.value)


def test_a_plain_web_server_does_not_look_like_s3() -> None:
    with _web_server() as endpoint:
        started = time.monotonic()
        with pytest.raises(StorageError, match="does not look like an S3 server") as info:
            Catalog.open("s3://lab-bucket/catalog", storage_options=dict(KEYS, aws_endpoint=endpoint))
        assert time.monotonic() - started < 3
    assert "text/html" in str(info.value) and "does not exist" not in str(info.value)


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "one-byte-at-a-time"])
def test_a_silent_endpoint_is_given_up_on_within_the_time_said(trickle: bool) -> None:
    with _silent_server(trickle) as endpoint:
        started = time.monotonic()
        with pytest.raises(EndpointUnreachableError, match="did not answer within 1 s"):
            check_access("s3://lab-bucket/catalog", dict(KEYS, aws_endpoint=endpoint))
        took = time.monotonic() - started
    assert 0.9 < took < 2.0, took
