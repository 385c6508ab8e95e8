"""Estimator families; each module registers its estimators on import."""
