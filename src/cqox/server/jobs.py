"""The job runner: a fair queue, a pool of sandboxed worker processes, and the job table.

Each worker slot is a thread in the service that owns one worker process
(:mod:`cqox.server.worker`, started by :mod:`cqox.server.sandbox`: scrubbed
environment, unprivileged user, own process group, memory limit).  The thread takes a
job id from the queue, marks the job running, opens the dataset and hands the payload
and the open file to its process, relays progress to the database, and stores the
artefact the worker sends back, until the process answers, the time limit passes or
the job is cancelled.  Then the worker's whole process group is killed — the job's
own children (a bootstrap's process pool) included — and the worker replaced.
At start-up, jobs left ``queued`` or ``running`` by a previous process are marked
failed: their worker died with it.

The queue is fair: jobs are served round-robin across users (the oldest job of the
user who has waited longest since last served), so one analyst's many jobs cannot
starve the others.

The runner is the seam for other executors (a Dask cluster): it needs only
``submit``, ``cancel``, ``wait`` and ``queue_depth``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.reduction import sendfds
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cqox.server import sandbox
from cqox.server.db import transaction
from cqox.server.json_documents import JsonText
from cqox.server.models import AnalysisRecord, Job, utcnow
from cqox.server.settings import Settings
from cqox.server.storage import atomic_write

log = logging.getLogger("cqox.server.jobs")

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")
#: Seconds between two progress writes of one job to the database.
PROGRESS_WRITE_S = 0.25
#: How long a new worker process may take to import the engine and warm up.
WORKER_START_TIMEOUT_S = 120.0


@dataclass
class Outcome:
    """How a job ended, as the runner saw it."""

    status: str
    analysis_id: str | None = None
    error: dict[str, Any] | None = None


class JobEvent(threading.Event):
    """The end of a job: a ``threading.Event`` that also calls back when it is set.

    A request waiting for its job registers a callback (:meth:`add_done_callback`) that
    wakes its event loop, instead of polling the event.
    """

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list[Callable[[], None]] = []
        self._callbacks_lock = threading.Lock()

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (no arguments) once the event is set; at once if it is."""
        with self._callbacks_lock:
            if not self.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def set(self) -> None:
        """Set the event and call the callbacks (each once; their errors are logged)."""
        with self._callbacks_lock:
            super().set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a job's done callback failed")


class FairQueue:
    """Jobs waiting for a worker, served round-robin across their owners.

    Each owner has a FIFO line; owners wait in a ring.  :meth:`get` takes the oldest
    job of the owner at the front and, if that owner has more, sends them to the back.
    An owner who arrives joins at the back.  :meth:`stop` wakes one waiting ``get``
    with ``None`` (shutdown).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._lines: OrderedDict[str, deque[str]] = OrderedDict()
        self._stops = 0

    def put(self, job_id: str, owner: str) -> None:
        """Queue ``job_id`` at the end of ``owner``'s line."""
        with self._cond:
            self._lines.setdefault(owner, deque()).append(job_id)
            self._cond.notify()

    def stop(self) -> None:
        """Make one ``get`` return ``None``."""
        with self._cond:
            self._stops += 1
            self._cond.notify()

    def get(self) -> str | None:
        """The next job (blocking), or ``None`` after :meth:`stop`."""
        with self._cond:
            while not self._lines and not self._stops:
                self._cond.wait()
            if self._stops:
                self._stops -= 1
                return None
            owner, line = next(iter(self._lines.items()))
            job_id = line.popleft()
            del self._lines[owner]
            if line:
                self._lines[owner] = line  # served: to the back of the ring
            return job_id

    def qsize(self) -> int:
        """Jobs waiting."""
        with self._cond:
            return sum(len(line) for line in self._lines.values())


