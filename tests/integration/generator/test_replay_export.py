"""rtad replay of JSONL/CSV/Parquet into real streams, dead-letters, and rtad export back."""

from __future__ import annotations

import base64
import csv
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from rtad.common.encoding import payload_of
from rtad.common.feature_entry import packed_features, register_feature_set
from rtad.common.local_redis import LocalRedis
from rtad.common.schema import REQUIRED_FIELDS, decode_json, from_mapping, to_json
from rtad.common.streams import StreamNames, shard_of
from rtad.features.card_features import batch_features
from rtad.features.table import FEATURE_COLUMNS
from rtad.generator import metrics
from rtad.generator.replay import replay_file
from rtad.generator.runner import stream_producer
from rtad.generator.settings import GeneratorSettings
from rtad.generator.simulator import SimConfig, generate_records
from rtad.streaming.feature_sink import FeatureWriter, SinkTarget, group_by_shard
from rtad.streaming.packed_records import pack, unpack

from .conftest import Run

pytestmark = pytest.mark.redis

GOOD = [
    {k: r[k] for k in REQUIRED_FIELDS}
    for r in generate_records(SimConfig(seed=8, count=300, customers=40, merchants=300))
]
BAD = [  # (row, what the reason must mention)
    ({**GOOD[0], "amount": -12.0}, "amount"),
    ({k: v for k, v in GOOD[1].items() if k != "user_id"}, "user_id"),
    ({**GOOD[2], "timestamp": "not a time"}, "timestamp"),
]


def write_file(path: Path) -> None:
    """GOOD rows with the three BAD ones at lines/rows 11, 101 and 201 (1-based records)."""
    rows: list[dict[str, object]] = list(GOOD)
    for i, (row, _) in zip((10, 100, 200), BAD, strict=True):
        rows.insert(i, row)
    if path.suffix == ".jsonl":
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    elif path.suffix == ".csv":
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=REQUIRED_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    else:
        schema = pa.schema(
            [
                (k, pa.float64() if k in {"amount", "latitude", "longitude"} else pa.string())
                for k in REQUIRED_FIELDS
            ]
        )
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=64)


def stream_entries(client: redis.Redis, names: StreamNames, kind: str) -> list[dict[bytes, bytes]]:
    return [fields for key in names.all(kind) for _, fields in client.xrange(key)]  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_replay_sends_valid_records_and_deadletters_bad_ones(
    tmp_path: Path,
    suffix: str,
    rtad_env: dict[str, str],
    redis_client: redis.Redis,
    names: StreamNames,
    run_cli: Run,
) -> None:
    path = tmp_path / f"tx{suffix}"
    write_file(path)
    result = run_cli("replay", str(path))
    assert result.returncode == 0, result.stderr
    assert "300" in result.stdout and "dead-lettered" in result.stdout
    sent = stream_entries(redis_client, names, "tx")
    assert len(sent) == len(GOOD)
    for key in names.all("tx"):
        shard = names.shard_from_key(key)
        for _, fields in redis_client.xrange(key):
            assert shard_of(decode_json(payload_of(fields)).user_id, names.shards) == shard
    dead = stream_entries(redis_client, names, "deadletter")
    assert len(dead) == 3
    line_offset = 1 if suffix == ".csv" else 0  # the CSV header is line 1
    by_source = {d[b"source"].decode(): d for d in dead}
    for position, (_, needle) in zip((11, 101, 201), BAD, strict=True):
        entry = by_source[f"{path}:{position + line_offset}"]
        assert needle in entry[b"reason"].decode() and entry[b"stage"] == b"replay"
        assert entry[b"payload"]  # the original text, for a human to fix


def test_export_round_trip(
    tmp_path: Path,
    rtad_env: dict[str, str],
    redis_client: redis.Redis,
    names: StreamNames,
    run_cli: Run,
) -> None:
    source = tmp_path / "tx.jsonl"
    write_file(source)
    assert run_cli("replay", str(source)).returncode == 0
    out = tmp_path / "tx-export.jsonl"
    result = run_cli("export", "tx", "--out", str(out))
    assert result.returncode == 0, result.stderr
    exported = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(exported) == len(GOOD)
    by_id = {row["transaction_id"]: row for row in exported}
    for row in GOOD:
        got = by_id[row["transaction_id"]]
        assert got["shard"] == shard_of(row["user_id"], names.shards) and "-" in got["entry_id"]
        body = {k: v for k, v in got.items() if k not in {"entry_id", "shard"}}
        assert orjson.dumps(body) == to_json(from_mapping(row))
    dead_out = tmp_path / "dead.jsonl"
    assert run_cli("export", "deadletter", "--out", str(dead_out)).returncode == 0
    dead = [orjson.loads(line) for line in dead_out.read_bytes().splitlines()]
    assert len(dead) == 3
    assert {d["source"] for d in dead} == {f"{source}:{n}" for n in (11, 101, 201)}
    assert all({"reason", "payload", "stage", "entry_id", "shard"} <= d.keys() for d in dead)
    assert (
        orjson.loads(next(d for d in dead if d["source"].endswith(":11"))["payload"]) == BAD[0][0]
    )


