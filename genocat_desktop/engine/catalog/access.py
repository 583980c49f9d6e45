"""The S3 access check: one signed request that says exactly what is wrong, before Lance is involved.

Lance reports a missing bucket, a dead endpoint and a plain-HTTP endpoint without ``allow_http`` as
one generic ``Generic S3 error`` after 2.5–5 s of retries. :func:`check_access` makes one signed
``ListObjectsV2`` request itself (AWS Signature V4, standard library only) with a short timeout and
maps the answer to a distinct exception: :class:`InsecureEndpointError` (decided without any
request), :class:`EndpointUnreachableError`, :class:`BucketNotFoundError`,
:class:`StorageAuthError`. It takes well under a second when the server answers and
``connect_timeout`` when it does not. :func:`describe_failure` uses it to tell why a Lance call
on a remote catalog failed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import re
import socket
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from xml.etree import ElementTree

from genocat_desktop.engine.catalog.storage import (
    DEFAULT_REGION,
    Credentials,
    StorageOptions,
    complete_options,
    parse_location,
)
from genocat_desktop.engine.core.errors import (
    BucketNotFoundError,
    EndpointUnreachableError,
    InsecureEndpointError,
    StorageAuthError,
    StorageError,
)

__all__ = ["check_access", "check_bucket_name", "describe_failure", "prepare_options"]


def _sign(method: str, host: str, path: str, query: dict[str, str], region: str, creds: Credentials,
          now: dt.datetime) -> dict[str, str]:
    """AWS Signature Version 4 headers for a request with an empty body."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    payload = hashlib.sha256(b"").hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    if creds.session_token:
        headers["x-amz-security-token"] = creds.session_token
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        method, urllib.parse.quote(path, safe="/-_.~"), canonical_query,
        "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload,
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + creds.secret_access_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key_id}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    return headers


def _seconds(value: str | None, default: float) -> float:
    if not value:
        return default
    text = value.strip().lower()
    try:
        if text.endswith("ms"):
            return float(text[:-2]) / 1000
        return float(text.rstrip("s"))
    except ValueError:
        return default


def check_access(location: str, options: Mapping[str, str]) -> None:
    """Check that the bucket of ``location`` exists and the credentials may list it.

    One signed ``ListObjectsV2`` request (``max-keys=1``) with the options'
    ``connect_timeout`` (default 3 s); no retries, so the answer comes in seconds.

    Raises
    ------
    InsecureEndpointError
        The endpoint is ``http://`` and ``allow_http`` is not set (no request is made).
    EndpointUnreachableError
        Nothing answers at the endpoint (refused, timed out, DNS, TLS failure).
    BucketNotFoundError
        The server says the bucket does not exist.
    StorageAuthError
        The server refuses the credentials (unknown key, wrong secret, no permission, none given).
    StorageError
        Any other unexpected answer.
    """
    request = _list_request(location, options)
    status, body, content_type = _send(request)
    # A plain web server (or a proxy's page) would otherwise read as a missing bucket or a bad key. Some
    # stores answer an unsigned request with an HTML 500 page: only answers that would mislead are judged.
    misleading = 200 <= status < 300 or status == 404 or (request.signed and content_type == "text/html")
    if misleading and not _looks_like_s3(body):
        kind = f"HTTP {status} {content_type}".strip()
        raise StorageError(f"{request.where} does not look like an S3 server ({kind}, not an S3 XML answer); "
                           "check the endpoint address and port")
    if not 200 <= status < 300:
        _raise_refusal(request, status, body)


def prepare_options(location: str, options: Mapping[str, str] | None) -> StorageOptions:
    """Complete caller-given options for Lance and check access (used by ``Catalog.open``).

    The options are completed as :func:`~genocat_desktop.engine.catalog.storage.complete_options`
    says (environment, keyring, short timeouts; unknown keys refused), then :func:`check_access`.

    Raises
    ------
    StorageError
        Or one of its subclasses, from :func:`check_access`.
    """
    completed = complete_options(location, options)
    check_access(location, completed)
    return completed


