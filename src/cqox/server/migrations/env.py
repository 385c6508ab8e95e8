"""Alembic environment: runs on the connection the service passes in ``attributes``."""

from __future__ import annotations

from alembic import context

from cqox.server.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the service always passes its connection
    raise RuntimeError("cqox migrations run through cqox.server.db.migrate(engine)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
