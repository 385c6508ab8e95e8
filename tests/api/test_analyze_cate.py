"""``POST /api/analyze/cate``: unit-level effects over HTTP."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, assert_error


def test_cate_route_returns_predictions_and_importance(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/cate",
        headers=h,
        json={
            "dataset_id": ds,
            "mapping": {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]},
            "method": "causal_forest",
            "method_params": {
                "n_trees": 100,
                "min_leaf_size": 5,
                "honest": True,
                "learner": "linear",
            },
            "prediction_grid": [
                {"x1": -1.0, "x2": 0.0, "x3": 0.0},
                {"x1": 1.0, "x2": 0.0, "x3": 0.0},
            ],
            "options": {"wait_s": 60},
        },
    )
    answer = api.finished(r, h)
    result = answer["result"]
    assert [e["estimator"] for e in result["estimates"]] == ["causal_forest"]
    preds = result["cate_predictions"]
    assert len(preds) == 2
    assert set(preds[0]) >= {"x1", "cate", "se", "ci_lower", "ci_upper"}
    assert preds[1]["cate"] > preds[0]["cate"]  # τ(x) = 2 + x1 in this design
    assert set(result["feature_importance"]) == {"x1", "x2", "x3"}
    figures = api.client.get(answer["links"]["figures"], headers=h).json()["figures"]
    names = {f["name"] for f in figures}
    assert {"cate_landscape", "cate_heatmap", "gates", "uplift", "variable_importance"} <= names
    land = next(f for f in figures if f["name"] == "cate_landscape")
    fig = api.client.get(land["json"], headers=h)
    assert fig.status_code == 200 and fig.json()["data"][0]["type"] == "surface"


def test_cate_route_names_a_bad_method_parameter(api: Api) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/cate",
        headers=h,
        json={
            "dataset_id": ds,
            "mapping": {"outcome": "y", "treatment": "t"},
            "method": "causal_forest",
            "method_params": {"n_treez": 10},
        },
    )
    err = assert_error(r, 400, "INVALID_PARAMETER")
    assert "n_treez" in err["message"]


@pytest.mark.parametrize("method", ["nope", "ipw"])
def test_cate_route_refuses_methods_that_are_not_cate_estimators(api: Api, method: str) -> None:
    h = api.headers("analyst")
    ds = api.dataset(h)
    r = api.client.post(
        "/api/analyze/cate",
        headers=h,
        json={"dataset_id": ds, "mapping": {"outcome": "y", "treatment": "t"}, "method": method},
    )
    assert r.status_code == 422, r.text
