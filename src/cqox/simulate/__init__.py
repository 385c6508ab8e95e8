"""Seeded data generators with a known truth, named after what they simulate."""

from cqox.simulate.backdoor import confounded_binary
from cqox.simulate.iv import iv_binary_late, iv_linear
from cqox.simulate.rd import rd_fuzzy, rd_sharp

__all__ = ["confounded_binary", "iv_binary_late", "iv_linear", "rd_fuzzy", "rd_sharp"]
