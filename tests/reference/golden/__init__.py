"""Stored outputs of the peer implementations, so reference tests run without them.

A reference test asks a :class:`Peer` for the peer's numbers on a named case::

    LINEARMODELS = Peer("linearmodels", ("linearmodels",))
    peer = LINEARMODELS.outputs("iv/2sls-robust", lambda: {"coef": fit().params.to_dict()})

When the peer is installed the function runs and its result is used (and, while
``make_golden`` records, stored); otherwise the stored result from
``golden/<peer>.json`` is used. A case with neither fails the test, naming the command
that writes it: a reference test never vanishes because a peer is missing.
(linearmodels and pyfixest keep their reference outputs the same way.)

Write or refresh the files with the peers installed::

    python -m tests.reference.golden.make_golden
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

GOLDEN_DIR = Path(__file__).resolve().parent

#: Cases recorded by this process (peer file → case → outputs); make_golden writes them.
RECORDED: dict[str, dict[str, Any]] = {}
#: Set by make_golden: record every live result.
RECORDING = False
#: ``CQOX_PEERS=stored``: use the stored outputs even where the peer is installed (to check
#: that the golden files cover every case, as a machine without the peers would run).
FORCE_STORED = os.environ.get("CQOX_PEERS") == "stored"


def jsonable(value: Any) -> Any:
    """Numbers, arrays, Series and mappings as plain JSON values (floats at full precision)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.Series):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return {str(c): jsonable(value[c]) for c in value.columns}
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} as a golden output")


def digest(*arrays: Any) -> str:
    """A short fingerprint of numeric arrays (values as float64, and shapes), for naming a
    case by its data when the data have no shorter name."""
    h = hashlib.sha256()
    for a in arrays:
        x = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
        h.update(repr(x.shape).encode())
        h.update(x.tobytes())
    return h.hexdigest()[:16]


def _load(name: str) -> dict[str, Any]:
    path = GOLDEN_DIR / f"{name}.json"
    if not path.exists():
        return {}
    stored: dict[str, Any] = json.loads(path.read_text())
    return stored


@dataclass(frozen=True)
class Peer:
    """A peer implementation: its golden file and the modules a live run needs."""

    name: str
    modules: tuple[str, ...]

    def installed(self) -> bool:
        """Whether every module the peer needs can be imported."""
        return all(importlib.util.find_spec(m) is not None for m in self.modules)

    def outputs(self, case: str, compute: Callable[[], Any]) -> Any:
        """The peer's outputs for ``case``: live when installed, else the stored ones."""
        if self.installed() and not FORCE_STORED:
            live = jsonable(compute())
            if RECORDING:
                RECORDED.setdefault(self.name, {})[case] = live
            return live
        stored = _load(self.name)
        if case not in stored:
            pytest.fail(
                f"{self.name} is not installed and tests/reference/golden/{self.name}.json has "
                f"no stored output for case {case!r}: run `python -m "
                "tests.reference.golden.make_golden` where it is installed"
            )
        return stored[case]


LINEARMODELS = Peer("linearmodels", ("linearmodels",))
STATSMODELS = Peer("statsmodels", ("statsmodels",))
RDROBUST = Peer("rdrobust", ("rdrobust",))
RDDENSITY = Peer("rddensity", ("rddensity", "lpdensity"))
CSDID = Peer("csdid", ("csdid",))
PYFIXEST = Peer("pyfixest", ("pyfixest",))
PYSYNCON = Peer("pysyncon", ("pysyncon",))
DOUBLEML = Peer("doubleml", ("doubleml",))
ECONML = Peer("econml", ("econml",))
DOWHY = Peer("dowhy", ("dowhy",))
#: causalml 0.18.0 (installed without its dependencies) imports xgboost in its meta-learners
CAUSALML = Peer("causalml", ("causalml", "xgboost"))
#: Open Bandit Pipeline 0.4.1 imports PyTorch (too heavy for the test extra): stored outputs
OBP = Peer("obp", ("obp", "torch"))
#: Generalized M-estimation (numerical-derivative sandwich): transport and proximal twins
DELICATESSEN = Peer("delicatessen", ("delicatessen",))

#: Every peer with stored outputs.
PEERS = (
    LINEARMODELS,
    STATSMODELS,
    RDROBUST,
    RDDENSITY,
    CSDID,
    PYFIXEST,
    PYSYNCON,
    DOUBLEML,
    ECONML,
    DOWHY,
    CAUSALML,
    OBP,
    DELICATESSEN,
)
