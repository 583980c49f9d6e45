"""Catalogs on S3-compatible object storage: settings, credentials and the options Lance gets.

A catalog location ``s3://bucket/prefix`` is opened by Lance with *storage
options*. This module builds them from :class:`S3Settings` (endpoint, region,
HTTP, path-style addressing, timeouts) and credentials; access is checked before
Lance is involved by :mod:`genocat_desktop.engine.catalog.access`:

* A misspelt option key is silently ignored by Lance (requests then go to real
  AWS), so :func:`complete_options` refuses unknown keys.
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
import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from genocat_desktop.engine.core.errors import StorageError

__all__ = [
    "KEYRING_SERVICE",
    "Credentials",
    "S3Settings",
    "StorageOptions",
    "complete_options",
    "delete_credentials",
    "is_remote",
    "load_credentials",
    "parse_location",
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


def complete_options(location: str, options: Mapping[str, str] | None) -> StorageOptions:
    """Complete caller-given options for Lance (access is checked by
    :func:`~genocat_desktop.engine.catalog.access.prepare_options`).

    Options that name no endpoint/credentials are completed from the
    environment and keyring (:func:`storage_options`); missing timeouts get
    short defaults; unknown keys are refused (Lance would ignore them and
    talk to real AWS).

    Raises
    ------
    StorageError
        If an option key is unknown, or ``location`` is not an ``s3://`` URI.
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
    return base
