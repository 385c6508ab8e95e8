"""What runs inside a worker process: one job at a time, from a socket.

A worker is a fresh interpreter (``python -m cqox.server.worker --fd N …``) started by
the job runner through :mod:`cqox.server.sandbox`: allow-listed environment, an
unprivileged user when the service is root, its own session and process group, one
BLAS thread, and an address-space limit it sets on itself first thing.  It receives
``("run", payload)`` followed by the open file descriptor of the dataset (the worker
needs no access to the data folder), sends ``("progress", step, fraction)`` while the
engine works and answers ``("done", summary, document, artefact)`` — the result's
summary (:func:`result_summary`), the result encoded as JSON once
(:mod:`cqox.server.json_documents`) and the pickled :class:`cqox.Analysis`, which the
parent stores — or ``("error", code, message, details)``.  Killing a worker's process
group (time limit, cancellation) loses only its current job and leaves no process behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import signal
import socket
import threading
import time
from multiprocessing.connection import Connection
from typing import IO, Any

#: Modules imported lazily (inside functions) by the engine or by the process pools it
#: starts, preloaded before a worker drops root (see :func:`preload`).
PRELOAD = (
    "concurrent.futures.process",
    "multiprocessing.synchronize",
    "multiprocessing.queues",
    "multiprocessing.pool",
    "multiprocessing.popen_fork",
    "multiprocessing.popen_spawn_posix",
    "multiprocessing.resource_tracker",
    "multiprocessing.shared_memory",
    "pickle",
    "formulaic",
    "lightgbm",
    "pyarrow.parquet",
    "sklearn.base",
    "sklearn.ensemble",
    "sklearn.isotonic",
    "sklearn.linear_model",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "matplotlib",
    "plotly",
)
#: Seconds between two progress messages (the parent writes each one to the database).
PROGRESS_INTERVAL_S = 0.2


def run_job(
    payload: dict[str, Any],
    progress: Any = None,
    source: str | IO[bytes] | None = None,
    network_source: str | IO[bytes] | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Run one analysis request on a stored dataset: its JSON result and pickled Analysis.

    ``payload`` has ``kind`` (comprehensive, ate, cate, did or design), ``roles`` (role →
    column; ``mapping`` in jobs queued before the rename), ``estimators``, ``params``,
    ``thresholds``, ``seed`` and, for the design route, ``design``.  ``source`` is the
    dataset (Parquet): an open file or a path; default ``payload["dataset_path"]``.
    With ``network_dataset_id`` in the payload, ``network_source`` (default
    ``payload["network_dataset_path"]``) is the edge table passed as ``network=``.
    """
    import pandas as pd

    import cqox
    from cqox.errors import DesignError
    from cqox.estimators import registry

    df = pd.read_parquet(payload["dataset_path"] if source is None else source)
    network = None
    if payload.get("network_dataset_id") is not None:
        network = pd.read_parquet(
            payload["network_dataset_path"] if network_source is None else network_source
        )
    mapping = dict(payload.get("roles") or payload.get("mapping") or {})
    kind = payload["kind"]
    estimators = payload.get("estimators")
    params = {k: dict(v) for k, v in (payload.get("params") or {}).items()}
    if kind == "cate":
        estimators = [payload["estimator"]]
    elif kind == "ate":
        name = payload["estimator"]
        params.setdefault(name, {}).setdefault("estimand", "ATE")
        estimators = [name]
    elif kind in ("did", "design"):
        designs = {"did", "staggered_did"} if kind == "did" else {payload["design"]}
        available = [cls.name for cls in registry.for_designs(designs)]
        if estimators:
            unknown = [e for e in estimators if e not in available]
            if unknown:
                raise DesignError(
                    f"estimator(s) {', '.join(unknown)} do not serve the "
                    f"{'/'.join(sorted(designs))} design (available: "
                    f"{', '.join(available) or 'none'})",
                    details={"estimators": unknown},
                )
        else:
            if not available:
                raise DesignError(
                    f"no estimator for the {'/'.join(sorted(designs))} design is registered "
                    "in this version of CQOx",
                    details={"design": sorted(designs)},
                )
            estimators = available
    analysis = cqox.analyze(
        df,
        roles=mapping,
        estimators=estimators,
        params=params,
        thresholds=payload.get("thresholds") or {},
        infer=bool(payload.get("infer", True)),
        seed=payload.get("seed", 0),
        progress=progress,
        dag=payload.get("dag"),
        network=network,
    )
    result = analysis.to_dict()
    if kind == "cate":
        result.update(_cate_extras(analysis, payload.get("prediction_grid")))
    return result, pickle.dumps(analysis, protocol=pickle.HIGHEST_PROTOCOL)


