"""What runs inside a worker process: one job at a time, from a pipe.

A worker is a separate process (``spawn``) started with ``OMP_NUM_THREADS=1`` so that
workers do not oversubscribe the cores.  It receives ``("run", payload)``, sends
``("progress", step, fraction)`` while the engine works, writes the pickled
:class:`cqox.Analysis` next to the datasets (atomically) and answers
``("done", result)`` or ``("error", code, message, details)``.  Killing a worker (time
limit, cancellation) loses only its current job.
"""

from __future__ import annotations

import pickle
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

#: Seconds between two progress messages (the parent writes each one to the database).
PROGRESS_INTERVAL_S = 0.2


def run_job(payload: dict[str, Any], progress: Any = None) -> dict[str, Any]:
    """Run one analysis request on a stored dataset and return its JSON result.

    ``payload`` has ``kind`` (comprehensive, ate, cate, did or design), ``dataset_path``,
    ``artifact_path``, ``mapping`` (role → column), ``estimators``, ``params``,
    ``thresholds``, ``seed`` and, for the design route, ``design``.
    """
    import pandas as pd

    import cqox
    from cqox.errors import DesignError
    from cqox.estimators import registry

    df = pd.read_parquet(payload["dataset_path"])
    mapping = dict(payload.get("mapping") or {})
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
        available = [
            n
            for n, cls in registry.all_estimators().items()
            if designs & {str(d) for d in cls.designs}
        ]
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
    )
    result = analysis.to_dict()
    if kind == "cate":
        result.update(_cate_extras(analysis, payload.get("prediction_grid")))
    artifact = Path(payload["artifact_path"])
    artifact.parent.mkdir(parents=True, exist_ok=True)
    from cqox.server.storage import atomic_write

    atomic_write(artifact, pickle.dumps(analysis, protocol=pickle.HIGHEST_PROTOCOL))
    return result


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


def worker_main(conn: Connection, warm_up: bool = True) -> None:
    """Loop of a worker process: receive a job, run it, answer; exit on ``None``."""
    from threadpoolctl import threadpool_limits

    from cqox.errors import CqoxError

    threadpool_limits(1)
    _exit_with_parent()
    if warm_up:
        _warm_up()
    else:
        import cqox  # noqa: F401  # the engine's import cost is paid before "ready"
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        _, payload = message
        try:
            result = run_job(payload, _Progress(conn))
        except CqoxError as exc:
            conn.send(("error", str(exc.code), exc.message, _plain(exc.details)))
        except MemoryError:
            conn.send(("error", "INTERNAL_ERROR", "the analysis ran out of memory", {}))
        except Exception as exc:
            conn.send(
                ("error", "INTERNAL_ERROR", f"analysis failed: {type(exc).__name__}: {exc}", {})
            )
        else:
            conn.send(("done", result))


def _exit_with_parent() -> None:
    """End this worker when the service process dies (even by SIGKILL): no orphans."""
    import multiprocessing
    import os
    import threading

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
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
