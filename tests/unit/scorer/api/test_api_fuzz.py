"""Fuzzed request bodies never make the scoring API answer 5xx (hypothesis).

The app runs without its worker and never touches Redis on these routes, so no server is
needed; the model is a real rtad.ml artifact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rtad.features.table import FEATURE_COLUMNS
from rtad.scorer.api.app import create_app
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.settings import ScorerSettings

JSON_HEADERS = {"content-type": "application/json"}
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
feature_maps = st.dictionaries(
    st.sampled_from(FEATURE_COLUMNS) | st.text(max_size=10), scalars | json_values, max_size=30
) | st.fixed_dictionaries(
    {n: st.floats(allow_nan=True, allow_infinity=True) for n in FEATURE_COLUMNS}
)
rows = st.fixed_dictionaries(
    {"transaction_id": st.text(max_size=200) | scalars, "features": feature_maps | json_values},
    optional={"user_id": st.text(max_size=200) | scalars},
)
bodies = st.fixed_dictionaries({"rows": st.lists(rows, max_size=5) | json_values}) | json_values


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    settings_ = ScorerSettings(
        redis_url="redis://127.0.0.1:1/0", model_path=model_dir, worker_enabled=False
    )
    with TestClient(create_app(settings_, ModelHolder(model_dir))) as test_client:
        yield test_client


@FUZZ
@given(body=bodies)
@example(body={"rows": [{"transaction_id": "0", "features": {"\n": None}}]})
def test_json_bodies_never_give_a_server_error(client: TestClient, body: object) -> None:
    text = json.dumps(body, allow_nan=True)  # NaN / Infinity tokens on purpose
    answer = client.post("/v1/score", content=text, headers=JSON_HEADERS)
    assert answer.status_code < 500, text[:300]
    if answer.status_code >= 400:
        detail = answer.json()["detail"]
        assert isinstance(detail, str) and detail and "\n" not in detail


@FUZZ
@given(raw=st.binary(max_size=300))
def test_raw_bytes_never_give_a_server_error(client: TestClient, raw: bytes) -> None:
    answer = client.post("/v1/score", content=raw, headers=JSON_HEADERS)
    assert answer.status_code < 500


@FUZZ
@given(body=bodies, path=st.sampled_from(["/v1/model/reload", "/v1/model", "/healthz"]))
def test_other_routes_never_give_a_server_error(
    client: TestClient, body: object, path: str
) -> None:
    answer = client.post(path, content=json.dumps(body, allow_nan=True), headers=JSON_HEADERS)
    assert answer.status_code < 500
