"""The ``cqox`` command line: analyze, estimators, simulate, --version, output formats."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from cqox._version import __version__
from cqox.cli import main as cli
from cqox.cli.display import Display, fmt_num, fmt_p
from tests.cli.conftest import FAST

#: Top-level keys of the --json output fixed by DESIGN.md.
DESIGN_KEYS = {"roles", "designs", "estimates", "consensus", "sensitivity", "elapsed_s"}
#: Keys of each estimate fixed by DESIGN.md.
ESTIMATE_KEYS = {"estimator", "estimand", "estimate", "se", "ci", "p_value", "gates"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_analyze_writes_json_with_the_documented_layout(
    demo_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "a.json"
    status, out, err = run(
        capsys,
        "analyze",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--estimators",
        FAST,
        "--json",
        str(out_json),
        "--seed",
        "3",
    )
    assert status == 0, err
    assert err == ""
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert set(data) >= DESIGN_KEYS
    assert data["designs"] == ["backdoor"]
    assert data["roles"]["outcome"] == "y" and data["roles"]["treatment"] == "t"
    assert {e["estimator"] for e in data["estimates"]} == {"ipw", "regression_adjustment"}
    for e in data["estimates"]:
        assert set(e) >= ESTIMATE_KEYS
        assert isinstance(e["ci"], list) and len(e["ci"]) == 2
        assert e["ci"][0] <= e["estimate"] <= e["ci"][1]
        assert 0 <= e["p_value"] <= 1
        assert all({"name", "status"} <= set(g) for g in e["gates"])
    assert set(data["consensus"]) == {e["estimand"] for e in data["estimates"]}
    assert data["elapsed_s"] > 0
    assert f"JSON:   {out_json}" in out


def test_json_to_stdout_is_pure_json(demo_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys,
        "analyze",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--estimators",
        "ipw",
        "--json",
        "-",
    )
    assert status == 0
    assert set(json.loads(out)) >= DESIGN_KEYS


def test_report_is_written(
    demo_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.html"
    status, out, _ = run(
        capsys,
        "analyze",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--estimators",
        FAST,
        "--report",
        str(report),
        "--truth",
        str(demo_csv.parent / "truth.json"),
    )
    assert status == 0
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert f"Report: {report}" in out


@pytest.mark.parametrize("width", [80, 120])
def test_summary_fits_the_terminal_without_cutting_names_or_numbers(
    width: int, demo_csv: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    status, out, _ = run(
        capsys,
        "analyze",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--estimators",
        FAST,
        "--truth",
        "ATE=2.0,ATT=2.3",
    )
    assert status == 0
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    table = [line for line in lines if line.lstrip("│┃ ").startswith(("ipw", "regression_"))]
    assert len(table) == 4
    assert sum("regression_adjustment" in line for line in table) == 2
    assert not any("…" in line for line in table)
    header = next(line for line in lines if "estimator" in line and "estimand" in line)
    assert ("se" in header.split()) == (width >= 100)
    assert "Consensus" in out and "Quality:" in out


def test_summary_shows_the_baseline_with_its_randomization_check(
    demo_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "analyze", str(demo_csv), "--outcome", "y", "--treatment", "t", "--estimators", FAST
    )
    assert status == 0
    df = pd.read_csv(demo_csv)
    diff = df.loc[df.t == 1, "y"].mean() - df.loc[df.t == 0, "y"].mean()
    row = next(line for line in out.splitlines() if line.lstrip("│┃ ").startswith("baseline "))
    assert fmt_num(diff) in row and "unadj." in row
    flat = " ".join(out.split())  # the note wraps at the terminal's width
    assert "randomization check (HC1 Wald test" in flat
    assert "the unadjusted difference in means, never in the consensus" in flat


def test_quiet_prints_nothing(demo_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys,
        "analyze",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--estimators",
        "ipw",
        "--quiet",
    )
    assert (status, out, err) == (0, "", "")


def test_roles_are_inferred_and_shown(demo_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "analyze", str(demo_csv), "--estimators", FAST)
    assert status == 0
    assert "outcome=y (" in out and "treatment=t (" in out  # inferred: confidence shown


def test_formula_covariates_on_the_command_line(
    demo_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "f.json"
    status, _, err = run(
        capsys,
        "analyze",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--covariates",
        "x1 + I(x1**2) + x2:x3",
        "--estimators",
        "ipw",
        "--json",
        str(out_json),
    )
    assert status == 0, err
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["roles"]["covariates"] == "x1 + I(x1**2) + x2:x3"


def test_set_passes_parameters(
    demo_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "s.json"
    status, _, _ = run(
        capsys,
        "analyze",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--estimators",
        "ipw",
        "--set",
        "ipw.trim=0.05",
        "--json",
        str(out_json),
    )
    assert status == 0
    est = json.loads(out_json.read_text(encoding="utf-8"))["estimates"][0]
    assert est["params"]["trim"] == 0.05


def test_estimators_lists_the_registry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    status, out, _ = run(capsys, "estimators")
    assert status == 0
    assert "ipw" in out and "regression_adjustment" in out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80


def test_estimators_json_has_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "estimators", "--json")
    assert status == 0
    entries = {e["name"]: e for e in json.loads(out)}
    assert {"name", "family", "designs", "estimands", "parameters"} <= set(entries["ipw"])
    assert "trim" in {p["name"] for p in entries["ipw"]["parameters"]}


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"cqox {__version__}"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys)
    assert status == 0 and "analyze" in out and "estimators" in out


def test_simulate_writes_data_and_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_csv, truth = tmp_path / "sim" / "d.csv", tmp_path / "t.json"
    status, out, _ = run(
        capsys,
        "simulate",
        "--out",
        str(out_csv),
        "--truth-out",
        str(truth),
        "--n",
        "150",
        "--seed",
        "2",
    )
    assert status == 0 and "150 rows" in out
    assert out_csv.read_text(encoding="utf-8").count("\n") == 151
    assert set(json.loads(truth.read_text(encoding="utf-8"))) == {"ATE", "ATT"}


def test_extra_commands_hook_adds_subcommands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "EXTRA_COMMANDS", ("tests.cli.hello", "tests.cli.absent_module"))
    status, out, _ = run(capsys, "hello", "--name", "cqox")
    assert (status, out.strip()) == (0, "hello cqox")


def test_progress_is_shown_only_on_a_terminal() -> None:
    quiet_err = io.StringIO()
    with Display(err=quiet_err).progress() as progress:
        assert progress is None  # piped: no progress bar
    shown = io.StringIO()
    display = Display(err=shown)
    display.err = Console(file=shown, force_terminal=True, width=80)
    with display.progress() as progress:
        assert progress is not None
        progress("ipw ATE", 0.5)
    assert "ipw ATE" in shown.getvalue()


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (2.0952, "2.095"),
        (1794.34, "1,794"),
        (0.056512, "0.05651"),
        (123456.7, "123,457"),
        (0.0, "0"),
        (float("nan"), "—"),
        (None, "—"),
        (-0.5, "-0.5000"),
        (2.5e-5, "2.500e-05"),
    ],
)
def test_number_format(x: float | None, text: str) -> None:
    assert fmt_num(x) == text


def test_p_value_format() -> None:
    assert (fmt_p(0.0), fmt_p(0.0123), fmt_p(float("nan"))) == ("<0.001", "0.012", "—")


def test_installed_command_runs_end_to_end(demo_csv: Path, tmp_path: Path) -> None:
    """The console script itself (entry point, exit status, files); ``make run`` runs the rest."""
    exe = Path(sys.executable).parent / "cqox"
    if not exe.exists():
        pytest.skip(f"console script not installed beside {sys.executable}")
    out_json = tmp_path / "out.json"
    proc = subprocess.run(
        [
            str(exe),
            "analyze",
            str(demo_csv),
            "--outcome",
            "y",
            "--treatment",
            "t",
            "--estimators",
            FAST,
            "--json",
            str(out_json),
            "--report",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={
            "OMP_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "COLUMNS": "100",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert {e["estimator"] for e in data["estimates"]} == {"ipw", "regression_adjustment"}
    assert "regression_adjustment" in proc.stdout


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet", ".jsonl", ".tsv"])
def test_analyze_reads_other_formats_with_non_ascii_names(
    suffix: str, demo_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = pd.read_csv(demo_csv).rename(columns={"y": "結果", "t": "処置", "x1": "年齢"})
    path = tmp_path / f"data{suffix}"
    if suffix == ".xlsx":
        df.to_excel(path, index=False)
    elif suffix == ".parquet":
        df.to_parquet(path)
    elif suffix == ".jsonl":
        path.write_text(
            df.to_json(orient="records", lines=True, force_ascii=False), encoding="utf-8"
        )
    else:
        path.write_text(df.to_csv(index=False, sep="\t"), encoding="utf-8")
    status, out, err = run(
        capsys,
        "analyze",
        str(path),
        "--outcome",
        "結果",
        "--treatment",
        "処置",
        "--estimators",
        "ipw",
        "--json",
        "-",
    )
    assert status == 0, err
    data = json.loads(out)
    assert data["roles"]["outcome"] == "結果"
    assert "年齢" in data["roles"]["covariates"]


def test_how_the_file_was_read_is_reported(
    demo_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = pd.read_csv(demo_csv)
    path = tmp_path / "euro.csv"
    path.write_text(df.to_csv(index=False, sep=";", decimal=","), encoding="cp1252")
    status, out, err = run(
        capsys,
        "analyze",
        str(path),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--estimators",
        "ipw",
        "--json",
        str(tmp_path / "e.json"),
    )
    assert status == 0, err
    assert "note: read decimal commas as decimal points in: y, x1" in out
    data = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert data["warnings"][0].startswith("read decimal commas")
