"""cqox.cli."""
