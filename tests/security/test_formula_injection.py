"""Formulas are data, never code: hostile formulas on every route are refused, harmlessly.

Security issue #10, part 1.  Before the fix a covariate formula such as
``x1 + I(x2 + 0*np.ctypeslib.ctypes.CDLL(None).system(b'id > out.txt'))`` ran a command
as the worker's user (formulaic evaluates function-call terms with ``eval``), and
``np.loadtxt(...)`` returned a server file inside the 400 message.  Each hostile formula
below tries to create a marker file (or read a secret file); every route — Python
(``cqox.estimate``/``cqox.analyze``, ``covariates`` and the ``aipw`` formula
parameters), the command line (``--covariates``, ``--set aipw.…_covariates=``) and HTTP
(``mapping.covariates`` and ``options.params.aipw.*``) — must refuse it with a
``FormulaError`` (or ``ColumnNotFoundError`` for a bare unknown name) that names the
token at fault, and the marker must never appear.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.data.formula import check_formula, design_from_formula, formula_variables
from cqox.data.formula_grammar import MAX_CHARS, MAX_DEPTH, MAX_TERMS
from cqox.errors import ColumnNotFoundError, FormulaError, RoleError

#: Text of the secret file that "read a file" payloads target; it must never be echoed.
SECRET = "TOP-SECRET-4f1c9e"


@dataclass(frozen=True)
class Hostile:
    """A hostile formula: ``{marker}``/``{secret}`` are replaced by absolute paths."""

    name: str
    formula: str
    token: str  # a piece of the token at fault, which the message must name

    def text(self, marker: Path, secret: Path) -> str:
        return self.formula.replace("{marker}", str(marker)).replace("{secret}", str(secret))


TOUCH = "touch {marker}"
HOSTILE: tuple[Hostile, ...] = (
    # the issue's payloads
    Hostile(
        "ctypes_system",
        "x1 + I(x2 + 0*np.ctypeslib.ctypes.CDLL(None).system(b'" + TOUCH + "'))",
        "np.ctypeslib",
    ),
    Hostile("import_os_system", "I(__import__('os').system('" + TOUCH + "'))", "__import__"),
    Hostile("np_loadtxt_secret", "x1 + I(np.loadtxt('{secret}', dtype=str))", "np.loadtxt"),
    Hostile("np_loadtxt_bare", "np.loadtxt('{secret}')", "np.loadtxt"),
    # builtins and their tricks
    Hostile("open_write", "x1 + I(open('{marker}', 'w').close())", "open"),
    Hostile("open_read", "I(open('{secret}').read())", "open"),
    Hostile("eval_call", "eval(\"open('{marker}', 'w')\")", "eval"),
    Hostile("exec_call", "x1 + I(exec(\"open('{marker}', 'w')\"))", "exec"),
    Hostile("compile_call", "I(compile('1', 'f', 'eval'))", "compile"),
    Hostile("getattr_os", "I(getattr(__import__('os'), 'system')('" + TOUCH + "'))", "getattr"),
    Hostile("globals_call", "I(globals())", "globals"),
    Hostile("vars_call", "I(vars())", "vars"),
    Hostile("breakpoint_call", "I(breakpoint())", "breakpoint"),
    Hostile("class_subclasses", "I(().__class__.__bases__[0].__subclasses__())", "__class__"),
    Hostile("column_dunder", "I(x1.__class__)", "x1.__class__"),
    Hostile("builtins_name", "I(__builtins__)", "__builtins__"),
    Hostile("backtick_dunder", "x1 + I(`__import__`)", "__import__"),
    Hostile("func_globals", "log(x1).__class__.__init__.__globals__", "__class__"),
    # numpy and formulaic's default namespace
    Hostile("np_savetxt", "I(np.savetxt('{marker}', x1))", "np.savetxt"),
    Hostile("np_attribute", "x1 + np.log(x2)", "np.log"),
    Hostile("contr_attribute", "C(x1, contr.treatment(open('{marker}', 'w')))", "contr"),
    Hostile("hashed_default", "hashed(x1)", "hashed"),
    Hostile("lag_default", "lag(x1)", "lag"),
    Hostile("exp10_default", "exp10(x1)", "exp10"),
    # Python syntax that is not a formula
    Hostile("subscript_in_term", "I(x1[open('{marker}', 'w')])", "x1[open"),
    Hostile("subscript_term", "x1[0]", "x1[0]"),
    Hostile("python_block", "x1 + {open('{marker}', 'w')}", "{"),
    Hostile("lambda", "I((lambda: open('{marker}', 'w'))())", "lambda"),
    Hostile("list_comprehension", "I([open('{marker}', 'w') for _ in x1])", "for _ in x1"),
    Hostile("generator", "I(sum(open('{marker}', 'w') for _ in x1))", "sum"),
    Hostile("walrus", "I((f := open('{marker}', 'w')))", ":="),
    Hostile("f_string", "I(f\"{open('{marker}', 'w')}\")", "f-string"),
    Hostile("conditional", "I(x1 if open('{marker}', 'w') else x2)", "if"),
    Hostile("boolean_op", "I(x1 and open('{marker}', 'w'))", "and"),
    Hostile("comparison", "I(x1 < open('{marker}', 'w'))", "<"),
    Hostile("dict_literal", "I({'a': open('{marker}', 'w')})", "{"),
    Hostile("star_args", "I(*[open('{marker}', 'w')])", "*"),
    Hostile("kwargs_unpack", "log(x1, **{'a': open('{marker}', 'w')})", "**"),
    Hostile("unknown_keyword", "sqrt(x1, out=open('{marker}', 'w'))", "out"),
    Hostile("called_result", "log(x1)(open('{marker}', 'w'))", "log(x1)"),
    # literal slots that must hold literals
    Hostile("levels_code", "C(x1, levels=[open('{marker}', 'w')])", "levels"),
    # found by the property test: a dunder inside a level string reached the engine's text
    Hostile("levels_dunder", "C(x1, levels=['c', '__import__a'])", "levels"),
    Hostile("treatment_code", "C(x1, Treatment(open('{marker}', 'w')))", "Treatment(open"),
    Hostile("poly_degree_code", "poly(x1, open('{marker}', 'w'))", "open"),
    Hostile("bs_df_code", "bs(x1, df=__import__('os').system('" + TOUCH + "'))", "__import__"),
    Hostile("stateful_argument", "center(open('{marker}', 'w'))", "open"),
    Hostile("q_with_code", "Q(\"__import__('os').system('" + TOUCH + "')\")", "__import__"),
    # string literals carrying code
    Hostile("string_term", "x1 + \"__import__('os').system('" + TOUCH + "')\"", "__import__"),
    Hostile("string_in_transform", "log(\"open('{marker}', 'w')\")", "open"),
    # unicode look-alikes (NFKC turns fullwidth letters into ASCII names)
    Hostile("fullwidth_open", "I(ｏｐｅｎ('{marker}', 'w'))", "ｏ"),
    Hostile("fullwidth_import", "I(__ｉｍｐｏｒｔ__('os').system('" + TOUCH + "'))", "ｉ"),
    Hostile("fullwidth_bare", "x1 + ｎｐ", "ｎｐ"),
    # formula-level operators that are not ours
    Hostile("lhs", "x1 ~ I(open('{marker}', 'w'))", "~"),
    Hostile("parts", "x1 | I(open('{marker}', 'w'))", "|"),
    Hostile("semicolon", "x1; import os", ";"),
    Hostile("newline_statement", "x1\nimport os", "import"),
    Hostile("nul_byte", "x1 + I(x2)\x00open('{marker}', 'w')", "\\x00"),
    Hostile("space_before_paren", "I (open('{marker}', 'w'))", "I"),
    # resource exhaustion
    Hostile("ten_thousand_chars", "x1 + " * 2500 + "x2", "characters"),
    Hostile("deep_transform", "I(" * 500 + "x1" + ")" * 500, "nested"),
    Hostile("deep_parentheses", "(" * 500 + "x1" + ")" * 500, "nested"),
    Hostile("term_bomb", "*".join(["x1", "x2", "x3"] * 8), "terms"),
    Hostile("power_bomb", "(x1 + x2 + x3)**100", "power"),
)
IDS = [h.name for h in HOSTILE]


def table() -> pd.DataFrame:
    """A small confounded table: y, t, x1, x2, x3."""
    df, _ = cqox.simulate.confounded_binary(n=300, p=3, seed=3)
    return df


@pytest.fixture()
def paths(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A marker path that must never be created and a secret file that must never leak."""
    marker = tmp_path / "pwned"
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{SECRET}\n", encoding="utf-8")
    yield marker, secret
    assert not marker.exists(), "a hostile formula ran code: the marker file was created"


