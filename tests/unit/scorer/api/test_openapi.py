"""The OpenAPI document's conventions, which every route (new ones too) gets without asking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rtad.scorer.api.app import create_app
from rtad.scorer.api.deps import AdminDep
from rtad.scorer.api.schemas import ModelInfo
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.settings import ScorerSettings


def _app(model_dir: Path) -> tuple[FastAPI, ModelHolder]:
    holder = ModelHolder(model_dir)
    settings = ScorerSettings(
        redis_url="redis://127.0.0.1:1/0", model_path=model_dir, worker_enabled=False
    )
    return create_app(settings, holder), holder


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


@pytest.fixture(scope="module")
def document(model_dir: Path) -> dict[str, Any]:
    return _app(model_dir)[0].openapi()


def test_every_error_is_a_problem(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    for name, operation in _operations(document).items():
        for code, response in operation["responses"].items():
            if code[0] in "45":
                content = response["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/Problem"}, (name, code)
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in operation["responses"], name
        if "requestBody" in operation:
            assert "413" in operation["responses"], name


def test_write_and_admin_routes_declare_the_api_key(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert scheme == scheme | {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    secured = {name for name, op in _operations(document).items() if op.get("security")}
    assert {"POST /v1/labels", "POST /v1/model/reload"} <= secured
    assert "POST /v1/score" not in secured and "GET /v1/alerts" not in secured
    for name in secured:
        assert {"401", "403"} <= set(_operations(document)[name]["responses"]), name


def test_a_new_route_taking_the_admin_dependency_is_documented_as_such(model_dir: Path) -> None:
    app, _ = _app(model_dir)

    @app.post("/v1/example", response_model=ModelInfo)
    async def example(_admin: AdminDep) -> None:
        """Any route a later change adds."""

    operation = app.openapi()["paths"]["/v1/example"]["post"]
    assert operation["security"] == [{"ApiKey": []}]
    assert {"200", "401", "403"} <= set(operation["responses"])


def test_score_names_the_features_of_the_model_in_use(models_dir: Path) -> None:
    app, holder = _app(models_dir / "champion")
    features = app.openapi()["components"]["schemas"]["ScoreRow"]["properties"]["features"]
    assert features["required"] == list(holder.current.feature_names)
    assert set(features["properties"]) == set(holder.current.feature_names)
    assert features["properties"][features["required"][0]]["maximum"] == 1e15
    holder.reload(models_dir / "challenger")
    after = app.openapi()["components"]["schemas"]["ScoreRow"]["properties"]["features"]
    assert after["required"] == list(holder.current.feature_names)


def test_labels_are_documented_from_the_contract(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    label = schemas["Label"]
    assert label["properties"]["verdict"]["enum"] == ["fraud", "genuine"]
    assert label["properties"]["source"]["enum"] == ["analyst", "chargeback", "simulated"]
    assert set(label["required"]) == {"transaction_id", "user_id", "verdict", "source"}
    batch = schemas["LabelsRequest"]["properties"]["labels"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 1000)
    operation = _operations(document)["POST /v1/labels"]
    assert set(operation["responses"]) == {"202", "401", "403", "413", "422", "503"}


def test_metrics_and_the_live_page(document: dict[str, Any], model_dir: Path) -> None:
    metrics = _operations(document)["GET /metrics"]["responses"]["200"]["content"]
    assert set(metrics) == {"text/plain"}
    assert not any(path in document["paths"] for path in ("/", "/app.js", "/vendor"))


def test_the_live_page_leaves_the_api_paths_alone(model_dir: Path) -> None:
    client = TestClient(_app(model_dir)[0])  # no lifespan: these routes need no state
    assert client.get("/").headers["content-type"].startswith("text/html")
    assert client.get("/vendor/uPlot.min.css").status_code == 200
    refused = client.options("/v1/score")
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert refused.json() == {"detail": "Method Not Allowed"}
    assert client.get("/no-such-page").status_code == 404
