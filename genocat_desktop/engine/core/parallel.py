"""One call's work split over the CPUs this process may use, on threads of its own.

The compiled loops of a search (BLAS, pyopal's SIMD pass, parasail's pairs) release the GIL, so
the parts of one query's work run at once on several cores and a single search, what a user waits
for, finishes sooner. Threads are started for the call (~0.1 ms each, against parts of
milliseconds) and joined before it returns: nothing runs between searches, a cancelled search
leaves nothing behind, and a process that forks (bulk ingest) holds no pool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Final

__all__ = ["MAX_PARTS", "THREADS_ENV", "part_count", "run_parts", "usable_cpus"]

#: At most this many parts (threads) per call.
MAX_PARTS: Final = 4
#: Environment variable capping the threads of one call (``1``: everything on the caller's thread).
THREADS_ENV: Final = "GENOCAT_SEARCH_THREADS"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count), capped by :data:`THREADS_ENV`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cpus = os.cpu_count() or 1
    cap = os.environ.get(THREADS_ENV, "").strip()
    if cap.isdigit() and int(cap) > 0:
        cpus = min(cpus, int(cap))
    return max(cpus, 1)


def part_count(items: int, least: int, cpus: int | None = None) -> int:
    """How many parts to split ``items`` pieces of work into: one per usable CPU (at most
    :data:`MAX_PARTS`), each of at least ``least`` pieces (below that a thread's start costs more than
    it saves). ``cpus``: the CPUs to assume (default :func:`usable_cpus`)."""
    if items < 2 * least:
        return 1  # the common small case, without asking for the affinity
    return max(1, min(cpus if cpus is not None else usable_cpus(), MAX_PARTS, items // max(least, 1)))


def run_parts(work: Callable[[int], None], parts: int, name: str = "genocat-part") -> None:
    """Call ``work(i)`` for each part ``i`` in ``range(parts)``: part 0 on this thread, the others on
    threads of their own, all joined before returning. The first error raised by a part is raised
    here (after every part has finished, so none is still writing its results)."""
    if parts < 2:
        for i in range(parts):
            work(i)
        return
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # e.g. MemoryError: re-raised in the caller below
            errors.append(exc)

    helpers = [threading.Thread(target=guarded, args=(i,), name=f"{name}-{i}", daemon=True)
               for i in range(1, parts)]
    for t in helpers:
        t.start()
    guarded(0)
    for t in helpers:
        t.join()
    if errors:
        raise errors[0]
