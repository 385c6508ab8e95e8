"""Domain detection labels tables from their column vocabulary."""

from __future__ import annotations

import pytest

from cqox.data.domain import detect_domain
from cqox.data.io import read_table
from tests.conftest import dataset_path


@pytest.mark.parametrize(
    ("columns", "domain"),
    [
        (["patient_id", "drug", "mortality", "age", "bmi"], "healthcare"),
        (["loan_id", "credit", "interest", "default", "income"], "finance"),
        (["customer_id", "campaign", "clicks", "revenue", "coupon"], "marketing"),
        (["student", "school", "teacher", "math", "grade"], "education"),
        (["state", "year", "unemployment", "minimum", "wage", "law"], "policy"),
        (["machine", "defects", "batch", "supplier", "downtime"], "manufacturing"),
        (["x1", "x2", "x3", "t", "y"], "unknown"),
        (["age", "sex", "year"], "unknown"),  # generic words alone are not evidence
        (["患者ID", "治療", "死亡"], "healthcare"),
        (["顾客", "广告", "销售额"], "marketing"),
        (["patientId", "bloodPressure"], "healthcare"),
    ],
)
def test_vocabulary(columns: list[str], domain: str) -> None:
    guess = detect_domain(columns)
    assert guess.domain == domain
    assert 0.0 <= guess.score <= 1.0
    if domain != "unknown":
        assert guess.score > 0 and guess.evidence
    else:
        assert guess.score == 0.0 and guess.evidence == []


@pytest.mark.parametrize(
    ("dataset", "domain"),
    [
        ("cattaneo2.csv", "healthcare"),
        ("thornton_hiv.csv", "healthcare"),
        ("mpdta.csv", "policy"),
        ("castle_doctrine.csv", "policy"),
        ("rdrobust_senate.csv", "policy"),
        ("ihdp_npci_1.csv", "unknown"),
    ],
)
def test_real_data_sets(dataset: str, domain: str) -> None:
    df = read_table(dataset_path(dataset)).frame
    assert detect_domain(list(df.columns)).domain == domain


def test_score_grows_with_evidence() -> None:
    weak = detect_domain(["patient", "drug"]).score
    strong = detect_domain(["patient", "drug", "hospital", "mortality"]).score
    assert 0 < weak < strong <= 1


def test_to_dict_is_json_ready() -> None:
    d = detect_domain(["patient", "drug"]).to_dict()
    assert set(d) == {"domain", "score", "evidence", "scores"}
