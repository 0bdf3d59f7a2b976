"""The OpenAPI document, the API's contract: FastAPI's, made to say what the app really does.

FastAPI documents what the route signatures say; this builder adds what they cannot:

- the one error model: every error response is a :class:`~rtad.scorer.api.schemas.Problem`
  (FastAPI's default ``HTTPValidationError`` is replaced; it is not what the app answers);
- the errors every route of a kind can answer: 422 when it has parameters or a body, 413 when
  it has a body (:class:`~rtad.scorer.api.body_limit.BodyLimit`), 401 and 403 when it requires
  the API key (``AdminDep``, declared as the ``APIKeyHeader`` security scheme);
- the features ``POST /v1/score`` requires, by name: those of the model in use, so the
  document is rebuilt when a reload brings another model;
- the components of bodies validated by a shared contract rather than by pydantic (the labels
  of ``POST /v1/labels``, :mod:`rtad.common.labels`).

A new route therefore only declares its own success answer and its own extra errors
(:func:`~rtad.scorer.api.problems.problem_responses`); the contract test
(``tests/integration/scorer/api/test_openapi_contract.py``) runs schemathesis with every
check against the live app and fails on any disagreement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from rtad.scorer.api.problems import DESCRIPTIONS
from rtad.scorer.api.routes_labels import label_schemas
from rtad.scorer.api.schemas import MAX_FEATURES, Problem
from rtad.scorer.model_holder import ModelHolder

REF = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def install_openapi(app: FastAPI, holder: ModelHolder) -> None:
    """Serve :func:`contract` at ``/openapi.json``, rebuilt when the model changes."""
    cache: dict[str, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        model = holder.current
        if model.version not in cache:
            cache.clear()
            cache[model.version] = contract(app, model.feature_names)
        return cache[model.version]

    app.openapi = openapi  # type: ignore[method-assign]


def contract(app: FastAPI, feature_names: Sequence[str]) -> dict[str, Any]:
    """The document of ``app`` for a model with ``feature_names``."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _add_problem(schemas)
    schemas.update(label_schemas())
    for operation in _operations(document):
        _complete_errors(operation)
    _name_features(schemas, feature_names)
    return document


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for item in document.get("paths", {}).values()
        for method, operation in item.items()
        if method in METHODS
    ]


def _add_problem(schemas: dict[str, Any]) -> None:
    """Problem (and ProblemItem) in the components; FastAPI's error schemas out."""
    problem = Problem.model_json_schema(ref_template=REF)
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for name in FASTAPI_ERRORS:
        schemas.pop(name, None)


def _complete_errors(operation: dict[str, Any]) -> None:
    """The errors every operation of its kind answers, each documented as a Problem."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    codes: list[int] = []
    if operation.get("parameters") or "requestBody" in operation:
        codes.append(422)
    if "requestBody" in operation:
        codes.append(413)
    if operation.get("security"):
        codes += [401, 403]
    for code in codes:
        responses.setdefault(str(code), {"description": DESCRIPTIONS[code]})
    for status, response in responses.items():
        if status[0] in "45":
            response["content"] = {"application/json": {"schema": PROBLEM_REF}}
            if status in {"422", "413", "401", "403"}:
                response["description"] = DESCRIPTIONS[int(status)]


def _name_features(schemas: dict[str, Any], feature_names: Sequence[str]) -> None:
    """``ScoreRow.features`` names every feature the model requires (others are ignored)."""
    row = schemas.get("ScoreRow")
    if row is None:
        return
    features = row["properties"]["features"]
    value = features.get("additionalProperties", {"type": "number"})
    features["properties"] = {name: dict(value) for name in feature_names}
    features["required"] = list(feature_names)
    features["maxProperties"] = MAX_FEATURES
    features["description"] = (
        "Features by name: every one listed under `required` (the model in use, see "
        "`GET /v1/model`) as a finite number; other names are ignored."
    )
