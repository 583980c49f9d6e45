"""Turning Lance's exceptions into the engine's errors, with the catalog's location in the message."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from genocat_desktop.engine.core.errors import CatalogError, GenoCatError, StorageError

__all__ = ["first_line", "storage_errors"]


@contextlib.contextmanager
def storage_errors(catalog: Any, doing: str) -> Iterator[None]:
    """Raise Lance's ``OSError`` as :class:`StorageError`, its other errors as :class:`CatalogError`.

    Parameters
    ----------
    catalog
        The catalog worked on (its ``location`` goes into the message).
    doing
        What was being done, e.g. ``"build the vector index of"``.
    """
    try:
        yield
    except GenoCatError:
        raise
    except OSError as exc:
        raise StorageError(f"could not {doing} {catalog.location}: {first_line(exc)}") from None
    except (RuntimeError, ValueError) as exc:
        raise CatalogError(f"could not {doing} {catalog.location}: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Lance's messages carry Rust backtraces)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]
