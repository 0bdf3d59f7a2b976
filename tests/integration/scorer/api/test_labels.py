"""``POST /v1/labels`` on the real app and a real redis-server: verdicts into the labels stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from rtad.common.labels import decode_label_entry, latest_verdicts
from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames
from rtad.scorer.api.routes_labels import MAX_LABELS
from tests.integration.scorer.helpers import app_client

pytestmark = pytest.mark.redis

KEY = {"X-API-Key": "labels-key"}
JSON = {"content-type": "application/json"} | KEY


@pytest.fixture
def api(redis_server: LocalRedis, model_dir: Path) -> Iterator[TestClient]:
    """The app with the labels key set and no worker (these tests only write labels)."""
    with app_client(redis_server.url, model_dir, worker_enabled=False, api_key="labels-key") as c:
        yield c


def _label(tx: str, user: str, verdict: str = "fraud", **extra: str) -> dict[str, str]:
    return {"transaction_id": tx, "user_id": user, "verdict": verdict, "source": "analyst"} | extra


def _written(client: redis.Redis, names: StreamNames) -> list:
    return [
        decode_label_entry(eid, fields)
        for key in names.all("labels")
        for eid, fields in client.xrange(key)
    ]


def _received(source: str, verdict: str) -> float:
    value = REGISTRY.get_sample_value(
        "rtad_scorer_labels_received_total", {"source": source, "verdict": verdict}
    )
    return value or 0.0


def test_a_batch_goes_to_the_shards_of_its_cards(
    api: TestClient, redis_client: redis.Redis, names: StreamNames
) -> None:
    users = [f"card-{i}" for i in range(12)]
    labels = [_label(f"never-scored-{i}", user) for i, user in enumerate(users)]
    labels.append(_label("t-given", "card-0", "genuine", given_at="2026-01-06T09:00:00+01:00"))
    before = _received("analyst", "fraud")
    answer = api.post("/v1/labels", json={"labels": labels}, headers=KEY)
    assert answer.status_code == 202 and answer.json() == {"accepted": 13}
    for user in users:  # each in the labels stream of its card's shard, and only there
        entries = redis_client.xrange(names.for_user("labels", user))
        assert any(json.loads(f[b"d"])["user_id"] == user for _, f in entries)
    written = _written(redis_client, names)
    assert sorted(x.transaction_id for x in written) == sorted(x["transaction_id"] for x in labels)
    assert all(x.given_at is not None for x in written)  # arrival time when absent
    given = next(x for x in written if x.transaction_id == "t-given")
    assert given.given_at is not None and given.given_at.isoformat() == "2026-01-06T09:00:00+01:00"
    assert _received("analyst", "fraud") - before == 12


def test_a_repeated_verdict_is_appended_and_the_latest_counts(
    api: TestClient, redis_client: redis.Redis, names: StreamNames
) -> None:
    first = _label("t1", "u1", "genuine", given_at="2026-01-01T10:00:00Z")
    second = _label("t1", "u1", "fraud", given_at="2026-01-08T10:00:00Z") | {"source": "chargeback"}
    assert api.post("/v1/labels", json={"labels": [second]}, headers=KEY).status_code == 202
    assert api.post("/v1/labels", json={"labels": [first, first]}, headers=KEY).status_code == 202
    written = _written(redis_client, names)
    assert len(written) == 3
    latest = latest_verdicts(written)
    assert list(latest) == ["t1"] and latest["t1"].verdict == "fraud"


def test_one_bad_label_refuses_the_batch_with_a_reason_per_bad_label(
    api: TestClient, redis_client: redis.Redis, names: StreamNames
) -> None:
    labels = [
        _label("t0", "u0"),
        _label("t1", "u1", "maybe"),
        {"transaction_id": "t2", "verdict": "fraud", "source": "analyst"},
        _label("t3", "u3"),
        _label("t4", "   "),
        _label("t5", "u5", given_at="yesterday"),
        7,
    ]
    refused = REGISTRY.get_sample_value("rtad_scorer_labels_refused_total") or 0.0
    answer = api.post("/v1/labels", json={"labels": labels}, headers=KEY)
    body = answer.json()
    assert answer.status_code == 422
    assert body["detail"].startswith("labels[1]: Invalid enum value 'maybe'")
    assert "nothing was written" in body["detail"] and "\n" not in body["detail"]
    where = {e["loc"]: e["msg"] for e in body["errors"]}
    assert list(where) == ["labels[1]", "labels[2]", "labels[4]", "labels[5]", "labels[6]"]
    assert "user_id" in where["labels[2]"] and "blank" in where["labels[4]"]
    assert "given_at" in where["labels[5]"] and "object" in where["labels[6]"]
    assert _written(redis_client, names) == []
    assert (REGISTRY.get_sample_value("rtad_scorer_labels_refused_total") or 0) - refused == 5


def _malformed() -> list[tuple[bytes, dict[str, str], str]]:
    one = json.dumps({"labels": [_label("t", "u")]}).encode()
    many = json.dumps({"labels": [_label("t", "u")] * (MAX_LABELS + 1)}).encode()
    return [
        (b'{"labels": [', JSON, "malformed"),
        (b"\xff\xfe{", JSON, "body"),
        (one, {"content-type": "text/plain"} | KEY, "application/json"),
        (b'{"labels": {}}', JSON, "array"),
        (b'{"labels": []}', JSON, "length"),
        (many, JSON, "length"),
        (one[:-1] + b', "more": 1}', JSON, "unknown field `more`"),
        (b'{"labels": [{"transaction_id": NaN}]}', JSON, "malformed"),
        (b"[]", JSON, "object"),
    ]


@pytest.mark.parametrize("case", range(len(_malformed())))
def test_malformed_bodies_get_a_422_with_one_line(
    api: TestClient, redis_client: redis.Redis, names: StreamNames, case: int
) -> None:
    body, headers, expected = _malformed()[case]
    answer = api.post("/v1/labels", content=body, headers=headers)
    detail = answer.json()["detail"]
    assert answer.status_code == 422 and expected in detail and "\n" not in detail, detail
    assert _written(redis_client, names) == []


def test_the_api_key_is_required_before_the_body_is_read(
    api: TestClient, redis_server: LocalRedis, model_dir: Path
) -> None:
    batch = {"labels": [_label("t", "u")]}
    with app_client(redis_server.url, model_dir, worker_enabled=False) as client:
        assert client.post("/v1/labels", json=batch, headers=KEY).status_code == 403
    assert api.post("/v1/labels", json=batch).status_code == 401
    wrong = api.post("/v1/labels", content=b"{", headers=JSON | {"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "ApiKey"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=15,
)
label_like = st.fixed_dictionaries(
    {},
    optional={
        "transaction_id": st.text(max_size=140) | json_values,
        "user_id": st.text(max_size=140) | json_values,
        "verdict": st.sampled_from(["fraud", "genuine", "Fraud", ""]) | json_values,
        "source": st.sampled_from(["analyst", "chargeback", "simulated", "x"]) | json_values,
        "given_at": st.datetimes().map(str) | st.text(max_size=30) | json_values,
    },
)
bodies = st.fixed_dictionaries({"labels": st.lists(label_like, max_size=4) | json_values})


def test_fuzzed_bodies_never_give_a_server_error(api: TestClient) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies | json_values)
    def check(body: object) -> None:
        text = json.dumps(body, allow_nan=True)
        answer = api.post("/v1/labels", content=text, headers=JSON)
        assert answer.status_code in (202, 422), text[:300]
        if answer.status_code == 422:
            assert "\n" not in answer.json()["detail"]

    check()


def test_redis_refusing_the_write_is_a_503_not_a_500(
    api: TestClient, redis_client: redis.Redis, names: StreamNames
) -> None:
    redis_client.set(names.for_user("labels", "u1"), "not a stream")
    answer = api.post("/v1/labels", json={"labels": [_label("t", "u1")]}, headers=KEY)
    assert answer.status_code == 503 and "WRONGTYPE" in answer.json()["detail"]
