"""Interrupted time series: segmented regression with Newey–West HAC inference."""
