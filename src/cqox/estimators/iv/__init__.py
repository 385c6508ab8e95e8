"""Instrumental variables: k-class estimators (2SLS, LIML, Fuller) and their diagnostics."""
