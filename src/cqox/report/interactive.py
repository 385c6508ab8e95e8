"""Interactive figures in the HTML report, with no CDN and under a strict script policy.

The interactive report keeps each figure's PNG (the fallback when scripts do not run)
and adds its Plotly JSON as a data block (``<script type="application/json">``: data,
never executed).  Two inline scripts at the end draw them: Plotly.js as bundled in the
installed ``plotly`` package (:func:`plotly.offline.get_plotlyjs`, no network) and the
small viewer :data:`VIEWER_JS`, which replaces each PNG by its Plotly figure.  The file
stays self-contained: opened from disk it needs nothing else.

A service that serves the report allows exactly these two scripts by their SHA-256
hashes (:func:`script_hashes`, Content Security Policy level 2 ``'sha256-…'`` sources),
so no other inline script and no ``eval`` can run in the page.  Only SVG traces are
drawn (the report's figures use no WebGL trace), so ``'unsafe-eval'`` is not needed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

#: Draws every ``div.cqox-plot`` from the JSON block its ``data-figure`` names; the PNG
#: inside stays when Plotly fails (and the error goes to the console).
VIEWER_JS = """(function () {
  var boxes = document.querySelectorAll("div.cqox-plot[data-figure]");
  Array.prototype.forEach.call(boxes, function (box) {
    var block = document.getElementById("cqox-figure-" + box.getAttribute("data-figure"));
    if (!block || !window.Plotly) return;
    try {
      var fig = JSON.parse(block.textContent);
      var target = document.createElement("div");
      target.className = "cqox-plotly";
      target.setAttribute("role", "img");
      target.setAttribute("aria-label", box.getAttribute("data-title") || "figure");
      box.appendChild(target);
      window.Plotly.newPlot(target, fig.data || [], fig.layout || {}, {
        responsive: true, displaylogo: false,
        toImageButtonOptions: {filename: "cqox-" + box.getAttribute("data-figure")}
      }).then(function () {
        var img = box.querySelector("img");
        if (img) img.remove();
      });
    } catch (e) {
      console.warn("cqox: figure " + box.getAttribute("data-figure") + " stays a PNG", e);
    }
  });
})();"""


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """Plotly.js as the installed ``plotly`` package bundles it."""
    from plotly.offline import get_plotlyjs

    source: str = get_plotlyjs()
    return source


def _hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


@lru_cache(maxsize=1)
def script_hashes() -> tuple[str, str]:
    """The CSP sources (``sha256-…``) of the report's two inline scripts."""
    return _hash(plotly_js()), _hash(VIEWER_JS)


def figure_json_block(name: str, figure: dict[str, Any]) -> str:
    """A figure's Plotly JSON as a data block, safe inside HTML.

    ``<``, ``>`` and ``&`` are written as JSON escapes, so no text of the figure can
    close the block or open a tag (the HTML parser never sees ``</script>``).
    """
    text = (
        json.dumps(figure, separators=(",", ":"), allow_nan=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    return f'<script type="application/json" id="cqox-figure-{name}">{text}</script>'


def scripts() -> str:
    """The two inline scripts, Plotly.js then the viewer, for the end of the body."""
    return f"<script>{plotly_js()}</script>\n<script>{VIEWER_JS}</script>"
