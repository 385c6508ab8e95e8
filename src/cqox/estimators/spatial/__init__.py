"""Spatial designs over the ``lat``/``lon`` roles: ``ring_did`` (Butts 2021 spillover rings)."""
