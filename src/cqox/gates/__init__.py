"""cqox.gates."""
