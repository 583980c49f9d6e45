"""Engine jobs for the Indexes dialog and for catalogs on S3: plain functions, no Qt.

Like the rest of :mod:`genocat_desktop.app`, each ``*_job`` returns a
:class:`~genocat_desktop.app.jobs.Job` and the engine is imported inside it.
Secrets (a typed secret access key) only ever live in the closure and in the
engine's storage options, in memory: what the GUI keeps (:class:`S3Location`)
holds none, so it can go to the settings file.

The S3 jobs return an :class:`AccessResult` instead of raising for storage
errors: the dialog shows a different headline for each engine error class
(wrong credentials, missing bucket, unreachable endpoint, HTTP not allowed),
and the engine thread's ``failed`` signal carries only a message.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from genocat_desktop.app.catalog import CatalogSummary, Session

if TYPE_CHECKING:
    from genocat_desktop.app.jobs import Job, ProgressCallback
    from genocat_desktop.engine import CancelToken, Catalog, Credentials, IndexStatus, S3Settings

__all__ = [
    "ERROR_HINTS",
    "ERROR_TITLES",
    "AccessResult",
    "IndexOutcome",
    "S3Location",
    "S3Opened",
    "auto_index_job",
    "build_indexes_job",
    "check_access_job",
    "drop_indexes_job",
    "forget_key_job",
    "index_status_job",
    "input_storage_options",
    "is_remote",
    "open_catalog",
    "open_s3_job",
    "optimize_indexes_job",
    "reopen_s3_job",
    "set_effort_job",
    "stored_key_job",
]

#: The dialog's headline for each kind of :class:`AccessResult`.
ERROR_TITLES = {
    "ok": "Connected",
    "auth": "Wrong or missing credentials",
    "bucket": "Bucket not found",
    "unreachable": "Endpoint unreachable",
    "insecure": "Plain HTTP is not allowed",
    "missing": "No catalog at this location",
    "storage": "Storage error",
    "other": "Cannot open the catalog",
}


#: What to do about each failure, in the dialog's words (the engine's message says what happened).
ERROR_HINTS = {
    "auth": "Check the access key ID and the secret, or choose where the credentials come from.",
    "bucket": "Check the bucket name in the location (and the endpoint: another store may hold it).",
    "unreachable": "Check the endpoint URL (http or https, host, port) and that the store is running.",
    "insecure": "Tick “Allow plain HTTP” if this store has no HTTPS, or use its https:// address.",
    "missing": "Tick “Create a new catalog” to make one here, or check the prefix.",
}


def is_remote(location: str | None) -> bool:
    """Whether ``location`` is an object-store URI, by the engine's one rule (``storage.is_remote``)."""
    from genocat_desktop.engine.catalog.storage import is_remote as engine_is_remote

    return engine_is_remote(location)


def open_catalog(location: str | None, *, create: bool, settings: S3Settings | None = None) -> Catalog:
    """Open the catalog at ``location`` (the default one if ``None``), local or on S3.

    Parameters
    ----------
    location
        A folder or ``s3://bucket/prefix``.
    create
        Create it if it does not exist.
    settings
        For an S3 location: endpoint, region, plain HTTP, profile (the credentials
        come from the keyring, the environment or the profile); ``None`` leaves
        them to the engine, which reads the environment.
    """
    from genocat_desktop.engine import Catalog, default_location, storage_options

    where = location or default_location()
    options = storage_options(where, settings) if settings is not None and is_remote(where) else None
    return Catalog.open(where, create=create, storage_options=options)


def input_storage_options(inputs: Sequence[str], catalog_location: str,
                          settings: S3Settings | None) -> Mapping[str, str] | None:
    """Storage options for the ``s3://`` inputs of a bulk ingest, or ``None`` to use the catalog's.

    An S3 catalog lends its own options to its inputs; a local catalog reads
    them with ``settings`` and the credentials the keyring, environment or
    profile hold for the first remote input's bucket.
    """
    from genocat_desktop.engine import storage_options

    remote = [i for i in inputs if is_remote(i)]
    if not remote or is_remote(catalog_location):
        return None
    return storage_options(remote[0], settings)