def assert_refused(exc: BaseException, hostile: Hostile) -> None:
    """A RoleError (FormulaError or ColumnNotFoundError) naming the token, no secret."""
    assert isinstance(exc, FormulaError | ColumnNotFoundError), (type(exc), exc)
    message = str(exc)
    assert SECRET not in message
    assert hostile.token in message or hostile.token in str(exc.details), message


def test_the_table_has_at_least_forty_hostile_formulas() -> None:
    assert len(HOSTILE) >= 40
    assert len(set(IDS)) == len(IDS)


# ---------------------------------------------------------------------------------------
# Python: the grammar, the evaluator, cqox.estimate / cqox.analyze
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_check_formula_refuses(hostile: Hostile, paths: tuple[Path, Path]) -> None:
    with pytest.raises(RoleError) as info:
        check_formula(hostile.text(*paths), ["y", "t", "x1", "x2", "x3"])
    assert_refused(info.value, hostile)


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_estimate_covariates_refuses(hostile: Hostile, paths: tuple[Path, Path]) -> None:
    with pytest.raises(RoleError) as info:
        cqox.estimate("ipw", table(), outcome="y", treatment="t", covariates=hostile.text(*paths))
    assert_refused(info.value, hostile)


@pytest.mark.parametrize("key", ["propensity_covariates", "outcome_covariates"])
@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_estimate_aipw_formula_parameters_refuse(
    hostile: Hostile, key: str, paths: tuple[Path, Path]
) -> None:
    params = {key: hostile.text(*paths)}
    with pytest.raises(RoleError) as info:
        cqox.estimate("aipw", table(), outcome="y", treatment="t", covariates=["x1"], **params)
    assert_refused(info.value, hostile)
    if isinstance(info.value, FormulaError):
        assert f"parameter '{key}'" in str(info.value)


@pytest.mark.parametrize("hostile", HOSTILE[:12], ids=IDS[:12])
def test_analyze_refuses_covariates_and_parameters(
    hostile: Hostile, paths: tuple[Path, Path]
) -> None:
    text = hostile.text(*paths)
    with pytest.raises(RoleError) as info:
        cqox.analyze(table(), outcome="y", treatment="t", covariates=text, estimators=["ipw"])
    assert_refused(info.value, hostile)
    with pytest.raises(RoleError) as info:
        cqox.analyze(
            table(),
            outcome="y",
            treatment="t",
            covariates=["x1", "x2"],
            estimators=["aipw"],
            params={"aipw": {"propensity_covariates": text}},
        )
    assert_refused(info.value, hostile)


def test_the_evaluator_rechecks_every_term_it_is_given(paths: tuple[Path, Path]) -> None:
    # Defence in depth: even a term that reached formulaic without the first check is
    # checked again by the evaluator and never evaluated with eval.
    from cqox.data.formula import _materializer

    marker, _ = paths
    df = table()
    for term in (
        f"I(open('{marker}', 'w'))",
        f"center(open('{marker}', 'w'))",
        "np.log(x1)",
        "I(__import__('os'))",
    ):
        with pytest.raises(Exception) as info:
            _materializer(df, list(df.columns)).get_model_matrix("1 + " + term, na_action="raise")
        chain = [info.value, info.value.__cause__]
        assert any(isinstance(e, FormulaError) for e in chain), info.value


def test_the_evaluation_namespace_holds_only_the_columns() -> None:
    from cqox.data.formula import _materializer

    df = table()
    m = _materializer(df, list(df.columns))
    assert set(m.layered_context) == set(df.columns)
    for name in ("np", "numpy", "log", "exp", "I", "C", "contr", "__builtins__", "open"):
        assert name not in m.layered_context


def test_error_messages_never_echo_data_values() -> None:
    # a failed evaluation names the term and the kind of failure, never the values
    df = table().assign(code=[f"{SECRET}-{i}" for i in range(300)])
    with pytest.raises(FormulaError) as info:
        design_from_formula("x1 + I(code + 1)", df)
    assert SECRET not in str(info.value)
    assert "I(code + 1)" in str(info.value) or "code" in str(info.value)
    with pytest.raises(FormulaError) as info:
        design_from_formula("log(code)", df)
    assert SECRET not in str(info.value) and "'code' is not numeric" in str(info.value)


def test_numbers_are_floats_so_huge_powers_cannot_hang() -> None:
    # Python integers would compute 10**10**10 exactly (minutes, gigabytes); float64 is inf
    df = table()
    design = design_from_formula("I(x1 * 0 + 10 ** 10 ** 10)", df)
    assert np.isinf(design.X).all()


@pytest.mark.parametrize("number", ["0x1f", "0o7", "0b1", "1_000", "2j", "0X1F"])
def test_numbers_have_one_spelling_decimal(number: str) -> None:
    # Python reads hex, octal, binary, underscored and imaginary literals; the language's
    # numbers are decimal (found by the property test: "bs(0x01, df=3)" was accepted)
    cols = ["x1"]
    for formula in (f"I(x1 * {number})", f"bs({number}, df=3)", f"C(x1, levels=[{number}])"):
        with pytest.raises(FormulaError, match="decimal notation"):
            check_formula(formula, cols)
    for decimal in ("3", "0.5", ".5", "5.", "1e3", "1.5E-3"):
        assert check_formula(f"I(x1 * {decimal})", cols).columns == ("x1",)


def test_limits_are_what_the_documentation_says() -> None:
    cols = ["x1", "x2"]
    assert check_formula("x1 + " * ((MAX_CHARS - 2) // 5) + "x2", cols).columns == ("x1", "x2")
    with pytest.raises(FormulaError, match="characters"):
        check_formula("x1 + " * (MAX_CHARS // 5) + "x2", cols)
    nested = "I(" * MAX_DEPTH + "x1" + ")" * MAX_DEPTH
    assert check_formula(nested, cols).columns == ("x1",)
    with pytest.raises(FormulaError, match="nested"):
        check_formula("I(" + nested + ")", cols)
    c = [f"c{i}" for i in range(10)]
    d = [f"d{i}" for i in range(MAX_TERMS // 10 + 1)]
    cross = f"({' + '.join(c)}):({' + '.join(d[:-1])})"  # 10 x 100 interactions
    assert check_formula(cross, c + d).n_terms == MAX_TERMS
    with pytest.raises(FormulaError, match="terms"):
        check_formula(f"({' + '.join(c)}):({' + '.join(d)})", c + d)


# ---------------------------------------------------------------------------------------
# What must keep working
# ---------------------------------------------------------------------------------------

ACCEPTED = (
    ("x1 + I(x1**2) + x2:x3", ["x1", "x2", "x3"]),
    ("~ x1 + x2", ["x1", "x2"]),
    ("(x1 + x2 + x3)**2", ["x1", "x2", "x3"]),
    ("x1*x2 - x2 + x3^2", ["x1", "x2", "x3"]),
    ("C(g) + C(g, Treatment('b')) + C(g, levels=['c', 'b', 'a'])", ["g"]),
    ("C(g, Treatment(reference='b')):x1", ["g", "x1"]),
    ("log(x1 + 10) + log1p(abs(x2)) + exp(x3 / 10) + sqrt(abs(x1))", ["x1", "x2", "x3"]),
    ("poly(x1, 3) + poly(x2, degree=2, raw=True)", ["x1", "x2"]),
    ("bs(x1, df=4) + bs(x2, knots=[-0.5, 0.5], degree=2) + cr(x3, df=3)", ["x1", "x2", "x3"]),
    ("center(x1) + scale(x2) + standardize(x3)", ["x1", "x2", "x3"]),
    ("`my col` + I(`my col` * x1) + Q('my col')", ["my col", "x1"]),
    ("I(-x1 + 2 * x2 / 3 - x3 ** 2)", ["x1", "x2", "x3"]),
    ("I(flag | flag)", ["flag"]),
)


@pytest.mark.parametrize(("formula", "columns"), ACCEPTED, ids=[a for a, _ in ACCEPTED])
def test_the_formula_language_still_covers_published_specifications(
    formula: str, columns: list[str]
) -> None:
    df = table().assign(
        g=np.resize(["a", "b", "c"], 300),
        **{"my col": np.linspace(-1, 1, 300)},
        flag=np.resize([True, False], 300),
    )
    assert formula_variables(formula, list(df.columns)) == columns
    design = design_from_formula(formula, df)
    assert design.X.shape[0] == len(df) and design.X.shape[1] >= 1
    assert np.isfinite(design.X).all()


def test_formula_terms_equal_formulaic_with_numpy_on_the_same_data() -> None:
    # The safe evaluator gives formulaic's own numbers (Stata/R conventions kept).
    from formulaic import model_matrix

    df = table().assign(g=np.resize(["a", "b", "c"], 300))
    formula = "x1 + I(x1**2) + C(g, Treatment('b')) + poly(x2, 2) + bs(x3, df=4) + x1:x2"
    ours = design_from_formula(formula, df)
    ref = pd.DataFrame(model_matrix("1 + " + formula, df, na_action="raise"))
    ref = ref[[c for c in ref.columns if c != "Intercept"]]
    assert ours.names == [str(c) for c in ref.columns]
    np.testing.assert_allclose(ours.X, ref.to_numpy(dtype=float), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("formula", ["x1 + poly(x2, 2)", "x1 + I(x2 * 2)", "x1 + x2:x3 + x3"])
def test_outcome_name_inside_the_formula_text_is_no_key_error(formula: str) -> None:
    # 'y' is a substring of 'poly', and formerly a substring test dropped the outcome
    est = cqox.estimate("ipw", table(), outcome="y", treatment="t", covariates=formula)
    assert np.isfinite(est.estimate) and est.se > 0


def test_a_formula_using_the_outcome_column_is_still_refused() -> None:
    with pytest.raises(RoleError, match="also the outcome"):
        cqox.estimate("ipw", table(), outcome="y", treatment="t", covariates="x1 + I(y**2)")


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("formula-cli") / "demo.csv"
    table().to_csv(path, index=False)
    return path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    from cqox.cli import main as cli

    status = cli.main(list(argv))
    _, err = capsys.readouterr()
    return status, err


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_cli_covariates_refuses(
    hostile: Hostile,
    paths: tuple[Path, Path],
    demo_csv: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["analyze", str(demo_csv), "--outcome", "y", "--treatment", "t"]
    status, err = _cli(capsys, *base, "--covariates", hostile.text(*paths), "--estimators", "ipw")
    assert status != 0
    assert SECRET not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("key", ["propensity_covariates", "outcome_covariates"])
@pytest.mark.parametrize("hostile", HOSTILE[:12], ids=IDS[:12])
def test_cli_set_formula_parameter_refuses(
    hostile: Hostile,
    key: str,
    paths: tuple[Path, Path],
    demo_csv: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, err = _cli(
        capsys,
        "analyze",
        str(demo_csv),
        "--outcome",
        "y",
        "--treatment",
        "t",
        "--covariates",
        "x1,x2",
        "--estimators",
        "aipw",
        "--set",
        f"aipw.{key}={hostile.text(*paths)}",
    )
    assert status != 0
    assert SECRET not in err and "Traceback" not in err


def test_cli_process_refuses_the_issue_payload(paths: tuple[Path, Path], demo_csv: Path) -> None:
    # the real command in its own process, as an attacker would run it
    marker, _ = paths
    payload = f"x1 + I(x2 + 0*np.ctypeslib.ctypes.CDLL(None).system(b'touch {marker}'))"
    code = "import sys; from cqox.cli.main import main; sys.exit(main(sys.argv[1:]))"
    base = [sys.executable, "-c", code, "analyze", str(demo_csv), "--outcome", "y"]
    done = subprocess.run(
        [*base, "--treatment", "t", "--covariates", payload, "--estimators", "ipw"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "np.ctypeslib" in done.stderr and "not allowed" in done.stderr
    assert not marker.exists()


# ---------------------------------------------------------------------------------------
# HTTP, through the real app (worker included)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running app on SQLite, an analyst's headers and an uploaded dataset id."""
    from argon2 import PasswordHasher
    from fastapi.testclient import TestClient

    from cqox.server import create_app, security
    from tests.api.conftest import Api, make_settings

    saved = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    settings = make_settings(tmp_path_factory.mktemp("formula-http"), None)
    app = create_app(settings)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            api = Api(app, client, settings, "sqlite")
            headers = api.user("analyst")
            yield api, headers, api.dataset(headers, table())
    finally:
        security._hasher = saved


def _refused_over_http(response: Any, hostile: Hostile | None = None) -> dict[str, Any]:
    from tests.api.conftest import assert_error

    # 400 from our checks, 422 from request validation (a NUL byte never reaches them)
    assert response.status_code in (400, 422), response.text
    err = assert_error(response, response.status_code, response.json()["error"]["code"])
    assert err["code"] in ("INVALID_MAPPING", "INVALID_PARAMETER", "INVALID_REQUEST"), err
    assert SECRET not in json.dumps(err)
    if hostile is not None and err["code"] == "INVALID_MAPPING":
        assert hostile.token in err["message"] or hostile.token in json.dumps(err["details"])
    return err


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_http_ate_covariates_refuses(hostile: Hostile, paths: tuple[Path, Path], http: Any) -> None:
    api, headers, ds = http
    mapping = {"outcome": "y", "treatment": "t", "covariates": hostile.text(*paths)}
    r = api.client.post(
        "/api/analyze/ate",
        headers=headers,
        json={"dataset_id": ds, "mapping": mapping, "estimator": "ipw"},
    )
    _refused_over_http(r, hostile)


@pytest.mark.parametrize("key", ["propensity_covariates", "outcome_covariates"])
@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_http_formula_parameters_refuse(
    hostile: Hostile, key: str, paths: tuple[Path, Path], http: Any
) -> None:
    api, headers, ds = http
    body = {
        "dataset_id": ds,
        "mapping": {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2"]},
        "estimator": "aipw",
        "options": {"params": {"aipw": {key: hostile.text(*paths)}}},
    }
    r = api.client.post("/api/analyze/ate", headers=headers, json=body)
    _refused_over_http(r, hostile)


@pytest.mark.parametrize("route", ["/api/analyze/comprehensive", "/api/analyze/design/backdoor"])
def test_http_other_analysis_routes_refuse(route: str, paths: tuple[Path, Path], http: Any) -> None:
    api, headers, ds = http
    for hostile in (HOSTILE[0], HOSTILE[1], HOSTILE[4]):
        body = {
            "dataset_id": ds,
            "mapping": {"outcome": "y", "treatment": "t", "covariates": hostile.text(*paths)},
            "estimators": ["ipw"],
        }
        _refused_over_http(api.client.post(route, headers=headers, json=body), hostile)
        body = {
            "dataset_id": ds,
            "mapping": {"outcome": "y", "treatment": "t", "covariates": ["x1"]},
            "estimators": ["aipw"],
            "options": {"params": {"aipw": {"outcome_covariates": hostile.text(*paths)}}},
        }
        _refused_over_http(api.client.post(route, headers=headers, json=body), hostile)


def test_http_formula_with_outcome_name_inside_is_not_a_500(http: Any) -> None:
    api, headers, ds = http
    mapping = {"outcome": "y", "treatment": "t", "covariates": "x1 + poly(x2, 2)"}
    r = api.client.post(
        "/api/analyze/ate",
        headers=headers,
        json={"dataset_id": ds, "mapping": mapping, "estimator": "ipw"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"]["estimates"][0]["estimator"] == "ipw"


def test_http_accepts_the_published_formula_and_parameters(http: Any) -> None:
    api, headers, ds = http
    body = {
        "dataset_id": ds,
        "mapping": {"outcome": "y", "treatment": "t", "covariates": "x1 + I(x1**2) + x2:x3"},
        "estimator": "aipw",
        "options": {"params": {"aipw": {"propensity_covariates": "x1 + x2 + I(x3**2)"}}},
    }
    r = api.client.post("/api/analyze/ate", headers=headers, json=body)
    assert r.status_code == 200, r.text
    est = r.json()["result"]["estimates"][0]
    assert est["estimator"] == "aipw"


def test_no_python_eval_runs_while_a_formula_is_evaluated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # formulaic's own evaluator calls eval(); ours must never reach it
    import builtins

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval was called while evaluating a formula")

    df = table().assign(g=np.resize(["a", "b", "c"], 300))
    formula = "x1 + I(x1**2) + C(g, Treatment('b')) + poly(x2, 2) + center(x3) + log1p(abs(x1))"
    design_from_formula("x1", df)  # imports done (module imports may use eval)
    monkeypatch.setattr(builtins, "eval", refuse)
    design = design_from_formula(formula, df)
    assert design.X.shape == (300, 8)
