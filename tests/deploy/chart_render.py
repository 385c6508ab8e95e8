"""Render the Helm chart without ``helm``: the template subset the chart uses, via Jinja2.

``helm template`` is used when ``helm`` is on the PATH (:func:`render`).  Without it —
as on the project's machines, where no Helm binary is installed — the chart is rendered
by translating its Go templates into Jinja2.  The chart keeps to a small subset of the
template language, and anything outside it fails the translation (so the chart cannot
drift into syntax this renderer would render wrongly):

- ``{{ .Values.a.b }}``, ``.Release.Name``, ``.Release.Namespace``, ``.Chart.Name``,
  ``.Chart.Version``, ``.Chart.AppVersion``;
- the pipelines ``X | quote``, ``toYaml X | nindent N``, ``include "name" . | nindent N``;
- ``if X`` / ``if not X`` / ``else`` / ``end``; ``define "name"`` … ``end`` in
  ``_helpers.tpl``; ``{{/* comments */}}``; ``{{-`` and ``-}}`` trim whitespace as in Go.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import yaml

ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
VALUE = r"\.(?:Values|Release|Chart)(?:\.[A-Za-z_][A-Za-z0-9_]*)+"
RELEASE = {"Name": "release", "Namespace": "cqox"}


class UnsupportedTemplateError(ValueError):
    """The chart uses template syntax outside the subset this renderer supports."""


def _value(expr: str) -> str:
    if not re.fullmatch(VALUE, expr):
        raise UnsupportedTemplateError(f"unsupported value expression: {expr!r}")
    return expr[1:]


def _command(expr: str) -> str:
    """A pipeline's first command as a Jinja2 expression."""
    if m := re.fullmatch(r'include\s+"([\w.]+)"\s+\.', expr):
        return f"include({m.group(1)!r})"
    if m := re.fullmatch(r"toYaml\s+(\S+)", expr):
        return f"toYaml({_value(m.group(1))})"
    return _value(expr)


def _filter(expr: str) -> str:
    if expr == "quote":
        return "quote"
    if m := re.fullmatch(r"nindent\s+(\d+)", expr):
        return f"nindent({m.group(1)})"
    raise UnsupportedTemplateError(f"unsupported pipeline function: {expr!r}")


def translate(text: str) -> str:
    """Go template text → Jinja2 template text (the subset above)."""
    blocks: list[str] = []
    out: list[str] = []
    pos = 0
    for m in ACTION.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        left, body, right = m.group(1), m.group(2), m.group(3)
        if body.startswith("/*"):
            out.append("{#" + left + " " + body.replace("#}", "") + " " + right + "#}")
            continue
        if m2 := re.fullmatch(r'define\s+"([\w.]+)"', body):
            blocks.append("macro")
            name = m2.group(1).replace(".", "__")
            out.append("{%" + left + f" macro {name}() " + right + "%}")
        elif m2 := re.fullmatch(r"if\s+(not\s+)?(\S+)", body):
            blocks.append("if")
            cond = ("not " if m2.group(1) else "") + _value(m2.group(2))
            out.append("{%" + left + f" if {cond} " + right + "%}")
        elif body == "else":
            out.append("{%" + left + " else " + right + "%}")
        elif body == "end":
            if not blocks:
                raise UnsupportedTemplateError("'end' without a block")
            out.append("{%" + left + f" end{blocks.pop()} " + right + "%}")
        else:
            parts = [p.strip() for p in body.split("|")]
            expr = _command(parts[0]) + "".join(" | " + _filter(p) for p in parts[1:])
            out.append("{{" + left + " " + expr + " " + right + "}}")
    out.append(text[pos:])
    if blocks:
        raise UnsupportedTemplateError(f"unclosed blocks: {blocks}")
    return "".join(out)


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")


def _nindent(text: Any, n: int) -> str:
    pad = " " * n
    return "\n" + "\n".join(pad + line if line else line for line in str(text).split("\n"))


def _quote(value: Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _finalize(value: Any) -> Any:
    # Go prints booleans in lower case and nil as an empty string
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else value


def render_without_helm(chart: Path, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every manifest of ``chart`` rendered with its values (merged with ``values``)."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    merged = _merge(yaml.safe_load((chart / "values.yaml").read_text()), values or {})
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, finalize=_finalize
    )
    env.filters.update(quote=_quote, nindent=_nindent)
    context: dict[str, Any] = {
        "Values": merged,
        "Release": RELEASE,
        "Chart": {
            "Name": meta["name"],
            "Version": meta["version"],
            "AppVersion": meta["appVersion"],
        },
        "toYaml": _to_yaml,
    }
    helpers = env.from_string(translate((chart / "templates" / "_helpers.tpl").read_text()))
    module = helpers.make_module(context)

    def include(name: str) -> str:
        return str(getattr(module, name.replace(".", "__"))()).strip("\n")

    context["include"] = include
    docs: list[dict[str, Any]] = []
    for path in sorted((chart / "templates").glob("*.yaml")):
        text = env.from_string(translate(path.read_text())).render(context)
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def render(chart: Path, values: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], str]:
    """The chart's manifests and how they were rendered (``helm`` or this module)."""
    helm = shutil.which("helm")
    if helm is None:
        return render_without_helm(chart, values), "jinja2 subset (helm not installed)"
    command = [helm, "template", RELEASE["Name"], str(chart), "--namespace", RELEASE["Namespace"]]
    for key, value in _flatten(values or {}):
        command += ["--set-json", f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    return [d for d in yaml.safe_load_all(done.stdout) if d], "helm template"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _flatten(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(_flatten(value, name + "."))
        else:
            out.append((name, value))
    return out
