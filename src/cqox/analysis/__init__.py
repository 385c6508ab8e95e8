"""cqox.analysis."""
