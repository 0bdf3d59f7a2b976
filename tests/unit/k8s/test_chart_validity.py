"""The chart lints, renders for every values set, and each object passes its schema.

Built-in kinds: kubernetes-validate --strict (Kubernetes 1.35 OpenAPI). CRD objects: the CRD
schemas of Prometheus Operator v0.93 and KEDA 2.20, vendored in ./crds, made strict like
kubectl's server-side field validation (an unknown field is an error, not silently pruned).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.unit.k8s.helm import (
    CHART,
    CRD_GROUPS,
    KUBE_VERSION,
    VALUES_SETS,
    render,
    run,
    tool,
    values_file,
)

pytestmark = pytest.mark.k8s

CRDS = Path(__file__).parent / "crds"


def strict(schema: Any) -> Any:
    """The schema with unknown fields rejected wherever the CRD does not preserve them."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_validators() -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    """(apiVersion, kind) -> validator, from the vendored CRD schemas."""
    validators = {}
    for path in sorted(CRDS.glob("*.json")):
        schema = json.loads(path.read_text())
        key = (f"{schema['x-group']}/{schema['x-version']}", schema["x-kind"])
        validators[key] = jsonschema.Draft7Validator(strict(copy.deepcopy(schema)))
    return validators


VALIDATORS = crd_validators()


def test_the_vendored_crd_schemas_cover_every_custom_kind_the_chart_uses() -> None:
    kinds = {(d["apiVersion"], d["kind"]) for d in _all_docs() if _is_crd_object(d)}
    assert kinds == set(VALIDATORS), kinds ^ set(VALIDATORS)


@pytest.mark.parametrize("name", sorted(VALUES_SETS))
def test_helm_lint_strict(name: str) -> None:
    proc = run(
        [tool("helm"), "lint", "--strict", CHART, "--values", values_file(VALUES_SETS[name])]
    )
    assert "0 chart(s) failed" in proc.stdout


def test_helm_is_v4() -> None:
    assert run([tool("helm"), "version", "--short"]).stdout.startswith("v4.")


def test_builtin_kinds_pass_kubernetes_validate_strict(rendered: list[dict[str, Any]]) -> None:
    builtin = [d for d in rendered if not _is_crd_object(d)]
    assert len(builtin) > 5
    for doc in builtin:
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {exc.path}")


def test_custom_resources_match_their_crd_schema(rendered: list[dict[str, Any]]) -> None:
    for doc in filter(_is_crd_object, rendered):
        validator = VALIDATORS[(doc["apiVersion"], doc["kind"])]
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, f"{doc['kind']}/{doc['metadata']['name']}: {errors}"


def test_the_strict_crd_check_rejects_a_misspelt_field() -> None:
    """Guards the check itself: an unknown field under spec must fail."""
    validator = VALIDATORS[("keda.sh/v1alpha1", "ScaledObject")]
    bad = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "x"}, "triggers": [], "maxReplicas": 3},
    }
    assert any("maxReplicas" in e.message for e in validator.iter_errors(bad))


def test_values_schema_rejects_a_typo_and_a_bad_value() -> None:
    helm = tool("helm")
    for overrides, expected in (
        ({"scorer": {"replica": 2}}, "additional properties 'replica'"),
        ({"pipeline": {"shards": 0}}, "/pipeline/shards"),
        ({"spark": {"conf": {"spark.cores.max": "2"}}}, "/spark/conf"),
    ):
        proc = _helm_template_failure(helm, overrides)
        assert expected in proc, proc


def _helm_template_failure(helm: Path, overrides: dict[str, Any]) -> str:
    args = [str(helm), "template", "rtad", str(CHART), "--values", str(values_file(overrides))]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode != 0, f"helm accepted {overrides}"
    return proc.stderr


def _is_crd_object(doc: dict[str, Any]) -> bool:
    return doc["apiVersion"].split("/")[0] in CRD_GROUPS


def _all_docs() -> list[dict[str, Any]]:
    return [d for name in VALUES_SETS for d in render(VALUES_SETS[name])]
