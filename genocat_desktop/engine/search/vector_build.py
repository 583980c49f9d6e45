"""Building a vector index: Lance's build of one uncommitted segment, in this process or a child process.

The index is written *uncommitted* (``create_index_uncommitted``) and published
only when complete, so a cancelled or failed build leaves the catalog exactly
as it was. A build is described by a spec (a plain dictionary, so that it can
be sent to a spawned child process): ``uri``, ``version``,
``storage_options``, ``column``, ``index_type``, ``name``, ``fragment_ids``,
``index_uuid`` and ``kwargs`` (Lance's ``create_index`` arguments).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Final

from genocat_desktop.engine.core.errors import CatalogError, StorageError
from genocat_desktop.engine.core.process import configure_process
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback
from genocat_desktop.engine.search.lance_errors import first_line

__all__ = [
    "HIERARCHICAL_PARTITIONS",
    "MAX_PARTITIONS",
    "BuildEvents",
    "ChildBuild",
    "VectorIndexParams",
    "build_vector",
    "choose_vector_params",
    "commit_vector",
    "is_silent",
]

#: Above this many partitions Lance trains with hierarchical k-means and calls the progress callback
#: from a worker thread while the calling thread waits holding the GIL: the build deadlocks (every
#: thread waiting, no CPU used; with the callback 1M rows × 1000 partitions hung every time, without
#: it never). Such builds run in the child process without Lance's progress events.
HIERARCHICAL_PARTITIONS: Final = 256
#: At most this many IVF partitions. Above :data:`HIERARCHICAL_PARTITIONS` Lance trains them with
#: hierarchical k-means, which has hung 1M-row builds; such builds run in a child process with a watchdog.
MAX_PARTITIONS: Final = 4096


@dataclass(frozen=True, slots=True)
class VectorIndexParams:
    """How a vector index is built.

    Attributes
    ----------
    index_type
        A Lance vector index type: ``"IVF_RQ"`` (default), ``"IVF_SQ"``,
        ``"IVF_PQ"``, ``"IVF_HNSW_SQ"``, ``"IVF_FLAT"``.
    num_partitions
        IVF partitions (k-means clusters).
    num_bits
        Bits per dimension for RQ (1) or SQ (8); ignored by other types.
    num_sub_vectors
        PQ sub-vectors (``dim / 8`` when ``None``).
    """

    index_type: str = "IVF_RQ"
    num_partitions: int = 256
    num_bits: int | None = 4
    num_sub_vectors: int | None = None

    def lance_kwargs(self, dim: int) -> dict[str, Any]:
        """Keyword arguments for ``create_index``."""
        kw: dict[str, Any] = {"metric": "cosine", "num_partitions": self.num_partitions}
        if self.index_type == "IVF_RQ":
            kw["num_bits"] = self.num_bits or 4
        elif self.index_type == "IVF_PQ":
            kw["num_sub_vectors"] = self.num_sub_vectors or max(1, dim // 8)
        return kw


def choose_vector_params(rows: int, dim: int) -> VectorIndexParams:
    """Pick the vector index for a catalog of ``rows`` vectors of ``dim`` dimensions.

    IVF_RQ, 4 bits per dimension, ``num_partitions ≈ √rows / 2`` (500 at 1M
    rows), at least ~100 rows per partition (so k-means has data to learn
    from) and at most :data:`MAX_PARTITIONS`. Half of the textbook √rows:
    at 1M rows Lance built 500 partitions in 57 s and 1000 in 65 s (the
    assignment of rows to partitions grows with their number; load ~3.5),
    and the probe count calibrated after the build makes up for the larger
    partitions.
    """
    del dim  # RQ's size and speed scale with dim, but its parameters do not need to
    parts = round(math.sqrt(max(rows, 1)) / 2)
    parts = max(1, min(parts, MAX_PARTITIONS, max(1, rows // 100)))
    return VectorIndexParams("IVF_RQ", parts, 4)


class BuildEvents:
    """Turns Lance's ``IndexProgress`` events into :class:`Progress` reports and checks cancel."""

    STAGES: Final = {
        "train_ivf": "training the partitions (k-means)",
        "train_quantizer": "training the quantizer",
        "shuffle": "assigning rows to partitions",
        "merge_partitions": "writing partitions",
        "build": "training, assigning and writing partitions",
    }

    def __init__(self, what: str, progress: ProgressCallback, cancel: CancelToken) -> None:
        self.what = what
        self.progress = progress
        self.cancel = cancel
        self.started = time.perf_counter()

    def __call__(self, event: Any) -> None:
        # Raising here aborts the Lance build (within 0.2 s during training).
        self.cancel.raise_if_cancelled()
        stage = str(getattr(event, "stage", "") or "")
        label = self.STAGES.get(stage, stage.replace("_", " "))
        done = int(event.completed or 0)
        total = int(event.total) if event.total else None
        unit = str(event.unit or "steps")
        elapsed = time.perf_counter() - self.started
        message = f"{self.what}: {label}" + (f" ({done:,}/{total:,} {unit})" if total else "") + f", {elapsed:.0f} s"
        self.progress(Progress(done, total, unit, stage or "indexing", message))


