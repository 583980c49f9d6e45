"""The engine's one exception hierarchy.

Every error the engine raises on purpose derives from :class:`GenoCatError`, and
its message is written for the person at the workstation: it says what went
wrong, where, and what to do about it. Fronts (CLI, GUI) show ``str(exc)``
as it is; they never need to parse it.

::

    GenoCatError
    ├── InputError              the user's input is wrong
    │   ├── FastaFormatError    a FASTA file cannot be imported (names file, line, record)
    │   ├── QueryError          a query sequence is empty or invalid
    │   └── FilterError         a metadata filter names an unknown field or a bad value
    ├── CatalogError            the catalog cannot be opened, read or written
    │   ├── CatalogNotFoundError
    │   ├── EmbedderMismatchError   vectors were made by another embedder
    │   ├── SchemaError         a field operation is not allowed (reserved name, bad type)
    │   └── StorageError        object storage refused or could not be reached
    │       ├── StorageAuthError          wrong or missing credentials, no permission
    │       ├── BucketNotFoundError       the bucket does not exist
    │       ├── EndpointUnreachableError  nothing answers at the endpoint (refused, timeout, DNS, TLS)
    │       └── InsecureEndpointError     an http:// endpoint without allow_http
    ├── EmbedderError           an embedder cannot be loaded or run
    │   └── ModelNotFoundError  a model a catalog or command names is not installed
    └── Cancelled               the user cancelled a job; nothing was changed
"""

from __future__ import annotations

__all__ = [
    "BucketNotFoundError",
    "Cancelled",
    "CatalogError",
    "CatalogNotFoundError",
    "EmbedderError",
    "EmbedderMismatchError",
    "EndpointUnreachableError",
    "FastaFormatError",
    "FilterError",
    "GenoCatError",
    "InputError",
    "InsecureEndpointError",
    "ModelNotFoundError",
    "QueryError",
    "SchemaError",
    "StorageAuthError",
    "StorageError",
]


class GenoCatError(Exception):
    """Base of every error the engine raises deliberately."""


class InputError(GenoCatError):
    """The user's input (a file, a query, a filter) is not acceptable."""


class FastaFormatError(InputError):
    """A FASTA file cannot be imported.

    Parameters
    ----------
    path
        The file, as the user named it.
    reason
        What is wrong, in plain words.
    line
        1-based line number in the (decompressed) text, when known.
    record
        1-based record number, when known.
    column
        1-based column in that line, when known.
    """

    def __init__(
        self,
        path: str,
        reason: str,
        *,
        line: int | None = None,
        record: int | None = None,
        column: int | None = None,
    ) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        self.record = record
        self.column = column
        where = []
        if record is not None:
            where.append(f"record {record}")
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column}")
        loc = f" ({', '.join(where)})" if where else ""
        super().__init__(f"{path}{loc}: {reason}")


class QueryError(InputError):
    """A search query is empty or not a sequence."""


class FilterError(InputError):
    """A metadata filter names an unknown field, operator or an invalid value."""


class CatalogError(GenoCatError):
    """The catalog cannot be opened, read or written."""


class CatalogNotFoundError(CatalogError):
    """No catalog exists at the given location."""


class EmbedderMismatchError(CatalogError):
    """The catalog's vectors were made by a different embedder than the one asked for."""


class SchemaError(CatalogError):
    """A schema change is not allowed (reserved or duplicate name, bad type or value)."""


class StorageError(CatalogError):
    """Object storage refused the request or could not be reached."""


class StorageAuthError(StorageError):
    """The object store refused the credentials (unknown key, wrong secret, expired, no permission)."""


class BucketNotFoundError(StorageError):
    """The bucket named in an ``s3://`` location does not exist."""


class EndpointUnreachableError(StorageError):
    """Nothing answers at the object-store endpoint (connection refused, timeout, DNS, TLS)."""


class InsecureEndpointError(StorageError):
    """A plain ``http://`` endpoint was given without allowing HTTP."""


class EmbedderError(GenoCatError):
    """An embedder cannot be found, loaded or run."""


class ModelNotFoundError(EmbedderError):
    """A model named by a catalog column or a command is not installed (``genocat model add``)."""


class Cancelled(GenoCatError):
    """The user cancelled a job. The catalog was left exactly as it was."""

    def __init__(self, message: str = "cancelled; nothing was changed") -> None:
        super().__init__(message)
