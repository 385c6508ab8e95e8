"""Choosing estimators for designs imports only the families that can serve them.

:data:`cqox.estimators.registry.FAMILY_DESIGNS` says which designs each family
(subpackage) serves; :func:`~cqox.estimators.registry.for_designs` imports only the
families listed for the designs asked (and every unlisted family).  The table must
cover every estimator's designs, or a fresh process would miss an estimator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cqox.core.design import Design
from cqox.estimators import registry


def test_every_estimator_serves_only_designs_its_family_declares() -> None:
    missing = {
        cls.name: sorted(set(map(str, cls.designs)) - registry.FAMILY_DESIGNS[family])
        for cls in registry.all_estimators().values()
        if (family := cls.__module__.split(".")[2]) in registry.FAMILY_DESIGNS
        and not set(map(str, cls.designs)) <= registry.FAMILY_DESIGNS[family]
    }
    assert missing == {}, f"add these designs to FAMILY_DESIGNS: {missing}"


def test_the_table_names_existing_families_and_designs() -> None:
    families = set(registry._families())
    assert set(registry.FAMILY_DESIGNS) <= families
    designs = {str(d) for d in Design}
    assert set().union(*registry.FAMILY_DESIGNS.values()) <= designs


_PROBE = """
import json, sys, warnings
import cqox
from cqox.estimators import registry
warnings.simplefilter("ignore")
df, _ = cqox.simulate.confounded_binary(n=400, p=4, seed=0)
an = cqox.analyze(df, outcome="y", treatment="t", params={
    "dml_plr": {"learner": "linear"}, "dml_irm": {"learner": "linear"}})
offered = [c.name for c in registry.for_designs(["backdoor"])]
families, loaded_all = sorted(registry._FAMILIES_LOADED), registry._LOADED
full = [c.name for c in registry.all_estimators().values() if "backdoor" in c.designs]
print(json.dumps({
    "families": families,
    "loaded_all": loaded_all,
    "ran": sorted({e.estimator for e in an.estimates}),
    "offered": offered,
    "full": full,
}))
"""


def test_a_backdoor_analysis_imports_the_backdoor_families_only() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["families"] == ["backdoor", "cate"]
    assert out["loaded_all"] is False
    assert {"aipw", "dml_irm", "dml_plr", "g_computation", "ipw", "psm"} <= set(out["ran"])
    # what the lazily loaded registry offered is what the full registry holds
    assert out["offered"] == out["full"]
