"""Simulated investigators on a real redis-server: alerts in, verdicts out at event times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis

from rtad.common.encoding import encode
from rtad.common.labels import decode_label_entry
from rtad.common.redis_streams import StreamProducer
from rtad.common.streams import StreamNames
from rtad.generator.investigator_feed import InvestigatingSink, InvestigatorFeed
from rtad.generator.investigators import InvestigatorConfig, Investigators
from rtad.generator.sinks import StreamSink

from .conftest import Run

pytestmark = pytest.mark.redis

DAY0 = datetime(2026, 1, 5, tzinfo=UTC)


def at(days: float, hours: float = 0) -> str:
    return (DAY0 + timedelta(days=days, hours=hours)).isoformat()


def record(tx: str, user: str, when: str, fraud: bool) -> dict:
    return {
        "transaction_id": tx,
        "timestamp": when,
        "user_id": user,
        "merchant_id": "m1",
        "amount": 10.0,
        "currency": "EUR",
        "latitude": 48.85,
        "longitude": 2.35,
        "is_fraud": int(fraud),
    }


def score(
    client: redis.Redis,
    names: StreamNames,
    tx: str,
    user: str,
    value: float,
    when: str,
    alert: bool,
) -> None:
    """What the scorer writes: a score entry, and an alert entry for an anomaly."""
    entry = {
        "transaction_id": tx,
        "user_id": user,
        "score": value,
        "event_time": when,
        "is_anomaly": alert,
        "threshold": 0.5,
    }
    client.xadd(names.for_user("scores", user), encode(entry))
    if alert:
        client.xadd(names.for_user("alerts", user), encode(entry))


def scored_up_to(client: redis.Redis, names: StreamNames, when: str) -> None:
    """Every shard's scores reach ``when`` (the watermark the investigators follow)."""
    for shard in range(names.shards):
        entry = {
            "transaction_id": f"w{shard}",
            "user_id": "x",
            "score": 0.0,
            "event_time": when,
            "is_anomaly": False,
        }
        client.xadd(names.key("scores", shard), encode(entry))


def labels(client: redis.Redis, names: StreamNames) -> list:
    found = [decode_label_entry(i, f) for k in names.all("labels") for i, f in client.xrange(k)]
    return sorted(found, key=lambda x: (x.given_at, x.transaction_id))


def test_alerts_in_verdicts_and_chargebacks_out_at_event_times(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    config = InvestigatorConfig(2, timedelta(days=1), timedelta(days=7))
    labels_out = StreamProducer(redis_client, names, "labels", high_water=1 << 40)
    feed = InvestigatorFeed(redis_client, Investigators(config), labels_out)
    sink = InvestigatingSink(StreamSink(StreamProducer(redis_client, names, "tx")), feed)
    day0 = [
        ("f1", "u1", True, 0.9),
        ("g1", "u2", False, 0.8),
        ("f2", "u3", True, 0.6),
        ("g2", "u4", False, 0.7),
    ]
    for i, (tx, user, fraud, _) in enumerate(day0):
        sink.write(record(tx, user, at(0, 10 + i), fraud))
    sink.inner.close()
    for i, (tx, user, _, value) in enumerate(day0):
        score(redis_client, names, tx, user, value, at(0, 10 + i), alert=True)
    assert sum(redis_client.xlen(k) for k in names.all("tx")) == 4

    scored_up_to(redis_client, names, at(0, 23))
    assert feed.poll() == 0  # the day is not over
    scored_up_to(
        redis_client,
        names,
        at(
            1,
            10,
        ),
    )
    assert feed.poll() == 1  # f1: alerted at 10:00, verdict a day later
    scored_up_to(redis_client, names, at(2))
    assert feed.poll() == 1  # g1
    out = labels(redis_client, names)
    assert [(x.transaction_id, x.verdict, x.source) for x in out] == [
        ("f1", "fraud", "simulated"),
        ("g1", "genuine", "simulated"),
    ]
    assert [x.given_at.isoformat() for x in out] == [at(1, 10), at(1, 11)]

    scored_up_to(redis_client, names, at(7, 11))
    assert feed.poll() == 0  # f2 (below capacity's cut) happened at 12:00
    scored_up_to(redis_client, names, at(7, 12))
    assert feed.poll() == 1
    last = labels(redis_client, names)[-1]
    assert (last.transaction_id, last.verdict, last.source) == ("f2", "fraud", "chargeback")
    assert last.given_at.isoformat() == at(7, 12)
    shard_of_u3 = names.for_user("labels", "u3")
    assert any(
        orjson.loads(f[b"d"])["transaction_id"] == "f2" for _, f in redis_client.xrange(shard_of_u3)
    )
    assert feed.desk.remembered == 0


def test_generate_with_investigators(run_cli: Run, rtad_env: dict[str, str]) -> None:
    done = run_cli("generate", "--count", "300", "--investigators", "--capacity", "5", env=rtad_env)
    assert done.returncode == 0, done.stderr
    assert "investigators: 0 alerts seen, 0 reviewed" in done.stderr  # no scorer ran
    to_file = run_cli("generate", "--investigators", "--out", "x.jsonl", env=rtad_env)
    assert to_file.returncode != 0 and "use the streams, not --out" in to_file.stderr
    bad = run_cli("generate", "--investigators", "--capacity", "-1", env=rtad_env)
    assert bad.returncode != 0 and "capacity must be >= 0" in bad.stderr
    assert "Traceback" not in to_file.stderr + bad.stderr
