"""Every estimator of issue #17's five families has a ``make bench`` row, and the twins agree.

Mediation, dose-response and multi-valued, transport, proximal and time-varying: the
benchmark designs of ``benchmarks/run.py`` (``designs`` and the small ``small_designs``
used for priming) build a CQOx case for each registered estimator of these families,
with a peer or hand-twin row beside it where the module promises one; and the hand twins
(transport, time-varying), which recompute the estimator's own formula, give the same
point estimate on a small design — so a row can never time something else.
"""

from __future__ import annotations

import pytest
from benchmarks import run
from benchmarks.timevarying_cases import timevarying_cases, timevarying_design
from benchmarks.transport_proximal_cases import (
    proximal_cases,
    proximal_design,
    transport_cases,
    transport_design,
)

from cqox.estimators import registry

FAMILIES = ("mediation", "dose_response", "multivalued", "transport", "proximal", "time_varying")
#: Libraries each family is benchmarked against (any one of them makes the row).
PEERS = {
    "mediation": ("dowhy",),
    "dose_msm": ("econml", "doubleml", "statsmodels"),
    "dose_dml": ("econml", "doubleml"),
    "dose_kernel_dr": ("econml", "doubleml"),
    "dose_gps": ("causal-curve", "causal_curve", "statsmodels"),
    "transport_om": ("hand twin",),
    "transport_iosw": ("hand twin",),
    "transport_dr": ("hand twin",),
    "proximal_2sls": ("linearmodels",),
    "proximal_dr": ("hand twin",),
    "msm_iptw": ("hand twin",),
    "gformula": ("hand twin",),
}
#: The benchmark designs of these families (``Design.name``).
FAMILY_DESIGNS = (
    "mediation",
    "dose_polynomial",
    "hirano_imbens",
    "multivalued",
    "transport",
    "proximal",
    "time_varying",
)
#: Both routes compute the same formula from the same fits: rounding only.
SAME = 1e-8


def _family_estimators() -> set[str]:
    return {
        name
        for name, cls in registry.all_estimators().items()
        if getattr(cls, "family", None) in FAMILIES
    }


def test_every_family_estimator_has_a_cqox_row_and_its_peer_rows() -> None:
    designs = [(d, b) for d, b in run.small_designs() if d.name in FAMILY_DESIGNS]
    assert {d.name for d, _ in designs} == set(FAMILY_DESIGNS)
    built = [c for d, builder in designs for c in builder(d, True)]
    cqox_rows = {c.method for c in built if c.library.startswith("cqox")}
    missing = _family_estimators() - cqox_rows
    assert not missing, f"no benchmark row for {sorted(missing)}"
    for method, libs in PEERS.items():
        peers = {
            c.library for c in built if c.method == method and not c.library.startswith("cqox")
        }
        assert any(lib in p for p in peers for lib in libs), (method, peers)


@pytest.mark.parametrize(
    ("design", "builder"),
    [
        (lambda: transport_design(n=800, seed=3), transport_cases),
        (lambda: timevarying_design(n=300, seed=3), timevarying_cases),
        (lambda: proximal_design(n=800, seed=3), proximal_cases),
    ],
    ids=["transport", "time_varying", "proximal"],
)
def test_hand_twins_reproduce_the_estimate_they_are_timed_against(design, builder) -> None:  # type: ignore[no-untyped-def]
    d = design()
    built = builder(d, True)
    by_method: dict[str, dict[str, float]] = {}
    for c in built:
        by_method.setdefault(c.method, {})[c.library] = float(c.run()["estimate"])
    for method, got in by_method.items():
        twins = {lib: v for lib, v in got.items() if lib != "cqox"}
        for lib, value in twins.items():
            # gformula simulates (its contrast equals the closed form to ~1e-9 when every
            # model is linear); delicatessen's root finder stops at ~1e-10
            tol = SAME if lib == "hand twin (statsmodels)" and method != "gformula" else 1e-6
            assert got["cqox"] == pytest.approx(value, rel=tol), (method, lib)
