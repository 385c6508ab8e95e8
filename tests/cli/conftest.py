"""Shared fixtures of the CLI tests: a small simulated data set with its truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cqox

#: Estimators run by the CLI tests (fast, always registered); one test runs the default set.
FAST = "ipw,regression_adjustment"


@pytest.fixture(scope="session")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 600-row simulated table (``y``, ``t``, ``x1``..``x5``) and ``truth.json`` beside it."""
    folder = tmp_path_factory.mktemp("cli")
    df, truth = cqox.simulate.confounded_binary(n=600, seed=5)
    path = folder / "demo.csv"
    df.to_csv(path, index=False)
    (folder / "truth.json").write_text(
        json.dumps({"ATE": truth["SATE"], "ATT": truth["SATT"]}), encoding="utf-8"
    )
    return path
