"""Heterogeneous effects: unit-level (conditional average) treatment effects.

Estimators of this family return an :class:`~cqox.core.estimate.Estimate` for an
average estimand (ATE/ATT, doubly robust on the estimator's own nuisances) whose
``effects(df=None)`` gives ``cate``, ``se``, ``ci_lower``, ``ci_upper`` per row
(:mod:`cqox.estimators.cate.effects`).
"""
