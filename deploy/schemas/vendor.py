"""Bundle the few Kubernetes JSON schemas the chart's manifests need into one file.

Source: the ``v1.33.0-local-strict`` schemas shipped by the ``kubernetes-validate``
package (Apache-2.0; the schemas are generated from the Kubernetes OpenAPI
specification, Apache-2.0, The Kubernetes Authors).  The kinds below and every
definition they reach are copied, descriptions dropped, references rewritten to
``#/$defs/...``; "strict" schemas refuse unknown fields.

Run: ``pip download --no-deps kubernetes-validate==1.37.0``, unzip the wheel, then
``python deploy/schemas/vendor.py PATH/kubernetes_validate/kubernetes-json-schema``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

VERSION = "v1.33.0-local-strict"
KINDS = {
    "apps/v1/Deployment": "deployment-apps-v1",
    "v1/Service": "service-v1",
    "autoscaling/v2/HorizontalPodAutoscaler": "horizontalpodautoscaler-autoscaling-v2",
    "v1/Secret": "secret-v1",
    "v1/PersistentVolumeClaim": "persistentvolumeclaim-v1",
    "v1/ConfigMap": "configmap-v1",
    "policy/v1/PodDisruptionBudget": "poddisruptionbudget-policy-v1",
}
PREFIX = "/api/_definitions.json#/$defs/"


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "description":
                continue
            if key == "$ref" and isinstance(value, str):
                out[key] = "#/$defs/" + value.rsplit("/", 1)[-1]
            else:
                out[key] = _rewrite(value)
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def main(root: str) -> None:
    folder = Path(root) / VERSION
    defs = json.loads((folder / "_definitions.json").read_text())["$defs"]
    kinds = {k: json.loads((folder / f"{f}.json").read_text()) for k, f in KINDS.items()}
    needed: set[str] = set()
    stack = [r for s in kinds.values() for r in _refs(s)]
    while stack:
        name = stack.pop().rsplit("/", 1)[-1]
        if name not in needed:
            needed.add(name)
            stack.extend(_refs(defs[name]))
    bundle = {
        "source": f"kubernetes-validate 1.37.0, {VERSION} (Apache-2.0)",
        "kinds": {k: _rewrite(s) for k, s in kinds.items()},
        "$defs": {n: _rewrite(defs[n]) for n in sorted(needed)},
    }
    out = Path(__file__).with_name("kubernetes-v1.33-strict.json")
    out.write_text(json.dumps(bundle, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"{out}: {len(kinds)} kinds, {len(needed)} definitions, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
