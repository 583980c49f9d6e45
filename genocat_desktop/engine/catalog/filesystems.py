"""Which pyarrow file system serves a catalog or an input location (a local folder or S3).

Used by bulk ingest's tasks and housekeeping, which list and read a catalog's files directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genocat_desktop.engine.catalog.storage import is_remote
from genocat_desktop.engine.core.errors import StorageError

__all__ = ["catalog_filesystem", "filesystem_for", "s3_filesystem"]


def s3_filesystem(options: Mapping[str, str]) -> Any:
    """A pyarrow ``S3FileSystem`` from Lance storage options (the same endpoint, keys and region).

    Parameters
    ----------
    options
        Lance's storage option keys (``aws_endpoint``, ``aws_access_key_id``...), as
        :func:`storage_options` builds them.

    Returns
    -------
    pyarrow.fs.S3FileSystem
        A file system for that store.
    """
    import pyarrow.fs as pafs

    opts = options
    endpoint = opts.get("aws_endpoint") or opts.get("endpoint") or opts.get("aws_endpoint_url")
    kwargs: dict[str, Any] = {
        "access_key": opts.get("aws_access_key_id") or opts.get("access_key_id"),
        "secret_key": opts.get("aws_secret_access_key") or opts.get("secret_access_key"),
        "session_token": opts.get("aws_session_token") or opts.get("session_token"),
        "region": opts.get("aws_region") or opts.get("region") or "us-east-1",
        "connect_timeout": 5, "request_timeout": 30,
    }
    if endpoint:
        scheme, _, rest = endpoint.partition("://")
        kwargs.update(endpoint_override=rest or scheme, scheme=scheme if rest else "https")
        kwargs["force_virtual_addressing"] = str(opts.get("aws_virtual_hosted_style_request", "")).lower() == "true"
    return pafs.S3FileSystem(**{k: v for k, v in kwargs.items() if v is not None})


def filesystem_for(uri: str, options: Mapping[str, str]) -> tuple[Any, str]:
    """A pyarrow file system and the path of ``uri`` in it (for code that has no :class:`Catalog`).

    Parameters
    ----------
    uri
        A local path or an object-store URI (``s3://bucket/key``).
    options
        Storage options for an object-store URI (see :func:`s3_filesystem`).

    Returns
    -------
    tuple
        The file system and the path of ``uri`` in it.
    """
    import pyarrow.fs as pafs

    if not is_remote(uri):
        return pafs.LocalFileSystem(), uri
    return s3_filesystem(options), uri.split("://", 1)[1]


def catalog_filesystem(uri: str, options: Mapping[str, str]) -> tuple[Any, str]:
    """A pyarrow file system and a catalog table's path in it (a local folder or S3).

    Parameters
    ----------
    uri
        The catalog's table URI (``Catalog.uri``).
    options
        The catalog's storage options (``Catalog.storage_options``).

    Returns
    -------
    tuple
        The file system and the table's path in it.

    Raises
    ------
    StorageError
        If the catalog is on an object store other than S3.
    """
    if is_remote(uri) and not uri.startswith(("s3://", "s3a://")):
        raise StorageError(f"{uri}: only folders and s3:// catalogs can be cleaned up")
    return filesystem_for(uri, options)
