"""When another process changes the catalog at the same time: which commit errors to retry, and how.

Lance lets two writers race: the second commit of two conflicting changes fails with a
*retryable* conflict ("Retryable commit conflict ... Please retry", ``CommitConflictError``).
Retrying means rebuilding the change against the new latest version (an edit recomputed from the
latest data, an import deduplicated again), never re-applying the old one blindly; so every
writer hands :func:`retry_conflicts` a function that re-reads what it needs and commits.

The policy: at most :data:`TRIES` tries, waiting between them an exponentially growing, jittered
delay (so writers that collided do not collide again in step), capped at :data:`MAX_DELAY`. When
the tries run out, :class:`CatalogBusyError` says so in one line; nothing was saved.
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Concatenate, Final, ParamSpec, Protocol, TypeVar

import numpy as np

from genocat_desktop.engine.core.errors import CatalogError

if TYPE_CHECKING:
    import lance

    from genocat_desktop.engine.core.progress import CancelToken

__all__ = [
    "BUSY_MESSAGE",
    "FIRST_DELAY",
    "MAX_DELAY",
    "TRIES",
    "CatalogBusyError",
    "CatalogLike",
    "CommitConflict",
    "backoff_delay",
    "exclusive_append",
    "hashes_added_since",
    "is_retryable_conflict",
    "lost_to_another_writer",
    "raise_if_conflict",
    "retried",
    "retry_conflicts",
]


class CatalogLike(Protocol):
    """What the retries need of a :class:`~genocat_desktop.engine.catalog.table.Catalog` (which imports this module)."""

    @property
    def version(self) -> int: ...

    def refresh(self) -> int: ...

    def dataset(self, version: int | None = None) -> lance.LanceDataset: ...


T = TypeVar("T")
P = ParamSpec("P")
C = TypeVar("C", bound=CatalogLike)

#: Tries of one change before giving up (the first one included).
TRIES: Final = 10
#: The first wait after a conflict, in seconds; each later wait doubles, up to MAX_DELAY.
FIRST_DELAY: Final = 0.05
#: The longest wait between two tries, in seconds (10 tries wait at most ~10 s in all).
MAX_DELAY: Final = 2.0
BUSY_MESSAGE: Final = "the catalog is busy: another program kept changing it; nothing was saved, try again"

# Lance's wording of a commit that lost to a concurrent one (the message of CommitConflictError,
# and of the RuntimeError/OSError some of its high-level operations raise instead).
_CONFLICT_MARKERS: Final = ("retryable commit conflict", "commit conflict", "preempted by concurrent transaction")


class CatalogBusyError(CatalogError):
    """Another process kept changing the catalog; the change was not saved."""

    def __init__(self, message: str = BUSY_MESSAGE) -> None:
        super().__init__(message)


class CommitConflict(CatalogBusyError):
    """One commit lost to a concurrent change; :func:`retry_conflicts` rebuilds and retries it.

    Raised by :meth:`Catalog.commit` when it was given no way to rebuild the change itself. If it
    reaches a user (no retry around it), its text is the busy message.
    """


def is_retryable_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a commit that lost to a concurrent change and may succeed when rebuilt."""
    if isinstance(exc, CommitConflict):
        return True
    if isinstance(exc, CatalogError):
        return False
    from lance.commit import CommitConflictError

    if isinstance(exc, CommitConflictError):
        return True
    if not isinstance(exc, (OSError, RuntimeError, ValueError)):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in _CONFLICT_MARKERS)


def raise_if_conflict(exc: BaseException) -> None:
    """Raise :class:`CommitConflict` if ``exc`` is a lost commit (before an ``except`` turns it into another error)."""
    if is_retryable_conflict(exc):
        raise CommitConflict() from None


def retried(fn: Callable[Concatenate[C, P], T]) -> Callable[Concatenate[C, P], T]:
    """Run a change ``fn(catalog, ...)``, which reads the latest version first, under :func:`retry_conflicts`."""

    @functools.wraps(fn)
    def wrapper(catalog: C, /, *args: P.args, **kwargs: P.kwargs) -> T:
        cancel: Any = kwargs.get("cancel")
        return retry_conflicts(lambda: fn(catalog, *args, **kwargs), catalog=catalog, cancel=cancel)

    return wrapper


