"""cqox.data."""
