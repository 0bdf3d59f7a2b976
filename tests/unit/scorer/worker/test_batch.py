"""A batch of raw entries → per-shard writes (pure: no Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rtad.common.feature_entry import FeatureSets
from rtad.ml.model_store import load_model
from rtad.scorer.latency import bin_counts
from rtad.scorer.worker.batch import build_batch
from tests.unit.scorer.support import SCORE_FIELDS

#: The fields every score entry has (the labels only when known).
CONTRACT = set(SCORE_FIELDS) - {"is_fraud", "fraud_scenario"}


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Any:
    return load_model(model_dir)


def _entry(i: int, row: dict) -> tuple[bytes, list[bytes]]:
    return (f"1-{i}".encode(), [b"v", b"1", b"d", orjson.dumps(row)])


def test_every_row_is_scored_once_and_anomalies_become_alerts(
    model: Any, scorer_rows: list[dict]
) -> None:
    rows = scorer_rows[:1000]
    groups = [
        (0, [_entry(i, r) for i, r in enumerate(rows[:600])]),
        (3, [_entry(i, r) for i, r in enumerate(rows[600:])]),
    ]
    now = rows[0]["ingest_ms"] + 250
    result = build_batch(groups, model, now, FeatureSets())
    assert result.scored == 1000 and result.shards[0].scored == 600
    scores = [orjson.loads(p) for out in result.shards.values() for p in out.scores]
    assert [s["transaction_id"] for s in scores] == [r["transaction_id"] for r in rows]
    assert all(CONTRACT <= set(s) for s in scores)
    assert all(s["scored_ms"] == now and s["model_version"] == model.version for s in scores)
    assert all(s["is_fraud"] in (0, 1) and s["fraud_scenario"] for s in scores)
    alerts = [orjson.loads(p) for out in result.shards.values() for p in out.alerts]
    assert alerts == [s for s in scores if s["is_anomaly"]] and alerts
    assert all(a["reasons"] and {"code", "text"} <= set(a["reasons"][0]) for a in alerts)
    assert result.shards[3].ack == [f"1-{i}".encode() for i in range(400)]
    assert sum(out.latency_counts.sum() for out in result.shards.values()) == 1000
    assert (result.shards[0].latency_counts == bin_counts([0.25] * 600)).all()
    labelled = sum(
        (out.labelled for out in result.shards.values()), start=type(result.shards[0].labelled)()
    )
    assert sum(labelled.values()) == 1000 and ("genuine", False) in labelled


def test_bad_entries_are_dead_lettered_with_reason_and_original_payload(
    model: Any, scorer_rows: list[dict]
) -> None:
    good = scorer_rows[0]
    missing = {**good, "features": {k: v for k, v in good["features"].items() if k != "count_1h"}}
    entries = [
        (b"1-0", [b"v", b"1", b"d", orjson.dumps(good)]),
        (b"1-1", [b"v", b"3", b"d", b"{}"]),  # unknown encoding version
        (b"1-2", [b"v", b"1", b"d", b"not json"]),
        (b"1-3", [b"v", b"1", b"d", orjson.dumps(missing)]),
        (b"1-4", [b"v", b"1", b"d", orjson.dumps(good)]),  # delivered too often
    ]
    result = build_batch(
        [(1, entries)], model, good["ingest_ms"], FeatureSets(), exhausted={(1, b"1-4")}
    )
    out = result.shards[1]
    assert out.ack == [b"1-0"] and out.scored == 1
    dead = {eid: (code, reason, payload) for eid, code, reason, payload in out.deadletters}
    assert dead[b"1-1"][0] == "undecodable" and "version" in dead[b"1-1"][1]
    assert dead[b"1-2"] == ("invalid_row", dead[b"1-2"][1], b"not json")
    assert dead[b"1-3"][0] == "invalid_row" and "count_1h" in dead[b"1-3"][1]
    assert dead[b"1-3"][2] == orjson.dumps(missing)
    assert dead[b"1-4"][:2] == ("max_deliveries", "too many deliveries")


def test_scores_and_acks_stay_aligned_around_bad_entries_of_several_shards(
    model: Any, scorer_rows: list[dict]
) -> None:
    rows = scorer_rows[:90]
    payloads = [orjson.dumps(r) for r in rows]
    payloads[40] = orjson.dumps({**rows[40], "features": {}})  # JSON, but no features
    payloads[41] = b"not json"
    entries = [(f"1-{i}".encode(), [b"v", b"1", b"d", p]) for i, p in enumerate(payloads)]
    groups = [(s, entries[s::3]) for s in range(3)]
    result = build_batch(groups, model, rows[0]["ingest_ms"], FeatureSets())
    assert result.scored == 88
    tx_of = {f"1-{i}".encode(): r["transaction_id"] for i, r in enumerate(rows)}
    for shard, out in result.shards.items():
        assert [orjson.loads(p)["transaction_id"] for p in out.scores] == [
            tx_of[e] for e in out.ack
        ]
        assert out.ack == [e for e, _ in entries[shard::3] if e not in (b"1-40", b"1-41")]
    dead = {e: code for out in result.shards.values() for e, code, _r, _p in out.deadletters}
    assert dead == {b"1-40": "invalid_row", b"1-41": "invalid_row"}
    assert len(result.X) == len(result.scores) == len(result.latencies_s) == 88
