"""Shared test options: slow simulation studies and their bounded CI form.

- default: ``slow`` tests are skipped; ``ci_bounded`` tests are skipped.
- ``--ci-bounded`` (what ``make test`` adds when ``CI=true``): run ``ci_bounded`` tests.
- ``--run-slow``: run everything, including the full ``slow`` studies.
"""

from __future__ import annotations

import atexit
import collections
import functools
import gzip
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
if "CQOX_CACHE_DIR" not in os.environ:
    # the estimator-listing cache of this run (cqox._cachedir), never the user's ~/.cache
    _cache = tempfile.mkdtemp(prefix="cqox-test-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["CQOX_CACHE_DIR"] = _cache

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
    studies: set[Path] = set()
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        elif "ci_bounded" in item.keywords and not bounded:
            item.add_marker(skip_bounded)
        elif "slow" in item.keywords or "ci_bounded" in item.keywords:
            studies.add(item.path)
    if hasattr(config, "workerinput"):
        # A pytest-xdist worker (`make test`: `-n 2 --dist loadfile`): the controller hands
        # out whole files in this order, so the longest ones go first — the browser tests,
        # then the files of the simulation studies that run — and the short files fill in
        # at the end instead of one long file running alone on one worker.
        def rank(item: pytest.Item) -> int:
            if item.path.parent.name == "e2e":
                return 0
            return 1 if item.path in studies else 2

        items.sort(key=rank)  # stable: the order within a file is kept


#: shared/ files that ``cqox.datasets`` ships: the same bytes once decompressed (less the
#: column CQOx added), so tests that read them run where shared/ is absent too.
SHIPPED = {
    "lalonde_nsw_dw.csv": "lalonde",
    "card1995.csv": "card",
    "thornton_hiv.csv": "thornton_hiv",
    "mlda_drinking.csv": "mlda",
    "castle_doctrine.csv": "castle",
    "lalonde_cps1_controls.csv": "lalonde_cps",
}
#: Columns CQOx appended to a shipped file (the last column of every line).
APPENDED_COLUMN = {"castle": "first_treated"}
#: Data rows CQOx put before the shared file's rows (lalonde_cps: the 185 NSW treated).
PREPENDED_ROWS = {"lalonde_cps1_controls.csv": 185}


@functools.cache
def _shipped_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="cqox-shipped-datasets-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _shipped_copy(name: str) -> Path:
    """The shipped copy of shared/datasets/NAME, decompressed as the original CSV."""
    shipped = SHIPPED[name]
    path = _shipped_dir() / name
    if not path.exists():
        ref = resources.files("cqox.datasets") / "data" / f"{shipped}.csv.gz"
        text = gzip.decompress(ref.read_bytes()).decode()
        if shipped in APPENDED_COLUMN:
            lines = [line.rsplit(",", 1) for line in text.rstrip("\n").split("\n")]
            assert lines[0][1] == APPENDED_COLUMN[shipped]
            text = "\n".join(head for head, _ in lines) + "\n"
        if name in PREPENDED_ROWS:
            header, *rows = text.rstrip("\n").split("\n")
            text = "\n".join([header, *rows[PREPENDED_ROWS[name] :]]) + "\n"
        path.write_text(text)
    return path


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    message = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return message.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line per skip reason with its count (``-rs`` would print one line per test)."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons = collections.Counter(_skip_reason(r) for r in skipped)
    terminalreporter.write_sep("-", f"{len(skipped)} skipped, by reason")
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"{count:5d}  {reason}")


def dataset_path(name: str) -> Path:
    """Path of a shared data set (or of its shipped copy); skips the test when absent."""
    path = DATASETS / name
    if path.exists():
        return path
    if name in SHIPPED:
        return _shipped_copy(name)
    pytest.skip(
        f"data set {name} not found in {DATASETS} (the shared/ folder is not "
        "beside the repository, and cqox.datasets does not ship it)"
    )
