"""Rate limits and login back-off kept in the database, shared by every API process.

With ``CQOX_SHARED_STATE`` several ``cqox serve`` processes (on one or many machines)
answer the API.  The in-memory :class:`~cqox.server.ratelimit.RateLimiter` and
:class:`~cqox.server.throttle.LoginThrottle` would give each process its own budget —
four processes, four times the limit — so these classes keep the same state in the
service's database instead, with the same rules:

- :class:`SharedRateLimiter`: at most ``limit`` requests per key in any ``window_s``
  seconds (an exact sliding log: the times of the requests still in the window);
- :class:`SharedLoginThrottle`: the per-account exponential back-off of
  :class:`~cqox.server.throttle.LoginThrottle`.

Each check is one short transaction that locks the key's row: ``INSERT … ON CONFLICT
DO NOTHING`` makes sure the row exists (on SQLite this first write also takes the
database's write lock), ``SELECT … FOR UPDATE`` locks it on PostgreSQL, and the update
is committed before the answer.  Concurrent requests of one key are thereby
serialised, so parallel requests cannot pass the limit together; requests of
different keys never wait on each other on PostgreSQL.

Times are Unix seconds from each process's clock.  Processes on several machines must
keep their clocks synchronised (NTP) anyway — access tokens are checked against
``iat`` and ``exp`` — and a skew of a second moves a one-minute window by a second.
Keys are stored as their SHA-256, so a row's key has a fixed size whatever the user
name or address, and the table names no user.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Table, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from cqox.errors import ParameterError
from cqox.server.db import transaction
from cqox.server.models import LoginAttempt, RateWindow
from cqox.server.ratelimit import WINDOW_S
from cqox.server.throttle import LoginThrottle

#: Login rows idle this long are forgotten (bounds the table; at worst a name's free
#: attempts start again after a day without attempts).
LOGIN_FORGET_S = 86_400.0


def digest(key: str) -> str:
    """The stored form of a key: its SHA-256 (64 hex digits)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def ensure_row(session: Session, model: Any, values: dict[str, Any]) -> None:
    """Insert ``values`` into ``model``'s table unless its primary key exists.

    On SQLite this write also takes the database's write lock for the rest of the
    transaction, which serialises the read-modify-write that follows.
    """
    table = cast(Table, model.__table__)
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = pg_insert(table).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite_insert(table).values(values).on_conflict_do_nothing()
    else:
        # settings validation refuses other databases; this guards direct callers
        raise ParameterError(
            f"shared state (CQOX_SHARED_STATE) supports PostgreSQL and SQLite, not {dialect!r}",
            details={"parameter": "CQOX_DATABASE_URL"},
        )
    session.execute(stmt)


#: Attempts to lock a key's row that another process deletes in between.
LOCK_ATTEMPTS = 5


