"""Catalogs on S3-compatible object storage: settings, credentials, and errors that say what is wrong.

A catalog location ``s3://bucket/prefix`` is opened by Lance with *storage
options*. This module builds them from :class:`S3Settings` (endpoint, region,
HTTP, path-style addressing, timeouts) and credentials, and checks access
before Lance is involved:

* Lance reports a missing bucket, a dead endpoint and a plain-HTTP endpoint
  without ``allow_http`` as one generic ``Generic S3 error`` after 2.5–5 s of
  retries, and a misspelt option key is silently ignored (requests then go to
  real AWS). :func:`check_access` makes one signed ``ListObjectsV2`` request
  itself (AWS Signature V4, standard library only) with a short timeout and
  maps the answer to a distinct exception: :class:`InsecureEndpointError`
  (decided without any request), :class:`EndpointUnreachableError`,
  :class:`BucketNotFoundError`, :class:`StorageAuthError`. It takes well under
  a second when the server answers and ``connect_timeout`` when it does not.
* Credentials come, in order, from explicit arguments, the operating system's
  keyring (:func:`save_credentials`; secrets never go to settings files or
  logs), the ``AWS_*`` environment variables, and ``~/.aws/credentials`` /
  ``~/.aws/config`` (``AWS_PROFILE`` or ``default``). The resolved keys are
  passed to Lance in memory only; ``repr`` of the options hides the secret.
* Lance's own retries are bounded (``client_max_retries``,
  ``client_retry_timeout``, ``connect_timeout``, ``timeout``) so that a server
  going away during an import fails in seconds, not minutes.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final
from xml.etree import ElementTree

from genocat_desktop.engine.core.errors import (
    BucketNotFoundError,
    EndpointUnreachableError,
    InsecureEndpointError,
    StorageAuthError,
    StorageError,
)

__all__ = [
    "KEYRING_SERVICE",
    "Credentials",
    "S3Settings",
    "StorageOptions",
    "check_access",
    "check_bucket_name",
    "delete_credentials",
    "is_remote",
    "load_credentials",
    "parse_location",
    "prepare_options",
    "resolve_credentials",
    "save_credentials",
    "storage_options",
]

KEYRING_SERVICE: Final = "GenoCat S3"
DEFAULT_REGION: Final = "us-east-1"
#: Option keys Lance understands (a misspelt key is silently ignored by Lance, so we refuse it).
KNOWN_KEYS: Final = frozenset({
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_endpoint", "aws_region",
    "allow_http", "aws_virtual_hosted_style_request", "virtual_hosted_style_request", "connect_timeout",
    "timeout", "client_max_retries", "client_retry_timeout", "aws_s3_express", "aws_server_side_encryption",
    "aws_sse_kms_key_id", "aws_unsigned_payload", "aws_skip_signature", "allow_invalid_certificates",
    "proxy_url", "aws_conditional_put", "region", "endpoint", "access_key_id", "secret_access_key",
    "session_token", "aws_default_region", "aws_endpoint_url",
})
SECRET_KEYS: Final = frozenset({"aws_secret_access_key", "aws_session_token", "secret_access_key", "session_token"})


_URI_SCHEME: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_remote(location: str | os.PathLike[str] | None) -> bool:
    """Whether ``location`` is an object-store URI (``s3://...``) rather than a local folder or file.

    The one rule for the whole program: a location is remote when it starts with a URI scheme other
    than ``file://``. Empty or missing locations are local (the default catalog).
    """
    if not location:
        return False
    match = _URI_SCHEME.match(os.fspath(location))
    return match is not None and match.group(1).lower() != "file"


def parse_location(location: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into bucket and prefix.

    Raises
    ------
    StorageError
        If it is not an ``s3://`` URI with a bucket name.
    """
    parsed = urllib.parse.urlparse(location)
    if parsed.scheme not in ("s3", "s3a"):
        raise StorageError(f"{location}: only s3:// object-store locations are supported")
    if not parsed.netloc:
        raise StorageError(f"{location}: no bucket name (write s3://BUCKET/prefix)")
    return parsed.netloc, parsed.path.strip("/")


class StorageOptions(dict[str, str]):
    """Lance storage options: a ``dict`` whose ``repr`` hides secrets (they can end up in logs)."""

    def __repr__(self) -> str:
        return repr({k: ("***" if k in SECRET_KEYS else v) for k, v in self.items()})

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Credentials:
    """An access key pair (and session token); ``repr`` hides the secret."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    source: str = "explicit"  # "explicit", "keyring", "environment", "profile NAME"


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where and how to reach an S3-compatible store. Safe to save in plain settings (no secrets).

    Attributes
    ----------
    endpoint
        ``http(s)://host:port`` of a non-AWS store (MinIO, Ceph, SeaweedFS...);
        ``None`` for AWS (or ``$AWS_ENDPOINT_URL``).
    region
        The bucket's region (``$AWS_REGION``, the profile's, else ``us-east-1``).
    allow_http
        Allow a plain ``http://`` endpoint (credentials then travel unencrypted).
    path_style
        ``http://host/bucket/key`` addressing (most self-hosted stores) instead
        of ``http://bucket.host/key``. Default: path style with a custom endpoint.
    profile
        A profile in ``~/.aws/credentials`` (``$AWS_PROFILE`` or ``default`` if ``None``).
    connect_timeout, timeout
        Seconds to connect, and for one whole request.
    retries, retry_timeout
        Lance's retries of a failed request, and the time they may take in all.
    """

    endpoint: str | None = None
    region: str | None = None
    allow_http: bool = False
    path_style: bool | None = None
    profile: str | None = None
    connect_timeout: float = 3.0
    timeout: float = 60.0
    retries: int = 2
    retry_timeout: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        """For a settings file (contains no secret)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> S3Settings:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_env(cls, **overrides: Any) -> S3Settings:
        """Settings from ``GENOCAT_S3_ENDPOINT`` / ``AWS_ENDPOINT_URL(_S3)``, ``AWS_REGION`` /
        ``AWS_DEFAULT_REGION``, ``GENOCAT_S3_ALLOW_HTTP``, ``AWS_PROFILE``; ``overrides`` that are
        not ``None`` win."""
        env = os.environ
        endpoint = env.get("GENOCAT_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        allow = env.get("GENOCAT_S3_ALLOW_HTTP", "").lower() in ("1", "true", "yes")
        values: dict[str, Any] = {
            "endpoint": endpoint or None,
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            "allow_http": allow,
            "profile": env.get("AWS_PROFILE") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _keyring_user(endpoint: str | None, bucket: str) -> str:
    return f"{(endpoint or 'aws').rstrip('/')}|{bucket}"


def save_credentials(endpoint: str | None, bucket: str, credentials: Credentials) -> None:
    """Keep credentials for ``bucket`` at ``endpoint`` in the operating system's keyring.

    Raises
    ------
    StorageError
        If no keyring is available (headless machine without a secret service).
    """
    import keyring
    import keyring.errors

    secret = json.dumps({
        "access_key_id": credentials.access_key_id,
        "secret_access_key": credentials.secret_access_key,
        "session_token": credentials.session_token,
    })
    try:
        keyring.set_password(KEYRING_SERVICE, _keyring_user(endpoint, bucket), secret)
    except keyring.errors.KeyringError as exc:
        raise StorageError(f"cannot store the credentials in the system keyring: {exc}") from None


def load_credentials(endpoint: str | None, bucket: str) -> Credentials | None:
    """Credentials stored by :func:`save_credentials`, or ``None`` (also when there is no keyring)."""
    try:
        import keyring
        import keyring.errors

        raw = keyring.get_password(KEYRING_SERVICE, _keyring_user(endpoint, bucket))
    except Exception:  # no backend, locked keyring, D-Bus trouble: fall back to the AWS chain
        return None
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return Credentials(data["access_key_id"], data["secret_access_key"], data.get("session_token"), "keyring")
    except (ValueError, KeyError, TypeError):
        return None


def delete_credentials(endpoint: str | None, bucket: str) -> bool:
    """Forget stored credentials; True if there were some."""
    try:
        import keyring

        keyring.delete_password(KEYRING_SERVICE, _keyring_user(endpoint, bucket))
        return True
    except Exception:
        return False


def _aws_files(profile: str | None) -> tuple[Credentials | None, str | None]:
    """Credentials and region of a profile in ``~/.aws/credentials`` and ``~/.aws/config``."""
    name = profile or os.environ.get("AWS_PROFILE") or "default"
    creds_path = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")).expanduser()
    config_path = Path(os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")).expanduser()
    creds = None
    region = None
    parser = configparser.ConfigParser()
    try:
        parser.read([creds_path])
        if parser.has_section(name) and parser.has_option(name, "aws_access_key_id"):
            sec = parser[name]
            creds = Credentials(
                sec["aws_access_key_id"], sec.get("aws_secret_access_key", ""), sec.get("aws_session_token"),
                f"profile {name}",
            )
        config = configparser.ConfigParser()
        config.read([config_path])
        section = name if name == "default" else f"profile {name}"
        if config.has_section(section):
            region = config[section].get("region")
    except (configparser.Error, OSError):
        pass
    return creds, region


def resolve_credentials(
    settings: S3Settings, bucket: str, explicit: Credentials | None = None, *, use_keyring: bool = True
) -> Credentials | None:
    """The credentials to use: explicit, keyring, environment, then the AWS profile; ``None`` if none.

    ``use_keyring=False`` skips the keyring (the AWS default chain only).
    """
    if explicit is not None:
        return explicit
    stored = load_credentials(settings.endpoint, bucket) if use_keyring else None
    if stored is not None:
        return stored
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN"), "environment")
    return _aws_files(settings.profile)[0]


def storage_options(
    location: str,
    settings: S3Settings | None = None,
    credentials: Credentials | None = None,
    *,
    use_keyring: bool = True,
) -> StorageOptions:
    """Lance storage options for ``location``.

    Parameters
    ----------
    location
        ``s3://bucket/prefix``.
    settings
        Endpoint, region...; :meth:`S3Settings.from_env` if ``None``.
    credentials
        Explicit keys; else the keyring, the environment, the AWS profile.
    use_keyring
        ``False``: never the keyring (only the AWS default chain: environment, profile).

    Raises
    ------
    StorageError
        If ``location`` is not an ``s3://`` URI.
    """
    settings = settings or S3Settings.from_env()
    bucket, _ = parse_location(location)
    return _options(settings, resolve_credentials(settings, bucket, credentials, use_keyring=use_keyring))


def _options(settings: S3Settings, creds: Credentials | None) -> StorageOptions:
    opts = StorageOptions()
    if creds is not None:
        opts["aws_access_key_id"] = creds.access_key_id
        opts["aws_secret_access_key"] = creds.secret_access_key
        if creds.session_token:
            opts["aws_session_token"] = creds.session_token
    region = settings.region or _aws_files(settings.profile)[1] or DEFAULT_REGION
    opts["aws_region"] = region
    if settings.endpoint:
        opts["aws_endpoint"] = settings.endpoint.rstrip("/")
    path_style = settings.path_style if settings.path_style is not None else bool(settings.endpoint)
    opts["aws_virtual_hosted_style_request"] = "false" if path_style else "true"
    if settings.allow_http:
        opts["allow_http"] = "true"
    opts["connect_timeout"] = f"{settings.connect_timeout:g}s"
    opts["timeout"] = f"{settings.timeout:g}s"
    opts["client_max_retries"] = str(settings.retries)
    opts["client_retry_timeout"] = f"{settings.retry_timeout:g}"
    return opts


def prepare_options(location: str, options: Mapping[str, str] | None) -> StorageOptions:
    """Complete caller-given options for Lance and check access (used by ``Catalog.open``).

    Options that name no endpoint/credentials are completed from the
    environment and keyring (:func:`storage_options`); missing timeouts get
    short defaults; unknown keys are refused (Lance would ignore them and
    talk to real AWS).

    Raises
    ------
    StorageError
        Or one of its subclasses, from :func:`check_access`.
    """
    given = dict(options or {})
    unknown = sorted(k for k in given if k.lower() not in KNOWN_KEYS)
    if unknown:
        raise StorageError(f"unknown storage option(s) {', '.join(unknown)}; Lance would silently ignore them")
    settings = S3Settings.from_env()
    if "aws_access_key_id" in given:  # explicit keys: no lookup (the keyring may take a while to answer)
        base = _options(settings, None)
    else:
        base = storage_options(location, settings)
    if "aws_endpoint" in given and "aws_virtual_hosted_style_request" not in given:
        base["aws_virtual_hosted_style_request"] = "false"
    base.update(given)
    check_access(location, base)
    return base


# ----------------------------------------------------------------------------- access check
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