def test_replay_counts_sent_and_deadlettered_records_in_metrics(
    tmp_path: Path, rtad_env: dict[str, str], redis_client: redis.Redis
) -> None:
    path = tmp_path / "tx.jsonl"
    write_file(path)
    with path.open("ab") as handle:
        handle.write(b"{this is not json\n")
    counters = {
        "sent": metrics.RECORDS_SENT.labels(source="replay"),
        "invalid_record": metrics.DEADLETTER.labels(reason="invalid_record"),
        "invalid_json": metrics.DEADLETTER.labels(reason="invalid_json"),
    }
    before = {name: c._value.get() for name, c in counters.items()}
    summary = replay_file(path, stream_producer(GeneratorSettings()))
    after = {name: c._value.get() - before[name] for name, c in counters.items()}
    assert after == {"sent": len(GOOD), "invalid_record": 3, "invalid_json": 1}
    assert summary.reasons == {"invalid_record": 3, "invalid_json": 1}


def write_features_as_the_sink_does(
    server: LocalRedis, client: redis.Redis, names: StreamNames, records: list[dict]
) -> dict[str, np.ndarray]:
    """Feature entries of ``records`` written by the Spark job's writer (its packed heads,
    Arrow encoder and MULTI/EXEC); returns each transaction's features."""
    frame = pd.DataFrame(records)
    matrix = batch_features(frame)[list(FEATURE_COLUMNS)].to_numpy()
    matrix[::7, 3] = np.nan  # the format carries any double
    set_id = register_feature_set(client, names.prefix, FEATURE_COLUMNS)
    writer = FeatureWriter(SinkTarget(server.url, names), set_id)
    shards = np.array([shard_of(r["user_id"], names.shards) for r in records])
    for shard in np.unique(shards).tolist():
        rows = np.flatnonzero(shards == shard)
        txs = [from_mapping(records[i]) for i in rows]
        _, packed = pack(txs, np.arange(len(rows), dtype=np.int64) + 1_767_600_000_000, shard)
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array([shard] * len(rows), pa.int32()),
                unpack(packed).heads,
                packed_features(matrix[rows]),
            ],
            names=["shard", "payload", "features"],
        )
        for s, entries in group_by_shard([batch], set_id).items():
            assert writer.write_shard(s, entries, "q:bucket-0", batch_id=0)
    writer.close()
    return {r["transaction_id"]: matrix[i] for i, r in enumerate(records)}


def test_export_features_reads_the_entries_the_spark_sink_writes(
    tmp_path: Path,
    rtad_env: dict[str, str],
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    run_cli: Run,
) -> None:
    expected = write_features_as_the_sink_does(redis_server, redis_client, names, GOOD[:120])
    stray = names.for_user("features", GOOD[0]["user_id"])
    redis_client.xadd(stray, {"v": "2", "d": b'{"feature_set":"000000000000"}', "x": b"\x00"})
    out = tmp_path / "features.jsonl"
    result = run_cli("export", "features", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    errors = [line for line in lines if "error" in line]
    assert len(lines) == 121 and len(errors) == 1
    assert errors[0]["error"] == "unknown feature set '000000000000'"
    assert base64.b64decode(errors[0]["fields"]["x_base64"]) == b"\x00"
    for line in lines:
        if "error" in line:
            continue
        features = expected[line["transaction_id"]]
        assert list(line["features"]) == list(FEATURE_COLUMNS)
        # every double as written; JSON has no NaN: a non-finite one comes out as null
        got = [np.nan if v is None else v for v in line["features"].values()]
        assert np.array(got).tobytes() == features.tobytes()
        assert line["shard"] == shard_of(line["user_id"], names.shards)
        assert {"event_time", "amount", "ingest_ms", "feature_ms"} <= line.keys()
