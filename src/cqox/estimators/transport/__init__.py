"""Transportability and generalizability (``transportability`` design, ``sample`` role).

``transport_om`` (outcome-model standardization), ``transport_iosw`` (inverse odds of
sampling weighting) and ``transport_dr`` (doubly robust) carry a trial's effect to a
target population described by covariates (Dahabreh et al. 2019, 2020).
"""