def result_summary(result: dict[str, Any]) -> dict[str, Any]:
    """What the job runner and the metrics read of a result, without the whole document.

    ``elapsed_s``, ``quality`` (the verdict and the flagged gates that
    ``quality_gates.enforce`` checks) and, per estimate, ``estimator`` and ``elapsed_s``
    (:meth:`cqox.server.metrics.Metrics.observe_result`): the same keys and values as
    the result, so either may be given to them.
    """
    return {
        "elapsed_s": result.get("elapsed_s"),
        "quality": result.get("quality") or {},
        "estimates": [
            {"estimator": e.get("estimator"), "elapsed_s": e.get("elapsed_s")}
            for e in result.get("estimates") or []
        ],
    }


def _cate_extras(analysis: Any, grid: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``cate_predictions`` on the grid and ``feature_importance`` of the CATE estimate."""
    import pandas as pd

    from cqox.core.jsonable import to_jsonable

    est = next((e for e in analysis.estimates if e.unit_effects is not None), None)
    if est is None:
        return {"cate_predictions": [], "feature_importance": {}}
    out: dict[str, Any] = {
        "feature_importance": est.diagnostics.get("feature_importance", {}),
        "cate_summary": est.diagnostics.get("cate", {}),
        "cate_predictions": [],
    }
    if grid:
        frame = pd.DataFrame(grid)
        pred = est.effects(frame).reset_index(drop=True)
        out["cate_predictions"] = to_jsonable(frame.join(pred))
    return dict(to_jsonable(out))


def limit_memory(max_bytes: int) -> None:
    """Cap this process's address space (and its future children's) at ``max_bytes``.

    An allocation beyond it fails (``MemoryError`` in Python) instead of pushing the
    host into swap or the OOM killer's hands.
    """
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = max_bytes if hard == resource.RLIM_INFINITY else min(max_bytes, hard)
    # soft and hard alike: nothing running in the worker can raise it again
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def hand_over_numba_cache(uid: int, gid: int) -> None:
    """Give the worker's Numba cache (``NUMBA_CACHE_DIR``) to the user it becomes.

    Importing the engine as root creates a cache folder per Numba module (Numba makes
    it when a ``cache=True`` kernel is declared); a kernel first compiled by a job after
    the drop (the causal forest's, the policy tree's) must write its index there, which
    a root-owned folder refuses (``PermissionError``).
    """
    top = os.environ.get("NUMBA_CACHE_DIR")
    if not top or not os.path.isdir(top):
        return
    for root, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), uid, gid)
    os.chown(top, uid, gid)


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` for good (no supplementary groups); refuse to go on as root.

    Irreversible: real, effective and saved ids all change, so nothing the worker runs
    afterwards can regain root.
    """
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() == 0 or os.geteuid() == 0 or os.getegid() != gid:  # pragma: no cover
        raise SystemExit("cqox worker: dropping privileges failed")


def preload() -> None:
    """Import every module of the engine (not the service and CLI shells).

    Before a worker drops root, so that a job never needs to read the Python
    installation again, which the unprivileged user may not be allowed to (an
    interpreter under ``/root``).
    """
    import importlib
    import pkgutil

    import cqox

    for module in pkgutil.walk_packages(cqox.__path__, "cqox."):
        if not module.name.startswith(("cqox.server", "cqox.cli")):
            importlib.import_module(module.name)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # optional (a platform without it): the job will say so
            continue


def worker_main(
    conn: Connection,
    sock: socket.socket,
    warm_up: bool = True,
    identity: tuple[int, int] | None = None,
) -> None:
    """Loop of a worker process: receive a job and its dataset, run it, answer.

    With ``identity`` (uid, gid), the engine is imported and warmed up first, then the
    process drops to that user before it answers ``ready``: no job input is ever read
    as root.  Ends on ``None`` or when the service closes its end of the socket.
    """
    from multiprocessing.reduction import recvfds

    from threadpoolctl import threadpool_limits

    from cqox.errors import CqoxError
    from cqox.server.json_documents import encode

    threadpool_limits(1)
    _exit_with_parent()
    if identity is not None:
        preload()
    if warm_up or identity is not None:
        _warm_up()
    else:
        import cqox  # noqa: F401  # the engine's import cost is paid before "ready"
    if identity is not None:
        hand_over_numba_cache(*identity)
        drop_privileges(*identity)
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        _, payload = message
        count = 2 if payload.get("network_dataset_id") is not None else 1
        try:
            fds = recvfds(sock, count)
        except (EOFError, OSError, RuntimeError):
            return
        try:
            with contextlib.ExitStack() as stack:
                source, *rest = [stack.enter_context(os.fdopen(fd, "rb")) for fd in fds]
                result, artefact = run_job(
                    payload, _Progress(conn), source, rest[0] if rest else None
                )
                # encoded here, once: the parent stores these bytes and the routes serve them
                done = ("done", result_summary(result), encode(result), artefact)
        except CqoxError as exc:
            conn.send(("error", str(exc.code), exc.message, _plain(exc.details)))
        except MemoryError:
            conn.send(
                (
                    "error",
                    "INTERNAL_ERROR",
                    "the analysis ran out of memory (limit CQOX_WORKER_MEMORY_MB); use "
                    "fewer rows, replicates or estimators",
                    {},
                )
            )
        except Exception as exc:
            conn.send(
                ("error", "INTERNAL_ERROR", f"analysis failed: {type(exc).__name__}: {exc}", {})
            )
        else:
            conn.send(done)
        finally:
            _end_job_processes()


