"""Causal mediation: natural direct and indirect effects (``mediation`` design).

``mediation`` (quasi-Bayesian Monte Carlo over parametric models, with the ρ
sensitivity analysis) and ``mediation_dml`` (doubly robust, cross-fitted).
"""
