"""Importing CQOx and the light commands do not import the heavy libraries.

``import cqox``, ``cqox --version``, listing the estimator registry (``cqox
estimators``) and the default backdoor analysis with linear nuisances (the cold start
of ``cqox analyze``) must not import LightGBM, scikit-learn, statsmodels, Numba or
NetworkX: each costs 0.1–0.6 s in a fresh process and is needed only by the estimators
that use it.  Each case runs in a fresh interpreter, since this test process has them imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("lightgbm", "sklearn", "statsmodels", "numba", "networkx", "matplotlib", "plotly")

_PROBE = """
import io, json, sys, contextlib
{body}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""

CASES = {
    "import cqox": "import cqox\ncqox.__version__",
    "cqox --version": (
        "from cqox.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['--version']) == 0"
    ),
    "cqox estimators": (
        "from cqox.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert main(['estimators', '--json']) == 0\n"
        "names = {e['name'] for e in json.loads(out.getvalue())}\n"
        "assert {'ipw', 'psm', 'dml_irm', 'rd', 'synth', 'causal_forest'} <= names, names"
    ),
    # the cold-start path of the issue: every backdoor estimator with linear nuisances
    "cqox.analyze (backdoor, linear nuisances)": (
        "import warnings\n"
        "import cqox\n"
        "warnings.simplefilter('ignore')\n"
        "df, _ = cqox.simulate.confounded_binary(n=600, p=4, seed=0)\n"
        "an = cqox.analyze(df, outcome='y', treatment='t', params={\n"
        "    'dml_plr': {'learner': 'linear'}, 'dml_irm': {'learner': 'linear'}})\n"
        "ran = {e.estimator for e in an.estimates}\n"
        "assert {'ipw', 'aipw', 'psm', 'dml_plr', 'dml_irm', 'g_computation'} <= ran, ran"
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_light_commands_do_not_import_heavy_libraries(case: str) -> None:
    code = _PROBE.format(body=CASES[case], heavy=HEAVY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert imported == [], f"{case} imported {imported}"


def test_skipping_private_modules_loses_no_estimator() -> None:
    # load_all skips the private kernel modules; importing them too registers nothing new
    import importlib
    import pkgutil

    import cqox.estimators as pkg
    from cqox.estimators.registry import all_estimators

    before = set(all_estimators())
    private = [
        info.name
        for info in pkgutil.walk_packages(pkg.__path__, prefix="cqox.estimators.")
        if info.name.rsplit(".", 1)[1].startswith("_")
    ]
    assert "cqox.estimators.backdoor._matching_kernels" in private
    for name in private:
        importlib.import_module(name)
    assert set(all_estimators()) == before
    assert len(before) >= 28
