"""Where the embarrassingly parallel loops run: in-process, a local process pool, or Dask.

The loops of an analysis whose iterations are independent — bootstrap replicates,
Monte-Carlo coverage replications — are written as ``executor.map(fn, items)``.  Each
iteration draws its randomness from its own stream (``default_rng([seed, b])``), never
from a generator shared with the other iterations, so the results are identical
whichever executor runs them and however the items are split among workers.

Three executors:

- :class:`SerialExecutor` (``"serial"``): a plain loop in the calling process;
- :class:`ProcessExecutor` (``"processes"``): a local pool of forked processes, one
  BLAS/OpenMP thread each;
- :class:`DaskExecutor` (``"dask"``): a ``dask.distributed`` cluster, given by its
  scheduler's address (``tcp://host:8786``) or a ``distributed.Client``.  The function
  is sent once to every worker (``Client.scatter(..., broadcast=True)``), then chunks
  of items are mapped over it.  Dask is imported only when this executor is used
  (``pip install 'cqox[dask]'``).

The executor in force is a context variable: ``with cqox.compute.use(executor): …``
(the CLI's ``--dask ADDRESS``; the environment variable ``CQOX_DASK_SCHEDULER`` when no
executor is set).  :func:`current` returns it, and an Analysis records it as
``"compute": {"backend", "scheduler", "workers"}``.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from cqox.errors import EstimationError, ParameterError

T = TypeVar("T")
R = TypeVar("R")

#: Environment variable naming a Dask scheduler to use when no executor is set.
SCHEDULER_ENV = "CQOX_DASK_SCHEDULER"
#: Environment variable bounding, in seconds, each map of a Dask executor made from a
#: spec (``--dask``, ``CQOX_DASK_SCHEDULER``); unset: no bound.
TIMEOUT_ENV = "CQOX_DASK_TIMEOUT"
#: Chunks per worker: enough to balance uneven items, few enough to amortise a task.
CHUNKS_PER_WORKER = 4

Progress = Callable[[int, int], None]


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


def _chunks(n: int, parts: int) -> list[range]:
    """``range(n)`` cut into at most ``parts`` contiguous, nearly equal pieces."""
    parts = max(1, min(n, parts))
    bounds = [round(k * n / parts) for k in range(parts + 1)]
    return [range(bounds[k], bounds[k + 1]) for k in range(parts) if bounds[k + 1] > bounds[k]]


def _apply_chunk(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``fn`` over a chunk of items inside a task, whose own loops run in-process.

    A task never fans out again: a loop inside it (a bootstrap replicate's
    cross-fitting folds) runs serially in the task's process, with the same numbers.
    Otherwise each process-pool worker would start a pool of its own (it inherits the
    executor in force with the fork), and a Dask worker given ``CQOX_DASK_SCHEDULER``
    would submit tasks from a task and could wait on them with every thread held.
    """
    token = _CURRENT.set(SerialExecutor())
    try:
        return [fn(item) for item in items]
    finally:
        _CURRENT.reset(token)


def _apply_chunk_one_thread(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """:func:`_apply_chunk` with one BLAS/OpenMP thread (a Dask worker runs many tasks).

    Each worker process already runs as many tasks as it has threads; letting each
    task's BLAS use every core as well would oversubscribe the machine.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _apply_chunk(fn, items)


class Executor(ABC):
    """Runs ``fn`` over items; subclasses say where.

    Attributes
    ----------
    backend : str
        ``"serial"``, ``"processes"`` or ``"dask"``.
    scheduler : str or None
        The Dask scheduler's address (``None`` for the local executors).
    workers : int
        Processes the items are spread over.
    """

    backend = "serial"
    scheduler: str | None = None
    workers = 1

    @abstractmethod
    def map(
        self, fn: Callable[[T], R], items: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        """``[fn(item) for item in items]``, in order; ``progress(done, total)`` as they finish."""

    def describe(self) -> dict[str, Any]:
        """What an Analysis records as ``compute``."""
        return {"backend": self.backend, "scheduler": self.scheduler, "workers": self.workers}


class SerialExecutor(Executor):
    """A loop in the calling process."""

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        """Run in order, in this process."""
        out = []
        for k, item in enumerate(items):
            out.append(fn(item))
            if progress is not None:
                progress(k + 1, len(items))
        return out


def _limit_threads() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


class ProcessExecutor(Executor):
    """A local pool of ``workers`` forked processes (spawned where fork does not exist).

    Fork: workers start in milliseconds and inherit the imported modules.  ``fn`` and
    the items are pickled to the workers with each chunk, so ``fn`` must be picklable
    (a module-level function or a callable object, not a closure).
    """

    backend = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = available_cores() if workers is None or workers < 1 else int(workers)

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        """Run chunks of items in the pool; results in the items' order."""
        if self.workers == 1 or len(items) <= 1:
            return SerialExecutor().map(fn, items, progress)
        # imported here: the cross-fitting loop imports this module on every analysis
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        pieces = _chunks(len(items), self.workers * CHUNKS_PER_WORKER)
        out: list[Any] = [None] * len(items)
        done = 0
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_limit_threads) as pool:
            futures = {
                pool.submit(_apply_chunk, fn, [items[i] for i in piece]): piece for piece in pieces
            }
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    piece = futures[fut]
                    for i, value in zip(piece, fut.result(), strict=True):
                        out[i] = value
                    done += len(piece)
                if progress is not None:
                    progress(done, len(items))
        return out


