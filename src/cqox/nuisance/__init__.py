"""cqox.nuisance."""
