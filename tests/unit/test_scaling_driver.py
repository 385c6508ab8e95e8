"""The scaling benchmark's driver: sizes parsed, rows saved as they finish, timeouts per size.

A size that runs out of time is recorded as "timed out after N s" and the rows
measured before it are kept, in the results file and in the generated page.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks import scaling


def test_sizes_are_rows_or_rows_by_covariates() -> None:
    assert scaling.parse_sizes("1000, 1e6,10_000_000x20", 50) == [
        (1000, 50),
        (1_000_000, 50),
        (10_000_000, 20),
    ]
    with pytest.raises(SystemExit, match="cannot read"):
        scaling.parse_sizes("lots", 50)


def test_a_rerun_size_replaces_its_row_and_keeps_the_curve_in_order() -> None:
    rows = [{"n": 1000, "p": 50, "cpu_s": 1.0}, {"n": 10_000_000, "p": 20, "error": "x"}]
    rows = scaling.merge_row(rows, {"n": 100, "p": 50, "cpu_s": 0.5})
    rows = scaling.merge_row(rows, {"n": 10_000_000, "p": 20, "cpu_s": 90.0})
    assert [(r["n"], r["p"]) for r in rows] == [(100, 50), (1000, 50), (10_000_000, 20)]
    assert rows[-1]["cpu_s"] == 90.0


def test_a_size_out_of_time_is_recorded_and_earlier_rows_are_kept(tmp_path: Path) -> None:
    results, out = tmp_path / "scaling.json", tmp_path / "scaling.md"
    measured = {
        "n": 1000,
        "p": 3,
        "wall_s": 1.0,
        "cpu_s": 0.9,
        "peak_rss_bytes": 200 * 2**20,
        "rss_after_data": 190 * 2**20,
        "rss_at_start": 180 * 2**20,
        "data_bytes": 2**20,
        "n_estimates": 15,
        "estimators": ["ipw"],
        "abs_error_ate": 0.01,
        "steps_s": {"ipw": 0.1},
        "failures": [],
        "load_average": [1.0, 1.0, 1.0],
    }
    scaling.save_rows([measured], results)
    # the child process cannot even import the library in a millisecond
    code = scaling.main(
        ["--sizes", "2000x3", "--timeout", "0.001", "--results", str(results), "--out", str(out)]
    )
    assert code == 0
    rows = json.loads(results.read_text())
    assert [(r["n"], r["p"]) for r in rows] == [(1000, 3), (2000, 3)]
    assert rows[0] == measured
    assert rows[1]["error"] == "timed out after 0.001 s"
    page = out.read_text()
    assert "| 2,000 | 3 | timed out after 0.001 s |" in page
    assert "| 1,000 | 3 | 1.000 |" in page
