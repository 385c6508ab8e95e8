"""Bad input on the command line, table-driven: exit status 2 and one ``cqox: error:`` line.

The Python twin is ``tests/unit/test_bad_inputs.py``.  Every case must name the
culprit (column, value, parameter or flag) and never print a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cqox.cli import main as cli
from tests.cli.conftest import FAST

BAD_INPUT_EXIT = 2


def files(folder: Path, demo_csv: Path) -> dict[str, Path]:
    """Bad files written once per test into ``folder``."""
    out = {
        "empty": folder / "empty.csv",
        "header": folder / "header.csv",
        "dupes": folder / "dupes.csv",
        "garbage": folder / "garbage.csv",
        "text_y": folder / "text_y.csv",
        "const_t": folder / "const_t.csv",
        "truth_bad": folder / "truth_bad.json",
    }
    out["empty"].write_bytes(b"")
    out["header"].write_bytes(b"y,t,x1\n")
    out["dupes"].write_bytes(b"y,t,x1,x1\n1,0,2,3\n2,1,3,4\n")
    out["garbage"].write_bytes(bytes(range(256)) * 40)
    df = pd.read_csv(demo_csv)
    df.assign(label=["a", "b", "c"] * (len(df) // 3)).to_csv(out["text_y"], index=False)
    df.assign(t=1).to_csv(out["const_t"], index=False)
    out["truth_bad"].write_text("[1, 2]", encoding="utf-8")
    return out


#: (case id, argv with {placeholders}, words the error line must contain)
CASES: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("empty file", ["analyze", "{empty}"], ("empty.csv", "empty")),
    ("header only", ["analyze", "{header}"], ("header.csv", "no rows")),
    ("duplicate columns", ["analyze", "{dupes}"], ("duplicate column names", "'x1'")),
    ("binary garbage", ["analyze", "{garbage}"], ("garbage.csv", "binary")),
    ("missing file", ["analyze", "{folder}/nope.csv"], ("nope.csv", "not found")),
    (
        "outcome not numeric",
        ["analyze", "{text_y}", "--outcome", "label", "--treatment", "t", "--estimators", FAST],
        ("'label'", "numeric"),
    ),
    (
        "treatment not binary",
        # dml_plr takes a continuous treatment, so name an estimator that needs a binary one
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "x1", "--estimators", "ipw"],
        ("'x1'", "binary"),
    ),
    (
        "missing column, closest name",
        ["analyze", "{demo}", "--outcome", "yy", "--treatment", "t"],
        ("'yy'", "did you mean 'y'?", "columns: y, t, x1"),
    ),
    (
        "constant treatment",
        ["analyze", "{const_t}", "--outcome", "y", "--treatment", "t"],
        ("'t'", "constant"),
    ),
    (
        "unknown estimator",
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "t", "--estimators", "ipww"],
        ("'ipww'", "did you mean 'ipw'?"),
    ),
    (
        "unknown parameter",
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "t", "--set", "ipw.trimm=0.1"],
        ("'trimm'", "did you mean 'trim'?"),
    ),
    (
        "bad parameter value",
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "t", "--set", "ipw.trim=0.7"],
        ("The 'trim' parameter of ipw must be a float in [0, 0.5). Got 0.7 instead.",),
    ),
    (
        "malformed --set",
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "t", "--set", "ipw.trim"],
        ("--set expects ESTIMATOR.PARAM=VALUE", "'ipw.trim'"),
    ),
    (
        "malformed --set without a dot",
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "t", "--set", "trim=0.1"],
        ("'trim=0.1'",),
    ),
    (
        "bad gate threshold",
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "t", "--set", "gates.ess=abc"],
        ("gates.ess", "'abc'"),
    ),
    (
        "formula with an unknown column",
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "t", "--covariates", "x1 + x9"],
        ("covariates", "'x9'"),
    ),
    (
        "formula syntax error",
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "t", "--covariates", "x1 + (x2"],
        ("formula", "'x1 + (x2'"),
    ),
    (
        "bad --truth",
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "t", "--truth", "ATE"],
        ("--truth", "'ATE'"),
    ),
    (
        "bad --truth file",
        ["analyze", "{demo}", "--outcome", "y", "--treatment", "t", "--truth", "{truth_bad}"],
        ("--truth", "truth_bad.json"),
    ),
    (
        "no design can be found",
        ["analyze", "{demo}", "--outcome", "y", "--no-infer"],
        ("no design found", "--treatment", "columns: y, t"),
    ),
    ("unknown flag", ["analyze", "{demo}", "--bogus"], ("unrecognized arguments: --bogus",)),
    ("missing data argument", ["analyze"], ("required: data",)),
    ("unknown command", ["frobnicate"], ("invalid choice: 'frobnicate'",)),
    ("bad --seed", ["analyze", "{demo}", "--seed", "x"], ("--seed", "'x'")),
    ("bad --cutoff", ["analyze", "{demo}", "--cutoff", "zero"], ("--cutoff", "'zero'")),
]


@pytest.mark.parametrize(("case", "argv", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_error_line(
    case: str,
    argv: list[str],
    words: tuple[str, ...],
    demo_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = {k: str(v) for k, v in files(tmp_path, demo_csv).items()}
    paths.update(demo=str(demo_csv), folder=str(tmp_path))
    status = cli.main([a.format(**paths) for a in argv])
    out, err = capsys.readouterr()
    assert status == BAD_INPUT_EXIT, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cqox: error: ")
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert "Traceback" not in out + err
    assert out == ""


def test_internal_error_is_one_line_with_status_1(
    monkeypatch: pytest.MonkeyPatch, demo_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("cqox.analysis.compose.analyze", broken)
    monkeypatch.delenv("CQOX_DEBUG", raising=False)
    status = cli.main(["analyze", str(demo_csv), "--outcome", "y", "--treatment", "t"])
    err = capsys.readouterr().err
    assert status == cli.EXIT_INTERNAL
    assert err.count("\n") == 1 and err.startswith("cqox: error: internal error: ZeroDivisionError")


def test_debug_mode_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, demo_csv: Path) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("cqox.analysis.compose.analyze", broken)
    monkeypatch.setenv("CQOX_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["analyze", str(demo_csv), "--outcome", "y", "--treatment", "t"])