def _end_job_processes() -> None:
    """Kill what a finished job left in this worker's process group (a pool's workers).

    No process of one job outlives it into the next (another user's) job.
    """
    from cqox.server.sandbox import group_members

    me = os.getpid()
    if os.getpgid(0) != me:  # not a group leader (run by hand): nothing is ours alone
        return
    for pid in group_members(me):
        if pid != me:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
    while True:  # reap them
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _exit_with_parent() -> None:
    """End this worker's whole process group when the service dies (even by SIGKILL).

    The worker leads its own session, so the service's death does not signal it: a
    thread watches the parent process id instead.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        if os.getpgid(0) == os.getpid():
            os.killpg(0, signal.SIGKILL)
        os._exit(0)

    threading.Thread(target=watch, name="cqox-parent-watch", daemon=True).start()


class _Progress:
    """Forward engine progress to the parent, at most every ``PROGRESS_INTERVAL_S``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.last = 0.0

    def __call__(self, step: str, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL_S:
            self.last = now
            self.conn.send(("progress", str(step)[:250], float(fraction)))


def _plain(details: dict[str, Any]) -> dict[str, Any]:
    from cqox.core.jsonable import to_jsonable

    out = to_jsonable(details)
    return out if isinstance(out, dict) else {}


def _warm_up() -> None:
    """Import and run the engine once, so the first real job pays no start-up cost."""
    import cqox

    df, _ = cqox.simulate.confounded_binary(n=200, seed=0)
    try:
        cqox.analyze(df, outcome="y", treatment="t")
    except Exception:  # a broken estimator must not keep the worker from starting
        return
    _load_kernels()


def _load_kernels() -> None:
    """Load the RD kernels the service's cache seeded (``NUMBA_CACHE_DIR``).

    Loading them costs about 0.5 s, paid here, before ``ready``, rather than by the
    first RD job; it also pays Numba's one-time set-up (about 0.25 s at its first
    kernel).  The other families' kernels (forest, policy tree, matching, synthetic
    control, network) are loaded by their first job, 0.01-0.13 s each from the seeded
    copy once Numba is set up: running all their warm-ups here added 0.26-0.52 s of CPU
    to the worker's start and 30 MB to its memory (376 → 406 MB), for every worker,
    whether or not it ever runs those families.  Without a seeded cache nothing is
    done: compiling (7-8 s) at every worker start would cost more than the one job
    that needs them.
    """
    from cqox.analysis.kernel_cache import STAMP_FILE, warm_up

    folder = os.environ.get("NUMBA_CACHE_DIR")
    if not folder or not os.path.isfile(os.path.join(folder, STAMP_FILE)):
        return
    try:
        warm_up(["rd"])
    except Exception:  # a broken estimator must not keep the worker from starting
        return


def main(argv: list[str] | None = None) -> None:
    """Entry point of a worker process (started by :class:`cqox.server.jobs.JobRunner`)."""
    parser = argparse.ArgumentParser(prog="python -m cqox.server.worker")
    parser.add_argument("--fd", type=int, required=True, help="the socket to the service")
    parser.add_argument("--memory-bytes", type=int, default=0, help="RLIMIT_AS (0: none)")
    parser.add_argument("--warm-up", action="store_true", help="run a small analysis first")
    parser.add_argument("--uid", type=int, default=None, help="drop to this user id")
    parser.add_argument("--gid", type=int, default=None, help="and this group id")
    args = parser.parse_args(argv)
    if args.memory_bytes > 0:
        limit_memory(args.memory_bytes)
    identity = None if args.uid is None or args.gid is None else (args.uid, args.gid)
    sock = socket.socket(fileno=args.fd)
    conn = Connection(os.dup(args.fd))
    try:
        worker_main(conn, sock, args.warm_up, identity)
    finally:
        conn.close()
        sock.close()


if __name__ == "__main__":
    main()
