"""Synthetic control: ADH weights, penalised weights, placebo inference."""