# ---------------------------------------------------------------------------------------- S3
@dataclass(frozen=True, slots=True)
class S3Location:
    """An S3 catalog location and how to reach it, as the dialog collects it. Holds no secret.

    Attributes
    ----------
    location
        ``s3://bucket/prefix``.
    endpoint, region, allow_http, path_style, profile
        As :class:`~genocat_desktop.engine.S3Settings`.
    credentials
        ``"chain"``: the AWS default chain (environment, ``~/.aws`` profile);
        ``"keys"``: an access key typed in the dialog, or the one stored in the
        system keyring for this endpoint and bucket.
    remember
        Store a typed key in the system keyring once it worked.
    """

    location: str
    endpoint: str | None = None
    region: str | None = None
    allow_http: bool = False
    path_style: bool = True
    credentials: str = "chain"
    profile: str | None = None
    remember: bool = False

    @property
    def bucket(self) -> str:
        """The bucket name (``""`` if the location has none)."""
        rest = self.location.split("://", 1)[-1]
        return rest.split("/", 1)[0]

    def settings(self) -> S3Settings:
        """The engine's settings for this location."""
        from genocat_desktop.engine import S3Settings

        return S3Settings(
            endpoint=self.endpoint or None, region=self.region or None, allow_http=self.allow_http,
            path_style=self.path_style, profile=self.profile or None,
        )

    def to_dict(self) -> dict[str, Any]:
        """For the settings file (no secret in it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> S3Location:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, slots=True)
class AccessResult:
    """The answer of an access check or an open attempt.

    Attributes
    ----------
    kind
        ``"ok"`` or the failure: ``"auth"``, ``"bucket"``, ``"unreachable"``,
        ``"insecure"``, ``"missing"`` (no catalog there), ``"storage"``, ``"other"``.
    message
        The engine's message (plain words; never contains the secret).
    seconds
        How long the check took.
    source
        Where the credentials came from (``"typed"``, ``"keyring"``, ``"environment"``,
        ``"profile NAME"``), or ``None`` when none were found.
    """

    kind: str
    message: str
    seconds: float
    source: str | None = None

    @property
    def ok(self) -> bool:
        """Whether access worked."""
        return self.kind == "ok"

    @property
    def title(self) -> str:
        """A headline for the dialog."""
        return ERROR_TITLES.get(self.kind, ERROR_TITLES["other"])

    @property
    def hint(self) -> str:
        """What to try next (``""`` when access worked or there is nothing specific to say)."""
        return ERROR_HINTS.get(self.kind, "")


@dataclass(frozen=True, slots=True)
class S3Opened:
    """The outcome of :func:`open_s3_job`: the session (``None`` if it failed) and what happened."""

    session: Session | None
    summary: CatalogSummary | None
    access: AccessResult
    #: Something that went wrong without stopping the open (the keyring could not store the key).
    warning: str = ""


def _error_kind(exc: BaseException) -> str:
    from genocat_desktop.engine import (
        BucketNotFoundError,
        CatalogNotFoundError,
        EndpointUnreachableError,
        InsecureEndpointError,
        StorageAuthError,
        StorageError,
    )

    for cls, kind in (
        (StorageAuthError, "auth"), (BucketNotFoundError, "bucket"), (EndpointUnreachableError, "unreachable"),
        (InsecureEndpointError, "insecure"), (CatalogNotFoundError, "missing"), (StorageError, "storage"),
    ):
        if isinstance(exc, cls):
            return kind
    return "other"


def _credentials(spec: S3Location, access_key_id: str, secret: str) -> tuple[Credentials | None, bool]:
    """The credentials to use and whether to skip the keyring (the AWS default chain only).

    Raises
    ------
    StorageAuthError
        ``"keys"`` mode with nothing typed and nothing stored in the keyring.
    """
    from genocat_desktop.engine import Credentials, StorageAuthError, load_credentials, resolve_credentials

    if spec.credentials != "keys":
        # Resolved here (not by storage_options) to tell the user where the key came from.
        return resolve_credentials(spec.settings(), spec.bucket, None, use_keyring=False), True
    if access_key_id.strip() and secret:
        return Credentials(access_key_id.strip(), secret, None, "typed"), False
    if access_key_id.strip() or secret:
        missing = "secret access key" if access_key_id.strip() else "access key ID"
        raise StorageAuthError(f"the {missing} is missing: type both, or neither to use the key in the keyring")
    stored = load_credentials(spec.endpoint or None, spec.bucket)
    if stored is None:
        raise StorageAuthError(
            f"no access key was typed and none is stored in the system keyring for bucket {spec.bucket!r}"
            + (f" at {spec.endpoint}" if spec.endpoint else "")
        )
    return stored, False


def _options(spec: S3Location, access_key_id: str, secret: str) -> tuple[dict[str, str], str | None]:
    from genocat_desktop.engine import storage_options

    creds, chain_only = _credentials(spec, access_key_id, secret)
    opts = storage_options(spec.location, spec.settings(), creds, use_keyring=not chain_only)
    return opts, creds.source if creds is not None else None


def check_access_job(spec: S3Location, access_key_id: str = "", secret: str = "") -> Job[AccessResult]:
    """Check that the bucket exists and the credentials may list it; returns an :class:`AccessResult`.

    One signed request with a 3 s connect timeout (the engine's ``check_access``),
    so the answer comes within seconds.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> AccessResult:
        from genocat_desktop.engine import GenoCatError, check_access

        started = time.monotonic()
        source = None
        try:
            opts, source = _options(spec, access_key_id, secret)
            check_access(spec.location, opts)
        except GenoCatError as exc:
            return AccessResult(_error_kind(exc), str(exc), time.monotonic() - started, source)
        return AccessResult("ok", f"{spec.location} can be listed", time.monotonic() - started, source)

    return run


def open_s3_job(spec: S3Location, access_key_id: str = "", secret: str = "", *, create: bool = False) -> Job[S3Opened]:
    """Open (or, with ``create``, create) the catalog at an S3 location; returns :class:`S3Opened`.

    A typed key is stored in the system keyring once the open worked, if
    ``spec.remember``; a keyring that cannot store it is a warning, not a failure.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> S3Opened:
        from genocat_desktop.engine import Catalog, GenoCatError, save_credentials

        started = time.monotonic()
        source = None
        try:
            opts, source = _options(spec, access_key_id, secret)
            catalog = Catalog.open(spec.location, create=create, storage_options=opts)
        except GenoCatError as exc:
            return S3Opened(None, None, AccessResult(_error_kind(exc), str(exc), time.monotonic() - started, source))
        warning = ""
        if spec.remember and spec.credentials == "keys" and access_key_id.strip() and secret:
            from genocat_desktop.engine import Credentials

            try:
                save_credentials(spec.endpoint or None, spec.bucket, Credentials(access_key_id.strip(), secret))
            except GenoCatError as exc:
                warning = str(exc)
        session = Session(catalog)
        seconds = time.monotonic() - started
        return S3Opened(session, session.summary(), AccessResult("ok", f"opened {spec.location}", seconds, source),
                        warning)

    return run


def reopen_s3_job(spec: S3Location) -> Job[tuple[Session, CatalogSummary]]:
    """Open a recent S3 catalog with its saved settings (the key from the keyring, or the AWS chain).

    Returns ``(Session, CatalogSummary)`` like ``open_catalog_job``; errors are raised
    (the window shows the engine's message).
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> tuple[Session, CatalogSummary]:
        from genocat_desktop.engine import Catalog

        opts, _ = _options(spec, "", "")
        session = Session(Catalog.open(spec.location, create=False, storage_options=opts))
        return session, session.summary()

    return run


def stored_key_job(endpoint: str | None, bucket: str) -> Job[str | None]:
    """The access key id stored in the keyring for ``bucket`` at ``endpoint`` (``None`` if none).

    A job because a keyring may block (D-Bus, an unlock prompt). The secret is not returned.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> str | None:
        from genocat_desktop.engine import load_credentials

        creds = load_credentials(endpoint or None, bucket)
        return creds.access_key_id if creds is not None else None

    return run


def forget_key_job(endpoint: str | None, bucket: str) -> Job[bool]:
    """Remove the stored key for ``bucket`` at ``endpoint`` from the keyring; True if there was one."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> bool:
        from genocat_desktop.engine import delete_credentials

        return delete_credentials(endpoint or None, bucket)

    return run


# ---------------------------------------------------------------------------------------- indexes
@dataclass(frozen=True, slots=True)
class IndexOutcome:
    """The catalog's indexes after a job, and its summary (an index change is a new version).

    Attributes
    ----------
    status
        The engine's :class:`~genocat_desktop.engine.IndexStatus`.
    summary
        The catalog's summary afterwards.
    action
        What was done (``"status"``, ``"built"``, ``"optimized"``, ``"dropped"``), or
        ``None`` when an automatic step found nothing to do.
    seconds
        How long the job took.
    """

    status: IndexStatus
    summary: CatalogSummary
    action: str | None
    seconds: float


def _outcome(session: Session, status: IndexStatus, action: str | None, started: float) -> IndexOutcome:
    return IndexOutcome(status, session.summary(), action, time.monotonic() - started)


def index_status_job(session: Session) -> Job[IndexOutcome]:
    """The catalog's indexes (an :class:`IndexOutcome` with action ``"status"``)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> IndexOutcome:
        from genocat_desktop.engine import index_status

        started = time.monotonic()
        return _outcome(session, index_status(session.catalog), "status", started)

    return run


def build_indexes_job(session: Session, *, rebuild: bool = False) -> Job[IndexOutcome]:
    """Build (or rebuild) the vector, scalar and full-text indexes; cancellable until they are published."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> IndexOutcome:
        from genocat_desktop.engine import build_indexes

        started = time.monotonic()
        status = build_indexes(session.catalog, rebuild=rebuild, progress=progress, cancel=cancel)
        return _outcome(session, status, "built", started)

    return run


def optimize_indexes_job(session: Session) -> Job[IndexOutcome]:
    """Add the rows imported since the build to the indexes (no retraining)."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> IndexOutcome:
        from genocat_desktop.engine import optimize_indexes

        started = time.monotonic()
        status = optimize_indexes(session.catalog, progress=progress, cancel=cancel)
        return _outcome(session, status, "optimized", started)

    return run


def drop_indexes_job(session: Session, names: Sequence[str] | None = None) -> Job[IndexOutcome]:
    """Drop the named indexes (all if ``None``); the data is untouched."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> IndexOutcome:
        from genocat_desktop.engine import drop_indexes

        started = time.monotonic()
        status = drop_indexes(session.catalog, names=list(names) if names is not None else None)
        return _outcome(session, status, "dropped", started)

    return run


def auto_index_job(session: Session, threshold: int) -> Job[IndexOutcome]:
    """After imports: build the indexes from ``threshold`` rows, or add new rows once they exceed 5 %."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> IndexOutcome:
        from genocat_desktop.engine import auto_index, index_status

        started = time.monotonic()
        action = auto_index(session.catalog, threshold=threshold, progress=progress, cancel=cancel)
        return _outcome(session, index_status(session.catalog), action, started)

    return run


#: The effort dialog's defaults (100 % of the partitions, refine 10): they stand for the engine's
#: default effort, which uses the one measured when the index was built (``engine.index.calibrate``).
DEFAULT_EFFORT_SETTING: Final = (1.0, 10)


def set_effort_job(session: Session, probe_fraction: float, refine_factor: int) -> Job[None]:
    """Set the search effort of the session's searcher (done on the engine thread, which searches).

    The dialog's defaults select the engine's default effort: the calibrated one
    when the index has a calibration (recall@10 ≥ 0.96 on a sample), else every
    partition with refine 10.
    """

    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        from genocat_desktop.engine import SearchEffort

        if (probe_fraction, refine_factor) == DEFAULT_EFFORT_SETTING:
            session.searcher.effort = SearchEffort()
        else:
            session.searcher.effort = SearchEffort(refine_factor=refine_factor, probe_fraction=probe_fraction)

    return run
