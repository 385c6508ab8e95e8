"""Regression discontinuity: local-polynomial estimation with robust bias-corrected inference."""
