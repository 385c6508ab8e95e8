"""The job queue in the database: any number of API processes and ``cqox worker`` processes.

With ``CQOX_SHARED_STATE`` the queue is the ``jobs`` table itself:

- an API process (:class:`SharedJobs`) inserts a ``queued`` row (as always) and waits
  for its status to become final by watching the table — one query per
  :data:`WATCH_S` for all the jobs its requests wait on, whatever their number;
- a worker process (:class:`SharedJobRunner`, started by ``cqox worker``) claims the
  next job with ``SELECT … FOR UPDATE SKIP LOCKED`` (:func:`claim_next`) and runs it in
  its sandboxed worker processes exactly as the single-process runner does
  (:class:`~cqox.server.jobs.JobRunner`: scrubbed environment, unprivileged user,
  memory and time limits, the dataset passed as an open descriptor);
- cancellation is a flag on the row (``cancel_requested``) that the worker holding the
  job reads every :data:`HEARTBEAT_S`; the same beat writes ``heartbeat_at``;
- a running job whose worker has not beaten for ``CQOX_JOB_HEARTBEAT_TIMEOUT_S`` (its
  ``cqox worker`` was killed, its machine lost) is failed by whichever process notices
  first (:func:`reap_stale`); a worker stopped gracefully (SIGTERM, a rolling update)
  puts its running jobs back in the queue instead (:meth:`SharedJobRunner.release`).

**Fairness.** Jobs are served round-robin across owners as in
:class:`~cqox.server.jobs.FairQueue`: each owner has a place in a ring, which is the
later of when one of its jobs was last taken (``queue_turns.served_at``) and when its
oldest waiting job arrived (an owner that had nothing waiting joins at the back); the
oldest job of the owner at the front is taken first.  Two workers that claim at the
same instant may both serve one owner, so the bound is one job per other waiting owner
per concurrent claim.

**Why SKIP LOCKED.** Each claimer locks the first candidate row that no one else has
locked and skips the others', so claimers never wait on each other and never take the
same job; the conditional ``UPDATE … WHERE status = 'queued'`` that follows makes the
claim correct on SQLite too (one writer at a time, no row locks), where several
processes on one machine can share a database file.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from cqox.server.db import transaction
from cqox.server.jobs import ACTIVE, FINISHED, JobEvent, JobRunner, Outcome, _err
from cqox.server.models import AnalysisRecord, Job, QueueTurn, utcnow
from cqox.server.settings import Settings
from cqox.server.shared_limits import ensure_row

log = logging.getLogger("cqox.server.shared_queue")

#: Seconds between two looks of an API process at the jobs its requests wait on.
WATCH_S = 0.05
#: Seconds an idle worker slot waits before it looks for a job again.
POLL_S = 0.1
#: Seconds between two heartbeats (and cancellation checks) of a worker process.
HEARTBEAT_S = 1.0
#: Seconds between two sweeps for jobs of dead workers and idle limiter rows.
SWEEP_S = 15.0
#: Owners considered per claim (more only matter when as many claims race at once).
CANDIDATE_OWNERS = 32


def new_worker_id() -> str:
    """A worker process's name in the ``jobs.worker_id`` column: host, pid, random suffix."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes for timezone-aware columns; they were written as UTC
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def fair_owner_order(rows: list[tuple[str, datetime, datetime | None]]) -> list[str]:
    """Owners in ring order from ``(owner, oldest queued job's arrival, last served)``.

    An owner's place is the later of the two times: served owners go to the back, and
    an owner whose first waiting job arrived after it was last served joins at the back
    when that job arrived.
    """
    floor = datetime.min.replace(tzinfo=UTC)

    def place(row: tuple[str, datetime, datetime | None]) -> tuple[datetime, datetime, str]:
        arrived = _aware(row[1]) or floor
        served = _aware(row[2]) or floor
        return (max(arrived, served), arrived, row[0])

    return [row[0] for row in sorted(rows, key=place)]