#: S3's bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens, a letter or digit at each end.
_BUCKET_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def check_bucket_name(bucket: str) -> None:
    """Raise :class:`StorageError` if ``bucket`` breaks S3's naming rules (checked before any request).

    A server answers such a name with a signature or routing error that reads like a wrong key.
    """
    if (not _BUCKET_NAME.match(bucket) or ".." in bucket or ".-" in bucket or "-." in bucket
            or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket)):
        raise StorageError(
            f"{bucket!r} is not a valid S3 bucket name: use 3-63 lower-case letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit"
        )


def _looks_like_s3(body: bytes) -> bool:
    """Whether an answer is S3's: empty, or XML whose root is a listing or an ``Error``."""
    if not body.strip():
        return True
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return False
    return root.tag.rsplit("}", 1)[-1] in ("ListBucketResult", "Error")


@dataclass(frozen=True, slots=True)
class _ListRequest:
    """One signed ``ListObjectsV2`` request (``max-keys=1``) that :func:`check_access` sends."""

    scheme: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    bucket: str
    region: str
    where: str  # the endpoint as error messages name it
    signed: bool
    connect_timeout: float


def _list_request(location: str, options: Mapping[str, str]) -> _ListRequest:
    """The request that lists ``location``'s bucket with ``options``; refuses plain HTTP unless allowed."""
    bucket, prefix = parse_location(location)
    check_bucket_name(bucket)
    endpoint = options.get("aws_endpoint") or options.get("endpoint") or options.get("aws_endpoint_url")
    region = options.get("aws_region") or options.get("region") or DEFAULT_REGION
    if endpoint:
        url = urllib.parse.urlparse(endpoint if "://" in endpoint else "https://" + endpoint)
        scheme, netloc = url.scheme, url.netloc
    else:
        scheme, netloc = "https", f"s3.{region}.amazonaws.com"
    if scheme == "http" and str(options.get("allow_http", "")).lower() != "true":
        raise InsecureEndpointError(
            f"{endpoint} is a plain-HTTP endpoint; allow HTTP explicitly (--allow-http, or allow_http in the "
            "S3 settings) if this store has no HTTPS, knowing credentials then travel unencrypted"
        )
    virtual = str(options.get("aws_virtual_hosted_style_request", "false")).lower() == "true"
    host = f"{bucket}.{netloc}" if virtual else netloc
    path = "/" if virtual else f"/{bucket}"
    query = {"list-type": "2", "max-keys": "1", "prefix": (prefix + "/") if prefix else ""}
    key = options.get("aws_access_key_id") or options.get("access_key_id")
    secret = options.get("aws_secret_access_key") or options.get("secret_access_key") or ""
    token = options.get("aws_session_token") or options.get("session_token")
    headers = {"host": host}
    if key:
        headers = _sign("GET", host, path, query, region, Credentials(key, secret, token),
                        dt.datetime.now(dt.UTC))
    return _ListRequest(scheme, host, path, query, headers, bucket, region, endpoint or f"AWS S3 ({region})",
                        bool(key), _seconds(options.get("connect_timeout"), 3.0))


