"""Proximal causal inference (``proximal`` design: ``treatment_proxy``, ``outcome_proxy``).

``proximal_2sls`` (outcome bridge by two-stage least squares) and ``proximal_dr`` (doubly
robust, outcome and treatment bridges; Cui et al. 2023).
"""
