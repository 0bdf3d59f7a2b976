"""k8s/ (kind, namespace, prerequisites), skaffold.yaml and the Dockerfiles, without a cluster."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.unit.k8s.helm import KUBE_VERSION, ROOT, run, tool

pytestmark = pytest.mark.k8s

SERVICES_WITH_IMAGES = sorted(p.parent.name for p in (ROOT / "services").glob("*/Dockerfile"))


def _yaml(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text())


def test_kustomize_builds_a_restricted_namespace() -> None:
    out = run([tool("kubectl"), "kustomize", ROOT / "k8s"]).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    (namespace,) = [d for d in docs if d["kind"] == "Namespace"]
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_kind_cluster_has_one_node_for_the_rwo_checkpoint() -> None:
    config = _yaml("k8s/kind-cluster.yaml")
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and config["kind"] == "Cluster"
    assert [n["role"] for n in config["nodes"]] == ["control-plane"]


def test_prerequisites_are_installed_at_pinned_versions() -> None:
    script = (ROOT / "k8s" / "install-prereqs.sh").read_text()
    assert re.search(r"KPS_CHART_VERSION:-\d+\.\d+\.\d+\}", script)
    assert re.search(r"KEDA_CHART_VERSION:-\d+\.\d+\.\d+\}", script)
    assert "kube-prometheus-stack" in script and "kedacore/keda" in script
    assert "set -euo pipefail" in script
    run(["bash", "-n", ROOT / "k8s" / "install-prereqs.sh"])
    kps = _yaml("k8s/values/kube-prometheus-stack.yaml")
    dashboards = kps["grafana"]["sidecar"]["dashboards"]
    assert dashboards["label"] == "grafana_dashboard" and dashboards["labelValue"] == "1"
    assert dashboards["folderAnnotation"] == "grafana_folder"


def test_skaffold_builds_one_artifact_per_service_dockerfile() -> None:
    config = _yaml("skaffold.yaml")
    assert config["apiVersion"] == "skaffold/v4beta14"
    artifacts = config["build"]["artifacts"]
    assert sorted(a["docker"]["dockerfile"] for a in artifacts) == [
        f"services/{name}/Dockerfile" for name in SERVICES_WITH_IMAGES
    ]
    assert all(a["context"] == "." for a in artifacts)
    (release,) = config["deploy"]["helm"]["releases"]
    assert release["chartPath"] == "charts/rtad"
    templates = release["setValueTemplates"]
    for artifact in artifacts:
        key = re.sub(r"[^A-Za-z0-9]", "_", artifact["image"])
        service = artifact["image"].removeprefix("rtad-")
        assert templates[f"{service}.image.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
        assert templates[f"{service}.image.tag"] == f"{{{{.IMAGE_TAG_{key}}}}}"
    assert {p["name"] for p in config["profiles"]} >= {"kind", "minikube"}
    forwarded = {(p["namespace"], p["resourceName"]) for p in config["portForward"]}
    assert forwarded == {("rtad", "rtad-scorer"), ("monitoring", "kps-grafana")}


def test_skaffold_yaml_matches_the_skaffold_v4beta14_schema() -> None:
    """The schema skaffold itself publishes (vendored, strict: unknown fields are errors)."""
    schema = json.loads((Path(__file__).parent / "schemas" / "skaffold_v4beta14.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    config = _yaml("skaffold.yaml")
    assert not [e.message for e in validator.iter_errors(config)]
    config["deploy"]["helm"]["releases"][0]["setValueTemplate"] = {}  # a typo must fail
    assert list(validator.iter_errors(config))


def test_skaffold_values_templates_are_chart_values() -> None:
    values = _yaml("charts/rtad/values.yaml")
    for key in _yaml("skaffold.yaml")["deploy"]["helm"]["releases"][0]["setValueTemplates"]:
        node = values
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"{key} is not in values.yaml"
            node = node[part]


@pytest.mark.parametrize("service", ["generator", "streaming", "scorer"])
def test_dockerfile_is_multi_stage_non_root_and_slim(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    assert not re.search(r"^#\s*syntax=", text, flags=re.M), "a frontend image from a registry"
    assert re.findall(r"^FROM (\S+)", text, flags=re.M) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", text, flags=re.M)
    builder, runtime = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert f"uv sync --frozen --no-dev --no-editable --extra {service}" in builder
    assert not re.search(r"build-essential|gcc|g\+\+|\bmake\b|\buv\b", runtime), "build tools"
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    assert "HOME=/tmp" in runtime and "PYTHONPYCACHEPREFIX=/tmp/" in runtime
    (user,) = re.findall(r"^USER (\S+)", runtime, flags=re.M)
    assert user == "10001:10001"
    assert re.search(r'^ENTRYPOINT \["/usr/bin/tini", "--", "rtad"\]', runtime, flags=re.M)
    assert ("HEALTHCHECK CMD" in runtime or "HEALTHCHECK --" in runtime) == (service == "scorer")
    if service == "streaming":
        assert "openjdk-17-jre-headless" in runtime and "JAVA_HOME" in runtime
        assert "SPARK_HOME=/opt/venv/lib/python3.11/site-packages/pyspark" in runtime
        assert "slim-bookworm" in text, "trixie has no openjdk-17"


def test_dockerignore_lets_only_the_project_code_in() -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*")] == "*"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert {"pyproject.toml", "uv.lock", "README.md", "services/"} <= allowed
    assert not any(a.startswith((".venv", ".git", "tests", ".tools")) for a in allowed)


@pytest.mark.parametrize("service", SERVICES_WITH_IMAGES)
def test_each_image_builds_with_the_uv_the_makefile_installs(service: str) -> None:
    """uv resolves uv.lock the same way in the images as in .venv (decision 0005)."""
    makefile = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
    image = re.search(r"^ARG UV_VERSION=(\S+)$", dockerfile, re.M)
    assert makefile and image, "UV_VERSION is set in the Makefile and each Dockerfile"
    assert image.group(1) == makefile.group(1)
