"""Dependencies point one way, in layers, and no module imports itself in a circle.

Layers (docs/design.md): the plain types at the bottom (``errors``, ``core``); data,
inference, nuisance, gates, sensitivity and the simulators above them; the estimators
above those; the composer that builds an Analysis above the estimators; the report,
the CLI and the service on top.  An import may point to its own layer or below, never
above.  Imports inside ``if TYPE_CHECKING:`` (annotations only) do not count; imports
inside functions do.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import cqox

SRC = Path(cqox.__file__).parent
LAYERS = {
    "errors": 0,
    "_version": 0,
    "_lazy": 0,
    "_cachedir": 0,
    "core": 1,
    "data": 2,
    "inference": 2,
    "compute": 2,
    "nuisance": 2,
    "gates": 2,
    "sensitivity": 2,
    "simulate": 2,
    "datasets": 2,
    "estimators": 3,
    "analysis": 4,
    "report": 5,
    "cli": 6,
    "server": 6,
}
#: Documented exceptions: none (``Analysis.report()`` renders through the plug in
#: ``cqox.core.renderers``, which the package's top level connects to the report layer).
#: An entry here must be a pair (module, imported module) with a comment saying why.
ALLOWED_UPWARD: set[tuple[str, str]] = set()


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in SRC.rglob("*.py") if "migrations" not in p.relative_to(SRC).parts}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """``(module, line)`` of every cqox import outside ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from ((a.name, node.lineno) for a in node.names if a.name.startswith("cqox"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cqox"):
            assert node.module is not None
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                yield (sub if sub in MODULES else node.module), node.lineno
        stack.extend(ast.iter_child_nodes(node))


GRAPH = {
    m: sorted(set(_imports(ast.parse(p.read_text(encoding="utf-8"))))) for m, p in MODULES.items()
}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_package_has_a_layer() -> None:
    packages = {m.split(".")[1] for m in MODULES if m.count(".") >= 1}
    assert packages <= set(LAYERS), f"no layer for {packages - set(LAYERS)}"


def test_no_import_points_upward() -> None:
    upward = [
        f"{m}:{line} imports {t}"
        for m, imports in GRAPH.items()
        for t, line in imports
        if (lm := _layer(m)) is not None
        and (lt := _layer(t)) is not None
        and lt > lm
        and (m, t) not in ALLOWED_UPWARD
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    edges = {m: {t for t, _ in imps if t in MODULES and t != m} for m, imps in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle() -> None:
    cycles = _cycles()
    assert not cycles, "import circles: " + "; ".join(" ↔ ".join(c) for c in cycles)
