"""Where the tasks of a bulk ingest run: in this process, a pool of local processes, or Ray.

:func:`gather` waits for a set of tasks and fails with the parts whose tasks failed.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from typing import Any, Final, Protocol

from genocat_desktop.engine.core.errors import Cancelled, GenoCatError, InputError
from genocat_desktop.engine.core.progress import CancelToken
from genocat_desktop.engine.ingest.distributed.plan import Part

__all__ = ["ENGINES", "RAY_RUNTIME_ENV", "IngestFailed", "Runner", "gather", "make_runner", "ray_available"]

#: The engines :func:`ingest` can run on.
ENGINES: Final = ("local", "ray")


def ray_available() -> bool:
    """Whether the optional Ray extra is installed (``pip install 'genocat-desktop[ray]'``)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


class Runner(Protocol):
    name: str
    workers: int

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any: ...
    def wait(self, handles: list[Any], timeout: float) -> list[Any]: ...
    def result(self, handle: Any) -> Any: ...
    def cancel(self, handles: list[Any]) -> None: ...
    def close(self) -> None: ...


class _InlineRunner:
    """Runs tasks in this process, one at a time (``workers=0``: tests, debugging, one core)."""

    name = "inline"
    workers = 1

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        from concurrent.futures import Future

        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(arg))
        except BaseException as exc:  # handed to the driver like a worker's error
            fut.set_exception(exc)
        return fut

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        return list(handles)

    def result(self, handle: Any) -> Any:
        return handle.result()

    def cancel(self, handles: list[Any]) -> None:
        pass

    def close(self) -> None:
        pass


class _PoolRunner:
    """A pool of ``spawn``-started processes on this machine (forking after importing Lance can hang)."""

    name = "local"

    def __init__(self, workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return self._pool.submit(fn, arg)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return [h for h in handles if h in done]

    def result(self, handle: Any) -> Any:
        return handle.result()

    def cancel(self, handles: list[Any]) -> None:
        for h in handles:
            h.cancel()  # queued tasks never start; running ones finish their part (seconds)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _ray_worker_setup() -> None:
    """Import Lance whole in each Ray worker process, before its first task runs.

    A failed part makes the driver cancel the others (``ray.cancel``), and Ray stops a running task
    by raising ``KeyboardInterrupt`` in it. If that task was importing Lance for the first time, the
    package stays half-initialised in that worker process, which Ray goes on using: every later task
    there fails with "module 'lance.dataset' has no attribute 'LanceDataset'". No task runs while
    this hook does, so none can be interrupted mid-import.
    """
    import lance
    import lance.dataset
    import lance.fragment  # noqa: F401


#: The runtime environment of the Ray jobs this engine starts (the tests' Ray uses it too). The hook
#: is named by its import path: ``ray.init`` replaces a function there with such a path, in place.
RAY_RUNTIME_ENV: Final[dict[str, Any]] = {"worker_process_setup_hook": f"{__name__}._ray_worker_setup"}


class _RayRunner:
    """Ray tasks on a cluster (``address``) or on a Ray started here for the ingest."""

    name = "ray"

    def __init__(self, address: str | None, workers: int | None, retries: int) -> None:
        try:
            import ray
        except ImportError:
            raise InputError("the ray engine needs the Ray extra: pip install 'genocat-desktop[ray]'") from None
        self.ray = ray
        self._owned = False
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            kwargs: dict[str, Any] = {"address": address, "logging_level": "error", "log_to_driver": False,
                                      "runtime_env": dict(RAY_RUNTIME_ENV)}
            if address in (None, "local"):
                kwargs.update(address=None, num_cpus=workers or os.cpu_count(), include_dashboard=False,
                              object_store_memory=512 << 20)
            try:
                with warnings.catch_warnings():
                    # Ray starts its daemons with subprocess (fork + exec at once): Lance's and LanceDB's
                    # fork-safety warnings do not apply to them.
                    warnings.filterwarnings("ignore", message=".*fork", category=UserWarning)
                    warnings.filterwarnings("ignore", message=".*fork", category=RuntimeWarning)
                    ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
            self._owned = True
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._options = {"max_retries": retries, "retry_exceptions": False, "num_cpus": 1}
        self._remote: dict[Callable[[Any], Any], Any] = {}

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self.ray.remote(fn).options(**self._options)
        return remote.remote(arg)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        done, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        if done:  # take everything that is ready, not just one
            done, _ = self.ray.wait(handles, num_returns=len(handles), timeout=0)
        return list(done)

    def result(self, handle: Any) -> Any:
        return self.ray.get(handle)

    def cancel(self, handles: list[Any]) -> None:
        for h in handles:
            with contextlib.suppress(Exception):
                self.ray.cancel(h, force=False)

    def close(self) -> None:
        if self._owned:
            self.ray.shutdown()


def make_runner(engine: str, workers: int | None, address: str | None, retries: int) -> Runner:
    if engine == "local":
        n = (os.cpu_count() or 1) if workers is None else workers
        return _InlineRunner() if n == 0 else _PoolRunner(n)
    if engine == "ray":
        return _RayRunner(address, workers, retries)
    raise InputError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")


class IngestFailed(Exception):
    def __init__(self, message: str, parts: list[str]) -> None:
        super().__init__(message)
        self.parts = parts


def gather(
    runner: Runner, handles: dict[Any, Part], on_result: Callable[[Part, Any], None], cancel: CancelToken
) -> None:
    """Wait for every task; fail with the parts whose tasks failed (after the others end)."""
    pending = list(handles)
    failures: list[tuple[Part, str]] = []
    while pending:
        if cancel.cancelled:
            runner.cancel(pending)
            _drain(runner, pending, handles, on_result)
            raise Cancelled()
        for h in runner.wait(pending, 0.1):
            pending.remove(h)
            part = handles[h]
            try:
                value = runner.result(h)
            except Exception as exc:
                if "Cancel" in type(exc).__name__:
                    continue  # stopped by us after another part failed
                failures.append((part, _task_error(exc)))
                if not failures[1:]:
                    runner.cancel(pending)  # no point going on: nothing will be committed
                continue
            on_result(part, value)
    if failures:
        failures.sort(key=lambda f: f[0].index)
        part, why = failures[0]
        more = f" ({len(failures) - 1} other part(s) failed too)" if len(failures) > 1 else ""
        raise IngestFailed(f"{part.describe()}: {why}{more}", [p.describe() for p, _ in failures])


def _drain(
    runner: Runner, pending: list[Any], handles: dict[Any, Part], on_result: Callable[[Part, Any], None]
) -> None:
    """After a cancel: wait for the tasks still running, keeping what they wrote (to delete it)."""
    for h in pending:
        with contextlib.suppress(Exception):
            on_result(handles[h], runner.result(h))


def _task_error(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, GenoCatError):
        return str(cause)
    if isinstance(exc, GenoCatError):
        return str(exc)
    name = type(exc).__name__
    if "BrokenProcessPool" in name or "WorkerCrashed" in name or "NodeDied" in name or "ActorDied" in name:
        return "the worker process died (crash, out of memory or killed)"
    first = (str(exc).strip().splitlines() or [name])[-1]
    return f"{name}: {first[:300]}"