class _Worker:
    """One sandboxed worker process and the parent end of its socket."""

    def __init__(
        self, settings: Settings, identity: sandbox.Identity, kernels: Path | None = None
    ) -> None:
        self.home = sandbox.private_home(identity)
        # compiled kernels from the service's cache: the first RD job does not compile
        sandbox.seed_kernel_cache(self.home, kernels)
        parent, child = socket.socketpair()
        command = [
            sys.executable,
            "-m",
            "cqox.server.worker",
            "--fd",
            str(child.fileno()),
            "--memory-bytes",
            str(settings.worker_memory_bytes),
        ]
        if settings.worker_warm_up:
            command.append("--warm-up")
        command += identity.worker_arguments()
        try:
            self.process = subprocess.Popen(
                command,
                env=sandbox.worker_environment(self.home),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                pass_fds=(child.fileno(),),
                close_fds=True,
                start_new_session=True,  # its own session and process group
                umask=0o077,
            )
        except BaseException:
            parent.close()
            sandbox.remove_home(self.home)
            raise
        finally:
            child.close()
        self.sock = parent
        self.conn = Connection(os.dup(parent.fileno()))
        self.ready = False

    @property
    def pid(self) -> int:
        """The worker's process id (also its process group id)."""
        return int(self.process.pid)

    def wait_ready(self, timeout: float) -> bool:
        if self.ready:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            if self.conn.poll(0.1):
                try:
                    msg = self.conn.recv()
                except (EOFError, OSError):
                    return False
                if msg and msg[0] == "ready":
                    self.ready = True
                    return True
        return False

    def send_job(self, payload: dict[str, Any], dataset: Path) -> None:
        """Send the payload, then the dataset as an open read-only file descriptor.

        A network analysis sends the edge dataset's descriptor second.
        """
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
        fds = [os.open(dataset, flags)]
        try:
            if payload.get("network_dataset_path"):
                fds.append(os.open(payload["network_dataset_path"], flags))
            # the worker is told no path on the server: it reads the descriptors
            private = ("dataset_path", "artifact_path", "network_dataset_path")
            self.conn.send(("run", {k: v for k, v in payload.items() if k not in private}))
            sendfds(self.sock, fds)
        finally:
            for fd in fds:
                os.close(fd)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Kill the worker's whole process group (the job's children too) and clean up."""
        if not sandbox.kill_group(self.pid):
            log.error("worker %d: processes of its group survived SIGKILL", self.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=2)
        self.kill()

    def _close(self) -> None:
        self.conn.close()
        self.sock.close()
        sandbox.remove_home(self.home)


class JobRunner:
    """Queue and worker pool for analysis jobs."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        payload_for: Callable[[Job], dict[str, Any]],
        on_finished: Callable[[Job, dict[str, Any] | None], None] | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.payload_for = payload_for
        self.on_finished = on_finished
        self.queue = FairQueue()
        self.events: dict[str, JobEvent] = {}
        self.cancelled: set[str] = set()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.workers: list[_Worker | None] = []
        #: per slot: set once its first worker was ready (``workers_alive``)
        self.warm: list[threading.Event] = []
        self.stopping = threading.Event()
        self.started = False
        self.identity = sandbox.Identity()
        #: the pre-compiled kernel cache workers are seeded from, prepared once
        self.kernels: Path | None = None
        self._kernels_lock = threading.Lock()
        self._kernels_prepared = False

    # -- life cycle ---------------------------------------------------------------------
    def recover(self) -> int:
        """Mark jobs a previous process left queued or running as failed."""
        with transaction(self.factory) as s:
            result = s.execute(
                update(Job)
                .where(Job.status.in_(ACTIVE))
                .values(
                    status="failed",
                    finished_at=utcnow(),
                    step="interrupted",
                    error={
                        "code": "INTERNAL_ERROR",
                        "message": "interrupted: the service stopped while this job was "
                        "queued or running; run the analysis again",
                        "details": {},
                    },
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def start(self) -> None:
        """Start the worker processes and their slot threads."""
        if self.started:
            return
        # refuse to start (rather than run jobs as root) when the worker user is missing
        self.identity = sandbox.worker_identity(self.settings.worker_user)
        self.started = True
        # workers are not daemons: make sure an exit without the lifespan's shutdown
        # (an error, a second Ctrl-C) still stops them instead of waiting on them
        atexit.register(self.shutdown)
        self.workers = [None] * self.settings.workers
        self.warm = [threading.Event() for _ in range(self.settings.workers)]
        for i in range(self.settings.workers):
            t = threading.Thread(target=self._slot, args=(i,), name=f"cqox-job-{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def shutdown(self) -> None:
        """Stop the slot threads and worker processes (idempotent)."""
        if self.stopping.is_set() and not self.workers:
            return
        self.stopping.set()
        for _ in self.threads:
            self.queue.stop()
        for t in self.threads:
            t.join(timeout=5)
        for w in self.workers:
            if w is not None:
                w.stop()
        self.workers = []
        self.threads = []

    # -- public API ---------------------------------------------------------------------
    def submit(self, job_id: str, owner: str = "") -> JobEvent:
        """Queue a job of ``owner`` (its row exists, ``queued``); the event is set at its end."""
        with self.lock:
            event = self.events.setdefault(job_id, JobEvent())
        self.queue.put(job_id, owner)
        return event

    def cancel(self, job_id: str) -> None:
        """Ask for a job to stop (a running job's worker is killed)."""
        with self.lock:
            self.cancelled.add(job_id)

    def queue_depth(self) -> int:
        """Jobs waiting for a worker."""
        return self.queue.qsize()

    def worker_pids(self) -> list[int]:
        """Process ids of the running worker processes (each leads its process group)."""
        return [w.pid for w in list(self.workers) if w is not None and w.alive()]

    def workers_alive(self) -> bool:
        """True when every slot thread runs and its worker has been ready once.

        Ready means started and warmed up (``CQOX_WORKER_WARM_UP``), so ``/ready`` holds
        traffic back until the first analysis pays no start-up cost.  A worker that dies
        later is replaced on demand and does not make the service unready.
        """
        return (
            self.started
            and all(t.is_alive() for t in self.threads)
            and all(e.is_set() for e in self.warm)
        )

    # -- slot ---------------------------------------------------------------------------
    def _worker(self, i: int) -> _Worker:
        if self.stopping.is_set():
            raise RuntimeError("the job runner is stopping")
        w = self.workers[i]
        if w is None or not w.alive():
            if w is not None:
                w.kill()
            w = _Worker(self.settings, self.identity, self._kernel_cache())
            self.workers[i] = w
        if not w.wait_ready(WORKER_START_TIMEOUT_S):
            w.kill()
            if i < len(self.workers):
                self.workers[i] = None
            raise RuntimeError("the worker process did not start")
        self.warm[i].set()
        return w

    def _kernel_cache(self) -> Path | None:
        """The kernel cache (:func:`sandbox.prepare_kernel_cache`), prepared by the first caller.

        A configured folder (``CQOX_KERNEL_CACHE_DIR``) that is out of date is compiled
        then (once per installation, CPU and folder); the other slots wait for it, so no
        worker starts with an empty cache meanwhile.
        """
        with self._kernels_lock:
            if not self._kernels_prepared:
                self.kernels = sandbox.prepare_kernel_cache(
                    self.settings.kernel_cache_path,
                    build=self.settings.kernel_cache_dir is not None,
                )
                self._kernels_prepared = True
            return self.kernels

    def _slot(self, i: int) -> None:
        try:
            self._worker(i)
        except Exception:
            if not self.stopping.is_set():
                log.exception("worker %d failed to start", i)
        while not self.stopping.is_set():
            job_id = self.queue.get()
            if job_id is None:
                return
            try:
                self._run(i, job_id)
            except Exception:
                log.exception("job %s: runner error", job_id)
                self._finish(
                    job_id,
                    Outcome(
                        "failed",
                        error={
                            "code": "INTERNAL_ERROR",
                            "message": "the job runner failed",
                            "details": {},
                        },
                    ),
                    None,
                )

    def _claim(self, job_id: str) -> Job | None:
        with transaction(self.factory) as s:
            job = s.get(Job, job_id)
            if job is None or job.status != "queued":
                return None
            if job_id in self.cancelled:
                return None
            job.status = "running"
            job.started_at = utcnow()
            job.step = "starting"
            s.flush()
            s.expunge(job)
            return job

    def _run(self, i: int, job_id: str) -> None:
        job = self._claim(job_id)
        if job is None:
            self._signal(job_id)
            return
        try:
            payload = self.payload_for(job)
            worker = self._worker(i)
            worker.send_job(payload, Path(payload["dataset_path"]))
        except Exception as exc:
            code = str(getattr(exc, "code", "INTERNAL_ERROR"))
            message = str(getattr(exc, "message", exc))
            if isinstance(exc, OSError):  # the dataset file is gone, or the worker
                code, message = "INTERNAL_ERROR", f"the job could not start: {exc}"
            self._finish(job_id, Outcome("failed", error=_err(code, message)), None)
            return
        deadline = time.monotonic() + job.time_limit_s
        last_write = 0.0
        while True:
            if job_id in self.cancelled:
                worker.kill()
                self.workers[i] = None
                self._finish(
                    job_id,
                    Outcome("cancelled", error=_err("CANCELLED", "cancelled by the user")),
                    None,
                )
                return
            if time.monotonic() > deadline:
                worker.kill()
                self.workers[i] = None
                self._finish(
                    job_id,
                    Outcome(
                        "failed",
                        error=_err(
                            "TIME_LIMIT_EXCEEDED",
                            f"the job exceeded its time limit of {job.time_limit_s:g} s",
                        ),
                    ),
                    None,
                )
                return
            if self.stopping.is_set():
                worker.kill()
                self.workers[i] = None
                return
            msg: tuple[Any, ...] | None
            try:
                has = worker.conn.poll(0.02)
                msg = tuple(worker.conn.recv()) if has else None
            except (EOFError, OSError):
                msg = ("died",)
            if msg is None:
                if not worker.alive():
                    msg = ("died",)
                else:
                    continue
            kind = str(msg[0])
            body = msg
            if kind == "progress":
                now = time.monotonic()
                if now - last_write >= PROGRESS_WRITE_S:
                    last_write = now
                    self._progress(job_id, str(body[1]), float(body[2]))
            elif kind == "done":
                # the parent stores the artefact: the worker has no write access to the data
                atomic_write(Path(payload["artifact_path"]), bytes(body[3]))
                self._finish(
                    job_id,
                    Outcome("succeeded", analysis_id=payload["analysis_id"]),
                    body[1],
                    bytes(body[2]),
                )
                return
            elif kind == "error":
                self._finish(
                    job_id, Outcome("failed", error=_err(str(body[1]), str(body[2]), body[3])), None
                )
                return
            elif kind == "died":
                worker.kill()
                self.workers[i] = None
                self._finish(
                    job_id,
                    Outcome(
                        "failed",
                        error=_err("INTERNAL_ERROR", "the worker process died during the job"),
                    ),
                    None,
                )
                return

    def _progress(self, job_id: str, step: str, fraction: float) -> None:
        with transaction(self.factory) as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(step=step[:250], progress=max(0.0, min(1.0, fraction)))
            )

    def _finish(
        self,
        job_id: str,
        outcome: Outcome,
        result: dict[str, Any] | None,
        document: bytes | None = None,
    ) -> None:
        """Record how a job ended; a success stores its result.

        ``document`` is the result encoded by the worker, stored as it is; ``result`` is
        then its summary (:func:`cqox.server.worker.result_summary`), which the quality
        gates and ``on_finished`` read.  Without ``document``, ``result`` is stored.
        """
        job: Job | None = None
        with transaction(self.factory) as s:
            job = s.get(Job, job_id)
            if job is not None and job.status in ACTIVE:
                if outcome.status == "succeeded" and result is not None:
                    s.add(
                        AnalysisRecord(
                            id=outcome.analysis_id,
                            owner_id=job.owner_id,
                            dataset_id=job.dataset_id,
                            job_id=job.id,
                            kind=job.kind,
                            result=result if document is None else stored_json(document),
                            elapsed_s=float(result.get("elapsed_s") or 0.0),
                        )
                    )
                    job.analysis_id = outcome.analysis_id
                    gates = (job.request or {}).get("quality_gates") or {}
                    verdict = (result.get("quality") or {}).get("verdict")
                    refused = ("fail", "warn") if gates.get("fail_on") == "warn" else ("fail",)
                    if gates.get("enforce") and verdict in refused:
                        flagged = (result.get("quality") or {}).get("flagged_gates", [])
                        outcome = Outcome(
                            "failed",
                            analysis_id=outcome.analysis_id,
                            error=_err(
                                "QUALITY_GATE_FAILED",
                                "quality gates failed and enforcement was requested: "
                                + ", ".join(flagged),
                                {"analysis_id": outcome.analysis_id, "flagged_gates": flagged},
                            ),
                        )
                job.status = outcome.status
                job.error = outcome.error
                job.finished_at = utcnow()
                job.progress = 1.0 if outcome.status == "succeeded" else job.progress
                job.step = "done" if outcome.status == "succeeded" else outcome.status
                s.flush()
                s.expunge(job)
            else:
                job = None
        if job is not None and self.on_finished is not None:
            try:
                self.on_finished(job, result)
            except Exception:
                log.exception("job %s: on_finished hook failed", job_id)
        self._signal(job_id)

    def _signal(self, job_id: str) -> None:
        with self.lock:
            event = self.events.pop(job_id, None)
            self.cancelled.discard(job_id)
        if event is not None:
            event.set()


def stored_json(document: bytes) -> Any:
    """An encoded result as the value of the JSON column that stores it unchanged."""
    return JsonText(document.decode("utf-8"))


def _err(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": dict(details or {})}


def mark_cancelled_if_queued(factory: sessionmaker[Session], job_id: str) -> bool:
    """Cancel a job that no worker has taken yet; True when it was queued."""
    with transaction(factory) as s:
        result = s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(
                status="cancelled",
                step="cancelled",
                finished_at=utcnow(),
                error=_err("CANCELLED", "cancelled by the user before it started"),
            )
        )
        return bool(getattr(result, "rowcount", 0))


def active_jobs(session: Session) -> int:
    """Jobs queued or running."""
    return len(session.scalars(select(Job.id).where(Job.status.in_(ACTIVE))).all())