def is_silent(spec: dict[str, Any]) -> bool:
    """Whether this build must run without Lance's progress callback (see :data:`HIERARCHICAL_PARTITIONS`)."""
    return int(spec["kwargs"].get("num_partitions", 1)) > HIERARCHICAL_PARTITIONS


def build_vector(spec: dict[str, Any], callback: Any) -> Any:
    """Write the vector index of ``spec`` as an uncommitted segment; return Lance's ``Index``."""
    import lance

    ds = lance.dataset(spec["uri"], version=spec["version"], storage_options=spec["storage_options"] or None)
    if is_silent(spec):
        callback = None  # (see HIERARCHICAL_PARTITIONS)
    return ds.create_index_uncommitted(
        spec["column"], spec["index_type"], name=spec["name"], replace=True, fragment_ids=spec["fragment_ids"],
        index_uuid=spec["index_uuid"], progress_callback=callback, **spec["kwargs"],
    )


def commit_vector(spec: dict[str, Any], index: Any) -> None:
    """Publish the segment ``index`` built from ``spec`` (on the latest version), replacing an older index."""
    import lance

    # A plain CreateIndex commit panics for the new vector index format; this call publishes
    # it and replaces an older index of the same name.
    ds = lance.dataset(spec["uri"], storage_options=spec["storage_options"] or None)
    ds.commit_existing_index_segments(spec["name"], spec["column"], [index])


def _child_main(spec: dict[str, Any], conn: Any) -> None:
    """Child process: build, report events, wait for "commit" (or be killed), commit, report."""
    configure_process()

    def callback(e: Any) -> None:
        conn.send(("event", e.event, e.stage, e.completed, e.total, e.unit))

    try:
        index = build_vector(spec, callback)
        conn.send(("built",))
        if conn.recv() == "commit":
            commit_vector(spec, index)
            conn.send(("committed",))
    except BaseException as exc:  # reported to the parent, which raises it as a GenoCatError
        conn.send(("error", isinstance(exc, OSError), first_line(exc)))


@dataclass
class _Event:
    event: str
    stage: str
    completed: int | None
    total: int | None
    unit: str


class ChildBuild:
    """A vector index build in a spawned process (not forked: forking after lance is loaded can hang).

    Cancel then stops it at once (the child is killed; nothing was published),
    and a Lance build that stops making progress cannot hang the caller's thread.
    """

    POLL_SECONDS: Final = 0.2

    def __init__(self, spec: dict[str, Any], events: BuildEvents, cancel: CancelToken) -> None:
        import multiprocessing

        self.spec = spec
        self.events = events
        self.cancel = cancel
        self.beat = time.perf_counter()
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=_child_main, args=(spec, child_conn), daemon=True,
                                name="genocat-index-build")
        self.proc.start()
        child_conn.close()

    def _next(self) -> tuple[Any, ...]:
        while not self.conn.poll(self.POLL_SECONDS):
            if self.cancel.cancelled:
                self.close()
                self.cancel.raise_if_cancelled()
            if is_silent(self.spec) and time.perf_counter() - self.beat >= 1.0:
                # No events come from a build without Lance's callback: say it is still working.
                self.beat = time.perf_counter()
                self.events(_Event("progress", "build", None, None, "steps"))
            if not self.proc.is_alive() and not self.conn.poll(0):
                raise CatalogError(f"the index build stopped unexpectedly (exit code {self.proc.exitcode})")
        try:
            message: tuple[Any, ...] = self.conn.recv()
        except EOFError:
            raise CatalogError(f"the index build stopped unexpectedly (exit code {self.proc.exitcode})") from None
        if message[0] == "error":
            where = self.spec["uri"]
            if message[1]:
                raise StorageError(f"could not build the vector index of {where}: {message[2]}")
            raise CatalogError(f"could not build the vector index of {where}: {message[2]}")
        return message

    def build(self) -> None:
        """Wait until the index is written (relaying progress); raises Cancelled after killing the child."""
        while True:
            message = self._next()
            if message[0] == "built":
                return
            try:
                self.events(_Event(*message[1:]))
            except BaseException:
                self.close()
                raise

    def commit(self) -> None:
        """Tell the child to publish the index and wait for it."""
        self.conn.send("commit")
        while self._next()[0] != "committed":
            pass

    def close(self) -> None:
        """Stop the child (killing it if it is still working) and release the pipe."""
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(10)
        self.conn.close()
