"""Seeded data generators with a known truth, named after what they simulate."""

from cqox.simulate.backdoor import confounded_binary

__all__ = ["confounded_binary"]
