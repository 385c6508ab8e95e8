"""Dose-response estimators: the curve ``μ(a) = E[Y(a)]`` of a continuous treatment."""