def _upsert_turn(session: Session, owner_id: str, now: datetime) -> None:
    table = cast(Table, QueueTurn.__table__)
    values = {"owner_id": owner_id, "served_at": now}
    stmt: Any
    if session.get_bind().dialect.name == "postgresql":
        stmt = pg_insert(table).values(values)
    else:
        stmt = sqlite_insert(table).values(values)
    session.execute(
        stmt.on_conflict_do_update(index_elements=[table.c.owner_id], set_={"served_at": now})
    )


def claim_next(factory: sessionmaker[Session], worker_id: str) -> str | None:
    """Claim the next job for ``worker_id`` (now ``running``, held by it), or None."""
    with transaction(factory) as s:
        waiting = (
            select(Job.owner_id, func.min(Job.created_at))
            .where(Job.status == "queued", Job.cancel_requested.is_(False))
            .group_by(Job.owner_id)
            .subquery()
        )
        rows = s.execute(
            select(waiting.c[0], waiting.c[1], QueueTurn.served_at).outerjoin(
                QueueTurn, QueueTurn.owner_id == waiting.c[0]
            )
        ).all()
        owners = fair_owner_order([(r[0], r[1], r[2]) for r in rows])
        for owner in owners[:CANDIDATE_OWNERS]:
            job_id = s.scalar(
                select(Job.id)
                .where(
                    Job.owner_id == owner,
                    Job.status == "queued",
                    Job.cancel_requested.is_(False),
                )
                .order_by(Job.created_at, Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job_id is None:
                continue  # that owner's next job is being claimed by someone else
            now = utcnow()
            taken = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(
                    status="running",
                    started_at=now,
                    heartbeat_at=now,
                    step="starting",
                    worker_id=worker_id,
                )
            )
            if not getattr(taken, "rowcount", 0):
                continue
            _upsert_turn(s, owner, now)
            return str(job_id)
    return None


def lock_owner(session: Session, owner_id: str) -> None:
    """Serialise the job creation of one owner across processes, until the transaction ends.

    The per-user job cap counts the owner's active jobs and then inserts one; without a
    lock, two API processes could both count three and both insert a fourth.  The owner's
    ``queue_turns`` row is the lock: ``SELECT … FOR UPDATE`` on PostgreSQL, and on SQLite
    the ``INSERT`` that makes sure it exists takes the database's write lock.
    """
    ensure_row(session, QueueTurn, {"owner_id": owner_id, "served_at": None})
    session.execute(
        select(QueueTurn.owner_id).where(QueueTurn.owner_id == owner_id).with_for_update()
    )


def reap_stale(factory: sessionmaker[Session], timeout_s: float) -> int:
    """Fail running jobs whose worker has not reported for ``timeout_s``; their number."""
    horizon = utcnow() - timedelta(seconds=timeout_s)
    with transaction(factory) as s:
        result = s.execute(
            update(Job)
            .where(
                Job.status == "running",
                Job.worker_id.is_not(None),
                or_(Job.heartbeat_at < horizon, Job.heartbeat_at.is_(None)),
            )
            .values(
                status="failed",
                finished_at=utcnow(),
                step="interrupted",
                error=_err(
                    "INTERNAL_ERROR",
                    "interrupted: the worker running this job stopped reporting (its "
                    "process or machine was lost); run the analysis again",
                ),
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def queued_count(factory: sessionmaker[Session]) -> int:
    """Jobs waiting for a worker, across every process."""
    with transaction(factory) as s:
        return int(s.scalar(select(func.count()).where(Job.status == "queued")) or 0)


def request_cancel(factory: sessionmaker[Session], job_id: str) -> None:
    """Flag an active job for cancellation (its worker stops it within a heartbeat)."""
    with transaction(factory) as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(ACTIVE))
            .values(cancel_requested=True)
        )


class DatabaseQueue:
    """What :class:`~cqox.server.jobs.JobRunner`'s slots take jobs from: claims in the table.

    :meth:`get` returns the id of a job already claimed (``running``, held by this
    worker), or None once :meth:`stop` has been called.
    """

    def __init__(self, factory: sessionmaker[Session], worker_id: str) -> None:
        self.factory = factory
        self.worker_id = worker_id
        self.stopped = threading.Event()

    def get(self) -> str | None:
        """The next claimed job (polling the table), or None after :meth:`stop`."""
        while not self.stopped.is_set():
            try:
                job_id = claim_next(self.factory, self.worker_id)
            except Exception:
                log.exception("claiming a job failed; retrying")
                job_id = None
            if job_id is not None:
                return job_id
            self.stopped.wait(POLL_S)
        return None

    def stop(self) -> None:
        """Make every waiting and future :meth:`get` return None."""
        self.stopped.set()

    def qsize(self) -> int:
        """Jobs waiting, across every process."""
        return queued_count(self.factory)


class SharedJobRunner(JobRunner):
    """The worker side: slots that claim jobs from the table and run them sandboxed.

    Everything after the claim — the worker process, progress, time limit, artefact,
    result — is :class:`~cqox.server.jobs.JobRunner`'s; this class adds the claim, the
    heartbeat, cancellation through the row and the sweeps.
    """

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        payload_for: Callable[[Job], dict[str, Any]],
        on_finished: Callable[[Job, dict[str, Any] | None], None] | None = None,
        worker_id: str | None = None,
        sweeps: tuple[Callable[[], int], ...] = (),
    ) -> None:
        super().__init__(settings, factory, payload_for, on_finished)
        self.worker_id = worker_id or new_worker_id()
        self.queue = DatabaseQueue(factory, self.worker_id)  # type: ignore[assignment]
        self.sweeps = sweeps
        self.running: set[str] = set()
        self._beat: threading.Thread | None = None

    def recover(self) -> int:
        """Fail the jobs of workers that stopped reporting (other processes' jobs too)."""
        return reap_stale(self.factory, self.settings.job_heartbeat_timeout_s)

    def start(self) -> None:
        """Start the slots and the heartbeat thread."""
        super().start()
        self._beat = threading.Thread(target=self._heartbeat, name="cqox-heartbeat", daemon=True)
        self._beat.start()

    def shutdown(self) -> None:
        """Stop claiming, stop the slots and workers, and put unfinished jobs back."""
        self.queue.stop()
        super().shutdown()
        if self._beat is not None:
            self._beat.join(timeout=5)
            self._beat = None
        try:
            released = self.release()
        except Exception:
            log.exception("could not put this worker's jobs back in the queue")
        else:
            if released:
                log.warning("put %d unfinished job(s) back in the queue", released)

    def release(self) -> int:
        """Put this worker's running jobs back in the queue (graceful stop); their number."""
        with transaction(self.factory) as s:
            result = s.execute(
                update(Job)
                .where(Job.worker_id == self.worker_id, Job.status == "running")
                .values(
                    status="queued",
                    worker_id=None,
                    started_at=None,
                    heartbeat_at=None,
                    step="queued",
                    progress=0.0,
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def queue_depth(self) -> int:
        """Jobs waiting, across every process."""
        return self.queue.qsize()

    def _claim(self, job_id: str) -> Job | None:
        with transaction(self.factory) as s:
            job = s.get(Job, job_id)
            if job is None or job.status != "running" or job.worker_id != self.worker_id:
                return None
            s.expunge(job)
        if job.cancel_requested or job_id in self.cancelled:
            self._finish(
                job_id, Outcome("cancelled", error=_err("CANCELLED", "cancelled by the user")), None
            )
            return None
        return job

    def _run(self, i: int, job_id: str) -> None:
        with self.lock:
            self.running.add(job_id)
        try:
            super()._run(i, job_id)
        finally:
            with self.lock:
                self.running.discard(job_id)

    def _heartbeat(self) -> None:
        last_sweep = 0.0
        while not self.stopping.wait(HEARTBEAT_S):
            try:
                self._beat_once()
                if time.monotonic() - last_sweep >= SWEEP_S:
                    last_sweep = time.monotonic()
                    self.recover()
                    for sweep in self.sweeps:
                        sweep()
            except Exception:
                log.exception("heartbeat failed; retrying")

    def _beat_once(self) -> None:
        """Report the running jobs, and stop those cancelled or deleted meanwhile."""
        with self.lock:
            mine = set(self.running)
        if not mine:
            return
        with transaction(self.factory) as s:
            s.execute(
                update(Job)
                .where(Job.worker_id == self.worker_id, Job.status == "running")
                .values(heartbeat_at=utcnow())
            )
            alive = {
                str(job_id)
                for job_id in s.scalars(
                    select(Job.id).where(
                        and_(
                            Job.id.in_(mine),
                            Job.status == "running",
                            Job.cancel_requested.is_(False),
                        )
                    )
                )
            }
        for job_id in mine - alive:  # cancelled, or its owner was deleted
            self.cancel(job_id)


class SharedJobs:
    """The API side: jobs go into the table; requests wait by watching it.

    The interface of :class:`~cqox.server.jobs.JobRunner` that the routes use
    (``submit``, ``cancel``, ``queue_depth``, ``workers_alive``, ``worker_pids``).  An
    API process runs no worker: ``cqox worker`` processes do.
    """

    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.factory = factory
        self.events: dict[str, JobEvent] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.workers: list[Any] = []
        #: Called once for each job this process queued, when it has ended (the metrics:
        #: every job is counted by the API process that queued it, as without shared state)
        self.on_finished: Callable[[Job, dict[str, Any] | None], None] | None = None

    def recover(self) -> int:
        """Fail the jobs of workers that stopped reporting (nothing else: others' jobs live)."""
        return reap_stale(self.factory, self.settings.job_heartbeat_timeout_s)

    def start(self) -> None:
        """Start watching the table for the end of the jobs requests wait on."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._watch, name="cqox-jobs-watch", daemon=True)
            self.thread.start()

    def shutdown(self) -> None:
        """Stop watching; waiting requests answer 202 with their job id."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    def submit(self, job_id: str, owner: str = "") -> JobEvent:
        """The job's row is ``queued`` already; the event is set when it has ended."""
        with self.lock:
            return self.events.setdefault(job_id, JobEvent())

    def cancel(self, job_id: str) -> None:
        """Ask for a job to stop (its worker stops it within a heartbeat)."""
        request_cancel(self.factory, job_id)

    def queue_depth(self) -> int:
        """Jobs waiting, across every process."""
        return queued_count(self.factory)

    def worker_pids(self) -> list[int]:
        """No worker runs in an API process."""
        return []

    def workers_alive(self) -> bool:
        """True: an API process's readiness does not depend on the worker processes."""
        return True

    def _watch(self) -> None:
        last_sweep = time.monotonic()
        while not self.stopping.wait(WATCH_S):
            try:
                self._watch_once()
                if time.monotonic() - last_sweep >= SWEEP_S:
                    last_sweep = time.monotonic()
                    self.recover()
            except Exception:
                log.exception("watching jobs failed; retrying")

    def _watch_once(self) -> None:
        with self.lock:
            waiting = list(self.events)
        if not waiting:
            return
        with transaction(self.factory) as s:
            rows = dict(
                s.execute(select(Job.id, Job.status).where(Job.id.in_(waiting))).tuples().all()
            )
        ended = [j for j in waiting if rows.get(j) is None or rows[j] in FINISHED]
        if ended and self.on_finished is not None:
            self._observe([j for j in ended if rows.get(j) is not None])
        with self.lock:
            for job_id in ended:
                event = self.events.pop(job_id, None)
                if event is not None:
                    event.set()

    def _observe(self, job_ids: list[str]) -> None:
        """Hand the ended jobs (with their results) to ``on_finished`` (the metrics)."""
        assert self.on_finished is not None
        with transaction(self.factory) as s:
            jobs = s.scalars(select(Job).where(Job.id.in_(job_ids))).all()
            ids = [j.analysis_id for j in jobs if j.analysis_id]
            results: dict[str, dict[str, Any]] = dict(
                s.execute(
                    select(AnalysisRecord.id, AnalysisRecord.result).where(
                        AnalysisRecord.id.in_(ids)
                    )
                )
                .tuples()
                .all()  # a Result has keys() (its columns): dict() would index it
            )
            for job in jobs:
                s.expunge(job)
        for job in jobs:
            try:
                self.on_finished(job, results.get(job.analysis_id or ""))
            except Exception:
                log.exception("job %s: on_finished hook failed", job.id)
