"""cqox.sensitivity."""
