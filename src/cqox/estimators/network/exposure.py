"""Exposure mappings (Aronow & Samii 2017, doi:10.1214/16-AOAS1005).

A unit's exposure condition combines its own treatment ``z_i`` with whether enough of
its neighbours are treated: ``C_i = 2 z_i + e_i`` with

* ``mapping="count"``: ``e_i = 1{ Σ_j A_ij z_j ≥ threshold }`` (``threshold = 1``: any
  treated neighbour);
* ``mapping="share"``: ``e_i = 1{ Σ_j A_ij z_j / Σ_j A_ij ≥ threshold }``, ``threshold``
  in (0, 1] (weighted share when the edges carry weights).

Units without neighbours are never exposed.  The four conditions are numbered
``0 = (control, not exposed)``, ``1 = (control, exposed)``, ``2 = (treated, not
exposed)``, ``3 = (treated, exposed)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

#: Names of the four exposure conditions, by number.
CONDITIONS: tuple[str, ...] = (
    "control_unexposed",
    "control_exposed",
    "treated_unexposed",
    "treated_exposed",
)
#: Estimand → (condition compared, reference condition).
CONTRASTS: dict[str, tuple[int, int]] = {"direct": (2, 0), "spillover": (1, 0), "total": (3, 0)}

#: Slack in the threshold comparison, so that shares such as 1/3 + 1/3 + 1/3 reach 1.
_EPS = 1e-9


@dataclass(frozen=True)
class ExposureMapping:
    """``kind`` (``"count"`` or ``"share"``) and its ``threshold``."""

    kind: str
    threshold: float


def exposed(a: sp.csr_array, z: np.ndarray, mapping: ExposureMapping) -> np.ndarray:
    """Neighbour exposure ``e`` (bool) for assignments ``z`` of shape ``(n,)`` or ``(n, R)``."""
    s = np.asarray(a @ z)
    degree = np.asarray(a.sum(axis=1), dtype=s.dtype)
    if s.ndim == 2:
        degree = degree[:, None]
    if mapping.kind == "share":
        share = np.divide(s, degree, out=np.zeros_like(s), where=degree > 0)
        return (share >= mapping.threshold - _EPS) & (degree > 0)
    return (s >= mapping.threshold - _EPS) & (degree > 0)


def conditions(a: sp.csr_array, z: np.ndarray, mapping: ExposureMapping) -> np.ndarray:
    """Exposure conditions ``2 z + e`` (int8), same shape as ``z``."""
    return (2 * (np.asarray(z) > 0) + exposed(a, z, mapping)).astype(np.int8)


def neighbours_needed(degree: np.ndarray, mapping: ExposureMapping) -> np.ndarray:
    """Treated neighbours needed for exposure per unit (unweighted); ``degree + 1``: never."""
    d = np.asarray(degree, dtype=np.int64)
    if mapping.kind == "share":
        k = np.ceil(mapping.threshold * d - _EPS).astype(np.int64)
        k = np.maximum(k, 1)
    else:
        k = np.full(d.shape, int(np.ceil(mapping.threshold - _EPS)), dtype=np.int64)
    return np.where(d > 0, k, d + 1)
