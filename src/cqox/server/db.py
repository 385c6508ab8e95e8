"""Database engine, sessions and migrations.

SQLite (write-ahead log, busy timeout) in the data folder by default; any SQLAlchemy
URL through ``CQOX_DATABASE_URL`` (PostgreSQL is tested).  The schema is brought to the
newest Alembic revision at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from cqox.server.json_documents import column_serializer, decode

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Connections kept open, and extra ones allowed under load: the request thread pool
#: (40 threads) plus the job runner's threads must not starve waiting for a connection.
POOL_SIZE = 10
POOL_OVERFLOW = 50
POOL_TIMEOUT_S = 60.0
#: Key of the PostgreSQL advisory lock held while migrating ("cqox" in ASCII).
MIGRATION_LOCK = 0x63716F78


def make_engine(url: str, pool_size: int = POOL_SIZE, max_overflow: int = POOL_OVERFLOW) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys.

    ``pool_size`` + ``max_overflow`` bound this process's connections
    (``CQOX_DATABASE_POOL_SIZE``, ``CQOX_DATABASE_MAX_OVERFLOW``): with several service
    processes on one PostgreSQL their sum must stay under its ``max_connections``.
    """
    # a result the worker encoded is stored as it is, and JSON columns are read by
    # orjson (the same values as json.loads, a few times faster: cqox.server.json_documents)
    json_options: dict[str, Any] = {
        "json_serializer": column_serializer,
        "json_deserializer": decode,
    }
    if url.startswith("sqlite"):
        # The driver's own transaction handling is kept on purpose: it begins a
        # transaction only at the first write, so reads hold no snapshot (no
        # SQLITE_BUSY_SNAPSHOT) and writers queue on the busy timeout.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=POOL_TIMEOUT_S,
            **json_options,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=POOL_TIMEOUT_S,
        **json_options,
    )


def migrate(engine: Engine) -> None:
    """Apply every Alembic migration not yet applied (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # several service processes may start at once (API and `cqox worker`
            # processes): one migrates, the others wait and then find nothing to do
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def ping(engine: Engine) -> bool:
    """True when the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` that keep objects readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