def _send(request: _ListRequest) -> tuple[int, bytes, str]:
    """Send ``request`` once (no retries); the status, up to 64 KiB of the body, and its content type.

    The whole exchange (connect, TLS, request, answer) must finish within ``connect_timeout``:
    a watchdog shuts the socket down at that time, so a server that accepts and never answers,
    or answers a byte at a time, is given up on when the message says. Raises
    :class:`EndpointUnreachableError` when nothing answers (refused, timed out, DNS, TLS failure).
    """
    import threading

    host, where, connect_timeout = request.host, request.where, request.connect_timeout
    hostname, _, port_text = host.rpartition(":") if ":" in host.split("]")[-1] else (host, "", "")
    port = int(port_text) if port_text else (443 if request.scheme == "https" else 80)
    conn: http.client.HTTPConnection
    if request.scheme == "https":
        conn = http.client.HTTPSConnection(hostname, port, timeout=connect_timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(hostname, port, timeout=connect_timeout)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        if conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(connect_timeout, cut)
    watchdog.daemon = True
    watchdog.start()
    timed_out = EndpointUnreachableError(f"{where} did not answer within {connect_timeout:g} s")
    try:
        query = urllib.parse.urlencode(sorted(request.query.items()), quote_via=urllib.parse.quote)
        conn.request("GET", request.path + "?" + query, headers=request.headers)
        response = conn.getresponse()
        body = response.read(65536)
        content_type = response.getheader("Content-Type", "") or ""
    except ssl.SSLError as exc:
        if expired.is_set():
            raise timed_out from None
        raise EndpointUnreachableError(
            f"cannot talk HTTPS to {where} ({exc.reason or exc}); is it a plain-HTTP endpoint (http://...)?"
        ) from None
    except TimeoutError:
        raise timed_out from None
    except socket.gaierror:
        raise EndpointUnreachableError(f"cannot resolve the host name of {where}") from None
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise timed_out from None
        raise EndpointUnreachableError(f"cannot connect to {where}: {exc}") from None
    finally:
        watchdog.cancel()
        conn.close()
    if expired.is_set():
        raise timed_out
    return response.status, body, content_type.split(";")[0].strip()


def _raise_refusal(request: _ListRequest, status: int, body: bytes) -> None:
    """Raise the error that says why the server refused ``request`` (``status`` not 2xx)."""
    where, bucket = request.where, request.bucket
    code, message = _s3_error(body)
    if code == "NoSuchBucket" or (status == 404 and not code):
        raise BucketNotFoundError(f"bucket {bucket!r} does not exist at {where}")
    if not request.signed:
        # Without credentials the request was unsigned; stores answer 403, 400 or even 500.
        raise StorageAuthError(
            f"{where} refused access to bucket {bucket!r}: no credentials were found (give an access key, "
            "store one in the keyring, or set AWS_ACCESS_KEY_ID / an AWS profile)"
        )
    auth_codes = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AccessDenied",
                  "AllAccessDisabled", "InvalidSecurity", "AuthorizationHeaderMalformed")
    if code in auth_codes or status in (401, 403):
        why = {
            "InvalidAccessKeyId": "the access key id is not known to the server",
            "SignatureDoesNotMatch": "the secret access key is wrong",
            "ExpiredToken": "the session token has expired",
            "AccessDenied": "these credentials may not list this bucket",
        }.get(code, message or code or f"HTTP {status}")
        raise StorageAuthError(f"{where} refused access to bucket {bucket!r}: {why}")
    if code in ("PermanentRedirect", "IllegalLocationConstraintException") or status == 301:
        raise StorageError(f"bucket {bucket!r} is in another region than {request.region}; set the region")
    raise StorageError(f"{where} answered HTTP {status} {code} {message}".strip())


def _s3_error(body: bytes) -> tuple[str, str]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return "", ""
    code = root.findtext("Code") or root.findtext("{*}Code") or ""
    message = root.findtext("Message") or root.findtext("{*}Message") or ""
    return code, message


def describe_failure(location: str, options: Mapping[str, str], exc: BaseException, doing: str,
                     seconds: float | None = None) -> StorageError:
    """Turn a Lance I/O error into a specific :class:`StorageError` (re-checking access to tell why).

    ``doing`` completes "could not ..." (``"save the import to"``); ``seconds``, how long the
    failed Lance call took, is said when known (Lance retries before it gives up).
    """
    took = f" (gave up after {seconds:.0f} s)" if seconds is not None else ""
    try:
        check_access(location, options)
    except EndpointUnreachableError as specific:
        return EndpointUnreachableError(f"could not {doing} {location}{took}: {specific}")
    except StorageError as specific:
        return type(specific)(f"could not {doing} {location}: {specific}")
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    return StorageError(f"could not {doing} {location}: {first}")
