"""The shared state of a scaled-out service, on SQLite and PostgreSQL.

Several engines on one database stand for several processes: each has its own
connection pool, so locks and transactions are the database's, not Python's.  Proves:
every queued job is claimed exactly once by concurrent claimers; claims are served
round-robin across owners; a rate limit is one budget across processes, even under a
burst; the login back-off follows its schedule from the shared count; a dead worker's
job is failed and a stopping worker's job goes back to the queue.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from cqox.server.db import make_engine, migrate, session_factory, transaction
from cqox.server.models import Job, User, new_id, utcnow
from cqox.server.shared_limits import SharedLoginThrottle, SharedRateLimiter
from cqox.server.shared_queue import (
    SharedJobRunner,
    claim_next,
    fair_owner_order,
    lock_owner,
    reap_stale,
    request_cancel,
)
from tests.api.conftest import BACKENDS, database_url, make_settings

#: Engines standing for separate processes.
PROCESSES = 4


@pytest.fixture(params=BACKENDS)
def engines(
    request: pytest.FixtureRequest, tmp_path: Path, pg_schema_factory: Any
) -> Iterator[list[Engine]]:
    url = database_url(request.param, pg_schema_factory)
    if url is None:
        url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    else:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    made = [make_engine(url) for _ in range(PROCESSES)]
    migrate(made[0])
    yield made
    for e in made:
        e.dispose()


def _factories(engines: list[Engine]) -> list[sessionmaker[Session]]:
    return [session_factory(e) for e in engines]


def _users(factory: sessionmaker[Session], n: int) -> list[str]:
    ids = []
    with transaction(factory) as s:
        for k in range(n):
            u = User(username=f"u{k}_{new_id()[:6]}", password_hash="x", role="analyst")
            s.add(u)
            s.flush()
            ids.append(u.id)
    return ids


def _queue(factory: sessionmaker[Session], owner: str, at: datetime) -> str:
    with transaction(factory) as s:
        job = Job(
            owner_id=owner,
            kind="comprehensive",
            status="queued",
            step="queued",
            request={},
            time_limit_s=60.0,
            created_at=at,
        )
        s.add(job)
        s.flush()
        return job.id


def test_every_queued_job_is_claimed_exactly_once_by_concurrent_claimers(
    engines: list[Engine],
) -> None:
    factories = _factories(engines)
    owners = _users(factories[0], 3)
    t0 = utcnow()
    queued = [
        _queue(factories[0], owners[k % 3], t0 + timedelta(milliseconds=k)) for k in range(60)
    ]
    claims: list[tuple[str, str]] = []
    lock = threading.Lock()

    def claimer(k: int) -> None:
        worker = f"worker-{k}"
        while (job_id := claim_next(factories[k % PROCESSES], worker)) is not None:
            with lock:
                claims.append((job_id, worker))

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    counts = Counter(job_id for job_id, _ in claims)
    assert sorted(counts) == sorted(queued)
    assert set(counts.values()) == {1}
    with transaction(factories[1]) as s:
        rows = s.execute(select(Job.id, Job.status, Job.worker_id)).all()
    holder = dict(claims)
    assert all(r.status == "running" and r.worker_id == holder[r.id] for r in rows)


def test_claims_are_served_round_robin_across_owners(engines: list[Engine]) -> None:
    factory = _factories(engines)[0]
    a, b, c = _users(factory, 3)
    t0 = utcnow() - timedelta(minutes=1)
    jobs_a = [_queue(factory, a, t0 + timedelta(seconds=k)) for k in range(4)]
    job_b = _queue(factory, b, t0 + timedelta(seconds=10))
    jobs_c = [_queue(factory, c, t0 + timedelta(seconds=20 + k)) for k in range(2)]
    order = [claim_next(factory, "w") for _ in range(7)]
    # A arrived first; then B and C each get a turn before A's second job, and so on
    assert order == [jobs_a[0], job_b, jobs_c[0], jobs_a[1], jobs_c[1], jobs_a[2], jobs_a[3]]
    assert claim_next(factory, "w") is None


def test_fair_order_puts_a_served_owner_and_a_new_arrival_at_the_back() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        ("served_recently", t, t + timedelta(seconds=30)),
        ("waiting_since_5", t + timedelta(seconds=5), None),
        ("came_back_at_40", t + timedelta(seconds=40), t + timedelta(seconds=1)),
    ]
    assert fair_owner_order(rows) == ["waiting_since_5", "served_recently", "came_back_at_40"]


def test_a_cancelled_queued_job_is_never_claimed(engines: list[Engine]) -> None:
    factory = _factories(engines)[0]
    (owner,) = _users(factory, 1)
    job_id = _queue(factory, owner, utcnow())
    request_cancel(factory, job_id)
    assert claim_next(factory, "w") is None


def test_rate_limit_is_one_budget_across_processes_under_a_burst(engines: list[Engine]) -> None:
    limit = 10
    limiters = [SharedRateLimiter(f, limit) for f in _factories(engines)]
    answers: list[int] = []
    lock = threading.Lock()

    def hit(k: int) -> None:
        wait = limiters[k % PROCESSES].check("user:burst")
        with lock:
            answers.append(wait)

    threads = [threading.Thread(target=hit, args=(k,)) for k in range(3 * limit)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert answers.count(0) == limit
    assert all(1 <= w <= 60 for w in answers if w)
    assert limiters[0].check("user:other") == 0  # keys are separate budgets


def test_rate_limit_window_slides(engines: list[Engine]) -> None:
    now = [1000.0]
    f1, f2 = _factories(engines)[:2]
    a = SharedRateLimiter(f1, 3, clock=lambda: now[0])
    b = SharedRateLimiter(f2, 3, clock=lambda: now[0])
    assert [a.check("k"), b.check("k"), a.check("k")] == [0, 0, 0]
    assert b.check("k") == 60
    now[0] += 59.5
    assert a.check("k") == 1  # the first hit leaves the window in 0.5 s, rounded up
    now[0] += 0.6
    assert b.check("k") == 0
    now[0] += 120
    assert a.prune() == 1


def test_login_backoff_follows_its_schedule_across_processes(engines: list[Engine]) -> None:
    now = [5000.0]
    f1, f2 = _factories(engines)[:2]
    t1 = SharedLoginThrottle(f1, 2, 1.0, 8.0, clock=lambda: now[0])
    t2 = SharedLoginThrottle(f2, 2, 1.0, 8.0, clock=lambda: now[0])
    assert [t1.attempt("alice"), t2.attempt("alice")] == [0, 0]  # the free attempts
    assert t1.attempt("alice") == 1  # third attempt at once: wait 1 s
    now[0] += 1.0
    assert t2.attempt("alice") == 0
    assert t1.attempt("alice") == 2  # then 2 s
    now[0] += 2.0
    assert t1.attempt("alice") == 0
    now[0] += 1.0
    assert t2.attempt("alice") == 3  # 4 s after the last, 1 s elapsed
    assert t2.attempt("bob") == 0  # per account
    t2.succeeded("alice")
    assert t1.attempt("alice") == 0


def test_lock_owner_serialises_the_job_cap_across_processes(engines: list[Engine]) -> None:
    """Count-then-insert under :func:`lock_owner`: concurrent creators never pass the cap."""
    factories = _factories(engines)
    (owner,) = _users(factories[0], 1)
    cap = 3
    created: list[str] = []
    lock = threading.Lock()

    def create(k: int) -> None:
        with transaction(factories[k % PROCESSES]) as s:
            lock_owner(s, owner)
            active = s.scalars(
                select(Job.id).where(Job.owner_id == owner, Job.status.in_(("queued", "running")))
            ).all()
            if len(active) >= cap:
                return
            job = Job(
                owner_id=owner,
                kind="comprehensive",
                status="queued",
                step="queued",
                request={},
                time_limit_s=60.0,
            )
            s.add(job)
            s.flush()
            with lock:
                created.append(job.id)

    threads = [threading.Thread(target=create, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(created) == cap


def test_a_silent_workers_job_fails_and_a_stopping_workers_job_is_requeued(
    engines: list[Engine], tmp_path: Path
) -> None:
    factory = _factories(engines)[0]
    (owner,) = _users(factory, 1)
    lost = _queue(factory, owner, utcnow())
    assert claim_next(factory, "lost-worker") == lost
    with transaction(factory) as s:
        s.execute(
            update(Job).where(Job.id == lost).values(heartbeat_at=utcnow() - timedelta(minutes=5))
        )
    assert reap_stale(factory, 60.0) == 1
    with transaction(factory) as s:
        job = s.get(Job, lost)
        assert job is not None and job.status == "failed" and job.step == "interrupted"

    settings = make_settings(tmp_path, None, shared_state=True)
    runner = SharedJobRunner(settings, factory, lambda job: {}, worker_id="stopping-worker")
    kept = _queue(factory, owner, utcnow())
    assert claim_next(factory, runner.worker_id) == kept
    assert runner.release() == 1
    with transaction(factory) as s:
        job = s.get(Job, kept)
        assert job is not None and job.status == "queued" and job.worker_id is None
    assert claim_next(factory, "another-worker") == kept


def test_concurrent_logins_and_successes_of_one_name_never_fail(engines: list[Engine]) -> None:
    """A success deletes the name's row while other processes lock it: they retry."""
    throttles = [SharedLoginThrottle(f, 1000, 1.0, 8.0) for f in _factories(engines)]
    errors: list[BaseException] = []

    def login(k: int) -> None:
        throttle = throttles[k % PROCESSES]
        try:
            for _ in range(10):
                assert throttle.attempt("busy") == 0
                throttle.succeeded("busy")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=login, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
