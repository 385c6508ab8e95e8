"""The HTML report: one self-contained file (figures inlined as PNG, no network needed).

Sections: summary, roles (with how each was chosen), estimates (with CI and gates),
consensus, figures (estimator comparison and propensity overlap), quality gates,
sensitivity, the data profile, and notes (estimators not run, warnings).  Every
value from the data is HTML-escaped; nothing is fetched from the network (no
scripts, fonts, styles or images by URL).
"""

from __future__ import annotations

import base64
import html
import math
import re
from typing import TYPE_CHECKING, Any

from cqox._version import __version__

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis

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
.muted{color:#666;font-size:.9em}img{max-width:100%}.cqox-plotly{width:100%;min-height:360px}
nav a{margin-right:.8em}code{background:#f5f5f5;padding:0 .2em}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
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
    """The estimates as an HTML table: estimate, SE, CI (level), p-value, n and gates."""
    head = (
        "<tr><th class=l>estimator</th><th class=l>estimand</th><th>estimate</th>"
        "<th>SE</th><th>CI</th><th>p-value</th><th>n</th><th class=l>gates</th>"
        "<th class=l>flagged</th></tr>"
    )
    rows = []
    for e in an.estimates:
        truth = an.truth.get(e.estimand)
        covers = ""
        if truth is not None and math.isfinite(e.ci[0]) and math.isfinite(e.ci[1]):
            covers = " ✓" if e.ci[0] <= truth <= e.ci[1] else " ✗"
        level = "" if abs(e.ci_level - 0.95) < 1e-9 else f" ({e.ci_level:.0%})"
        flagged = ", ".join(g.name for g in e.gates if g.status in ("warn", "fail"))
        rows.append(
            f"<tr><td class=l>{_e(e.estimator)}</td><td class=l>{_e(e.estimand)}</td>"
            f"<td>{_num(e.estimate)}</td><td>{_num(e.se)}</td>"
            f"<td>[{_num(e.ci[0])}, {_num(e.ci[1])}]{covers}{_e(level)}</td>"
            f"<td>{_num(e.p_value, 3)}</td><td>{e.n}</td>"
            f"<td class='l {_e(e.status)}'>{_e(e.status.replace('_', ' '))}</td>"
            f"<td class=l>{_e(flagged)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


#: Columns shown in the data-profile table (the rest are counted).
MAX_PROFILE_COLUMNS = 60
#: Sections of the report, in order (id, title).
SECTIONS = (
    ("roles", "Roles"),
    ("estimates", "Estimates"),
    ("figures", "Figures"),
    ("gates", "Quality gates"),
    ("sensitivity", "Sensitivity"),
    ("data", "Data"),
    ("notes", "Notes"),
)


def _graph_part(an: Analysis) -> list[str]:
    """The causal graph given with ``dag``, drawn, with what it identifies."""
    if not an.graph:
        return []
    from cqox.report.figures_dag import dag_png

    ident = an.graph.get("identification", {})
    png = dag_png(
        an.graph.get("edges", []),
        an.graph.get("nodes", []),
        an.roles.treatment,
        an.roles.outcome,
        ident.get("adjustment") or (),
        ident.get("unobserved") or (),
    )
    parts = ["<h3>Causal graph</h3>", _img(png, "causal graph")]
    parts.append(
        "<p class=muted>Blue: treatment; red: outcome; green: the adjustment set; thick "
        "outline: not a column (unobserved).</p><ul>"
    )
    parts += [f"<li>{_e(r)}</li>" for r in ident.get("reasons", [])]
    parts.append("</ul>")
    return parts


def _roles_section(an: Analysis) -> list[str]:
    parts = [
        "<h2 id=roles>Roles</h2><table><tr><th class=l>role</th><th class=l>column</th>"
        "<th class=l>source</th><th>confidence</th><th class=l>how</th></tr>"
    ]
    for guess in an.roles.guesses:
        parts.append(
            f"<tr><td class=l>{_e(guess.role)}</td><td class=l>{_e(guess.column)}</td>"
            f"<td class=l>{_e(guess.source)}</td><td>{guess.confidence:.2f}</td>"
            f"<td class=l>{_e(guess.reason)}</td></tr>"
        )
    parts.append("</table>")
    parts += _graph_part(an)
    domain = an.domain or {}
    evidence = ", ".join(map(str, domain.get("evidence", [])))
    parts.append(
        f"<p>Designs supported: <b>{_e(', '.join(d.value for d in an.designs) or 'none')}</b>. "
        f"Domain: {_e(domain.get('domain', 'unknown'))}"
        + (f" (score {_num(domain.get('score'), 2)}; words: {_e(evidence)})" if evidence else "")
        + " — a label only; it never changes an estimate.</p>"
    )
    return parts


def _estimates_section(an: Analysis) -> list[str]:
    parts = ["<h2 id=estimates>Estimates</h2>"]
    if an.truth:
        parts.append(
            "<p>Known truth (simulated data): "
            + ", ".join(f"{_e(k)} = {_num(v)}" for k, v in an.truth.items())
            + " — ✓ marks intervals that cover it.</p>"
        )
    if not an.estimates:
        parts.append("<p>No estimate could be made (see the notes).</p>")
        return parts
    parts.append(estimates_table(an))
    if an.consensus:
        parts.append(
            "<h3>Consensus per estimand</h3><table><tr><th class=l>estimand</th>"
            "<th>median</th><th>range</th><th>estimators</th><th>agreement</th>"
            "<th>truth</th></tr>"
        )
        for k, c in an.consensus.items():
            agreement = c.get("agreement")
            parts.append(
                f"<tr><td class=l>{_e(k)}</td><td>{_num(c.get('estimate'))}</td>"
                f"<td>{_num(c.get('min'))} … {_num(c.get('max'))}</td>"
                f"<td>{_e(c.get('n_estimators', ''))}</td>"
                f"<td>{f'{agreement:.0%}' if isinstance(agreement, float) else '—'}</td>"
                f"<td>{_num(an.truth.get(k))}</td></tr>"
            )
        parts.append(
            "</table><p class=muted>The consensus is the median over estimators of the same "
            "estimand; estimates of different estimands are never pooled.</p>"
        )
    parts += _baseline_part(an)
    methods = {e.estimator: e.method for e in an.estimates if e.method}
    if methods:
        parts.append("<h3>Methods</h3><ul>")
        parts += [f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in methods.items()]
        parts.append("</ul>")
    return parts


def _baseline_part(an: Analysis) -> list[str]:
    """The unadjusted difference in means and its randomization check."""
    b = an.baseline
    if b is None:
        return []
    check = b.get("randomization_check", {})
    if check.get("ran"):
        check_text = (
            f"{_e(check['test'])}: χ² = {_num(check['statistic'])} on {_e(check['df'])} df, "
            f"p = {_num(check['p_value'])} "
            + ("(the arms differ)" if check.get("arms_differ") else "(no evidence they differ)")
        )
    else:
        check_text = f"not run: {_e(check.get('reason', 'no covariates'))}"
    ci = b["ci"]
    return [
        "<h3 id=baseline>Baseline: unadjusted difference in means</h3>"
        "<table><tr><th class=l>estimand</th><th>estimate</th><th>se</th><th>95% CI</th>"
        "<th>p</th><th>treated</th><th>control</th></tr>"
        f"<tr><td class=l>{_e(b['estimand'])}</td><td>{_num(b['estimate'])}</td>"
        f"<td>{_num(b['se'])}</td><td>[{_num(ci[0])}, {_num(ci[1])}]</td>"
        f"<td>{_num(b.get('p_value'))}</td><td>{_e(b.get('n_treated', ''))}</td>"
        f"<td>{_e(b.get('n_control', ''))}</td></tr></table>"
        f"<p>Randomization check — {check_text}.</p>"
        f"<p class=muted>{_e(b['note'])}. The baseline is ȳ₁ − ȳ₀ with the Neyman (Welch) "
        "standard error on every row with the outcome and the treatment; it never enters "
        "the consensus.</p>"
    ]


def _figures_section(an: Analysis, interactive: bool = False) -> list[str]:
    from cqox.report.gallery import figure_specs

    parts = ["<h2 id=figures>Figures</h2>"]
    for spec in figure_specs(an):
        # the image draws its own title: a heading above it would show the title twice
        image = _img(spec.png(), spec.title)
        if interactive:
            from cqox.core.jsonable import to_jsonable
            from cqox.report.interactive import figure_json_block

            name = re.sub(r"[^A-Za-z0-9_-]", "_", spec.name)
            image = (
                f"<div class=cqox-plot data-figure='{name}' data-title='{_e(spec.title)}'>"
                f"{image}</div>{figure_json_block(name, to_jsonable(spec.plotly()))}"
            )
        parts.append(f"<figure>{image}")
        parts.append(f"<figcaption class=muted>{_e(spec.caption)}</figcaption></figure>")
    if len(parts) == 1:
        parts.append("<p>No figure for this analysis.</p>")
    return parts


def _gates_section(an: Analysis) -> list[str]:
    q = an.quality
    parts = [
        "<h2 id=gates>Quality gates</h2>",
        f"<p>Verdict: <span class='{_e(q.get('verdict', ''))}'>"
        f"{_e(str(q.get('verdict', '—')).replace('_', ' '))}"
        f"</span> — {_e(_counts_text(q.get('counts', {})))}</p><table><tr>"
        "<th class=l>estimate</th><th class=l>gate</th><th>value</th><th>threshold</th>"
        "<th class=l>status</th><th class=l>message</th></tr>",
    ]
    gates = [(None, g) for g in an.gates] + [(e, g) for e in an.estimates for g in e.gates]
    for e, g in gates:
        owner = "data" if e is None else f"{e.estimator} {e.estimand}"
        parts.append(
            f"<tr><td class=l>{_e(owner)}</td><td class=l>{_e(g.name)}</td>"
            f"<td>{_num(g.value)}</td><td>{_num(g.threshold)}</td>"
            f"<td class='l {_e(g.status)}'>{_e(g.status)}</td><td class=l>{_e(g.message)}</td>"
            "</tr>"
        )
    parts.append("</table>")
    return parts


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()) or "no gates"


def _sensitivity_section(an: Analysis) -> list[str]:
    if not an.sensitivity:
        return []
    parts = [
        "<h2 id=sensitivity>Sensitivity</h2><h3>E-values</h3><table><tr><th class=l>estimate</th>"
        "<th>E-value (point)</th><th>E-value (CI)</th></tr>"
    ]
    for k, s in an.sensitivity.items():
        ev = s.get("evalue", {}) if isinstance(s, dict) else {}
        parts.append(
            f"<tr><td class=l>{_e(k)}</td><td>{_num(ev.get('evalue'), 3)}</td>"
            f"<td>{_num(ev.get('evalue_ci'), 3)}</td></tr>"
        )
    parts.append(
        "</table><p class=muted>E-value: the risk-ratio association an unmeasured"
        " confounder would need with both treatment and outcome to explain the "
        "estimate away (VanderWeele &amp; Ding 2017, doi:10.7326/M16-2607).</p>"
    )
    ovb = [
        (k, s["ovb"])
        for k, s in an.sensitivity.items()
        if isinstance(s, dict) and isinstance(s.get("ovb"), dict)
    ]
    if ovb:
        parts.append(
            "<h3>Omitted-variable bias (Cinelli &amp; Hazlett 2020)</h3><table><tr>"
            "<th class=l>estimate</th><th>partial R² of treatment with outcome</th>"
            "<th>robustness value RV</th><th>RV (α = 0.05)</th></tr>"
        )
        for k, o in ovb:
            parts.append(
                f"<tr><td class=l>{_e(k)}</td><td>{_num(o.get('r2yd_x'), 3)}</td>"
                f"<td>{_num(o.get('rv_q'), 3)}</td><td>{_num(o.get('rv_qa'), 3)}</td></tr>"
            )
        parts.append(
            "</table><p class=muted>RV: the share of residual variance of both treatment and "
            "outcome that a confounder would need to explain to bring the estimate to zero "
            "(RV at α: to make it insignificant); doi:10.1111/rssb.12348.</p>"
        )
        bounds = [b for _, o in ovb[:1] for b in o.get("bounds", [])]
        if bounds:
            parts.append(
                "<table><tr><th class=l>confounder as strong as</th><th>× k</th>"
                "<th>adjusted estimate</th><th>adjusted CI</th></tr>"
            )
            for b in bounds:
                parts.append(
                    f"<tr><td class=l>{_e(b.get('benchmark'))}</td><td>{_num(b.get('k'))}</td>"
                    f"<td>{_num(b.get('adjusted_estimate'))}</td><td>[{_num(b.get('adjusted_lower'))}"
                    f", {_num(b.get('adjusted_upper'))}]</td></tr>"
                )
            parts.append("</table>")
    ros = [
        (k, s["rosenbaum"])
        for k, s in an.sensitivity.items()
        if isinstance(s, dict) and isinstance(s.get("rosenbaum"), dict)
    ]
    for k, r in ros:
        if r.get("applicable") is False:
            parts.append(
                f"<p>Rosenbaum bounds for {_e(k)}: not applicable, because "
                f"{_e(r.get('reason'))}.</p>"
            )
            continue
        parts.append(
            f"<h3>Rosenbaum bounds ({_e(k)})</h3><p>Wilcoxon signed-rank test on "
            f"{_e(r.get('n_pairs'))} matched pairs: the conclusion holds at α = "
            f"{_num(r.get('alpha'))} until hidden bias Γ = <b>{_num(r.get('gamma_critical'), 3)}"
            "</b> (the odds of treatment of two matched units may differ by that factor "
            "before the effect could be due to an unobserved confounder; Rosenbaum 2002).</p>"
        )
    return parts


def _data_section(an: Analysis) -> list[str]:
    p = an.profile or {}
    cols = p.get("column_profiles", [])
    parts = [
        "<h2 id=data>Data</h2>",
        f"<p>{_e(p.get('rows', '?'))} rows × {_e(p.get('columns', '?'))} columns; "
        f"{_e(p.get('complete_rows', '?'))} complete rows; "
        f"{_e(p.get('missing_cells', '?'))} missing cells.</p>",
    ]
    if not cols:
        return parts
    parts.append(
        "<table><tr><th class=l>column</th><th class=l>kind</th><th>missing</th>"
        "<th>unique</th><th>mean</th><th>sd</th><th>min</th><th>max</th>"
        "<th class=l>most frequent</th></tr>"
    )
    for c in cols[:MAX_PROFILE_COLUMNS]:
        top = c.get("top") or {}
        levels = ", ".join(f"{k} ({v})" for k, v in list(top.items())[:3])
        parts.append(
            f"<tr><td class=l>{_e(c.get('name'))}</td><td class=l>{_e(c.get('kind'))}</td>"
            f"<td>{_e(c.get('missing'))}</td><td>{_e(c.get('unique'))}</td>"
            f"<td>{_num(c.get('mean'))}</td><td>{_num(c.get('sd'))}</td>"
            f"<td>{_num(c.get('min'))}</td><td>{_num(c.get('max'))}</td>"
            f"<td class=l>{_e(levels)}</td></tr>"
        )
    parts.append("</table>")
    if len(cols) > MAX_PROFILE_COLUMNS:
        parts.append(f"<p class=muted>… and {len(cols) - MAX_PROFILE_COLUMNS} more columns.</p>")
    return parts


def _notes_section(an: Analysis) -> list[str]:
    if not (an.failures or an.warnings):
        return []
    parts = ["<h2 id=notes>Notes</h2><ul>"]
    failures = dict.fromkeys((str(f.get("estimator")), str(f.get("message"))) for f in an.failures)
    parts += [f"<li>not run: <b>{_e(name)}</b> — {_e(message)}</li>" for name, message in failures]
    parts += [f"<li>{_e(w)}</li>" for w in an.warnings]
    parts.append("</ul>")
    return parts


def render_report(an: Analysis, interactive: bool = False) -> str:
    """Render the whole report as one self-contained HTML string.

    ``interactive`` adds each figure's Plotly JSON and Plotly.js with a small viewer
    (:mod:`cqox.report.interactive`), inline, so that the figures can be zoomed and
    hovered; the PNGs stay as the fallback.  The file is then about 5 MB larger.
    """
    body: list[str] = []
    for section in (
        _roles_section,
        _estimates_section,
        _figures_section,
        _gates_section,
        _sensitivity_section,
        _data_section,
        _notes_section,
    ):
        body += _figures_section(an, interactive) if section is _figures_section else section(an)
    present = [(i, t) for i, t in SECTIONS if f"<h2 id={i}>" in "".join(body)]
    nav = " ".join(f"<a href='#{i}'>{_e(t)}</a>" for i, t in present)
    head = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        f"<title>CQOx report</title><style>{CSS}</style></head><body>",
        "<h1>CQOx analysis report</h1>",
        f"<p class=muted>cqox {_e(__version__)} · {_e(an.profile.get('rows', '?'))} rows × "
        f"{_e(an.profile.get('columns', '?'))} columns · seed {_e(an.seed)} · "
        f"{an.elapsed_s:.2f} s · {len(an.estimates)} estimates</p>",
        f"<nav>{nav}</nav>",
    ]
    if interactive:
        from cqox.report.interactive import scripts

        body.append(scripts())
    return "\n".join([*head, *body, "</body></html>"])
