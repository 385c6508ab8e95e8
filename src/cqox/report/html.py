"""The HTML report: one self-contained file (figures inlined, no network needed)."""

from __future__ import annotations

import base64
import html
from typing import Any

from cqox._version import __version__
from cqox.analysis.analysis import Analysis
from cqox.report.figures import forest_png, overlap_png

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1000px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:0}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f5f5f5}td.l,th.l{text-align:left}
.pass{color:#2a7d2a;font-weight:600}.warn{color:#b36b00;font-weight:600}
.fail{color:#c0392b;font-weight:600}.not_applicable{color:#888}
.muted{color:#666;font-size:.9em}img{max-width:100%}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "—"
    try:
        return f"{x:.{digits}g}"
    except (TypeError, ValueError):
        return _e(x)


def _img(png: bytes, alt: str) -> str:
    return (
        f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
    )


def estimates_table(an: Analysis) -> str:
    """The estimates as an HTML table."""
    head = (
        "<tr><th class=l>estimator</th><th class=l>estimand</th><th>estimate</th>"
        "<th>SE</th><th>CI</th><th>p-value</th><th>n</th><th class=l>gates</th></tr>"
    )
    rows = []
    for e in an.estimates:
        truth = an.truth.get(e.estimand)
        covers = ""
        if truth is not None:
            covers = " ✓" if e.ci[0] <= truth <= e.ci[1] else " ✗"
        rows.append(
            f"<tr><td class=l>{_e(e.estimator)}</td><td class=l>{_e(e.estimand)}</td>"
            f"<td>{_num(e.estimate)}</td><td>{_num(e.se)}</td>"
            f"<td>[{_num(e.ci[0])}, {_num(e.ci[1])}]{covers}</td><td>{_num(e.p_value, 3)}</td>"
            f"<td>{e.n}</td><td class='l {e.status}'>{_e(e.status)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def render_report(an: Analysis) -> str:
    """Render the whole report as one HTML string."""
    parts: list[str] = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        f"<title>CQOx report</title><style>{CSS}</style></head><body>",
        "<h1>CQOx analysis report</h1>",
        f"<p class=muted>cqox {__version__} · {an.profile.get('rows', '?')} rows × "
        f"{an.profile.get('columns', '?')} columns · seed {an.seed} · "
        f"{an.elapsed_s:.2f} s</p>",
    ]
    # roles
    parts.append(
        "<h2>Roles</h2><table><tr><th class=l>role</th><th class=l>column</th>"
        "<th>confidence</th><th class=l>how</th></tr>"
    )
    for guess in an.roles.guesses:
        parts.append(
            f"<tr><td class=l>{_e(guess.role)}</td><td class=l>{_e(guess.column)}</td>"
            f"<td>{guess.confidence:.2f}</td><td class=l>{_e(guess.reason)}</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        f"<p>Designs supported: <b>{_e(', '.join(d.value for d in an.designs) or 'none')}"
        f"</b>. Domain: {_e(an.domain.get('domain', 'unknown'))}.</p>"
    )
    # estimates
    parts.append("<h2>Estimates</h2>")
    if an.truth:
        parts.append(
            "<p>Known truth (simulated data): "
            + ", ".join(f"{_e(k)} = {_num(v)}" for k, v in an.truth.items())
            + " — ✓ marks intervals that "
            "cover it.</p>"
        )
    parts.append(estimates_table(an))
    if an.consensus:
        parts.append(
            "<h3>Consensus per estimand</h3><table><tr><th class=l>estimand</th>"
            "<th>median</th><th>range</th><th>estimators</th><th>agreement</th>"
            "<th>truth</th></tr>"
        )
        for k, c in an.consensus.items():
            parts.append(
                f"<tr><td class=l>{_e(k)}</td><td>{_num(c['estimate'])}</td>"
                f"<td>{_num(c['min'])} … {_num(c['max'])}</td>"
                f"<td>{c['n_estimators']}</td><td>{c['agreement']:.0%}</td>"
                f"<td>{_num(an.truth.get(k))}</td></tr>"
            )
        parts.append("</table>")
    if an.estimates:
        parts.append(_img(forest_png(an.estimates, an.consensus, an.truth), "forest plot"))
    prop = an.figure_data.get("propensity")
    if prop is not None:
        parts.append("<h2>Propensity overlap</h2>")
        parts.append(_img(overlap_png(prop["e"], prop["t"]), "propensity overlap"))
    # gates
    parts.append("<h2>Quality gates</h2>")
    q = an.quality
    parts.append(
        f"<p>Verdict: <span class='{_e(q.get('verdict', ''))}'>{_e(q.get('verdict'))}"
        f"</span> — {_e(q.get('counts'))}</p><table><tr><th class=l>estimate</th>"
        "<th class=l>gate</th><th>value</th><th>threshold</th><th class=l>status</th>"
        "<th class=l>message</th></tr>"
    )
    for e in an.estimates:
        for g in e.gates:
            parts.append(
                f"<tr><td class=l>{_e(e.estimator)} {_e(e.estimand)}</td>"
                f"<td class=l>{_e(g.name)}</td><td>{_num(g.value)}</td>"
                f"<td>{_num(g.threshold)}</td><td class='l {g.status}'>{_e(g.status)}"
                f"</td><td class=l>{_e(g.message)}</td></tr>"
            )
    parts.append("</table>")
    if an.sensitivity:
        parts.append(
            "<h2>Sensitivity (E-values)</h2><table><tr><th class=l>estimate</th>"
            "<th>E-value (point)</th><th>E-value (CI)</th></tr>"
        )
        for k, s in an.sensitivity.items():
            ev = s.get("evalue", {})
            parts.append(
                f"<tr><td class=l>{_e(k)}</td><td>{_num(ev.get('evalue'), 3)}</td>"
                f"<td>{_num(ev.get('evalue_ci'), 3)}</td></tr>"
            )
        parts.append(
            "</table><p class=muted>E-value: the risk-ratio association an unmeasured"
            " confounder would need with both treatment and outcome to explain the "
            "estimate away (VanderWeele &amp; Ding 2017).</p>"
        )
    if an.failures or an.warnings:
        parts.append("<h2>Notes</h2><ul>")
        parts += [
            f"<li>not run: <b>{_e(f['estimator'])}</b> — {_e(f['message'])}</li>"
            for f in an.failures
        ]
        parts += [f"<li>{_e(w)}</li>" for w in an.warnings]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
