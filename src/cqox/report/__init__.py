"""cqox.report."""
