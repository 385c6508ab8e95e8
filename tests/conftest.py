"""Shared test options: slow simulation studies and their bounded CI form.

- default: ``slow`` tests are skipped; ``ci_bounded`` tests are skipped.
- ``--ci-bounded`` (what ``make test`` adds when ``CI=true``): run ``ci_bounded`` tests.
- ``--run-slow``: run everything, including the full ``slow`` studies.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

#: ../shared/datasets beside the repository (CI lays shared/ next to the clone);
#: ``CQOX_DATASETS`` points elsewhere (a git worktree is not beside shared/).
DATASETS = Path(
    os.environ.get("CQOX_DATASETS") or Path(__file__).resolve().parents[2] / "shared" / "datasets"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run the full simulation studies")
    parser.addoption(
        "--ci-bounded", action="store_true", help="run the bounded simulation studies (CI)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = config.getoption("--run-slow") or os.environ.get("CQOX_SLOW") == "1"
    bounded = config.getoption("--ci-bounded") or run_slow
    skip_slow = pytest.mark.skip(reason="slow simulation study: use --run-slow (make test-all)")
    skip_bounded = pytest.mark.skip(
        reason="bounded simulation study: runs with --ci-bounded (CI=true make test)"
    )
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        elif "ci_bounded" in item.keywords and not bounded:
            item.add_marker(skip_bounded)


def dataset_path(name: str) -> Path:
    """Path of a shared data set, skipping the test (with the reason) when absent."""
    path = DATASETS / name
    if not path.exists():
        pytest.skip(
            f"data set {name} not found in {DATASETS} (the shared/ folder is not "
            "beside the repository)"
        )
    return path
