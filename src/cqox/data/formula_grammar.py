"""The covariate formula language: what a formula may say, checked before anything runs.

A covariate formula is *data*, never code.  Formulaic (which expands the formula into a
design matrix) evaluates every function-call term with Python's ``eval``, so a formula
such as ``I(__import__('os').system('id'))`` would run a command.  This module decides,
without evaluating anything, whether a formula belongs to a small language:

- **terms** — column names (bare, or back-ticked when they are not Python names:
  ```my col```), numeric literals, joined by the formula operators ``+ - * / : **``
  (``^`` is a synonym of ``**``) and parentheses;
- **transforms** — calls of a closed list of functions (:data:`TRANSFORMS`): ``I``,
  ``C`` (with an optional ``Treatment(reference)`` and ``levels=[…]`` literals), ``log``,
  ``log1p``, ``exp``, ``sqrt``, ``abs``, ``poly``, ``bs``, ``cr``, ``center``, ``scale``,
  ``standardize`` and ``Q("column name")``;
- **inside a transform** — columns, numbers, ``+ - * / ** |``, unary minus and nested
  transforms, and for the keyword arguments each transform declares, literals only.

Everything else is refused with a :class:`~cqox.errors.FormulaError` that names the
token at fault: attribute access (``np.log``), subscripts, calls of any other name
(``open``, ``eval``, ``getattr``, ``__import__``), lambdas, comprehensions, ``:=``,
f-strings, string literals outside ``C``/``Q``, names with double underscores,
non-ASCII look-alikes outside back-ticks, ``{…}`` Python blocks, and formulas that are
too long (:data:`MAX_CHARS`), too deeply nested (:data:`MAX_DEPTH`) or expand into too
many terms (:data:`MAX_TERMS`).

The check uses formulaic's own tokenizer, so it sees exactly the terms formulaic will
evaluate; the evaluator (:mod:`cqox.data.formula`) re-checks each term with
:func:`check_term` and interprets it itself, in a namespace holding only the table's
columns and these transforms, never with ``eval``.

Example
-------
>>> parse_formula("age + I(age**2) + C(educ)", ["y", "t", "age", "educ"]).columns
('age', 'educ')
>>> parse_formula("I(np.log(age))", ["age"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
cqox.errors.FormulaError: ... attribute access 'np.log' is not allowed (...)
"""

from __future__ import annotations

import ast
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cqox.errors import FormulaError, column_not_found

#: Longest formula accepted, in characters (a long list of columns is given as a list).
MAX_CHARS = 4000
#: Deepest nesting of brackets, and of expressions inside a transform.
MAX_DEPTH = 20
#: Most terms a formula may expand into (``x1*x2*…*x20`` would be 2**20 terms).
MAX_TERMS = 1000
#: Highest power of a formula term, ``(a + b + c)**3``.
MAX_POWER = 5
#: Most items in a literal list (``levels=[…]``, ``knots=[…]``).
MAX_LIST = 1000
#: Longest text shown back in an error message.
_SHOW = 120

