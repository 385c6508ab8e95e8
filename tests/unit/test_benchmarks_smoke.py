"""The benchmark suite's building blocks still run: designs, a CQOx case, the harness.

A smoke test, so that the benchmark code cannot rot silently between `make bench`
runs; the benchmark numbers themselves live in docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from benchmarks import cases, datagen
from benchmarks.harness import Case, measure

#: Each design at a small size: (generator, keyword arguments).
SMALL_DESIGNS = [
    (datagen.cross_section, {"n": 300, "p": 5}),
    (datagen.iv, {"n": 300}),
    (datagen.sharp_rd, {"n": 300}),
    (datagen.staggered_panel, {"n_units": 60, "n_periods": 8}),
    (datagen.two_group_panel, {"n_units": 60, "n_periods": 8}),
    (datagen.its_series, {"n_pre": 40, "n_post": 30}),
    (datagen.synth_panel, {"n_donors": 8, "n_periods": 12, "t0": 8}),
]


@pytest.mark.parametrize(
    ("make", "kwargs"), SMALL_DESIGNS, ids=lambda v: getattr(v, "__name__", "")
)
def test_design_has_table_roles_and_finite_truth(
    make: Callable[..., datagen.Design], kwargs: dict[str, int]
) -> None:
    d = make(seed=1, **kwargs)
    assert len(d.frame) > 0
    assert d.roles["outcome"] in d.frame.columns
    assert d.truth and all(np.isfinite(v) for v in d.truth.values())


def test_design_is_reproducible_from_its_seed() -> None:
    a = datagen.cross_section(n=200, p=5, seed=4)
    b = datagen.cross_section(n=200, p=5, seed=4)
    assert a.frame.equals(b.frame)
    assert a.tau is not None and len(a.tau) == 200


def test_harness_times_and_scores_a_cqox_case() -> None:
    d = datagen.cross_section(n=400, p=5, seed=2)
    case = Case("ipw", "cqox", d.name, "ATE", cases._cqox("ipw", d, "ATE"), repeats=2)
    out = measure(case, d.truth["ATE"], d.tau)
    assert out.error is None
    assert len(out.times_s) == 2 and out.median_s is not None and out.median_s > 0
    assert out.abs_error is not None and out.ci is not None and out.covers is not None


def test_harness_records_a_failing_case_instead_of_raising() -> None:
    def boom() -> dict[str, float]:
        raise ValueError("peer broke")

    out = measure(Case("x", "peer", "d", "ATE", boom), truth=1.0)
    assert out.median_s is None and out.error is not None and "peer broke" in out.error


def test_case_builders_only_name_the_design_they_were_given() -> None:
    d = datagen.sharp_rd(n=300, seed=1)
    built = cases.rd_cases(d, quick=True)
    assert built and {c.design for c in built} == {d.name}


def test_auto_mode_rows_compare_stop_and_render(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from benchmarks import auto_mode

    import cqox

    df, truth = cqox.simulate.confounded_binary(n=400, seed=2)
    ok = auto_mode.Case(
        "sim",
        lambda _: df,
        "y",
        "t",
        published=truth["SATE"],
        tolerance=1.0,
        reference="simulated truth",
    )
    stop = auto_mode.Case("no treatment", lambda _: df[["y", "x1"]], "y", None)
    rows = [auto_mode.run_case(c, tmp_path) for c in (ok, stop)]
    assert rows[0]["verdict"] == "reproduces"
    assert rows[1]["verdict"] == "stops (NO_DESIGN)" and "--treatment" in rows[1]["result"]
    page = auto_mode.render(rows, seed=0)
    assert "| sim | outcome=y, treatment=t |" in page and "1 reproduces, 1 stops of 2" in page


def test_auto_mode_pools_ground_truth_rows_and_compares_the_baseline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from benchmarks import auto_mode

    import cqox

    df, truth = cqox.simulate.confounded_binary(n=400, seed=2)
    files = [
        auto_mode.Case(f"file {i}", lambda _: df, "y", "t", published=truth["SATE"], pool="P")
        for i in range(2)
    ]
    dim = float(df.loc[df.t == 1, "y"].mean() - df.loc[df.t == 0, "y"].mean())
    base = auto_mode.Case(
        "baseline", lambda _: df, "y", "t", target="baseline:ATE", published=dim, tolerance=1e-9
    )
    rows = [auto_mode.run_case(c, tmp_path) for c in (*files, base)]
    assert rows[0]["verdict"].startswith("reported (ε_ATE")
    (pooled,) = auto_mode.pooled_rows(rows[:2])
    assert pooled["verdict"] == "reproduces" and pooled["value"] < auto_mode.TRUTH_TOLERANCE
    assert rows[2]["verdict"] == "reproduces" and "difference in means" in rows[2]["result"]


def test_peer_speed_times_cpu_and_writes_its_section(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from benchmarks import peer_speed

    def busy() -> dict[str, float]:
        return {"estimate": float(np.linalg.norm(np.ones((200, 200)) @ np.ones(200)))}

    def broken() -> dict[str, float]:
        raise RuntimeError("peer failed")

    group = [
        peer_speed.PeerCase("its", "cqox", 300, busy),
        peer_speed.PeerCase("its", "peer", 300, busy),
        peer_speed.PeerCase("its", "broken peer", 300, broken),
    ]
    peer_speed.measure(group, runs=3)
    assert [len(c.cpu_s) for c in group] == [3, 3, 0] and group[2].error
    rows = [
        {
            "method": c.method,
            "library": c.library,
            "rows": c.rows,
            "note": c.note,
            "cpu_s": min(c.cpu_s) if c.cpu_s else None,
            "estimate": c.estimate,
            "error": c.error,
        }
        for c in group
    ]
    result = {"runs": 3, "sizes": [300], "load_average": [0.0, 0.0, 0.0], "rows": rows}
    doc = tmp_path / "bench.md"
    doc.write_text("# title\n\nbefore\n", encoding="utf-8")
    peer_speed.write_section(doc, result)
    peer_speed.write_section(doc, result)  # replaced, not appended twice
    text = doc.read_text(encoding="utf-8")
    assert text.count(peer_speed.BEGIN) == 1 and "| its | 300 |" in text
    assert "RuntimeError: peer failed" in text