def _locked(session: Session, model: Any, key: str, defaults: dict[str, Any]) -> Any:
    """The row of ``key`` (created from ``defaults`` if absent), locked until commit.

    Another process may delete the row between the ``INSERT … ON CONFLICT DO NOTHING``
    that found it present and the ``SELECT … FOR UPDATE`` (a successful login clears
    the name's row; the sweep removes idle rows), so both are tried again.
    """
    for _ in range(LOCK_ATTEMPTS):
        if session.get_bind().dialect.name == "postgresql":
            # a no-op ON CONFLICT DO UPDATE locks the row, new or existing, at once: no
            # other process can delete it before the SELECT below
            table = cast(Table, model.__table__)
            insert = pg_insert(table).values({"key": key, **defaults})
            session.execute(
                insert.on_conflict_do_update(
                    index_elements=[table.c.key], set_={"key": insert.excluded.key}
                )
            )
        else:
            ensure_row(session, model, {"key": key, **defaults})
        row = session.scalars(
            select(model)
            .where(model.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if row is not None:
            return row
    raise RuntimeError(f"could not lock the {model.__tablename__} row of a key")


#: One-statement sliding-log check on PostgreSQL (see SharedRateLimiter._check_postgresql).
_PG_CHECK = text(
    """
    INSERT INTO rate_windows (key, hits, last, allowed)
    VALUES (:key, json_build_array(CAST(:now AS double precision)), :now, true)
    ON CONFLICT (key) DO UPDATE SET
        hits = (
            SELECT CASE
                WHEN count(x.h) < :limit
                THEN (COALESCE(jsonb_agg(x.h ORDER BY x.h), '[]'::jsonb)
                      || to_jsonb(CAST(:now AS double precision)))::json
                ELSE COALESCE(jsonb_agg(x.h ORDER BY x.h), '[]'::jsonb)::json
            END
            FROM (
                SELECT CAST(e.v AS double precision) AS h
                FROM json_array_elements_text(rate_windows.hits) AS e(v)
            ) AS x
            WHERE x.h > :horizon
        ),
        allowed = (
            SELECT count(*) < :limit
            FROM json_array_elements_text(rate_windows.hits) AS e(v)
            WHERE CAST(e.v AS double precision) > :horizon
        ),
        last = :now
    RETURNING hits, allowed
    """
)


class SharedRateLimiter:
    """At most ``limit`` requests per key in any ``window_s`` seconds, across processes.

    The interface of :class:`~cqox.server.ratelimit.RateLimiter`; ``blocking`` tells the
    middleware to call :meth:`check` off the event loop.
    """

    blocking = True

    def __init__(
        self,
        factory: sessionmaker[Session],
        limit: int,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.factory = factory
        self.limit = limit
        self.window_s = window_s
        self.clock = clock

    def check(self, key: str) -> int:
        """Record a request; return 0 when allowed, else the seconds to wait."""
        if self.limit <= 0:
            return 0
        k = digest(key)
        if self.factory.kw["bind"].dialect.name == "postgresql":
            return self._check_postgresql(k)
        with transaction(self.factory) as s:
            row = _locked(s, RateWindow, k, {"hits": [], "last": 0.0})
            now = self.clock()
            hits = [float(t) for t in row.hits if float(t) > now - self.window_s]
            if len(hits) >= self.limit:
                if len(hits) != len(row.hits):
                    row.hits = hits
                return max(1, math.ceil(hits[0] + self.window_s - now))
            hits.append(now)
            row.hits = hits
            row.last = now
            return 0

    def _check_postgresql(self, k: str) -> int:
        """The same check as one statement, so the key's row is locked only while it runs.

        A hot key — every request behind one proxy address — would otherwise hold its
        row lock across three client round trips per request and queue every other
        request of that key behind them.  The statement keeps the hits still in the
        window, appends this one when fewer than ``limit`` remain, and returns the list.
        """
        now = self.clock()
        with transaction(self.factory) as s:
            hits, allowed = s.execute(
                _PG_CHECK,
                {"key": k, "now": now, "horizon": now - self.window_s, "limit": self.limit},
            ).one()
        if allowed:
            return 0
        kept = [float(h) for h in hits]
        return max(1, math.ceil(kept[0] + self.window_s - now)) if kept else 1

    def reset(self) -> None:
        """Forget every request counted so far (every key, every process)."""
        with transaction(self.factory) as s:
            s.execute(delete(RateWindow))

    def prune(self) -> int:
        """Delete the rows of keys idle for a whole window; the number deleted."""
        horizon = self.clock() - self.window_s
        with transaction(self.factory) as s:
            result = s.execute(delete(RateWindow).where(RateWindow.last <= horizon))
            return int(getattr(result, "rowcount", 0) or 0)


class SharedLoginThrottle(LoginThrottle):
    """The per-account login back-off of :class:`LoginThrottle`, kept in the database."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        free_attempts: int,
        backoff_s: float,
        backoff_max_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(free_attempts, backoff_s, backoff_max_s)
        self.factory = factory
        self.clock = clock

    def attempt(self, username: str, now: float | None = None) -> int:
        """Record a login attempt; 0 when it may proceed, else whole seconds to wait."""
        k = digest("login:" + username)
        with transaction(self.factory) as s:
            row = _locked(s, LoginAttempt, k, {"attempts": 0, "last": 0.0})
            now = self.clock() if now is None else now
            wait = row.last + self.delay(row.attempts) - now
            if row.attempts and wait > 0:
                return max(1, math.ceil(wait))
            row.attempts += 1
            row.last = now
            return 0

    def succeeded(self, username: str) -> None:
        """Clear the count of ``username`` (its password was right)."""
        with transaction(self.factory) as s:
            s.execute(delete(LoginAttempt).where(LoginAttempt.key == digest("login:" + username)))

    def prune(self) -> int:
        """Forget names without an attempt for :data:`LOGIN_FORGET_S`; the number forgotten."""
        horizon = self.clock() - max(LOGIN_FORGET_S, self.backoff_max_s)
        with transaction(self.factory) as s:
            result = s.execute(delete(LoginAttempt).where(LoginAttempt.last <= horizon))
            return int(getattr(result, "rowcount", 0) or 0)