#: Formula-level operators (formulaic precedence; ``**``/``^`` right-associative).
_BINARY = {"+": 100, "-": 100, "*": 200, "/": 200, ":": 300, "**": 500, "^": 500}
_OPERATOR_HINTS = {
    "~": "a covariate formula has no left-hand side; give only the right-hand side",
    "|": "a covariate formula has one part; '|' would split it into several",
    "in": "nesting with %in% is not supported; use a/b",
    ".": "'.' for all other columns is not supported; name the columns",
}
_NUMBER = re.compile(r"\d+(\.\d*)?|\.\d+")
#: A number inside a transform: decimal digits, an optional fraction and exponent.  Python
#: would also read ``0x1f``, ``0o7``, ``0b1`` and ``1_000``; the language has one spelling.
_DECIMAL = re.compile(r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

#: Operators allowed inside a transform, as Python AST nodes.
_DATA_BINOPS: tuple[type[ast.operator], ...] = (
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.BitOr,
)
_DATA_UNARY: tuple[type[ast.unaryop], ...] = (ast.USub, ast.UAdd)


# ---------------------------------------------------------------------------------------
# The transforms and their arguments
# ---------------------------------------------------------------------------------------

#: Kinds of transform arguments: ``data`` is an expression over the columns; the others
#: are literals, checked here and read with :func:`literal`.
ArgKind = str


@dataclass(frozen=True)
class Signature:
    """What a transform accepts.

    Attributes
    ----------
    positional : tuple of ArgKind
        Kinds of the positional arguments, in order (``names`` gives their names, so
        that one given both by position and by keyword is refused).
    required : int
        How many positional arguments must be given.
    keywords : dict
        Allowed keyword arguments and their kinds.
    doc : str
        What the transform does (shown by ``cqox`` docs and error hints).
    """

    positional: tuple[ArgKind, ...]
    required: int = 1
    keywords: dict[str, ArgKind] = field(default_factory=dict)
    doc: str = ""
    names: tuple[str, ...] = ("x",)


#: The closed list of transforms a formula may call.
TRANSFORMS: dict[str, Signature] = {
    "I": Signature(("data",), doc="arithmetic inside, e.g. I(age**2)"),
    "C": Signature(
        ("data", "contrast"),
        keywords={"levels": "levels"},
        names=("x", "contrasts"),
        doc="categorical, e.g. C(educ), C(educ, Treatment('HS')), C(g, levels=['a', 'b'])",
    ),
    "log": Signature(("data",), doc="natural logarithm"),
    "log1p": Signature(("data",), doc="log(1 + x)"),
    "exp": Signature(("data",), doc="exponential"),
    "sqrt": Signature(("data",), doc="square root"),
    "abs": Signature(("data",), doc="absolute value"),
    "center": Signature(("data",), doc="x minus its mean"),
    "scale": Signature(("data",), doc="(x - mean) / standard deviation (ddof 1)"),
    "standardize": Signature(("data",), doc="(x - mean) / standard deviation (ddof 0)"),
    "poly": Signature(
        ("data", "degree"),
        keywords={"degree": "degree", "raw": "bool"},
        names=("x", "degree"),
        doc="orthogonal (or raw=True) polynomial basis, e.g. poly(age, 3)",
    ),
    "bs": Signature(
        ("data",),
        keywords={
            "df": "df",
            "knots": "numbers",
            "degree": "degree",
            "include_intercept": "bool",
            "lower_bound": "number",
            "upper_bound": "number",
        },
        doc="B-spline basis, e.g. bs(age, df=4)",
    ),
    "cr": Signature(
        ("data",),
        keywords={
            "df": "df",
            "knots": "numbers",
            "lower_bound": "number",
            "upper_bound": "number",
        },
        doc="natural cubic regression spline basis, e.g. cr(age, df=4)",
    ),
    "Q": Signature(("column",), doc='a column by its quoted name, e.g. Q("my col")'),
}

#: The one call allowed as an argument (of ``C``): a reference level.
CONTRAST = "Treatment"

_ALLOWED = (
    "a formula may use column names, numbers, + - * / : ** ( ) and the transforms "
    + ", ".join(sorted(TRANSFORMS, key=str.lower))
)


# ---------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedFormula:
    """A formula that passed the check.

    Attributes
    ----------
    text : str
        The formula as given (surrounding whitespace removed).
    columns : tuple of str
        The table columns it refers to, in order of first appearance.
    n_terms : int
        An upper bound on the number of terms it expands into.
    """

    text: str
    columns: tuple[str, ...]
    n_terms: int


@dataclass
class _Where:
    """Where a formula comes from, for messages (``role 'covariates'``)."""

    label: str
    detail: dict[str, object]
    text: str

    def error(self, what: str, token: str | None = None) -> FormulaError:
        shown = _short(self.text)
        details: dict[str, object] = {**self.detail, "formula": shown}
        if token is not None:
            details["token"] = _short(token)
        return FormulaError(f"{self.label}: formula {shown!r}: {what}", details=details)


def _short(text: str) -> str:
    return text if len(text) <= _SHOW else text[: _SHOW - 1] + "…"


def _where(text: str, role: str, parameter: str | None) -> _Where:
    if parameter is None:
        return _Where(f"role '{role}'", {"role": role}, text)
    return _Where(f"parameter '{parameter}'", {"parameter": parameter}, text)


# ---------------------------------------------------------------------------------------
# The formula level
# ---------------------------------------------------------------------------------------


def parse_formula(
    text: object,
    columns: Sequence[str],
    *,
    role: str = "covariates",
    parameter: str | None = None,
) -> ParsedFormula:
    """Check a covariate formula against the language and the table's columns.

    Nothing is evaluated.  Use this before any formula text reaches formulaic.

    Parameters
    ----------
    text : str
        The formula's right-hand side (a leading ``~`` is allowed).
    columns : sequence of str
        The table's columns.
    role, parameter : str
        Where the formula was given, for messages: a role (default ``covariates``) or an
        estimator parameter (``propensity_covariates``).

    Returns
    -------
    ParsedFormula

    Raises
    ------
    FormulaError
        The formula is outside the language; the message names the token at fault.
    ColumnNotFoundError
        A name that would be a column is not one of ``columns``.
    """
    if not isinstance(text, str):
        raise FormulaError(
            f"role '{role}': a formula must be a string; got {type(text).__name__}",
            details={"role": role},
        )
    where = _where(text, role, parameter)
    if len(text) > MAX_CHARS:
        raise where.error(
            f"{len(text)} characters; at most {MAX_CHARS} are accepted (give a long "
            "covariate list as a list of columns)"
        )
    body = text.strip()
    if body.startswith("~"):
        body = body[1:].strip()
    where.text = body
    if not body:
        raise where.error("the formula is empty")
    _check_characters(body, where)
    _check_nesting(body, where)
    tokens = _tokens(body, where)
    known = set(columns)
    used: list[str] = []
    for tok in tokens:
        used.extend(_check_token(tok, body, known, columns, where, role, parameter))
    n_terms = _TermCounter(tokens, where).count()
    return ParsedFormula(body, tuple(dict.fromkeys(used)), n_terms)


def _check_characters(text: str, where: _Where) -> None:
    for ch in text:
        if ch in "\t\n\r":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp"):
            raise where.error(f"control or format character {ch!r} is not allowed", ch)


def _check_nesting(text: str, where: _Where) -> None:
    # Counted on the raw text (quotes included), which can only over-estimate; done
    # before tokenising or parsing so that deep input costs no recursion.
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise where.error(f"nested more than {MAX_DEPTH} levels deep", ch)
        elif ch in ")]}":
            depth -= 1


@dataclass(frozen=True)
class _Tok:
    kind: str  # operator, name, value, python, context
    text: str
    start: int


def _tokens(text: str, where: _Where) -> list[_Tok]:
    from formulaic.parser.algos.tokenize import tokenize

    try:
        return [_Tok(t.kind.value, str(t.token), int(t.source_start or 0)) for t in tokenize(text)]
    except Exception as exc:  # formulaic's syntax errors: unbalanced quotes and the like
        raise where.error(f"cannot parse it: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    plain = re.sub(r"\x1b\[[0-9;]*m|[\u29da\u29db]", "", str(exc))
    return " ".join(plain.split("\n")[0].split()) or type(exc).__name__


def _check_token(
    tok: _Tok,
    text: str,
    known: set[str],
    columns: Sequence[str],
    where: _Where,
    role: str,
    parameter: str | None,
) -> list[str]:
    """The columns a token refers to; raise if it is outside the language."""
    if tok.kind == "context":
        if tok.text in "()":
            return []
        raise where.error(f"'{tok.text}' is not allowed ({_ALLOWED})", tok.text)
    if tok.kind == "operator":
        if tok.text in _BINARY:
            return []
        hint = _OPERATOR_HINTS.get(tok.text.strip("%"), _ALLOWED)
        raise where.error(f"operator '{tok.text}' is not allowed ({hint})", tok.text)
    if tok.kind == "value":
        if tok.text[:1] in "'\"":
            raise where.error(
                f"string literal {_short(tok.text)} is not allowed here; back-tick a column "
                "name that is not a Python name (`my col`)",
                tok.text,
            )
        if tok.text == ".":
            raise where.error(f"'.' is not allowed ({_OPERATOR_HINTS['.']})", tok.text)
        if not _NUMBER.fullmatch(tok.text):
            raise where.error(f"{tok.text!r} is not a number", tok.text)
        return []
    if tok.kind == "name":
        if tok.text in known:
            return [tok.text]
        if tok.text == ".":
            raise where.error(f"'.' is not allowed ({_OPERATOR_HINTS['.']})", tok.text)
        if tok.text in TRANSFORMS:
            raise where.error(
                f"'{tok.text}' is a transform: call it on a column, e.g. {tok.text}(x), "
                "with no space before '('",
                tok.text,
            )
        raise _unknown_column(tok.text, columns, role, parameter)
    if tok.kind == "python":
        if text[tok.start : tok.start + 1] == "{":
            raise where.error(
                f"Python blocks {{…}} are not allowed ({_ALLOWED})", "{" + tok.text + "}"
            )
        return check_term(tok.text, columns, where=where, role=role, parameter=parameter)[1]
    raise where.error(f"unexpected token {tok.text!r}", tok.text)  # pragma: no cover


def _unknown_column(
    name: str, columns: Sequence[str], role: str, parameter: str | None
) -> Exception:
    err = column_not_found(parameter or role, _short(name), columns)
    if parameter is not None:
        err.message = err.message.replace(f"role '{parameter}'", f"parameter '{parameter}'")
    return err


class _TermCounter:
    """Structure of the formula-level tokens and an upper bound on the terms they make.

    Precedence as formulaic's: ``+ -`` (100) < ``* /`` (200) < ``:`` (300) < ``**`` (500);
    unary ``+``/``-`` at 100.  Bounds: ``a+b`` ≤ a + b, ``a:b`` ≤ a·b, ``a*b`` ≤ a + b + a·b,
    ``a/b`` ≤ a + a·b, ``a**k`` ≤ Σ_{j≤k} C(a, j).
    """

    def __init__(self, tokens: list[_Tok], where: _Where) -> None:
        self.tokens = tokens
        self.i = 0
        self.where = where

    def count(self) -> int:
        n = self._expr(0)
        if self.i < len(self.tokens):
            tok = self.tokens[self.i]
            raise self.where.error(f"unexpected {tok.text!r}", tok.text)
        return n

    def _peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _next(self) -> _Tok:
        tok = self._peek()
        if tok is None:
            raise self.where.error("the formula ends where a term was expected")
        self.i += 1
        return tok

    def _expr(self, min_prec: int) -> int:
        tok = self._next()
        if tok.kind == "operator" and tok.text in ("+", "-"):
            n = self._expr(100)
        elif tok.kind == "context" and tok.text == "(":
            n = self._expr(0)
            close = self._next()
            if close.text != ")":
                raise self.where.error(f"expected ')' but found {close.text!r}", close.text)
        elif tok.kind in ("name", "python", "value"):
            n = 1
        else:
            raise self.where.error(f"unexpected {tok.text!r} where a term was expected", tok.text)
        while True:
            op = self._peek()
            if op is None or op.kind != "operator" or _BINARY[op.text] < min_prec:
                return n
            self.i += 1
            prec = _BINARY[op.text]
            if op.text in ("**", "^"):
                n = sum(math.comb(n, j) for j in range(1, self._power() + 1))
            else:
                m = self._expr(prec + 1)
                n = {"+": n + m, "-": n, "*": n + m + n * m, "/": n + n * m, ":": n * m}[op.text]
            if n > MAX_TERMS:
                raise self.where.error(
                    f"it expands into more than {MAX_TERMS} terms (at '{op.text}')", op.text
                )

    def _power(self) -> int:
        tok = self._next()
        if tok.kind != "value" or not tok.text.isdigit() or not 1 <= int(tok.text) <= MAX_POWER:
            raise self.where.error(
                f"the power of a term must be a whole number from 1 to {MAX_POWER}; "
                f"got {tok.text!r}",
                tok.text,
            )
        return int(tok.text)


# ---------------------------------------------------------------------------------------
# Inside a transform: a Python expression, checked node by node
# ---------------------------------------------------------------------------------------


def rewrite_backticks(expr: str) -> tuple[str, dict[str, str]]:
    """Replace back-ticked names by stand-in identifiers.

    Returns the rewritten text and the map stand-in → column name.  Quoted strings
    are copied as they are (a back-tick inside quotes is text).
    """
    out: list[str] = []
    names: dict[str, str] = {}
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in "'\"":
            j = i + 1
            while j < n and expr[j] != ch:
                j += 2 if expr[j] == "\\" else 1
            out.append(expr[i : j + 1])
            i = j + 1
        elif ch == "`":
            j = expr.find("`", i + 1)
            if j < 0:
                out.append(expr[i:])
                break
            key = f"_cqox_column_{len(names)}"
            names[key] = expr[i + 1 : j]
            out.append(f" {key} ")
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out), names


def check_term(
    expr: str,
    columns: Sequence[str],
    *,
    where: _Where | None = None,
    role: str = "covariates",
    parameter: str | None = None,
) -> tuple[ast.Expression, list[str], dict[str, str]]:
    """Check one transform term (``I(age**2)``, ``C(educ)``) and parse it.

    Returns the parsed expression, the columns it refers to (in order) and the map of
    back-tick stand-ins to column names.  Raises :class:`FormulaError` (or
    :class:`ColumnNotFoundError`) for anything outside the language.
    """
    where = where or _where(expr, role, parameter)
    code, aliases = rewrite_backticks(expr)
    if len(expr) > MAX_CHARS:
        raise where.error(f"a term of more than {MAX_CHARS} characters", expr)
    _check_nesting(code, where)
    for ch in _outside_quotes(code):
        if not ch.isascii():
            raise where.error(
                f"non-ASCII character {ch!r} in {_short(expr)!r}; back-tick a column name "
                "with non-ASCII letters (`âge`)",
                ch,
            )
    try:
        tree = ast.parse(code, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise where.error(f"cannot parse {_short(expr)!r}", expr) from None
    _check_decimal_numbers(tree, code, where)
    checker = _TermChecker(columns, aliases, where, role, parameter)
    root = tree.body
    if not isinstance(root, ast.Call):
        raise where.error(f"{_short(expr)!r} is not a transform call", expr)
    checker.data(root, 0)
    return tree, checker.used, aliases


def _check_decimal_numbers(tree: ast.AST, code: str, where: _Where) -> None:
    """Refuse number literals not written in decimal notation (``0x1f``, ``1_000``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float, complex):
            text = ast.get_source_segment(code, node) or repr(node.value)
            if not _DECIMAL.fullmatch(text):
                raise where.error(
                    f"number {_short(text)!r} is not allowed: write numbers in decimal "
                    "notation (1, 0.5, 1e3)",
                    text,
                )


def _outside_quotes(code: str) -> str:
    return re.sub(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"", "", code)


class _TermChecker:
    """Walk a transform's AST; only the allowed node types and names pass."""

    def __init__(
        self,
        columns: Sequence[str],
        aliases: dict[str, str],
        where: _Where,
        role: str,
        parameter: str | None,
    ) -> None:
        self.columns = columns
        self.known = set(columns)
        self.aliases = aliases
        self.where = where
        self.role = role
        self.parameter = parameter
        self.used: list[str] = []

    def fail(self, what: str, node: ast.AST, token: str | None = None) -> FormulaError:
        token = token if token is not None else _snippet(node)
        return self.where.error(f"{what} {_short(token)!r} is not allowed ({_ALLOWED})", token)

    def data(self, node: ast.AST, depth: int) -> None:
        """A data expression: columns, numbers, arithmetic, transform calls."""
        if depth > MAX_DEPTH:
            raise self.where.error(f"nested more than {MAX_DEPTH} levels deep", _snippet(node))
        if isinstance(node, ast.Name):
            self.name(node)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                kind = "string literal" if isinstance(node.value, str | bytes) else "constant"
                raise self.fail(kind, node)
        elif isinstance(node, ast.BinOp):
            if not isinstance(node.op, _DATA_BINOPS):
                raise self.fail("operator", node)
            self.data(node.left, depth + 1)
            self.data(node.right, depth + 1)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _DATA_UNARY):
                raise self.fail("operator", node)
            self.data(node.operand, depth + 1)
        elif isinstance(node, ast.Call):
            self.call(node, depth)
        else:
            raise self.fail(_describe(node), node)

    def name(self, node: ast.Name) -> None:
        raw = node.id
        column = self.aliases.get(raw, raw)
        if "__" in column:
            raise self.fail("name with double underscores", node, column)
        if column in self.known:
            self.used.append(column)
            return
        if raw in TRANSFORMS or raw == CONTRAST:
            raise self.where.error(
                f"'{raw}' is a transform: call it on a column, e.g. {raw}(x)", raw
            )
        raise _unknown_column(column, self.columns, self.role, self.parameter)

    def call(self, node: ast.Call, depth: int) -> None:
        func = node.func
        if not isinstance(func, ast.Name):
            raise self.fail(_describe(func), func)
        if func.id in self.aliases or func.id not in TRANSFORMS:
            raise self.where.error(
                f"function '{_short(func.id)}' is not allowed ({_ALLOWED})", func.id
            )
        sig = TRANSFORMS[func.id]
        if not sig.required <= len(node.args) <= len(sig.positional):
            raise self.where.error(
                f"{func.id}() takes {_count(sig)}; got {len(node.args)} in "
                f"{_short(_snippet(node))!r}",
                _snippet(node),
            )
        for arg, kind in zip(node.args, sig.positional, strict=False):
            self.argument(kind, arg, depth, func.id)
        seen: set[str] = set()
        for kw in node.keywords:
            if kw.arg is None or kw.arg not in sig.keywords:
                name = "**" if kw.arg is None else kw.arg
                allowed = ", ".join(sig.keywords) or "none"
                raise self.where.error(
                    f"{func.id}() has no argument '{name}' (arguments: {allowed})", name
                )
            if kw.arg in seen or kw.arg in sig.names[: len(node.args)]:
                raise self.where.error(f"{func.id}(): argument '{kw.arg}' given twice", kw.arg)
            seen.add(kw.arg)
            self.argument(sig.keywords[kw.arg], kw.value, depth, func.id)

    def argument(self, kind: ArgKind, node: ast.AST, depth: int, func: str) -> None:
        if isinstance(node, ast.Starred):
            raise self.fail("unpacking", node)
        if kind == "data":
            self.data(node, depth + 1)
            return
        check = _LITERAL_CHECKS[kind]
        if not check(node, self):
            raise self.where.error(
                f"{func}(): {_short(_snippet(node))!r} is not {_LITERAL_RULES[kind]}",
                _snippet(node),
            )


def _count(sig: Signature) -> str:
    if sig.required == len(sig.positional):
        return f"{sig.required} positional argument{'s' if sig.required != 1 else ''}"
    return f"{sig.required} to {len(sig.positional)} positional arguments"


def _snippet(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every parsed node
        return type(node).__name__


def _describe(node: ast.AST) -> str:
    names: dict[type[ast.AST], str] = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscript",
        ast.Lambda: "lambda",
        ast.NamedExpr: "assignment expression (:=)",
        ast.JoinedStr: "f-string",
        ast.FormattedValue: "f-string",
        ast.ListComp: "comprehension",
        ast.SetComp: "comprehension",
        ast.DictComp: "comprehension",
        ast.GeneratorExp: "comprehension",
        ast.Compare: "comparison",
        ast.BoolOp: "boolean operator",
        ast.IfExp: "conditional expression",
        ast.Starred: "unpacking",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.YieldFrom: "yield",
        ast.Dict: "dict",
        ast.Set: "set",
        ast.List: "list",
        ast.Tuple: "tuple",
        ast.Slice: "slice",
    }
    return names.get(type(node), type(node).__name__)


# ---------------------------------------------------------------------------------------
# Literal arguments
# ---------------------------------------------------------------------------------------


def _number_value(node: ast.AST) -> float | None:
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        node = node.operand
    if (
        isinstance(node, ast.Constant)
        and not isinstance(node.value, bool)
        and isinstance(node.value, int | float)
    ):
        value = sign * float(node.value)
        return value if math.isfinite(value) else None
    return None


def _int_in(low: int, high: int) -> Callable[[ast.AST, _TermChecker], bool]:
    def check(node: ast.AST, _: _TermChecker) -> bool:
        return (
            isinstance(node, ast.Constant) and type(node.value) is int and low <= node.value <= high
        )

    return check


def _is_number(node: ast.AST, _: _TermChecker) -> bool:
    return _number_value(node) is not None


def _is_bool(node: ast.AST, _: _TermChecker) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, bool)


def _is_numbers(node: ast.AST, _: _TermChecker) -> bool:
    return (
        isinstance(node, ast.List | ast.Tuple)
        and len(node.elts) <= MAX_LIST
        and all(_number_value(e) is not None for e in node.elts)
    )


def _is_level(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        # a level is data, but the text handed to the formula engine carries no double
        # underscore anywhere (the same rule as for names): defence in depth
        return len(node.value) <= 200 and "__" not in node.value
    return _number_value(node) is not None or (
        isinstance(node, ast.Constant) and isinstance(node.value, bool)
    )


def _is_levels(node: ast.AST, _: _TermChecker) -> bool:
    return (
        isinstance(node, ast.List | ast.Tuple)
        and 0 < len(node.elts) <= MAX_LIST
        and all(_is_level(e) for e in node.elts)
    )


def _is_contrast(node: ast.AST, _: _TermChecker) -> bool:
    if not (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == CONTRAST
    ):
        return False
    values = list(node.args) + [kw.value for kw in node.keywords]
    names_ok = all(kw.arg == "reference" for kw in node.keywords)
    return names_ok and len(values) <= 1 and all(_is_level(v) for v in values)


def _is_column(node: ast.AST, checker: _TermChecker) -> bool:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    if node.value not in checker.known:
        raise _unknown_column(node.value, checker.columns, checker.role, checker.parameter)
    checker.used.append(node.value)
    return True


_LITERAL_CHECKS: dict[ArgKind, Callable[[ast.AST, _TermChecker], bool]] = {
    "degree": _int_in(1, 10),
    "df": _int_in(1, 100),
    "number": _is_number,
    "numbers": _is_numbers,
    "bool": _is_bool,
    "levels": _is_levels,
    "contrast": _is_contrast,
    "column": _is_column,
}
_LITERAL_RULES: dict[ArgKind, str] = {
    "degree": "a whole number from 1 to 10",
    "df": "a whole number from 1 to 100",
    "number": "a number",
    "numbers": f"a list of at most {MAX_LIST} numbers",
    "bool": "True or False",
    "levels": f"a list of at most {MAX_LIST} literal levels ('a', 1, …; no '__' in a level)",
    "contrast": f"{CONTRAST}(reference) with a literal reference level",
    "column": "a quoted column name",
}


def literal(node: ast.AST) -> object:
    """The value of a literal argument that passed the check (no evaluation of code)."""
    if isinstance(node, ast.List | ast.Tuple):
        return [literal(e) for e in node.elts]
    number = _number_value(node)
    if number is not None and not (isinstance(node, ast.Constant) and type(node.value) is int):
        return number
    if isinstance(node, ast.Constant):
        return node.value
    raise TypeError(f"not a literal: {_snippet(node)}")  # pragma: no cover - checked before
