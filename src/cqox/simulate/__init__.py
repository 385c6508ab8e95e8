"""Seeded data generators with a known truth, named after what they simulate."""

from cqox.simulate.backdoor import confounded_binary, multivalued
from cqox.simulate.dml import make_irm_heterogeneous, make_plr_CCDDHNR2018
from cqox.simulate.its import its_ar1
from cqox.simulate.iv import iv_binary_late, iv_linear
from cqox.simulate.panel import staggered_panel, two_period_panel
from cqox.simulate.panel_match import panel_switching
from cqox.simulate.rd import rd_fuzzy, rd_sharp
from cqox.simulate.synth import synth_factor_model

__all__ = [
    "confounded_binary",
    "its_ar1",
    "iv_binary_late",
    "iv_linear",
    "make_irm_heterogeneous",
    "make_plr_CCDDHNR2018",
    "multivalued",
    "panel_switching",
    "rd_fuzzy",
    "rd_sharp",
    "staggered_panel",
    "synth_factor_model",
    "two_period_panel",
]
