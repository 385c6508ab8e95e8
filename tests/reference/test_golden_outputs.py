"""The stored peer outputs stand in for the peers: a reference test runs without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.reference import golden

ROOT = Path(__file__).resolve().parents[2]
#: Quick modules on simulated data (no shared/ data set), run as a machine without any
#: peer runs them.
SAMPLE = [
    "tests/reference/test_iv_vs_linearmodels.py",
    "tests/reference/test_its_vs_statsmodels.py",
    "tests/reference/test_sensitivity.py",
]


@pytest.mark.parametrize("peer", golden.PEERS, ids=[p.name for p in golden.PEERS])
def test_every_peer_has_stored_outputs(peer: golden.Peer) -> None:
    stored = json.loads((golden.GOLDEN_DIR / f"{peer.name}.json").read_text())
    assert isinstance(stored, dict) and stored


def test_a_case_with_neither_peer_nor_stored_output_fails_naming_the_fix() -> None:
    absent = golden.Peer("no-such-peer", ("no_such_module_for_cqox_tests",))
    with pytest.raises(pytest.fail.Exception, match="make_golden"):
        absent.outputs("case", lambda: 1.0)


def test_outputs_are_stored_as_plain_json_at_full_precision() -> None:
    value = {"a": np.array([0.1 + 0.2, np.nan]), "b": np.float64(1 / 3), "c": (np.int64(2),)}
    back = json.loads(json.dumps(golden.jsonable(value)))
    assert back["a"][0] == 0.1 + 0.2 and np.isnan(back["a"][1])
    assert back["b"] == 1 / 3 and back["c"] == [2]


def test_sample_reference_modules_pass_from_stored_outputs_alone(tmp_path: Path) -> None:
    env = dict(os.environ, CQOX_PEERS="stored")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         *SAMPLE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout
