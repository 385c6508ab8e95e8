"""Covariates as a Wilkinson formula: checked, then expanded without running code.

``"age + I(age**2) + C(education) + age:female"`` expands into a design matrix with
the usual reduced-rank (treatment) coding of categoricals, exactly as R and
statsmodels would, so published specifications can be replicated.  The intercept is
handled by the estimators, so the returned matrix never contains one.

Formulas are data, never code.  This module is the one way into formulas for the
library, the command line and the service:

1. :func:`cqox.data.formula_grammar.parse_formula` checks the text against a small
   language (columns, numbers, formula operators, a closed list of transforms) before
   formulaic sees it;
2. formulaic expands the algebra of terms (``a*b`` → ``a + b + a:b``) and encodes
   categoricals, but the materializer used here (``SafeMaterializer``) has no
   evaluation context beyond the table's columns (no ``np``, no builtins, none of
   formulaic's default transforms), and evaluates each transform term by walking its
   checked syntax tree (:class:`_TermInterpreter`) — never with ``eval``.

Errors say which term failed and why, but never echo evaluated values.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cqox.data.formula_grammar import (
    CONTRAST,
    ParsedFormula,
    check_term,
    literal,
    parse_formula,
)
from cqox.errors import CqoxError, FormulaError


@dataclass(frozen=True)
class DesignMatrix:
    """A covariate design matrix.

    Attributes
    ----------
    X : ndarray, shape (n, p)
        Covariate columns, float64, no intercept.
    names : list of str
        Column names of ``X`` (formula term names, e.g. ``C(educ)[T.12]``).
    """

    X: np.ndarray
    names: list[str]


def check_formula(
    formula: str, columns: Sequence[str], *, parameter: str | None = None
) -> ParsedFormula:
    """Check ``formula`` against the formula language and ``columns``; evaluate nothing.

    The service calls this when a request arrives; :func:`formula_variables` and
    :func:`design_from_formula` call it again before any evaluation.
    ``parameter`` names the estimator parameter the formula was given for (messages
    then say ``parameter 'propensity_covariates'`` instead of ``role 'covariates'``).
    """
    return parse_formula(formula, [str(c) for c in columns], parameter=parameter)


def formula_variables(
    formula: str, columns: list[str], *, parameter: str | None = None
) -> list[str]:
    """The table columns a formula refers to, in order of first appearance.

    Raises :class:`FormulaError` for a formula outside the language and
    :class:`ColumnNotFoundError` for a name that is not one of ``columns``.
    """
    return list(check_formula(formula, columns, parameter=parameter).columns)


def design_from_formula(
    formula: str, frame: pd.DataFrame, *, parameter: str | None = None
) -> DesignMatrix:
    """Evaluate ``formula`` on ``frame`` (rows already complete) into a design matrix."""
    columns = [str(c) for c in frame.columns]
    parsed = check_formula(formula, columns, parameter=parameter)
    label = f"parameter '{parameter}'" if parameter else "role 'covariates'"
    materializer = _materializer(frame, columns, parameter)
    try:
        mm = materializer.get_model_matrix("1 + " + parsed.text, na_action="raise")
    except Exception as exc:
        raise _evaluation_error(exc, parsed.text, label, parameter) from None
    mm_frame = pd.DataFrame(mm)
    keep = [c for c in mm_frame.columns if str(c) != "Intercept"]
    X = np.asarray(mm_frame[keep], dtype=np.float64)
    return DesignMatrix(X, [str(c) for c in keep])


_NULL_TERM = re.compile(r"checking for nulls in `(.+?)`")


def _evaluation_error(
    exc: BaseException, formula: str, label: str, parameter: str | None
) -> CqoxError:
    """Our error for a failed evaluation: the term and the kind of failure, no values."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, CqoxError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    shown = formula if len(formula) <= 120 else formula[:119] + "…"
    details: dict[str, object] = {"formula": shown}
    details.update({"parameter": parameter} if parameter else {"role": "covariates"})
    null = _NULL_TERM.search(str(exc))
    if null and null.group(1) in formula:
        details["term"] = null.group(1)
        return FormulaError(
            f"{label}: formula {shown!r}: term '{null.group(1)}' gives missing values in "
            "some rows (e.g. the log of a non-positive number, or a level missing from "
            "'levels')",
            details=details,
        )
    root = exc
    while root.__cause__ is not None and id(root.__cause__) not in seen:
        seen.add(id(root))
        root = root.__cause__
    return FormulaError(
        f"{label}: formula {shown!r}: cannot evaluate it ({type(root).__name__}); are the "
        "columns it uses numeric where arithmetic is applied?",
        details=details,
    )


# ---------------------------------------------------------------------------------------
# Evaluation: formulaic's algebra and encoding, our namespace and our term evaluation
# ---------------------------------------------------------------------------------------


def _materializer_class() -> type:
    """The safe materializer, built on first use (formulaic is imported lazily)."""
    global _MATERIALIZER
    if _MATERIALIZER is not None:
        return _MATERIALIZER
    from formulaic.materializers import PandasMaterializer
    from formulaic.utils.layered_mapping import LayeredMapping
    from formulaic.utils.variables import Variable
    from interface_meta import override  # formulaic's own dependency: it checks overrides

    class SafeMaterializer(PandasMaterializer):  # type: ignore[misc]
        # No REGISTER_NAME: formulaic never picks this class for other callers.

        def __init__(self, data: pd.DataFrame, columns: list[str], parameter: str | None) -> None:
            super().__init__(data, context={})
            self.columns = columns
            self.parameter = parameter
            # Only the table: formulaic's default layers (``np``, ``log``, …) are dropped.
            self.layered_context = LayeredMapping(
                LayeredMapping({c: data[c] for c in columns}, name="data")
            )

        @override
        def _evaluate(self, expr: str, metadata: Any, spec: Any) -> tuple[Any, set[Any]]:
            tree, used, aliases = check_term(
                expr, self.columns, role="covariates", parameter=self.parameter
            )
            interpreter = _TermInterpreter(self.data, aliases, spec, metadata)
            value = interpreter.evaluate(tree.body, root=True)
            return value, {Variable(c, roles=("value",), source="data") for c in used}

    _MATERIALIZER = SafeMaterializer
    return SafeMaterializer


_MATERIALIZER: type | None = None


def _materializer(frame: pd.DataFrame, columns: list[str], parameter: str | None = None) -> Any:
    """A safe materializer over ``frame`` (``parameter``: the formula parameter, for messages)."""
    return _materializer_class()(frame, columns, parameter)


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.BitOr: operator.or_,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_UFUNCS: dict[str, Callable[[Any], Any]] = {
    "log": np.log,
    "log1p": np.log1p,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
}


class _TermInterpreter:
    """Evaluate a checked transform term by walking its syntax tree.

    Only the node types :func:`check_term` lets through are handled; numbers become
    float64 (so ``I(x**2)`` on integers cannot overflow and ``10**10**10`` is ``inf``,
    not a huge integer).  Stateful transforms (``center``, ``scale``, ``standardize``,
    ``poly``, ``bs``, ``cr``) are formulaic's own, called with the model spec's state as
    formulaic's evaluator would.
    """

    def __init__(
        self, frame: pd.DataFrame, aliases: dict[str, str], spec: Any, metadata: Any
    ) -> None:
        self.frame = frame
        self.aliases = aliases
        self.spec = spec
        self.metadata = metadata

    def evaluate(self, node: ast.AST, root: bool = False) -> Any:
        if isinstance(node, ast.Name):
            return self.frame[self.aliases.get(node.id, node.id)]
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, int | float)  # check_term lets numbers through only
            return np.float64(node.value)
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self.evaluate(node.left), self.evaluate(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self.evaluate(node.operand))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self.call(node, root)
        raise FormulaError(  # pragma: no cover - check_term refuses every other node
            f"role 'covariates': unexpected {ast.unparse(node)!r} in a formula term",
            details={"role": "covariates"},
        )

    def call(self, node: ast.Call, root: bool) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        kwargs = {kw.arg: literal(kw.value) for kw in node.keywords if kw.arg is not None}
        if name == "Q":
            return self.frame[str(literal(node.args[0]))]
        data = self.evaluate(node.args[0])
        if name == "I":
            return data
        if name == "C":
            return _categorical(data, node.args[1] if len(node.args) > 1 else None, kwargs)
        if name in _UFUNCS:
            return _UFUNCS[name](_numeric(data, name))
        rest = [literal(a) for a in node.args[1:]]
        transform = _stateful(name)
        key = ast.unparse(node)
        state = self.spec.transform_state.setdefault(key, {})
        return transform(
            _numeric(data, name),
            *rest,
            **kwargs,
            _state=state,
            _metadata=self.metadata if root else None,
            _spec=self.spec,
        )


def _numeric(data: Any, name: str) -> Any:
    if isinstance(data, pd.Series) and not (
        pd.api.types.is_numeric_dtype(data) or pd.api.types.is_bool_dtype(data)
    ):
        raise FormulaError(
            f"role 'covariates': {name}() needs a numeric column; '{data.name}' is not "
            "numeric (use C() for categories)",
            details={"role": "covariates", "column": str(data.name)},
        )
    return data


def _categorical(data: Any, contrast: ast.AST | None, kwargs: dict[str, Any]) -> Any:
    from formulaic.transforms.contrasts import C, TreatmentContrasts

    contrasts = None
    if isinstance(contrast, ast.Call) and isinstance(contrast.func, ast.Name):
        assert contrast.func.id == CONTRAST
        values = [literal(a) for a in contrast.args] + [literal(k.value) for k in contrast.keywords]
        contrasts = TreatmentContrasts(base=values[0]) if values else TreatmentContrasts()
    levels = kwargs.get("levels")
    return C(data, contrasts, levels=levels)


def _stateful(name: str) -> Callable[..., Any]:
    """The stateful transforms of formulaic, imported by name (never through ``np``)."""
    from formulaic.transforms.basis_spline import basis_spline
    from formulaic.transforms.cubic_spline import natural_cubic_spline
    from formulaic.transforms.patsy_compat import standardize
    from formulaic.transforms.poly import poly
    from formulaic.transforms.scale import center, scale

    table: dict[str, Callable[..., Any]] = {
        "center": center,
        "scale": scale,
        "standardize": standardize,
        "poly": poly,
        "bs": basis_spline,
        "cr": natural_cubic_spline,
    }
    return table[name]


def design_from_columns(columns: list[str], frame: pd.DataFrame) -> DesignMatrix:
    """Design matrix from plain column names.

    Numeric and boolean columns enter as they are; text and categorical columns are
    expanded into indicators with the first level (sorted) as the reference.
    """
    n = len(frame)
    kinds = dict(zip(frame.columns, frame.dtypes, strict=True))
    if columns and all(_numeric_dtype(kinds[c]) for c in columns):
        # one 2-D conversion by pandas (per dtype block) instead of a column-by-column
        # stack; C order, as the estimators slice rows
        X = np.ascontiguousarray(frame[columns].to_numpy(dtype=np.float64))
        return DesignMatrix(X, list(columns))
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for col in columns:
        s = frame[col]
        if _is_numeric(s):
            blocks.append(np.asarray(s, dtype=np.float64).reshape(-1, 1))
            names.append(col)
            continue
        levels = sorted(pd.unique(s.astype(str)))
        codes = s.astype(str).to_numpy()
        for level in levels[1:]:
            blocks.append((codes == level).astype(np.float64).reshape(-1, 1))
            names.append(f"{col}[{level}]")
    X = np.hstack(blocks) if blocks else np.empty((n, 0), dtype=np.float64)
    return DesignMatrix(X, names)


def _is_numeric(s: pd.Series) -> bool:
    return _numeric_dtype(s.dtype)


def _numeric_dtype(dtype: Any) -> bool:
    return bool(pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype))
