"""cqox.core."""
