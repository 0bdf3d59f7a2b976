"""rtad replay of JSONL/CSV/Parquet into real streams, dead-letters, and rtad export back."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from rtad.common.encoding import payload_of
from rtad.common.schema import REQUIRED_FIELDS, decode_json, from_mapping, to_json
from rtad.common.streams import StreamNames, shard_of
from rtad.generator import metrics
from rtad.generator.replay import replay_file
from rtad.generator.runner import stream_producer
from rtad.generator.settings import GeneratorSettings
from rtad.generator.simulator import SimConfig, generate_records

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
