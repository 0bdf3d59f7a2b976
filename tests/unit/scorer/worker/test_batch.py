"""A batch of raw entries → per-shard writes (pure: no Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rtad.common.encoding import original_payload
from rtad.common.feature_entry import FeatureSets, feature_set_id
from rtad.features.table import FEATURE_COLUMNS
from rtad.ml.model_store import load_model
from rtad.scorer.latency import bin_counts
from rtad.scorer.worker.batch import build_batch
from tests.unit.scorer.support import SCORE_FIELDS, packed_fields

#: The fields every score entry has (the labels only when known).
CONTRACT = set(SCORE_FIELDS) - {"is_fraud", "fraud_scenario"}


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Any:
    return load_model(model_dir)


WITHOUT_COUNT_1H = tuple(n for n in FEATURE_COLUMNS if n != "count_1h")
SETS = FeatureSets(known={feature_set_id(n): n for n in (FEATURE_COLUMNS, WITHOUT_COUNT_1H)})


def _fields(row: dict, names: tuple[str, ...] = FEATURE_COLUMNS) -> list[bytes]:
    """A feature entry's raw fields, as XREADGROUP returns them."""
    fields = packed_fields(row, names)
    return [b"v", b"2", b"d", fields[b"d"], b"x", fields[b"x"]]


def _entry(i: int, row: dict) -> tuple[bytes, list[bytes]]:
    return (f"1-{i}".encode(), _fields(row))


def test_every_row_is_scored_once_and_anomalies_become_alerts(
    model: Any, scorer_rows: list[dict]
) -> None:
    rows = scorer_rows[:1000]
    groups = [
        (0, [_entry(i, r) for i, r in enumerate(rows[:600])]),
        (3, [_entry(i, r) for i, r in enumerate(rows[600:])]),
    ]
    now = rows[0]["ingest_ms"] + 250
    result = build_batch(groups, model, now, SETS)
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
    good_fields = _fields(good)
    not_json = [*good_fields[:3], b"not json", *good_fields[4:]]
    missing = _fields(good, WITHOUT_COUNT_1H)
    entries = [
        (b"1-0", good_fields),
        (b"1-1", [b"v", b"3", b"d", b"{}"]),  # unknown encoding version
        (b"1-2", not_json),
        (b"1-3", missing),  # a feature set without a feature of the model
        (b"1-4", good_fields),  # delivered too often
        (b"1-5", [b"v", b"1", b"d", orjson.dumps(good)]),  # encoding 1: not a feature entry
    ]
    result = build_batch([(1, entries)], model, good["ingest_ms"], SETS, exhausted={(1, b"1-4")})
    out = result.shards[1]
    assert out.ack == [b"1-0"] and out.scored == 1
    dead = {eid: (code, reason, payload) for eid, code, reason, payload in out.deadletters}
    assert dead[b"1-1"][0] == "undecodable" and "version" in dead[b"1-1"][1]
    assert dead[b"1-2"][:2] == ("invalid_row", dead[b"1-2"][1]) and "JSON" in dead[b"1-2"][1]
    assert dead[b"1-2"][2] == original_payload(
        dict(zip(not_json[::2], not_json[1::2], strict=True))
    )
    assert dead[b"1-3"][0] == "invalid_row" and "count_1h" in dead[b"1-3"][1]
    assert dead[b"1-4"][:2] == ("max_deliveries", "too many deliveries")
    assert dead[b"1-5"] == (
        "undecodable",
        "unsupported encoding version b'1' (expected b'2')",
        orjson.dumps(good),
    )


def test_scores_and_acks_stay_aligned_around_bad_entries_of_several_shards(
    model: Any, scorer_rows: list[dict]
) -> None:
    rows = scorer_rows[:90]
    fields = [_fields(r) for r in rows]
    fields[40] = fields[40][:4]  # no features
    fields[41] = [*fields[41][:3], b"not json", *fields[41][4:]]
    entries = [(f"1-{i}".encode(), f) for i, f in enumerate(fields)]
    groups = [(s, entries[s::3]) for s in range(3)]
    result = build_batch(groups, model, rows[0]["ingest_ms"], SETS)
    assert result.scored == 88
    tx_of = {f"1-{i}".encode(): r["transaction_id"] for i, r in enumerate(rows)}
    for shard, out in result.shards.items():
        assert [orjson.loads(p)["transaction_id"] for p in out.scores] == [
            tx_of[e] for e in out.ack
        ]
        assert out.ack == [e for e, _ in entries[shard::3] if e not in (b"1-40", b"1-41")]
    dead = {e: code for out in result.shards.values() for e, code, _r, _p in out.deadletters}
    assert dead == {b"1-40": "undecodable", b"1-41": "invalid_row"}
    assert len(result.X) == len(result.scores) == len(result.latencies_s) == 88
