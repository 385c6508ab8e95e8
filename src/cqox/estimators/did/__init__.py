"""Difference-in-differences: 2x2, two-way fixed effects and staggered adoption.

Roles: ``outcome``, ``unit``, ``time`` (numeric periods) and either ``treatment``
(a 0/1 indicator of being treated in that period, or for the 2x2 design a 0/1
"treated group" indicator) or ``cohort`` (the first treated period of each unit;
0, missing or infinite = never treated).  Optional: ``covariates``, ``weight``
(sampling weights) and ``cluster`` (default: the unit).

- ``did_2x2``: the canonical two-group two-period comparison (more periods are
  collapsed to pre/post), as the interaction coefficient of a pooled regression
  with cluster-robust standard errors.
- ``did_twfe``: two-way fixed-effects regression with unit and period effects
  absorbed by alternating projections, CR1 clustered standard errors, and under
  staggered adoption the Goodman-Bacon (2021) decomposition and the de Chaisemartin
  & D'Haultfœuille (2020) negative-weight diagnostic.
- ``did_cs``: Callaway & Sant'Anna (2021) group-time effects ATT(g,t) with
  outcome-regression, IPW and doubly-robust (Sant'Anna & Zhao 2020) estimators,
  their aggregations, influence-function and multiplier-bootstrap inference, and a
  pre-trend Wald test.
"""