def lost_to_another_writer(exc: BaseException) -> bool:
    """Whether a failed change (already turned into a :class:`CatalogError` or not) lost to another process's commit."""
    if isinstance(exc, CatalogBusyError) or is_retryable_conflict(exc):
        return True
    text = str(exc).lower()
    return isinstance(exc, CatalogError) and any(marker in text for marker in _CONFLICT_MARKERS)


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """The wait before try ``attempt + 1`` (``attempt`` >= 1): random in the upper half of a capped exponential."""
    ceiling = min(MAX_DELAY, FIRST_DELAY * (2 ** (attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def retry_conflicts(
    attempt: Callable[[], T],
    *,
    catalog: CatalogLike | None = None,
    cancel: CancelToken | None = None,
    tries: int = TRIES,
    on_conflict: Callable[[int], None] | None = None,
) -> T:
    """Run ``attempt`` until it does not lose to a concurrent commit, at most ``tries`` times.

    Parameters
    ----------
    attempt
        Reads what it needs from the latest version, builds the change and commits it. It must leave
        nothing behind when it raises (its uncommitted files deleted).
    catalog
        Moved to the latest version before each retry, so ``attempt`` sees the winner's change.
    cancel
        Checked while waiting; a cancel ends the wait at once.
    tries
        The most tries, the first one included.
    on_conflict
        Called with the number of the try that lost (1-based), before the wait.

    Raises
    ------
    CatalogBusyError
        When every try lost to another process's change; nothing was saved.
    """
    waiter = threading.Event()
    for number in range(1, tries + 1):
        try:
            return attempt()
        except Exception as exc:
            if not is_retryable_conflict(exc):
                raise
            if number == tries:
                raise CatalogBusyError() from None
        if on_conflict is not None:
            on_conflict(number)
        _wait(waiter, backoff_delay(number), cancel)
        if catalog is not None:
            catalog.refresh()
    raise CatalogBusyError()  # only reached with tries < 1


def _wait(waiter: threading.Event, seconds: float, cancel: CancelToken | None) -> None:
    if cancel is None:
        waiter.wait(seconds)
        return
    remove = cancel.on_cancel(waiter.set)
    try:
        waiter.wait(seconds)
    finally:
        remove()
        waiter.clear()
    cancel.raise_if_cancelled()


def exclusive_append(
    ds: lance.LanceDataset,
    new_fragments: Iterable[Any],
    updated: Iterable[Any] = (),
    removed: Iterable[int] = (),
) -> Any:
    """An operation adding rows that fails if anything was committed since ``ds.version``.

    Lance rebases an ``Append`` (and an ``Update``) over a concurrent commit without a conflict,
    so two imports that each checked for existing sequences before committing would both store a
    sequence they share. A ``Merge`` naming every fragment of ``ds`` (``updated`` replacing theirs
    by id, ``removed`` left out) plus the new ones conflicts with any concurrent commit instead:
    the loser deduplicates again against what was committed and retries.

    The new fragments are numbered here, after the highest id the table ever had: a ``Merge``
    takes a fragment of id 0 for the table's fragment 0 when that one is left out (removed).
    """
    import dataclasses

    import lance

    replace = {f.id: f for f in updated}
    gone = set(removed)
    kept = [replace.get(f.fragment_id, f.metadata) for f in ds.get_fragments() if f.fragment_id not in gone]
    first = next_fragment_id(ds)
    new = [dataclasses.replace(f, id=first + i) for i, f in enumerate(new_fragments)]
    return lance.LanceOperation.Merge(kept + new, ds.lance_schema)


def next_fragment_id(ds: lance.LanceDataset) -> int:
    """The id Lance would give the next new fragment: one more than the highest id the table ever had.

    Fragments removed entirely (by an edit, a compaction) leave their ids unused for good, so the
    fragments present do not tell; the manifest keeps the highest id (``max_fragment_id``, field 11
    of Lance's ``Manifest`` message), which pylance does not expose otherwise.
    """
    present = max((f.fragment_id for f in ds.get_fragments()), default=-1)
    recorded = _manifest_varint(ds._ds.serialized_manifest(), 11)
    return max(present, recorded if recorded is not None else -1) + 1


def _manifest_varint(message: bytes, number: int) -> int | None:
    """The value of the top-level varint field ``number`` of a protobuf message (``None`` if absent)."""
    pos, found = 0, None

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = message[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(message):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
            if field == number:
                found = value
        elif wire == 2:
            pos += varint()
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:  # groups are not used by Lance's manifest
            return found
    return found


def hashes_added_since(catalog: CatalogLike, read_version: int) -> np.ndarray:
    """Sorted ``S32`` hashes of the rows in fragments added after ``read_version`` (up to the version read now).

    Fragment ids are never reused, so the fragments added since are those whose id the old
    version does not have; rows rewritten by an edit count too (a superset is harmless).
    """
    ds = catalog.dataset()
    if read_version == ds.version:
        return np.empty(0, dtype="S32")
    before = {f.fragment_id for f in catalog.dataset(read_version).get_fragments()}
    added = [f for f in ds.get_fragments() if f.fragment_id not in before]
    if not added:
        return np.empty(0, dtype="S32")
    column = ds.scanner(columns=["seq_hash"], fragments=added).to_table().column("seq_hash")
    found = np.array(column.to_pylist(), dtype="S32")
    found.sort()
    return found
