"""The deployment artefacts in deploy/, checked offline.

- every YAML file passes yamllint (``deploy/.yamllint.yaml``; the chart's templates are
  not YAML until rendered);
- the Helm chart renders (``helm template`` when installed, else the Jinja2 subset of
  :mod:`tests.deploy.chart_render`) and every manifest validates against the vendored
  Kubernetes 1.33 strict JSON schemas (``deploy/schemas``, unknown fields refused), with
  the properties docs/deploy.md promises: probes, a non-root user, a read-only root
  file system, secrets only from a Secret, HPAs for both deployments;
- compose.yaml: ``docker compose config`` where Docker Compose is installed, and in any
  case the hardening of every CQOx container, required (never defaulted) secrets and
  the files it mounts;
- the Dockerfile: multi-stage, non-root, with a health check;
- the Grafana dashboard queries only metrics the service exports, from the provisioned
  data source.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart_render import UnsupportedTemplateError, render, translate

jsonschema = pytest.importorskip("jsonschema")
yamllint_config = pytest.importorskip("yamllint.config")
yamllint_linter = pytest.importorskip("yamllint.linter")

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CHART = DEPLOY / "helm" / "cqox"
SCHEMAS = DEPLOY / "schemas" / "kubernetes-v1.33-strict.json"
SECRET_NAMES = ("CQOX_SECRET_KEY", "CQOX_DATABASE_URL", "CQOX_METRICS_TOKEN", "PASSWORD")


@cache
def _bundle() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMAS.read_text())
    return data


def validate_manifest(doc: dict[str, Any]) -> list[str]:
    """Schema errors of one manifest (empty when it is valid)."""
    key = f"{doc.get('apiVersion')}/{doc.get('kind')}"
    kinds = _bundle()["kinds"]
    if key not in kinds:
        return [f"no vendored schema for {key} (add it to deploy/schemas/vendor.py)"]
    schema = {k: v for k, v in kinds[key].items() if k != "$id"} | {"$defs": _bundle()["$defs"]}
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def test_every_yaml_file_passes_yamllint() -> None:
    conf = yamllint_config.YamlLintConfig(file=str(DEPLOY / ".yamllint.yaml"))
    files = [p for p in DEPLOY.rglob("*.y*ml") if "templates" not in p.parts]
    assert len(files) >= 6
    problems = [
        f"{p.relative_to(DEPLOY)}:{e.line}: {e.message}"
        for p in files
        for e in yamllint_linter.run(p.read_text(), conf, str(p))
    ]
    assert problems == []


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {
                "api": {"autoscaling": {"enabled": False}},
                "worker": {"autoscaling": {"enabled": False}},
                "persistence": {"existingClaim": "shared-data", "storageClassName": "nfs"},
            },
            id="fixed-replicas-existing-claim",
        ),
    ],
)
def test_chart_renders_manifests_that_match_the_kubernetes_schemas(values: dict[str, Any]) -> None:
    docs, how = render(CHART, values)
    print(f"chart rendered by {how}")
    errors = {f"{d['kind']}/{d['metadata']['name']}": validate_manifest(d) for d in docs}
    assert {k: v for k, v in errors.items() if v} == {}
    kinds = sorted(d["kind"] for d in docs)
    autoscaled = not values
    expected = ["Deployment", "Deployment", "PodDisruptionBudget", "Service"]
    expected += ["HorizontalPodAutoscaler"] * 2 if autoscaled else []
    expected += ["PersistentVolumeClaim"] if autoscaled else []
    assert kinds == sorted(expected)
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {"release-cqox-api", "release-cqox-worker"}
    for name, d in deployments.items():
        spec = d["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        assert ("replicas" in d["spec"]) is not autoscaled
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert "livenessProbe" in c and "startupProbe" in c
        assert c["envFrom"] == [{"secretRef": {"name": "cqox-secrets"}}]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["CQOX_SHARED_STATE"] == "true"
        assert not [n for n in env if any(s in n for s in SECRET_NAMES)], name
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert mounts == {"/data", "/tmp"}  # the only writable paths
        claim = next(v for v in spec["volumes"] if v["name"] == "data")
        assert claim["persistentVolumeClaim"]["claimName"] == (
            "release-cqox-data" if autoscaled else "shared-data"
        )
    api = deployments["release-cqox-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert api["args"][0] == "serve"
    worker = deployments["release-cqox-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"] == ["worker"]
    for hpa in (d for d in docs if d["kind"] == "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments


def test_schema_check_refuses_a_broken_manifest() -> None:
    docs, _ = render(CHART)
    deployment = copy.deepcopy(next(d for d in docs if d["kind"] == "Deployment"))
    deployment["spec"]["replicas"] = "two"
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    deployment["spec"]["template"]["spec"]["containres"] = []
    errors = validate_manifest(deployment)
    assert any("replicas" in e for e in errors)
    assert any("containres" in e for e in errors)
    assert validate_manifest({"apiVersion": "v1", "kind": "Pod"})[0].startswith("no vendored")


def test_renderer_refuses_template_syntax_outside_its_subset() -> None:
    for text in ('{{ printf "%s" .Values.x }}', "{{ range .Values.x }}{{ end }}", "{{ if .X }}"):
        with pytest.raises(UnsupportedTemplateError):
            translate(text)


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def test_compose_file_is_valid_and_hardened() -> None:
    docker = shutil.which("docker")
    has_compose = docker is not None and (
        subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    )
    if has_compose:
        assert docker is not None
        env = {"CQOX_DB_PASSWORD": "x" * 24, "CQOX_SECRET_KEY": "k" * 48}
        env["GRAFANA_ADMIN_PASSWORD"] = "g" * 16
        done = subprocess.run(
            [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
            capture_output=True,
            text=True,
            env={**env, "PATH": "/usr/bin:/bin:/usr/local/bin"},
        )
        assert done.returncode == 0, done.stderr
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"api", "worker", "postgres", "prometheus", "grafana"}
    for name in ("api", "worker"):
        s = services[name]
        assert s["read_only"] is True
        assert any(t.startswith("/tmp") for t in s["tmpfs"])
        assert s["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in s["security_opt"]
        assert s["environment"]["CQOX_SHARED_STATE"] == "true"
        assert s["build"]["dockerfile"] == "deploy/Dockerfile"
        assert s["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["command"] == ["worker"]
    assert services["api"]["command"][0] == "serve"
    assert "healthcheck" in services["worker"] and "healthcheck" in services["postgres"]
    # secrets must be given: ${VAR:?message}, never a default value
    text = (DEPLOY / "compose.yaml").read_text()
    for var in ("CQOX_SECRET_KEY", "CQOX_DB_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        uses = re.findall(r"\$\{" + var + r"([^}]*)\}", text)
        assert uses and all(u.startswith(":?") for u in uses), var
    # published ports only on loopback
    for s in services.values():
        assert all(str(p).startswith("127.0.0.1:") for p in s.get("ports", []))
    # every file it mounts exists
    for s in services.values():
        for volume in s.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        sd["names"][0]: sd["port"]
        for job in prometheus["scrape_configs"]
        for sd in job["dns_sd_configs"]
    }
    assert targets == {"api": 9464, "worker": 9464}
    assert services["api"]["environment"]["CQOX_METRICS_ADDRESS"].endswith(":9464")


def test_dockerfile_is_multi_stage_non_root_with_a_health_check() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.M)
    assert stages == ["build", "runtime"]
    final = text.split("AS runtime", 1)[1]
    assert "COPY --from=build /opt/cqox /opt/cqox" in final
    users = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*CMD", final, re.M | re.S)
    assert re.search(r'^ENTRYPOINT \["cqox"\]', final, re.M)
    assert not re.search(r"^ADD\s+https?://", text, re.M)
    lines = (DEPLOY.parent / ".dockerignore").read_text().splitlines()
    ignore = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*" and "!src/" in ignore  # no data, secrets or .git in the context


def test_grafana_dashboard_queries_only_exported_metrics() -> None:
    pytest.importorskip("prometheus_client")
    from cqox.server.metrics import Metrics

    exported = {m.name for m in Metrics().registry.collect()}
    series = set()
    for family in exported:
        series |= {family, f"{family}_total", f"{family}_bucket", f"{family}_count"}
    series |= {f"{family}_sum" for family in exported}
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "cqox.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    used = {name for e in exprs for name in re.findall(r"\b(cqox_[a-z_]+)\b", e)}
    assert used and used <= series, used - series
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    uid = provisioned["datasources"][0]["uid"]
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {uid}
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "cqox.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
