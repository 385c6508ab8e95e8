"""Alembic migrations of the service's database (applied at start-up)."""