class DaskExecutor(Executor):
    """A ``dask.distributed`` cluster.

    Parameters
    ----------
    address : str, optional
        The scheduler (``tcp://host:8786``); a client is connected on first use.
    client : distributed.Client, optional
        An existing client (e.g. of a ``LocalCluster``) instead of an address.
    timeout : float, optional
        Seconds one :meth:`map` may take on the cluster; past it the outstanding tasks
        are cancelled and :class:`~cqox.errors.EstimationError` names the timeout (a lost
        or paused worker then fails the analysis instead of stalling it).  ``None``:
        wait as long as the tasks take.
    """

    backend = "dask"

    def __init__(
        self, address: str | None = None, client: Any = None, timeout: float | None = None
    ) -> None:
        if (address is None) == (client is None):
            raise ParameterError(
                "DaskExecutor needs exactly one of 'address' (tcp://host:8786) or 'client'",
                details={"parameter": "address"},
            )
        if timeout is not None and not timeout > 0:
            raise ParameterError(
                f"DaskExecutor 'timeout' must be a positive number of seconds; got {timeout!r}",
                details={"parameter": "timeout", "value": timeout},
            )
        self._client = client
        self._address = address
        self.timeout = timeout

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (connected on first use)."""
        if self._client is None:
            try:
                from distributed import Client
            except ImportError as exc:  # pragma: no cover - the dask extra is missing
                raise ParameterError(
                    "the Dask executor needs dask.distributed: pip install 'cqox[dask]'",
                    details={"parameter": "dask"},
                ) from exc
            self._client = Client(self._address, set_as_default=False)
        return self._client

    @property
    def scheduler(self) -> str | None:  # type: ignore[override]
        """The scheduler's address."""
        if self._client is not None:
            return str(self._client.scheduler.address)
        return self._address

    @property
    def workers(self) -> int:  # type: ignore[override]
        """Workers connected to the scheduler now."""
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        """Send ``fn`` once to every worker, then map chunks of items over it."""
        from distributed import as_completed

        client = self.client
        if not items:
            return []
        shipped = client.scatter(fn, broadcast=True, hash=False)
        pieces = _chunks(len(items), max(1, self.workers) * CHUNKS_PER_WORKER)
        futures = [
            client.submit(_apply_chunk_one_thread, shipped, [items[i] for i in piece], pure=False)
            for piece in pieces
        ]
        where = {f.key: piece for f, piece in zip(futures, pieces, strict=True)}
        out: list[Any] = [None] * len(items)
        done = 0
        # `loop=`: this client's, not a default one
        finished = as_completed(futures, loop=client.loop, timeout=self.timeout)
        try:
            for fut in finished:
                values = fut.result()
                piece = where[fut.key]
                for i, value in zip(piece, values, strict=True):
                    out[i] = value
                done += len(piece)
                if progress is not None:
                    progress(done, len(items))
        except TimeoutError as exc:
            client.cancel(futures)
            raise EstimationError(
                f"the Dask cluster at {self.scheduler} did not finish {len(items)} tasks "
                f"within timeout={self.timeout} s ({done} done); a worker may be lost or "
                "paused for memory",
                details={"parameter": "timeout", "value": self.timeout, "done": done},
            ) from exc
        return out

    def close(self) -> None:
        """Close a client this executor connected (not one it was given)."""
        if self._address is not None and self._client is not None:
            self._client.close()
            self._client = None


_CURRENT: ContextVar[Executor | None] = ContextVar("cqox_executor", default=None)
_FROM_ENV: dict[str, DaskExecutor] = {}


def current() -> Executor | None:
    """The executor in force: set by :func:`use`, else ``CQOX_DASK_SCHEDULER``, else None."""
    ex = _CURRENT.get()
    if ex is not None:
        return ex
    address = os.environ.get(SCHEDULER_ENV, "").strip()
    if not address:
        return None
    if address not in _FROM_ENV:
        _FROM_ENV[address] = DaskExecutor(address, timeout=_timeout_from_env())
    return _FROM_ENV[address]


def _timeout_from_env() -> float | None:
    """``CQOX_DASK_TIMEOUT`` in seconds (None when unset); refused by name when not a number."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ParameterError(
            f"{TIMEOUT_ENV} must be a number of seconds; got {text!r}",
            details={"parameter": TIMEOUT_ENV, "value": text},
        ) from None


@contextlib.contextmanager
def use(executor: Executor | str | None) -> Iterator[Executor | None]:
    """Run the enclosed analysis with ``executor`` (an :class:`Executor` or a spec)."""
    ex = from_spec(executor) if isinstance(executor, str) else executor
    token = _CURRENT.set(ex)
    try:
        yield ex
    finally:
        _CURRENT.reset(token)


def from_spec(spec: str) -> Executor:
    """An executor from text: ``serial``, ``processes``, ``processes:N`` or a Dask address."""
    text = spec.strip()
    if text == "serial":
        return SerialExecutor()
    if text == "processes" or text.startswith("processes:"):
        count = text.partition(":")[2]
        if count and not count.isdigit():
            raise ParameterError(
                f"executor 'processes:N' needs a whole number of workers; got {spec!r}",
                details={"parameter": "executor", "value": spec},
            )
        return ProcessExecutor(int(count) if count else None)
    if "://" in text:
        return DaskExecutor(text, timeout=_timeout_from_env())
    raise ParameterError(
        f"unknown executor {spec!r}: use 'serial', 'processes', 'processes:N' or a Dask "
        "scheduler address such as tcp://host:8786",
        details={"parameter": "executor", "value": spec},
    )


def describe_current() -> dict[str, Any]:
    """``compute`` of an Analysis: the executor in force, else the local default.

    The default runs in-process and lets a large bootstrap use a local process pool of
    up to every available core (:func:`cqox.inference.bootstrap.run_replicates`).
    """
    ex = current()
    if ex is not None:
        return ex.describe()
    return {"backend": "local", "scheduler": None, "workers": available_cores()}
