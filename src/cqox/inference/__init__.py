"""cqox.inference."""
