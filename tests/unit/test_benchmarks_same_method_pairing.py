"""The main suite compares each peer with the CQOx run of its own method."""

from __future__ import annotations

from benchmarks import cases, run
from benchmarks.harness import Outcome


def _o(library: str, seconds: float) -> Outcome:
    return Outcome(
        "dml_irm", library, "cross_section", "ATE", median_s=seconds, estimate=1.0, truth=1.0
    )


def test_drlearner_is_compared_with_the_pooled_outcome_structure() -> None:
    outcomes = [
        _o("cqox", 9.0),
        _o(cases.POOLED_IRM, 6.0),
        _o("doubleml", 9.5),
        _o("econml DRLearner", 6.6),
    ]
    lines, losses = run.summaries(outcomes, quick=True)
    row = next(line for line in lines if line.startswith("| cross_section | dml_irm |"))
    # the lowest same-method ratio is DoubleML's 9.5 / 9.0 (DRLearner: 6.6 / 6.0)
    assert "| doubleml | 9.5 | 1.06 |" in row
    assert not [x for x in losses if x.startswith("slower")]


def test_a_slower_pooled_run_is_listed_against_drlearner() -> None:
    outcomes = [
        _o("cqox", 9.0),
        _o(cases.POOLED_IRM, 7.0),
        _o("doubleml", 9.5),
        _o("econml DRLearner", 6.6),
    ]
    lines, losses = run.summaries(outcomes, quick=True)
    row = next(line for line in lines if line.startswith("| cross_section | dml_irm |"))
    assert f"econml DRLearner (vs {cases.POOLED_IRM})" in row
    slower = [x for x in losses if x.startswith("slower")]
    assert len(slower) == 1 and cases.POOLED_IRM in slower[0] and "DRLearner" in slower[0]


def test_peer_speed_compares_drlearner_with_the_pooled_structure() -> None:
    from benchmarks import peer_speed

    def row(library: str, cpu_s: float) -> dict[str, object]:
        return {"method": "dml_irm", "rows": 1000, "library": library, "cpu_s": cpu_s,
                "estimate": 1.0, "error": None, "note": ""}  # fmt: skip

    rows = [row("cqox", 9.0), row(cases.POOLED_IRM, 6.0), row("econml DRLearner", 6.6)]
    rows.append(row("doubleml", 9.5))
    text = "\n".join(peer_speed.section({"runs": 3, "load_average": [1.0], "rows": rows}))
    assert f"| econml DRLearner (vs {cases.POOLED_IRM}) | 6.6e+03 | 1.10 |" in text
    assert "| doubleml | 9.5e+03 | 1.06 |" in text
