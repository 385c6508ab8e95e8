"""Request-time refusal of bad or too costly analyses (422), never a failed job later.

Estimator parameters are resolved against the registry when the request arrives, and
the estimated work (rows × columns × replicates, summed over the planned runs) is
checked against ``CQOX_MAX_WORK``.  A refused request leaves no job behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cqox.estimators import registry
from cqox.server import budget
from tests.api.conftest import Api, assert_error


@pytest.fixture
def fresh(secure_api: Api) -> Iterator[tuple[Api, dict[str, str], str]]:
    """The service, a fresh analyst and their dataset; the budget is restored after."""
    saved = secure_api.settings.max_work
    h = secure_api.user("analyst")
    yield secure_api, h, secure_api.dataset(h)
    secure_api.settings.max_work = saved


def _jobs(api: Api, h: dict[str, str]) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = api.client.get("/api/jobs", headers=h).json()["jobs"]
    return jobs


def test_n_boot_2e7_is_refused_with_422_at_request_time(
    fresh: tuple[Api, dict[str, str], str],
) -> None:
    api, h, ds = fresh
    for n_boot in (2e7, 20_000_000):
        r = api.client.post(
            "/api/analyze/comprehensive",
            headers=h,
            json={
                "dataset_id": ds,
                "estimators": ["bootstrap"],
                "options": {"params": {"bootstrap": {"n_boot": n_boot}}, "wait_s": 0},
            },
        )
        err = assert_error(r, 422, "INVALID_PARAMETER")
        assert err["details"]["parameter"] == "n_boot"
        assert err["details"]["estimator"] == "bootstrap"
        assert "job_id" not in err["details"]  # refused before any job existed
    assert _jobs(api, h) == []


def test_out_of_range_parameter_is_422_even_when_the_caller_does_not_wait(
    fresh: tuple[Api, dict[str, str], str],
) -> None:
    api, h, ds = fresh
    r = api.client.post(
        "/api/analyze/comprehensive",
        headers=h,
        json={
            "dataset_id": ds,
            "options": {"params": {"psm": {"n_neighbors": 1_000_000}}, "wait_s": 0},
        },
    )
    assert_error(r, 422, "INVALID_PARAMETER")
    r = api.client.post(
        "/api/analyze/ate",
        headers=h,
        json={
            "dataset_id": ds,
            "estimator": "bootstrap",
            "options": {"params": {"bootstrap": {"n_bootstrap_typo": 5}}, "wait_s": 0},
        },
    )
    assert "n_bootstrap_typo" in assert_error(r, 422, "INVALID_PARAMETER")["message"]
    assert _jobs(api, h) == []


def test_work_over_the_budget_is_422_naming_the_parameter(
    fresh: tuple[Api, dict[str, str], str],
) -> None:
    api, h, ds = fresh
    api.settings.max_work = 1e8
    body = {
        "dataset_id": ds,
        "estimators": ["bootstrap"],
        "options": {
            "params": {
                "bootstrap": {
                    "n_boot": 50_000,
                    "base_estimator": "aipw",
                    "base_params": {"cross_fit": True, "n_folds": 50},
                }
            },
            "wait_s": 0,
        },
    }
    r = api.client.post("/api/analyze/comprehensive", headers=h, json=body)
    err = assert_error(r, 422, "WORK_BUDGET_EXCEEDED")
    assert err["details"]["parameter"] == "n_boot"
    assert err["details"]["work"] > err["details"]["budget"] == 1e8
    assert "CQOX_MAX_WORK" in err["message"]
    # the base parameters given as a JSON string are counted just the same
    body["options"]["params"]["bootstrap"]["base_params"] = json.dumps(  # type: ignore[index]
        {"cross_fit": True, "n_folds": 50}
    )
    assert_error(
        api.client.post("/api/analyze/comprehensive", headers=h, json=body),
        422,
        "WORK_BUDGET_EXCEEDED",
    )
    assert _jobs(api, h) == []


def test_the_work_estimate_grows_with_every_replicate_count() -> None:
    def work(name: str, **given: Any) -> float:
        return budget.estimate_work(1000, 5, [registry.get(name)], {name: given}).total

    assert work("bootstrap", n_boot=2000) > work("bootstrap", n_boot=1000)
    assert work("bootstrap", n_boot=100, base_estimator="aipw", base_params={"n_folds": 20}) > (
        work("bootstrap", n_boot=100, base_estimator="aipw", base_params={"n_folds": 2})
    )
    assert work("dml_plr", n_rep=10) == pytest.approx(10 * work("dml_plr", n_rep=1))
    assert work("psm", n_neighbors=50) > work("psm", n_neighbors=1)
    assert work("synth", conformal_n_perm=100_000) > work("synth", conformal_n_perm=1000)
    # a default comprehensive analysis of the largest table accepted fits the default budget
    from cqox.server.settings import Settings

    s = Settings(secret_key="x" * 40)
    rows = s.max_cells // 50
    default = budget.estimate_work(rows, 50, budget.planned("comprehensive", None), {})
    assert default.total <= s.max_work, (default.total, s.max_work)


def test_n_boot_counts_only_when_the_se_method_resamples() -> None:
    def work(name: str, **given: Any) -> float:
        return budget.estimate_work(1000, 5, [registry.get(name)], {name: given}).total

    # msm_iptw: robust/analytic SEs draw no bootstrap, whatever n_boot says
    for se_method in ("robust", "analytic"):
        assert work("msm_iptw", se_method=se_method, n_boot=10_000) == work(
            "msm_iptw", se_method=se_method, n_boot=20
        )
        assert work("msm_iptw", se_method=se_method) == 1000 * 5
    assert work("msm_iptw", se_method="bootstrap", n_boot=400) == pytest.approx(
        2 * work("msm_iptw", se_method="bootstrap", n_boot=200)
    )
    assert work("panel_match", se_method="analytic", n_boot=100_000) == work(
        "panel_match", se_method="analytic", n_boot=50
    )
    assert work("panel_match", se_method="bootstrap", n_boot=2000) > work(
        "panel_match", se_method="bootstrap", n_boot=1000
    )
    # g_computation: the analytic SE draws nothing; 'auto' may bootstrap, so it counts
    assert work("g_computation", se_method="analytic", n_boot=100_000) == work(
        "g_computation", se_method="analytic", n_boot=20
    )
    for se_method in ("bootstrap", "auto"):
        assert work("g_computation", se_method=se_method, n_boot=2000) > work(
            "g_computation", se_method=se_method, n_boot=1000
        )
    # did_cs: the multiplier draws give uniform bands, which Conley SEs do not draw
    assert work("did_cs", se_method="conley", n_boot=100_000) == work(
        "did_cs", se_method="conley", n_boot=10
    )
    assert work("did_cs", se_method="analytic", n_boot=2000) > work(
        "did_cs", se_method="analytic", n_boot=1000
    )


def test_bootstrap_of_itself_is_refused_at_request_time() -> None:
    with pytest.raises(budget.ParameterRefusedError, match="base_estimator"):
        budget.estimate_work(
            100, 3, [registry.get("bootstrap")], {"bootstrap": {"base_estimator": "bootstrap"}}
        )
